//! NAT: a caller whose SDP names an address where nothing listens (127.0.0.99, standing in for
//! a private address behind NAT) still gets audio both ways. The caller is a small UA of this
//! test (SIP over UDP by hand, digest from the `sip` crate): its SDP says
//! `c=IN IP4 127.0.0.99`, but it sends RTP from its real socket on 127.0.0.1. The callee is a
//! SIPp UAS that echoes RTP (`-rtp_echo`). The echo comes back to the caller's real socket
//! from the relay port of its 200's SDP: the relay latched onto where the packets came from
//! (127.0.0.1 is the caller's signalling IP, so the default latch policy accepts it). One CDR:
//! answered, cause 200, hung up by the caller.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sip::digest::{Algorithm, Challenge, Credentials, ha1};

const RTP_LO: u16 = 25000;
const RTP_HI: u16 = 25099;
const PACKETS: u16 = 50;

/// A caller that speaks just enough SIP for one call.
struct Caller {
    sock: UdpSocket,
    pbx: SocketAddr,
    call_id: String,
    tag: String,
    uri: String,
}

impl Caller {
    fn send(&self, msg: &str) {
        self.sock.send_to(msg.as_bytes(), self.pbx).expect("send");
    }

    /// The next response whose CSeq ends with `method` and whose status is final (or any
    /// status when `provisional`), within ten seconds.
    fn response(&self, method: &str, provisional: bool) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 8192];
        while Instant::now() < end {
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let is_method = common::header_lines(text.as_bytes(), "CSeq")
                .first()
                .is_some_and(|c| c.ends_with(&format!(" {method}")));
            if text.starts_with("SIP/2.0 ")
                && is_method
                && (provisional || common::status(text.as_bytes()) >= 200)
            {
                return text;
            }
        }
        panic!("no final response to {method}");
    }

    fn request(&self, method: &str, uri: &str, cseq: u32, to_tag: &str, extra: &str, body: &str) {
        let local = self.sock.local_addr().expect("addr");
        let to_tag = if to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={to_tag}")
        };
        let content_type = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        // The ACK of the 401 belongs to the first INVITE's transaction: same branch.
        let branch = match (method, cseq) {
            ("ACK", 1) => "z9hG4bK-nat-1-INVITE".to_owned(),
            _ => format!("z9hG4bK-nat-{cseq}-{method}"),
        };
        self.send(&format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             From: <sip:user1@127.0.0.1>;tag={}\r\nTo: <{}>{to_tag}\r\nCall-ID: {}\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:user1@{local}>\r\nMax-Forwards: 70\r\n\
             {extra}{content_type}Content-Length: {}\r\n\r\n{body}",
            self.tag,
            self.uri,
            self.call_id,
            body.len()
        ));
    }
}

/// The `To` tag of a response.
fn to_tag(resp: &str) -> String {
    common::header_lines(resp.as_bytes(), "To")
        .first()
        .and_then(|t| t.split(";tag=").nth(1))
        .map(|t| t.split(';').next().unwrap_or(t).to_owned())
        .unwrap_or_default()
}

/// An RTP packet: PCMA, 20 ms of silence.
fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x5eed_cafe_u32.to_be_bytes());
    p.extend(std::iter::repeat_n(0xd5, 160));
    p
}

/// The PCMA packets that came back to the caller's media socket, and their senders.
#[derive(Default)]
struct Heard {
    echoed: usize,
    sources: std::collections::BTreeSet<SocketAddr>,
}

impl Heard {
    fn listen(&mut self, media: &UdpSocket, during: Duration) {
        let until = Instant::now() + during;
        let mut buf = [0u8; 2048];
        while Instant::now() < until {
            let Ok((n, from)) = media.recv_from(&mut buf) else {
                continue;
            };
            if n >= 12 && buf[1] & 0x7f == 8 {
                self.echoed += 1;
                self.sources.insert(from);
            }
        }
    }
}

