use super::*;

const OPTIONS: &[u8] = b"OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n\
v: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1;rport, SIP/2.0/TCP [::1]:5070;branch=z9hG4bK-2\r\n\
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-3;received=127.0.0.1\r\n\
f: <sip:ping@127.0.0.1:5062>;tag=abc\r\n\
t: <sip:127.0.0.1:5060>\r\n\
i: 1-2@127.0.0.1\r\n\
CSeq: 1 OPTIONS\r\n\
m: <sip:ping@127.0.0.1:5062>\r\n\
Max-Forwards: 70\r\n\
Subject: folded\r\n  over lines\r\n\
l: 0\r\n\r\n";

fn request(buf: &[u8]) -> Request {
    match Message::parse(buf) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn parses_compact_folded_and_listed_headers() {
    let r = request(OPTIONS);
    assert_eq!(r.method, Method::Options);
    assert_eq!(r.head.via.len(), 3);
    assert_eq!(
        r.head.via[1].host,
        crate::Host::V6("::1".parse().expect("ip"))
    );
    assert_eq!(r.head.via[2].received(), Some("127.0.0.1"));
    assert_eq!(r.head.from.tag(), Some("abc"));
    assert_eq!(r.head.call_id, "1-2@127.0.0.1");
    assert_eq!(r.head.max_forwards, Some(70));
    assert_eq!(r.head.get(&HeaderName::Subject), Some("folded over lines"));
    assert_eq!(r.head.contact.len(), 1);
    assert!(r.body.is_empty());
}

#[test]
fn round_trip_is_stable() {
    let r = request(OPTIONS);
    let again = request(&r.to_bytes());
    assert_eq!(r, again);
    assert_eq!(r.to_bytes(), again.to_bytes());
}

#[test]
fn missing_and_repeated_headers() {
    let no_from = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
    assert_eq!(
        Message::parse(no_from),
        Err(ParseError::Missing { name: "From" })
    );
    let two_to = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
    assert_eq!(
        Message::parse(two_to),
        Err(ParseError::Repeated { name: "To" })
    );
}

#[test]
fn body_follows_content_length() {
    let base = "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n";
    let r = request(format!("{base}Content-Length: 5\r\n\r\nhello, trailing junk").as_bytes());
    assert_eq!(&r.body[..], b"hello");
    let r = request(format!("{base}\r\nno length: rest of datagram").as_bytes());
    assert_eq!(&r.body[..], b"no length: rest of datagram");
    assert_eq!(
        Message::parse(format!("{base}Content-Length: 50\r\n\r\nshort").as_bytes()),
        Err(ParseError::BodyTruncated)
    );
}

#[test]
fn start_line_errors() {
    let tail = "\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
    for (line, err) in [
        ("OPTIONS  sip:a@b SIP/2.0", ParseError::RequestLine),
        ("OPTIONS sip:a@b SIP/2.0 ", ParseError::RequestLine),
        (
            "OPTIONS sip:a@b SIP/7.0",
            ParseError::Version("SIP/7.0".into()),
        ),
        ("OPTIONS <sip:a@b> SIP/2.0", ParseError::RequestUri),
        ("OPTIONS sip:a@b?h=v SIP/2.0", ParseError::RequestUri),
        ("GET / HTTP/1.1", ParseError::NotSip),
    ] {
        assert_eq!(
            Message::parse(format!("{line}{tail}").as_bytes()),
            Err(err),
            "{line}"
        );
    }
}

#[test]
fn response_status_line() {
    let tail = "\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let ok = Message::parse(format!("SIP/2.0 200 OK{tail}").as_bytes());
    assert!(matches!(ok, Ok(Message::Response(ref r)) if r.status == StatusCode::OK));
    let empty_reason = Message::parse(format!("SIP/2.0 100 {tail}").as_bytes());
    assert!(matches!(empty_reason, Ok(Message::Response(ref r)) if r.reason.is_empty()));
    for bad in [
        "SIP/2.0 4294967301 Huge",
        "SIP/2.0 99 Low",
        "SIP/2.0 700 High",
    ] {
        assert_eq!(
            Message::parse(format!("{bad}{tail}").as_bytes()),
            Err(ParseError::StatusLine)
        );
    }
}

#[test]
fn reject_copies_headers_and_tags_to() {
    let raw = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 99999999999 OPTIONS\r\n\r\n";
    let err = Message::parse(raw).expect_err("CSeq overflow");
    let resp = reject(raw, &err, "t1").expect("answerable");
    let text = String::from_utf8(resp).expect("utf8");
    assert!(text.starts_with("SIP/2.0 400 "), "{text}");
    assert!(text.contains("To: <sip:a@b>;tag=t1\r\n"), "{text}");
    assert!(text.contains("CSeq: 99999999999 OPTIONS\r\n"), "{text}");
    // No Via: nowhere to send an answer.
    let no_via = b"OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:a@b>\r\n\r\n";
    let err = Message::parse(no_via).expect_err("missing headers");
    assert_eq!(reject(no_via, &err, "t"), None);
}
