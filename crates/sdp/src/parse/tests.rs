use super::*;

const BASIC: &str = "v=0\r\n\
o=- 20518 0 IN IP4 127.0.0.5\r\n\
s=-\r\n\
c=IN IP4 127.0.0.5\r\n\
t=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n";

fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    SessionDescription::parse(text.as_bytes())
}

#[test]
fn parses_and_writes_back_the_same_bytes() {
    let sdp = parse(BASIC).expect("parses");
    assert_eq!(sdp.origin.username, "-");
    assert_eq!(sdp.origin.session_id, "20518");
    assert_eq!(sdp.origin.version(), Some(0));
    assert_eq!(sdp.media.len(), 1);
    assert_eq!(sdp.media[0].formats, ["0", "8", "101"]);
    assert_eq!(sdp.to_string(), BASIC);
}

#[test]
fn bare_lf_in_crlf_out_and_blank_lines_skipped() {
    let lf = BASIC.replace("\r\n", "\n");
    let with_blanks = format!("\n{lf}\n\n");
    let sdp = parse(&with_blanks).expect("parses");
    assert_eq!(sdp.to_string(), BASIC);
}

#[test]
fn refusals_are_typed() {
    let cases: &[(&str, SdpError)] = &[
        ("", SdpError::Empty),
        ("\r\n\n", SdpError::Empty),
        ("o=- 1 1 IN IP4 127.0.0.1\r\n", SdpError::MissingVersion),
        ("v=1\r\n", SdpError::UnsupportedVersion),
        ("v=0\r\ns=-\r\n", SdpError::MissingOrigin),
        ("v=0\r\nv=0\r\n", SdpError::Repeated { kind: 'v', line: 2 }),
        (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\no=- 1 1 IN IP4 127.0.0.1\r\n",
            SdpError::Repeated { kind: 'o', line: 3 },
        ),
        (
            "v=0\r\ns=a\r\ns=b\r\n",
            SdpError::Repeated { kind: 's', line: 3 },
        ),
        (
            "v=0\r\no=- 1 IN IP4 127.0.0.1\r\n",
            SdpError::BadOrigin { line: 2 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nc=IN IP4\r\n",
            SdpError::BadConnection { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nc=IN IP4 a b\r\n",
            SdpError::BadConnection { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nm=audio 70000 RTP/AVP 0\r\n",
            SdpError::BadMedia { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nm=audio +5 RTP/AVP 0\r\n",
            SdpError::BadMedia { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nm=audio 5/x RTP/AVP 0\r\n",
            SdpError::BadMedia { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nm=audio 5\r\n",
            SdpError::BadMedia { line: 3 },
        ),
        ("v=0\r\nxyz\r\n", SdpError::BadLine { line: 2 }),
        ("v=0\r\n=x\r\n", SdpError::BadLine { line: 2 }),
        ("v=0\r\n a=x\r\n", SdpError::BadLine { line: 2 }),
        ("v=0\r\n1=x\r\n", SdpError::BadLine { line: 2 }),
        ("v=0\r\na=x\0y\r\n", SdpError::ControlCharacter { line: 2 }),
        ("v=0\r\na=x\ry\r\n", SdpError::ControlCharacter { line: 2 }),
        ("v=0\r\na=x\r\r\n", SdpError::ControlCharacter { line: 2 }),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input).as_ref().err(), Some(want), "{input:?}");
    }
}

#[test]
fn limits_refuse_before_growing() {
    let limits = Limits {
        max_bytes: 300,
        max_lines: 12,
        max_media: 2,
        max_formats: 3,
    };
    let parse = |text: &str| SessionDescription::parse_with(text.as_bytes(), &limits);
    assert!(parse(BASIC).is_ok());
    let big = format!("{BASIC}{}", "a=x\r\n".repeat(60));
    assert_eq!(
        parse(&big),
        Err(SdpError::TooLarge {
            len: big.len(),
            max: 300
        })
    );
    let many = format!("{BASIC}{}", "a=x\r\n".repeat(4));
    assert_eq!(parse(&many), Err(SdpError::TooManyLines { max: 12 }));
    let media = format!("{BASIC}{}", "m=audio 0 RTP/AVP 0\r\n".repeat(2));
    assert_eq!(parse(&media), Err(SdpError::TooManyMedia { max: 2 }));
    let formats = BASIC.replace("0 8 101", "0 8 101 9");
    assert_eq!(
        parse(&formats),
        Err(SdpError::TooManyFormats { line: 6, max: 3 })
    );

    assert_eq!(SdpError::TooLarge { len: 1, max: 0 }.status(), 413);
    assert_eq!(SdpError::TooManyMedia { max: 0 }.status(), 488);
    assert_eq!(SdpError::BadLine { line: 1 }.status(), 400);
}

#[test]
fn default_limits_hold_a_large_real_offer_and_refuse_a_flood() {
    let defaults = Limits::default();
    let candidates = "a=candidate:1 1 udp 2122260223 127.0.0.7 50000 typ host\r\n".repeat(200);
    let big = format!("{BASIC}{candidates}");
    assert!(big.len() < defaults.max_bytes);
    assert!(parse(&big).is_ok());
    let flood = format!("{BASIC}{}", "a=x\r\n".repeat(2000));
    assert_eq!(parse(&flood), Err(SdpError::TooManyLines { max: 1024 }));
    let huge = vec![b'a'; 10 * 1024 * 1024];
    assert!(matches!(
        SessionDescription::parse(&huge),
        Err(SdpError::TooLarge { .. })
    ));
}

#[test]
fn lenient_where_phones_are_sloppy() {
    // No s=, a user name with a blank, Latin-1 in i=, unknown letters kept in place.
    let mut input = b"v=0\no=Cisco SIP 1 2 IN IP4 127.0.0.9\ni=Sesi".to_vec();
    input.extend_from_slice(&[0xf3, b'n']);
    input.extend_from_slice(b"\ny=unknown\nt=0 0\nm=audio 0 RTP/AVP\n");
    let sdp = SessionDescription::parse(&input).expect("parses");
    assert_eq!(sdp.session_name, "-");
    assert_eq!(sdp.origin.username, "Cisco SIP");
    assert_eq!(sdp.values('i').next(), Some("Sesi\u{fffd}n"));
    assert_eq!(sdp.values('y').next(), Some("unknown"));
    assert!(sdp.media[0].formats.is_empty());
    let again = parse(&sdp.to_string()).expect("own output parses");
    assert_eq!(again, sdp);
}

#[test]
fn attribute_forms_round_trip() {
    let text = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=\r\nt=0 0\r\na=flag\r\na=empty:\r\n\
a=k:v:w\r\na=\r\nm=Audio 9/2 RTP/AVP 0\r\nk=prompt\r\nb=AS:64\r\n";
    let sdp = parse(text).expect("parses");
    let attrs: Vec<_> = sdp.attributes().collect();
    assert_eq!(attrs[0], &Attribute::flag("flag"));
    assert_eq!(attrs[1], &Attribute::new("empty", ""));
    assert_eq!(attrs[2], &Attribute::new("k", "v:w"));
    assert_eq!(attrs[3], &Attribute::flag(""));
    assert_eq!(sdp.media[0].kind, MediaKind::Audio);
    assert_eq!(sdp.media[0].port_count, Some(2));
    assert_eq!(sdp.media[0].bandwidth("as"), Some(64));
    assert_eq!(sdp.to_string(), text.replace("Audio", "audio"));
    assert_eq!(text.parse::<SessionDescription>(), Ok(sdp));
}
