//! A retransmitted request (same branch) gets the same answer again, and is not served anew:
//! through its server transaction (RFC 3261 section 17.2.2; here a SUBSCRIBE refused with
//! 405) or, for OPTIONS, which the PBX answers statelessly (section 8.2.7), by regenerating
//! the identical answer. Either way the To tag repeats; a new branch gets a new one.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

fn to_tags(server: &common::Server, method: &str) -> (String, String, String) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let exchange = |branch: &str| {
        let via = format!("SIP/2.0/UDP 127.0.0.1:1;branch={branch}");
        let msg = String::from_utf8(common::options(server.sip, &[&via], ""))
            .expect("utf8")
            .replace("OPTIONS", method);
        sock.send_to(msg.as_bytes(), server.sip).expect("send");
        let mut buf = [0u8; 4096];
        let (n, _) = sock.recv_from(&mut buf).expect("answer");
        let resp = buf[..n].to_vec();
        let to = common::header_lines(&resp, "To").remove(0);
        (common::status(&resp), to)
    };
    let (s1, first) = exchange("z9hG4bK-same");
    let (s2, again) = exchange("z9hG4bK-same");
    let (s3, other) = exchange("z9hG4bK-other");
    assert_eq!((s1, s2), (s3, s3), "{method}");
    (first, again, other)
}

#[test]
fn a_transaction_resends_its_answer_to_a_retransmission() {
    let server = common::Server::start(&[]);
    let (first, again, other) = to_tags(&server, "SUBSCRIBE");
    assert_eq!(
        first, again,
        "a retransmission must be answered from the transaction"
    );
    assert_ne!(first, other, "a new transaction gets a new To tag");
}

#[test]
fn a_stateless_options_answer_is_regenerated_identically() {
    let server = common::Server::start(&[]);
    let (first, again, other) = to_tags(&server, "OPTIONS");
    assert_eq!(first, again);
    assert_ne!(first, other);
}
