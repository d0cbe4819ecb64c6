//! RFC 3261 section 8.2.6.2 and RFC 3581: a response echoes every Via of the request in
//! order; the top one gains `received` and `rport` with the address the request really came
//! from, and the response goes back to that address.

mod common;

use std::time::Duration;

#[test]
fn top_via_gains_received_and_rport_and_the_rest_are_copied_in_order() {
    let server = common::Server::start(&[]);
    let vias = [
        // The sent-by names a private-looking host and port that are not where the request
        // comes from: the answer must still reach the real source.
        "SIP/2.0/UDP 127.0.0.99:5999;branch=z9hG4bK-top;rport",
        "SIP/2.0/TCP 127.0.0.98:5070;branch=z9hG4bK-mid;received=127.0.0.97",
        "SIP/2.0/UDP [::1]:5080;branch=z9hG4bK-bottom;maddr=127.0.0.96;ttl=1",
    ];
    let resp = common::udp_exchange(
        server.sip,
        &common::options(server.sip, &vias, ""),
        Duration::from_secs(5),
    )
    .expect("an answer at the real source address");
    assert_eq!(common::status(&resp), 200);
    let got = common::header_lines(&resp, "Via");
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got[0].starts_with("SIP/2.0/UDP 127.0.0.99:5999;branch=z9hG4bK-top;rport="),
        "{got:?}"
    );
    assert!(got[0].contains(";received=127.0.0.1"), "{got:?}");
    let port: u16 = got[0]
        .split(";rport=")
        .nth(1)
        .and_then(|p| p.split(';').next())
        .and_then(|p| p.parse().ok())
        .expect("rport value");
    assert_ne!(port, 0);
    assert_eq!(got[1], vias[1]);
    assert_eq!(got[2], vias[2]);
}

#[test]
fn a_via_without_rport_still_gets_the_answer_at_the_source() {
    let server = common::Server::start(&[]);
    let msg = common::options(
        server.sip,
        &["SIP/2.0/UDP 127.0.0.99:5999;branch=z9hG4bK-x"],
        "",
    );
    let resp = common::udp_exchange(server.sip, &msg, Duration::from_secs(5)).expect("answer");
    assert_eq!(common::status(&resp), 200);
    assert!(common::header_lines(&resp, "Via")[0].contains("received=127.0.0.1"));
}
