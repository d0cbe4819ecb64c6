//! `sip.sock`, the other direction: a SIPp caller (user0, over UDP) calls user1, whose only
//! contact is a phone that speaks 9P (this test): the INVITE arrives on its open `sip.sock`
//! (the binding made at open, no REGISTER needed), the phone answers 200 there, gets the ACK
//! there, talks RTP from a UDP socket to the relay (SIPp echoes it back), and hangs up with a
//! BYE written to `sip.sock`, whose 200 it reads there. One CDR, hung up by the callee.

mod common;
mod ninep_sip_sock_phone;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ninep_sip_sock_phone::{Phone, body, contact_uri, header, rtp, status};

const RTP_LO: u16 = 25400;
const RTP_HI: u16 = 25499;
const PACKETS: u16 = 50;

#[test]
fn sipp_calls_a_9p_phone_through_its_sip_sock() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, &format!("{RTP_LO}-{RTP_HI}"), "");
    let server = common::Server::start_with_config(&config, &[]);

    let mut phone = Phone::login(server.ninep, "user1", "127.0.0.1", "pw1");
    phone.mkdir("uacs", "phone2").expect("mkdir uacs/phone2");
    phone
        .open_sock("uacs/phone2/sip.sock")
        .expect("open sip.sock");

    // The caller: SIPp as user0, hung up by the callee, echoing RTP.
    let target = server.sip;
    let uac_media = common::free_udp_ports(4).to_string();
    let sipp = std::thread::spawn(move || {
        common::sipp_with(
            "call_uac_hung_up.xml",
            target,
            false,
            1,
            &[
                "-inf",
                "users.csv",
                "-s",
                "user1",
                "-mp",
                &uac_media,
                "-rtp_echo",
            ],
        )
    });

    let invite = phone.recv_until("INVITE ", 10);
    assert!(
        invite.starts_with("INVITE sip:user1@9p.invalid"),
        "sent to the contact bound at open: {invite}"
    );
    let offer = common::sdp_view(body(&invite)).expect("SDP offer");
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    let relay = SocketAddr::new(
        offer.address.unwrap_or(localhost),
        offer.audio_port.expect("m=audio"),
    );
    assert!((RTP_LO..=RTP_HI).contains(&relay.port()), "{relay}");

    let media = UdpSocket::bind("127.0.0.1:0").expect("bind media");
    media
        .set_read_timeout(Some(Duration::from_millis(5)))
        .expect("timeout");
    let media_port = media.local_addr().expect("addr").port();
    let sdp = format!(
        "v=0\r\no=phone2 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {media_port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\n"
    );
    let h = |name: &str| header(&invite, name).unwrap_or_else(|| panic!("{name} in {invite}"));
    let (via, from, to, call_id, cseq) = (h("Via"), h("From"), h("To"), h("Call-ID"), h("CSeq"));
    let contact = "<sip:user1@phone2.invalid;transport=tcp>";
    phone
        .send(&format!(
            "SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: {from}\r\nTo: {to};tag=p2\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq}\r\nContact: {contact}\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ))
        .expect("200 written");
    let ack = phone.recv_until("ACK ", 10);
    assert_eq!(
        header(&ack, "Call-ID").as_deref(),
        Some(call_id.as_str()),
        "{ack}"
    );

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

    // The callee hangs up through sip.sock.
    let pbx = contact_uri(&invite).expect("Contact in the INVITE");
    phone
        .send(&format!(
            "BYE {pbx} SIP/2.0\r\nVia: SIP/2.0/TCP phone2.invalid;branch=z9hG4bK-p2-bye\r\n\
             From: {to};tag=p2\r\nTo: {from}\r\nCall-ID: {call_id}\r\nCSeq: 1 BYE\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ))
        .expect("BYE written");
    let bye_ok = phone.recv_until("SIP/2.0 ", 10);
    assert_eq!(status(&bye_ok), 200, "{bye_ok}");
    assert_eq!(
        header(&bye_ok, "CSeq").as_deref(),
        Some("1 BYE"),
        "{bye_ok}"
    );
    let caller = sipp.join().expect("sipp thread");
    assert!(caller.success, "caller:\n{}", caller.output);
    eprintln!("echoed to the 9P phone's media socket: {echoed} of {PACKETS}");
    assert!(
        echoed >= usize::from(PACKETS) / 2,
        "only {echoed} of {PACKETS} packets came back through the relay"
    );
    phone.close_sock();

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(
        (cdr.from.as_str(), cdr.to.as_str()),
        ("user0", "user1"),
        "{cdr:?}"
    );
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (200, "callee"),
        "{cdr:?}"
    );
}
