//! SIP over TCP is framed by Content-Length (RFC 3261 section 18.3): a message split into
//! single bytes and two messages in one segment are both answered; a Content-Length beyond
//! the limit is refused with 413 and the connection closes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn connect(server: &common::Server) -> TcpStream {
    let s = TcpStream::connect(server.sip).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Reads until `n` responses (by their Content-Length: 0 ends) have arrived.
fn read_responses(s: &mut TcpStream, n: usize) -> String {
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while text.matches("\r\n\r\n").count() < n {
        let got = s.read(&mut buf).expect("read");
        assert!(got > 0, "connection closed early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..got]));
    }
    text
}

#[test]
fn a_message_in_single_bytes_is_reassembled() {
    let server = common::Server::start(&[]);
    let mut s = connect(&server);
    let req = common::options(
        server.sip,
        &["SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-s1"],
        "",
    );
    for b in &req {
        s.write_all(std::slice::from_ref(b)).expect("byte");
    }
    assert!(read_responses(&mut s, 1).starts_with("SIP/2.0 200 "));
}

#[test]
fn two_messages_in_one_segment_get_two_answers() {
    let server = common::Server::start(&[]);
    let mut s = connect(&server);
    let mut both = common::options(
        server.sip,
        &["SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-a"],
        "",
    );
    both.extend(common::options(
        server.sip,
        &["SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-b"],
        "",
    ));
    s.write_all(&both).expect("write");
    let text = read_responses(&mut s, 2);
    assert_eq!(text.matches("SIP/2.0 200 ").count(), 2, "{text}");
    assert!(text.contains("branch=z9hG4bK-a") && text.contains("branch=z9hG4bK-b"));
}

#[test]
fn an_oversized_body_is_refused_and_the_connection_closed() {
    let server = common::Server::start(&[]);
    let mut s = connect(&server);
    let req = String::from_utf8(common::options(
        server.sip,
        &["SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-big"],
        "",
    ))
    .expect("utf8")
    .replace("Content-Length: 0", "Content-Length: 10000000");
    s.write_all(req.as_bytes()).expect("write");
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("SIP/2.0 413 "), "{text}");
}