#[test]
fn caller_behind_nat_gets_the_echo_at_its_real_address() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, &format!("{RTP_LO}-{RTP_HI}"), "");
    let server = common::Server::start_with_config(&config, &[]);

    // The callee: SIPp answering and echoing RTP on its media port.
    let callee_port = common::free_udp_port();
    common::sipp_register_from(server.sip, "users.csv", callee_port);
    let echo = common::free_udp_ports(4).to_string();
    let uas = common::sipp_spawn(
        "call_uas_answer.xml",
        server.sip,
        callee_port,
        &["-mp", &echo, "-rtp_echo", "-key", "rtp_port", &echo],
    );

    // The caller: SIP on one socket, media on another, and SDP naming neither.
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let media = UdpSocket::bind("127.0.0.1:0").expect("bind media");
    media
        .set_read_timeout(Some(Duration::from_millis(5)))
        .expect("timeout");
    let nowhere = common::free_udp_port();
    let caller = Caller {
        sock,
        pbx: server.sip,
        call_id: "nat-latching@127.0.0.99".into(),
        tag: "nat1".into(),
        uri: format!("sip:user0@{}", server.sip),
    };
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.99\r\ns=-\r\nc=IN IP4 127.0.0.99\r\nt=0 0\r\n\
         m=audio {nowhere} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\n"
    );

    caller.request("INVITE", &caller.uri, 1, "", "", &sdp);
    let challenge = caller.response("INVITE", false);
    assert_eq!(common::status(challenge.as_bytes()), 401, "{challenge}");
    caller.request("ACK", &caller.uri, 1, &to_tag(&challenge), "", "");
    let header = common::header_lines(challenge.as_bytes(), "WWW-Authenticate")
        .into_iter()
        .next()
        .expect("WWW-Authenticate");
    let ch = Challenge::parse(&header).expect("challenge");
    let key = ha1(Algorithm::Md5, "user1", &ch.realm, "pw1");
    let creds =
        Credentials::answer(&ch, "user1", &key, "INVITE", &caller.uri, "0a4f113b", 1).unwrap();
    caller.request(
        "INVITE",
        &caller.uri,
        2,
        "",
        &format!("Authorization: {creds}\r\n"),
        &sdp,
    );
    let ok = caller.response("INVITE", false);
    assert_eq!(common::status(ok.as_bytes()), 200, "{ok}");
    let tag = to_tag(&ok);
    let contact = common::header_lines(ok.as_bytes(), "Contact")
        .first()
        .and_then(|c| c.split(['<', '>']).nth(1).map(str::to_owned))
        .expect("Contact");
    caller.request("ACK", &contact, 2, &tag, "", "");
    let body = ok.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let answer = common::sdp_view(body).expect("SDP in the 200");
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!(answer.address, Some(localhost), "{answer:?}");
    let relay = SocketAddr::new(localhost, answer.audio_port.expect("m=audio"));
    assert!((RTP_LO..=RTP_HI).contains(&relay.port()), "{relay}");

    // Talk from the real socket; listen there for the echo.
    let mut heard = Heard::default();
    for seq in 0..PACKETS {
        media.send_to(&rtp(seq), relay).expect("send rtp");
        heard.listen(&media, Duration::from_millis(20));
    }
    heard.listen(&media, Duration::from_millis(500));
    let Heard { echoed, sources } = heard;

    caller.request("BYE", &contact, 3, &tag, "", "");
    let bye = caller.response("BYE", false);
    assert_eq!(common::status(bye.as_bytes()), 200, "{bye}");
    let uas = common::sipp_join(uas);
    eprintln!("echoed to the caller: {echoed} packets from {sources:?}");
    assert!(uas.success, "callee:\n{}", uas.output);

    assert!(
        echoed >= usize::from(PACKETS) / 2,
        "only {echoed} of {PACKETS} packets came back to the caller's real address"
    );
    assert_eq!(
        sources.into_iter().collect::<Vec<_>>(),
        vec![relay],
        "the echo comes from the caller leg's relay port"
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (200, "caller"),
        "{cdr:?}"
    );
    assert!(cdr.answer.is_some(), "{cdr:?}");
}
