//! A wrong password and an unknown user get the same answer: the same status line and the
//! same headers, byte for byte, except the tags and the nonce (no user enumeration).

mod common;

use std::net::UdpSocket;
use std::time::Duration;

/// Registers with a password, returns the final answer.
fn attempt(server: &common::Server, user: &str, password: &str) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let contact = format!("sip:{user}@{}", sock.local_addr().expect("addr"));
    let call_id = format!("enum-{user}");
    let reg = common::Register {
        user,
        password,
        call_id: &call_id,
        cseq: 1,
        contact: Some(&contact),
        via: None,
        extra: "",
    };
    let (first, answer) = common::register_udp(server.sip, &sock, &reg).expect("answers");
    assert!(first.starts_with("SIP/2.0 401 "), "{first}");
    answer
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
