//! A registration made before a restart is still there after it: SIGTERM flushes the
//! checkpoint, the next start restores the binding from the SQLite store, a REGISTER query
//! (no Contact, RFC 3261 section 10.2.3) lists it, and it is still reachable: the restarted
//! PBX's keepalives arrive at the address the phone registered from.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

/// REGISTER (with `contact` or as a query), answering the challenge; returns the final answer.
fn register(
    server: &common::Server,
    sock: &UdpSocket,
    call: &str,
    contact: Option<&str>,
) -> String {
    let reg = common::Register {
        user: "user0",
        password: "pw0",
        call_id: call,
        cseq: 1,
        contact,
        via: None,
        extra: "",
    };
    common::register_udp(server.sip, sock, &reg)
        .expect("answers")
        .1
}

#[test]
fn a_registration_survives_a_restart() {
    // Keepalives every second, so that the restarted PBX pings the restored binding soon.
    let config = common::config_with_users("127.0.0.1", 1, "[registrar]\nkeepalive_secs = 1\n");
    let server = common::Server::start_with_config(&config, &[]);
    let phone = UdpSocket::bind("127.0.0.1:0").expect("bind");
    phone
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let contact = "sip:user0@127.0.0.99:5999";
    let made = register(&server, &phone, "before", Some(contact));
    assert!(made.starts_with("SIP/2.0 200 "), "{made}");
    assert!(made.contains(contact));

    let server = server.restart(&[]);
    // Reachable: a keepalive for the restored binding arrives at the phone's own address,
    // from the restarted PBX.
    let mut buf = [0u8; 8192];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut pinged = false;
    while std::time::Instant::now() < deadline && !pinged {
        if let Ok((n, from)) = phone.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            pinged = text.starts_with(&format!("OPTIONS {contact} "))
                && from.port() == server.sip.port();
        }
    }
    assert!(pinged, "the restored binding was not reached");

    let asker = UdpSocket::bind("127.0.0.1:0").expect("bind");
    asker
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let listed = register(&server, &asker, "after", None);
    assert!(listed.starts_with("SIP/2.0 200 "), "{listed}");
    let contacts = common::header_lines(listed.as_bytes(), "Contact");
    assert_eq!(contacts.len(), 1, "{listed}");
    assert!(
        contacts[0].starts_with(&format!("<{contact}>;expires=")),
        "{contacts:?}"
    );
}
