//! RFC 5626 section 4.4.1: a double-CRLF ping on TCP is answered with a single CRLF pong; on
//! UDP a bare CRLF datagram is dropped without an answer, and neither disturbs SIP.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn tcp_ping_gets_pong_and_the_connection_still_carries_sip() {
    let server = common::Server::start(&[]);
    let mut s = TcpStream::connect(server.sip).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    for _ in 0..3 {
        s.write_all(b"\r\n\r\n").expect("ping");
        let mut pong = [0u8; 2];
        s.read_exact(&mut pong).expect("pong");
        assert_eq!(&pong, b"\r\n");
    }
    let req = common::options(
        server.sip,
        &["SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-k1"],
        "",
    );
    s.write_all(&req).expect("options");
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).expect("answer");
    assert_eq!(common::status(&buf[..n]), 200);
}

#[test]
fn udp_crlf_is_dropped_silently() {
    let server = common::Server::start(&[]);
    for ka in [&b"\r\n\r\n"[..], b"\r\n"] {
        assert_eq!(
            common::udp_exchange(server.sip, ka, Duration::from_millis(500)),
            None
        );
    }
    let req = common::options(
        server.sip,
        &["SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-k2"],
        "",
    );
    let resp = common::udp_exchange(server.sip, &req, Duration::from_secs(5)).expect("answer");
    assert_eq!(common::status(&resp), 200);
}
