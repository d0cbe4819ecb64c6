//! `sip.sock` (DESIGN.md sections 9 and 15): a phone that speaks 9P (this test, through
//! `ninep::client`) logs in as extension user1, makes `uacs/phone1/` and opens its
//! `sip.sock`, which binds it at once; its REGISTER written there gets 200 without a
//! challenge, and the binding shows in `GET /reg`. It calls user0, a SIPp UAS registered over
//! UDP that echoes RTP, with all its signalling (INVITE, the responses, ACK, BYE and its 200)
//! written to and read from `sip.sock`, and its media over RTP from a UDP socket of the test:
//! the echo comes back from the relay. The clunk ends the binding; one CDR for the call.

mod common;
mod ninep_sip_sock_phone;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ninep_sip_sock_phone::{Phone, body, contact_uri, header, rtp, status, to_tag};

const RTP_LO: u16 = 25300;
const RTP_HI: u16 = 25399;
const PACKETS: u16 = 50;

/// The extension's bindings as `GET /reg/127.0.0.1/user1` shows them.
fn registration(server: &common::Server) -> (bool, String) {
    let (code, text) = common::http(server.http, "GET", "/reg/127.0.0.1/user1", None);
    assert_eq!(code, 200, "{text}");
    let json = common::Json::parse(&text).expect("json");
    let registered = json
        .get("users")
        .and_then(|u| u.get("user1"))
        .and_then(|u| u.get("registered"))
        .is_some_and(common::Json::is_true);
    (registered, text)
}

