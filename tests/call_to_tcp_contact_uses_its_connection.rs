//! A call to an extension registered over TCP goes over that phone's own TCP connection (the
//! phone behind NAT cannot accept a new one): the INVITE, and later the BYE, arrive on the
//! connection the REGISTER came on, with a TCP Via.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use sip::digest::{Algorithm, Challenge, Credentials, ha1};

/// Reads whole SIP messages off the stream until one satisfies `want`.
fn read_until(s: &mut TcpStream, pending: &mut Vec<u8>, want: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 8192];
    while Instant::now() < end {
        while let Ok(sip::framing::Frame::Message(len)) =
            sip::framing::check(pending, &sip::Limits::default())
        {
            let msg: Vec<u8> = pending.drain(..len).collect();
            let text = String::from_utf8_lossy(&msg).into_owned();
            if want(&text) {
                return text;
            }
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    panic!(
        "nothing wanted arrived; pending: {}",
        String::from_utf8_lossy(pending)
    )
}

fn udp_wait(sock: &UdpSocket, want: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 8192];
    while Instant::now() < end {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if want(&text) {
                return text;
            }
        }
    }
    panic!("nothing wanted arrived over UDP")
}

fn header(msg: &str, name: &str) -> String {
    common::header_lines(msg.as_bytes(), name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {name} in {msg}"))
}

#[test]
fn invite_and_bye_reach_a_tcp_contact_over_its_connection() {
    let config = common::config_with_users(
        "127.0.0.1",
        2,
        "[registrar]\nkeepalive_secs = 0\n[rtp]\nports = \"41400-41499\"\n",
    );
    let server = common::Server::start_with_config(&config, &[]);

    // The callee registers over TCP.
    let mut callee = TcpStream::connect(server.sip).expect("connect");
    callee
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let local = callee.local_addr().expect("addr");
    let mut pending = Vec::new();
    let register = |s: &mut TcpStream, cseq: u32, auth: &str| {
        let msg = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-r{cseq}\r\n\
             From: <sip:user1@127.0.0.1>;tag=r\r\nTo: <sip:user1@127.0.0.1>\r\nCall-ID: tcp-callee\r\n\
             CSeq: {cseq} REGISTER\r\nContact: <sip:user1@{local};transport=tcp>\r\n{auth}\
             Content-Length: 0\r\n\r\n"
        );
        s.write_all(msg.as_bytes()).expect("write");
    };
    register(&mut callee, 1, "");
    let challenge = read_until(&mut callee, &mut pending, |m| m.starts_with("SIP/2.0 401 "));
    let ch = Challenge::parse(&header(&challenge, "WWW-Authenticate")).expect("challenge");
    let key = ha1(Algorithm::Md5, "user1", &ch.realm, "pw1");
    let creds = Credentials::answer(&ch, "user1", &key, "REGISTER", "sip:127.0.0.1", "c", 1)
        .expect("credentials");
    register(&mut callee, 2, &format!("Authorization: {creds}\r\n"));
    read_until(&mut callee, &mut pending, |m| m.starts_with("SIP/2.0 200 "));

    // The caller calls over UDP, answering the challenge.
    let caller = UdpSocket::bind("127.0.0.1:0").expect("bind");
    caller
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let me = caller.local_addr().expect("addr");
    let sdp = "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 7000 RTP/AVP 0\r\n";
    let invite = |cseq: u32, auth: &str| {
        format!(
            "INVITE sip:user1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-i{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:user0@127.0.0.1>;tag=c\r\nTo: <sip:user1@127.0.0.1>\r\n\
             Call-ID: tcp-call\r\nCSeq: {cseq} INVITE\r\nContact: <sip:user0@{me}>\r\n{auth}\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    };
    caller
        .send_to(invite(1, "").as_bytes(), server.sip)
        .expect("send");
    let challenge = udp_wait(&caller, |m| m.starts_with("SIP/2.0 401 "));
    let to = header(&challenge, "To");
    caller
        .send_to(
            format!(
                "ACK sip:user1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-i1\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:user0@127.0.0.1>;tag=c\r\nTo: {to}\r\n\
                 Call-ID: tcp-call\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
            server.sip,
        )
        .expect("ack");
    let ch = Challenge::parse(&header(&challenge, "WWW-Authenticate")).expect("challenge");
    let key = ha1(Algorithm::Md5, "user0", &ch.realm, "pw0");
    let creds = Credentials::answer(&ch, "user0", &key, "INVITE", "sip:user1@127.0.0.1", "c", 1)
        .expect("credentials");
    caller
        .send_to(
            invite(2, &format!("Authorization: {creds}\r\n")).as_bytes(),
            server.sip,
        )
        .expect("send");

    // The INVITE arrives on the callee's own connection, via TCP.
    let inv = read_until(&mut callee, &mut pending, |m| m.starts_with("INVITE "));
    assert!(inv.contains("Via: SIP/2.0/TCP "), "{inv}");
    assert!(
        inv.contains(";transport=tcp>"),
        "our Contact names TCP: {inv}"
    );
    let mut reply = String::new();
    for line in inv.split("\r\n").take_while(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("via:")
            || lower.starts_with("from:")
            || lower.starts_with("call-id:")
            || lower.starts_with("cseq:")
        {
            reply.push_str(line);
            reply.push_str("\r\n");
        } else if lower.starts_with("to:") {
            reply.push_str(line);
            reply.push_str(";tag=callee\r\n");
        }
    }
    let answer = "v=0\r\no=d 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                  m=audio 7100 RTP/AVP 0\r\n";
    callee
        .write_all(
            format!(
                "SIP/2.0 200 OK\r\n{reply}Contact: <sip:user1@{local};transport=tcp>\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            )
            .as_bytes(),
        )
        .expect("200");

    // The caller gets the 200 and ACKs; the callee's ACK comes over its connection.
    let ok = udp_wait(&caller, |m| {
        m.starts_with("SIP/2.0 200 ") && m.contains("INVITE")
    });
    let to = header(&ok, "To");
    caller
        .send_to(
            format!(
                "ACK sip:switchboard@{} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-a2\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:user0@127.0.0.1>;tag=c\r\nTo: {to}\r\n\
                 Call-ID: tcp-call\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n",
                server.sip
            )
            .as_bytes(),
            server.sip,
        )
        .expect("ack");
    let ack = read_until(&mut callee, &mut pending, |m| m.starts_with("ACK "));
    assert!(ack.contains("Via: SIP/2.0/TCP "), "{ack}");

    // The caller hangs up: the BYE for the callee comes over the same connection.
    caller
        .send_to(
            format!(
                "BYE sip:switchboard@{} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-b3\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:user0@127.0.0.1>;tag=c\r\nTo: {to}\r\n\
                 Call-ID: tcp-call\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
                server.sip
            )
            .as_bytes(),
            server.sip,
        )
        .expect("bye");
    udp_wait(&caller, |m| {
        m.starts_with("SIP/2.0 200 ") && m.contains("BYE")
    });
    let bye = read_until(&mut callee, &mut pending, |m| m.starts_with("BYE "));
    assert!(bye.contains("Via: SIP/2.0/TCP "), "{bye}");
    assert!(bye.contains("tag=callee"), "{bye}");
}
