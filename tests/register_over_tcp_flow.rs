//! A binding made over TCP lives on its connection: the PBX's keepalive OPTIONS come back over
//! that same connection, and when the connection closes the binding ends (and `GET /reg` says
//! so).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sip::digest::{Algorithm, Challenge, Credentials, ha1};

/// Reads whole SIP messages (Content-Length 0) off the stream until one satisfies `want`.
fn read_until(s: &mut TcpStream, pending: &mut String, want: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        while let Some(i) = pending.find("\r\n\r\n") {
            let msg: String = pending.drain(..i + 4).collect();
            if want(&msg) {
                return msg;
            }
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => pending.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
    }
    panic!("nothing wanted arrived; pending: {pending}")
}

#[test]
fn keepalives_use_the_connection_and_closing_it_ends_the_binding() {
    let config = common::config_with_users(
        "127.0.0.1",
        1,
        "[registrar]\nkeepalive_secs = 1\nkeepalive_failures = 5\n",
    );
    let server = common::Server::start_with_config(&config, &[]);
    let mut s = TcpStream::connect(server.sip).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let local = s.local_addr().expect("addr");
    let mut pending = String::new();
    let register = |s: &mut TcpStream, cseq: u32, auth: &str| {
        let msg = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-t{cseq}\r\n\
             From: <sip:user0@127.0.0.1>;tag=t\r\nTo: <sip:user0@127.0.0.1>\r\nCall-ID: tcp-flow\r\n\
             CSeq: {cseq} REGISTER\r\nContact: <sip:user0@{local};transport=tcp>\r\n{auth}\
             Content-Length: 0\r\n\r\n"
        );
        s.write_all(msg.as_bytes()).expect("write");
    };
    register(&mut s, 1, "");
    let challenge = read_until(&mut s, &mut pending, |m| m.starts_with("SIP/2.0 401 "));
    let header = common::header_lines(challenge.as_bytes(), "WWW-Authenticate").remove(0);
    let ch = Challenge::parse(&header).expect("challenge");
    let key = ha1(Algorithm::Md5, "user0", &ch.realm, "pw0");
    let creds = Credentials::answer(&ch, "user0", &key, "REGISTER", "sip:127.0.0.1", "c", 1)
        .expect("credentials");
    register(&mut s, 2, &format!("Authorization: {creds}\r\n"));
    read_until(&mut s, &mut pending, |m| m.starts_with("SIP/2.0 200 "));

    // The keepalive comes over this connection.
    let ping = read_until(&mut s, &mut pending, |m| m.starts_with("OPTIONS "));
    assert!(ping.contains("Via: SIP/2.0/TCP "), "{ping}");
    let (_, view) = common::http(server.http, "GET", "/reg/127.0.0.1/user0", None);
    assert!(
        view.contains(r#""registered":true"#) && view.contains(r#""transport":"tcp""#),
        "{view}"
    );

    // Closing the connection ends the binding.
    drop(s);
    let end = Instant::now() + Duration::from_secs(10);
    let mut view = String::new();
    while Instant::now() < end {
        view = common::http(server.http, "GET", "/reg/127.0.0.1/user0", None).1;
        if view.contains(r#""registered":false"#) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(view.contains(r#""registered":false"#), "{view}");
}
