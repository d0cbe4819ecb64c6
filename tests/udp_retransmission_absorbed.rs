//! A retransmitted request (same branch) is absorbed by its server transaction, which sends
//! the same response again instead of answering anew (RFC 3261 section 17.2.2): same To tag.
//! A new branch is a new transaction with a new answer.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

#[test]
fn retransmission_gets_the_same_answer() {
    let server = common::Server::start(&[]);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut exchange = |branch: &str| {
        let via = format!("SIP/2.0/UDP 127.0.0.1:1;branch={branch}");
        sock.send_to(&common::options(server.sip, &[&via], ""), server.sip)
            .expect("send");
        let mut buf = [0u8; 4096];
        let (n, _) = sock.recv_from(&mut buf).expect("answer");
        let resp = buf[..n].to_vec();
        assert_eq!(common::status(&resp), 200);
        common::header_lines(&resp, "To").remove(0)
    };
    let first = exchange("z9hG4bK-same");
    let again = exchange("z9hG4bK-same");
    let other = exchange("z9hG4bK-other");
    assert_eq!(
        first, again,
        "a retransmission must be answered from the transaction"
    );
    assert_ne!(first, other, "a new transaction gets a new To tag");
}
