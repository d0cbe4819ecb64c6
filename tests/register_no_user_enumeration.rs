//! A wrong password and an unknown user get the same answer: the same status line and the
//! same headers, byte for byte, except the tags and the nonce (no user enumeration).

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use sip::digest::{Algorithm, Challenge, Credentials, ha1};

fn register(
    server: &common::Server,
    sock: &UdpSocket,
    user: &str,
    cseq: u32,
    auth: &str,
) -> String {
    let local = sock.local_addr().expect("addr");
    let msg = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{user}-{cseq}\r\n\
         From: <sip:{user}@127.0.0.1>;tag=f{cseq}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: enum-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{local}>\r\n\
         {auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(msg.as_bytes(), server.sip).expect("send");
    let mut buf = [0u8; 8192];
    let (n, _) = sock.recv_from(&mut buf).expect("answer");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Registers with a password, returns the final answer.
fn attempt(server: &common::Server, user: &str, password: &str) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let first = register(server, &sock, user, 1, "");
    assert!(first.starts_with("SIP/2.0 401 "), "{first}");
    let header = common::header_lines(first.as_bytes(), "WWW-Authenticate").remove(0);
    let ch = Challenge::parse(&header).expect("challenge");
    let key = ha1(Algorithm::Md5, user, &ch.realm, password);
    let creds = Credentials::answer(&ch, user, &key, "REGISTER", "sip:127.0.0.1", "abc", 1)
        .expect("credentials");
    register(
        server,
        &sock,
        user,
        2,
        &format!("Authorization: {creds}\r\n"),
    )
}

/// The answer with what legitimately differs (tags, nonce, branch, ports, user name, Call-ID)
/// blanked out.
fn shape(answer: &str, user: &str) -> String {
    answer
        .split("\r\n")
        .map(|line| {
            let line = line.replace(user, "USER");
            let cut = |l: &str, key: &str| match l.find(key) {
                Some(i) => {
                    let rest = &l[i + key.len()..];
                    let end = rest.find([';', '"', ',', '>']).unwrap_or(rest.len());
                    format!("{}{key}X{}", &l[..i], &rest[end..])
                }
                None => l.to_owned(),
            };
            let mut l = cut(&line, "tag=");
            l = cut(&l, "nonce=\"");
            l = cut(&l, "branch=");
            l = cut(&l, "rport=");
            l = cut(&l, "127.0.0.1:");
            l
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[test]
fn wrong_password_and_unknown_user_look_the_same() {
    let config = common::config_with_users("127.0.0.1", 2, "");
    let server = common::Server::start_with_config(&config, &[]);
    let wrong = attempt(&server, "user1", "not-the-password");
    let unknown = attempt(&server, "nosuchuser", "whatever");
    assert!(wrong.starts_with("SIP/2.0 401 "), "{wrong}");
    assert_eq!(shape(&wrong, "user1"), shape(&unknown, "nosuchuser"));
    // And the right password works, so the comparison above is between two failures.
    assert!(attempt(&server, "user0", "pw0").starts_with("SIP/2.0 200 "));
}
