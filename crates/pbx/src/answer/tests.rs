use rand::SeedableRng;

use super::*;

fn answers() -> Answers {
    let identity = Identity {
        hosts: vec![
            Host::parse("127.0.0.1").expect("ip"),
            Host::parse("pbx.test").expect("name"),
        ],
        server: "switchboard-test".into(),
        allow: vec![Method::Options],
    };
    Answers::new(identity, StdRng::seed_from_u64(7))
}

fn request(start: &str, extra: &str) -> Request {
    let method = start.split(' ').next().expect("method");
    let raw = format!(
        "{start} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\r\n\
         From: <sip:ping@127.0.0.1>;tag=a\r\nTo: <sip:127.0.0.1>\r\nCall-ID: c1\r\n\
         CSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    match sip::Message::parse(raw.as_bytes()) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn code(start: &str, extra: &str) -> Option<u16> {
    answers()
        .handle_request(&request(start, extra))
        .map(|r| r.status.code())
}

#[test]
fn options_to_the_pbx_gets_200_with_capabilities() {
    let resp = answers()
        .handle_request(&request("OPTIONS sip:127.0.0.1:5060", ""))
        .expect("200");
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.head.to.tag().is_some());
    for h in [HeaderName::Allow, HeaderName::Accept, HeaderName::Supported] {
        assert!(resp.head.get(&h).is_some(), "{h}");
    }
    assert_eq!(resp.head.get(&HeaderName::Allow), Some("OPTIONS"));
    assert_eq!(
        resp.head.via,
        request("OPTIONS sip:127.0.0.1:5060", "").head.via
    );
}

#[test]
fn max_forwards_zero_only_stops_what_would_be_forwarded() {
    let mf0 = "Max-Forwards: 0\r\n";
    // Addressed to the PBX itself (its IP, any port, any user; or its domain): answered.
    assert_eq!(code("OPTIONS sip:127.0.0.1:9999", mf0), Some(200));
    assert_eq!(code("OPTIONS sip:bob@pbx.test", mf0), Some(200));
    assert_eq!(code("OPTIONS sip:example.com", mf0), Some(200));
    // Would be forwarded: 483.
    assert_eq!(code("OPTIONS sip:user@example.com", mf0), Some(483));
    assert_eq!(code("INVITE sip:bob@pbx.test", mf0), Some(483));
    assert_eq!(code("MESSAGE sip:bob@pbx.test", mf0), Some(483));
    // REGISTER is never forwarded.
    assert_eq!(code("REGISTER sip:pbx.test", mf0), Some(405));
}

#[test]
fn methods_the_pbx_does_not_serve() {
    assert_eq!(code("INVITE sip:bob@pbx.test", ""), Some(405));
    let resp = answers()
        .handle_request(&request("SUBSCRIBE sip:bob@pbx.test", ""))
        .expect("405");
    assert_eq!(resp.head.get(&HeaderName::Allow), Some("OPTIONS"));
    assert_eq!(code("FOO sip:bob@pbx.test", ""), Some(501));
    assert_eq!(code("CANCEL sip:bob@pbx.test", ""), Some(481));
    assert_eq!(code("ACK sip:bob@pbx.test", ""), None);
    assert_eq!(code("OPTIONS sip:user@example.com", ""), Some(403));
}

#[test]
fn scheme_and_extensions() {
    assert_eq!(code("OPTIONS mailto:x@example.com", ""), Some(416));
    let resp = answers()
        .handle_request(&request("OPTIONS sip:127.0.0.1", "Require: foo, bar\r\n"))
        .expect("420");
    assert_eq!(resp.status.code(), 420);
    assert_eq!(resp.head.get(&HeaderName::Unsupported), Some("foo, bar"));
    // Proxy-Require is for requests the PBX would forward.
    assert_eq!(
        code("OPTIONS sip:127.0.0.1", "Proxy-Require: foo\r\n"),
        Some(200)
    );
    assert_eq!(
        code("OPTIONS sip:u@example.com", "Proxy-Require: foo\r\n"),
        Some(420)
    );
}

#[test]
fn tags_are_deterministic_under_a_seed() {
    assert_eq!(answers().tag(), answers().tag());
}

#[test]
fn stateless_answers_repeat_exactly_for_a_retransmission() {
    let mut a = answers();
    let req = request("OPTIONS sip:127.0.0.1", "");
    let first = a.stateless(&req).expect("options is stateless");
    let again = a.stateless(&req).expect("options is stateless");
    assert_eq!(first, again);
    let mut other = req.clone();
    other.head.via[0]
        .params
        .set("branch", Some("z9hG4bK-2".into()));
    assert_ne!(
        a.stateless(&other).expect("answer").head.to.tag(),
        first.head.to.tag()
    );
    // Everything else needs a transaction.
    assert!(
        a.stateless(&request("INVITE sip:bob@pbx.test", ""))
            .is_none()
    );
}
