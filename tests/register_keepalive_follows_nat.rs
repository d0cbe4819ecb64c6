//! Keepalives follow the NAT flow: a phone that registers a Contact it cannot be reached at
//! (a private address, as behind NAT) gets the PBX's OPTIONS keepalives at the address the
//! REGISTER came from; while it answers, it stays registered; when it stops answering, its
//! binding is dropped after the configured number of unanswered pings.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// Sends a REGISTER from `sock` (answering the challenge) and returns the final response.
fn register(server: &common::Server, sock: &UdpSocket, cseq: u32, contact: Option<&str>) -> String {
    // The Via names a private-looking address: answers must follow rport/received.
    let reg = common::Register {
        user: "user0",
        password: "pw0",
        call_id: "keepalive",
        cseq,
        contact,
        via: Some("127.0.0.99:5999"),
        extra: "",
    };
    common::register_udp(server.sip, sock, &reg)
        .expect("answers")
        .1
}

/// Waits for an OPTIONS on `sock`; answers it with 200 when `answer`.
fn next_options(sock: &UdpSocket, answer: bool, within: Duration) -> Option<String> {
    let end = Instant::now() + within;
    let mut buf = [0u8; 8192];
    while Instant::now() < end {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("OPTIONS ") {
            continue;
        }
        if answer {
            let head: Vec<&str> = text
                .split("\r\n")
                .filter(|l| {
                    ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                        .iter()
                        .any(|h| l.starts_with(h))
                })
                .collect();
            let resp = format!(
                "SIP/2.0 200 OK\r\n{}\r\nContent-Length: 0\r\n\r\n",
                head.join("\r\n")
            );
            sock.send_to(resp.as_bytes(), from).expect("answer");
        }
        return Some(text);
    }
    None
}

#[test]
fn keepalives_reach_the_nat_address_and_silence_ends_the_binding() {
    let config = common::config_with_users(
        "127.0.0.1",
        1,
        "[registrar]\nkeepalive_secs = 1\nkeepalive_failures = 2\n",
    );
    let server = common::Server::start_with_config(&config, &[]);
    let phone = UdpSocket::bind("127.0.0.1:0").expect("bind");
    phone
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let unreachable_contact = "sip:user0@127.0.0.99:5999";
    let ok = register(&server, &phone, 1, Some(unreachable_contact));
    assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");

    // Keepalives arrive at the socket the REGISTER came from, for the registered contact.
    for _ in 0..3 {
        let ping = next_options(&phone, true, Duration::from_secs(5)).expect("a keepalive");
        assert!(
            ping.starts_with(&format!("OPTIONS {unreachable_contact} SIP/2.0\r\n")),
            "{ping}"
        );
    }
    let registered = |server: &common::Server| {
        let (_, view) = common::http(server.http, "GET", "/reg/127.0.0.1/user0", None);
        assert!(view.starts_with('{'), "{view}");
        view.contains(r#""registered":true"#)
    };
    assert!(registered(&server), "answered keepalives keep the binding");

    // Silence: after two unanswered keepalives the binding goes.
    let mut gone = false;
    for _ in 0..40 {
        let _ = next_options(&phone, false, Duration::from_millis(250));
        if !registered(&server) {
            gone = true;
            break;
        }
    }
    assert!(gone, "the silent contact was never dropped");
}