#[test]
fn a_9p_phone_registers_and_calls_through_sip_sock() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, &format!("{RTP_LO}-{RTP_HI}"), "");
    let server = common::Server::start_with_config(&config, &[]);

    // The callee: SIPp registered over UDP, answering and echoing RTP.
    let callee_port = common::free_udp_port();
    common::sipp_register_from(server.sip, "users.csv", callee_port);
    let echo = common::free_udp_ports(4).to_string();
    let uas = common::sipp_spawn(
        "call_uas_answer.xml",
        server.sip,
        callee_port,
        &["-mp", &echo, "-rtp_echo", "-key", "rtp_port", &echo],
    );

    // The phone: 9P for signalling.
    let mut phone = Phone::login(server.ninep, "user1", "127.0.0.1", "pw1");
    phone.mkdir("uacs", "phone1").expect("mkdir uacs/phone1");
    assert_eq!(phone.ls("uacs/phone1").expect("ls"), vec!["sip.sock"]);
    assert!(!registration(&server).0, "not bound before the open");
    phone
        .open_sock("uacs/phone1/sip.sock")
        .expect("open sip.sock");
    // Opening it bound the extension.
    let (registered, reg) = registration(&server);
    assert!(registered, "bound at open: {reg}");
    assert_eq!(
        phone.ls("uacs/phone1").expect("ls"),
        vec!["metadata", "sip.sock"]
    );
    let meta = phone.cat("uacs/phone1/metadata").expect("metadata");
    assert!(meta.contains("\"transport\": \"9P\""), "{meta}");

    // A REGISTER written there: 200 at once, no challenge.
    let contact = "<sip:user1@phone1.invalid;transport=tcp>";
    let via = "Via: SIP/2.0/TCP phone1.invalid";
    phone
        .send(&format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n{via};branch=z9hG4bK-sock-r1\r\n\
             From: <sip:user1@127.0.0.1>;tag=r1\r\nTo: <sip:user1@127.0.0.1>\r\n\
             Call-ID: sock-register\r\nCSeq: 1 REGISTER\r\nContact: {contact}\r\n\
             Expires: 600\r\nUser-Agent: sip.sock test\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        ))
        .expect("REGISTER written");
    let ok = phone.recv();
    assert_eq!(status(&ok), 200, "{ok}");
    let (registered, reg) = registration(&server);
    assert!(registered, "{reg}");
    assert!(
        reg.contains("phone1.invalid"),
        "the REGISTER's contact: {reg}"
    );
    assert!(
        !reg.contains("9p.invalid"),
        "one phone, one binding: the REGISTER's contact replaced the one made at open: {reg}"
    );
    // A write that is not one whole message is refused; the file stays usable.
    assert!(phone.send("REGISTER sip:127.0.0.1 SIP/2.0\r\n").is_err());

    // The call: INVITE through sip.sock, media from a UDP socket.
    let media = UdpSocket::bind("127.0.0.1:0").expect("bind media");
    media
        .set_read_timeout(Some(Duration::from_millis(5)))
        .expect("timeout");
    let media_port = media.local_addr().expect("addr").port();
    let sdp = format!(
        "v=0\r\no=phone1 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {media_port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\n"
    );
    let target = "sip:user0@127.0.0.1";
    let dialog = |method: &str, uri: &str, cseq: u32, to_tag: &str, body: &str| {
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
        let branch = match method {
            // The ACK of a 2xx is a transaction of its own.
            "ACK" => "z9hG4bK-sock-ack".to_owned(),
            _ => format!("z9hG4bK-sock-{cseq}-{method}"),
        };
        format!(
            "{method} {uri} SIP/2.0\r\n{via};branch={branch}\r\n\
             From: <sip:user1@127.0.0.1>;tag=c1\r\nTo: <{target}>{to_tag}\r\n\
             Call-ID: sock-call\r\nCSeq: {cseq} {method}\r\nContact: {contact}\r\n\
             Max-Forwards: 70\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    phone
        .send(&dialog("INVITE", target, 1, "", &sdp))
        .expect("INVITE written");
    let ok = phone.recv_until("SIP/2.0 2", 10);
    assert_eq!(header(&ok, "CSeq").as_deref(), Some("1 INVITE"), "{ok}");
    let tag = to_tag(&ok);
    let remote_target = contact_uri(&ok).expect("Contact in the 200");
    phone
        .send(&dialog("ACK", &remote_target, 1, &tag, ""))
        .expect("ACK written");
    let answer = common::sdp_view(body(&ok)).expect("SDP in the 200");
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    let relay = SocketAddr::new(localhost, answer.audio_port.expect("m=audio"));
    assert!((RTP_LO..=RTP_HI).contains(&relay.port()), "{relay}");

    // Media: talk, and hear the echo from the relay.
    let mut echoed = 0;
    let mut buf = [0u8; 2048];
    for seq in 0..PACKETS {
        media.send_to(&rtp(seq), relay).expect("send rtp");
        let until = Instant::now() + Duration::from_millis(20);
        while Instant::now() < until {
            if let Ok((n, from)) = media.recv_from(&mut buf)
                && n >= 12
                && from == relay
            {
                echoed += 1;
            }
        }
    }

    // Hang up through sip.sock.
    phone
        .send(&dialog("BYE", &remote_target, 2, &tag, ""))
        .expect("BYE written");
    let bye_ok = phone.recv_until("SIP/2.0 ", 10);
    assert_eq!(status(&bye_ok), 200, "{bye_ok}");
    assert_eq!(
        header(&bye_ok, "CSeq").as_deref(),
        Some("2 BYE"),
        "{bye_ok}"
    );
    let uas = common::sipp_join(uas);
    assert!(uas.success, "callee:\n{}", uas.output);
    eprintln!("echoed to the 9P phone's media socket: {echoed} of {PACKETS}");
    assert!(
        echoed >= usize::from(PACKETS) / 2,
        "only {echoed} of {PACKETS} packets came back through the relay"
    );

    // The clunk ends the binding.
    phone.close_sock();
    let end = Instant::now() + Duration::from_secs(5);
    while registration(&server).0 {
        assert!(Instant::now() < end, "still bound after the clunk");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(phone.ls("uacs/phone1").expect("ls"), vec!["sip.sock"]);

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(
        (cdr.from.as_str(), cdr.to.as_str()),
        ("user1", "user0"),
        "{cdr:?}"
    );
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (200, "caller"),
        "{cdr:?}"
    );
    assert!(cdr.answer.is_some(), "{cdr:?}");
}
