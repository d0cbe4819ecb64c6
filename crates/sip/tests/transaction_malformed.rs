//! Hostile and odd input to the transaction layer: every RFC 4475 torture message that
//! parses, and seeded random mutations of valid messages, fed as requests and responses.
//! Nothing panics, and once the TU answers and the timers run out the layer is empty.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sip::transaction::{Event, LayerConfig, TransactionLayer};
use sip::{Message, Method, Response, StatusCode, Transport};

type Layer = TransactionLayer<u8>;

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
\r\n";

const RESPONSE: &[u8] = b"SIP/2.0 486 Busy Here\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
\r\n";

/// Feeds `msg` to `l` at `now`, playing a TU that answers every new request with 500.
fn feed(l: &mut Layer, now: Instant, msg: Message, transport: Transport) {
    match msg {
        Message::Request(r) => {
            // Also as an ACK and as a CANCEL, which take other matching paths.
            for method in [None, Some(Method::Ack), Some(Method::Cancel)] {
                let mut r = r.clone();
                if let Some(m) = method {
                    r.method = m.clone();
                    r.head.cseq.method = m;
                }
                l.handle_request(now, r, 1, transport.clone());
            }
        }
        Message::Response(r) => l.handle_response(now, r, 1),
    }
    answer(l, now);
}

fn answer(l: &mut Layer, now: Instant) {
    while l.poll_transmit().is_some() {}
    while let Some(e) = l.poll_event() {
        if let Event::Request { key, request, .. } = e {
            let resp = Response::to_request(&request, StatusCode::SERVER_INTERNAL_ERROR);
            l.respond(now, &key, resp)
                .expect("a new transaction takes a final response");
        }
    }
}

fn drain_until_empty(l: &mut Layer, mut now: Instant) {
    for _ in 0..10_000 {
        answer(l, now);
        match l.poll_timeout() {
            Some(t) => {
                now = now.max(t);
                l.handle_timeout(now);
            }
            None => break,
        }
    }
    answer(l, now);
    assert!(l.is_empty(), "{} transactions left", l.len());
}

/// A layer with a client INVITE and a client OPTIONS outstanding, so that responses can
/// match something.
fn layer(now: Instant, transport: Transport) -> Layer {
    let mut l = Layer::new(LayerConfig::default());
    let Ok(Message::Request(inv)) = Message::parse(INVITE) else {
        panic!("INVITE parses");
    };
    let mut opt = inv.clone();
    opt.method = Method::Options;
    opt.head.cseq.method = Method::Options;
    l.send_request(now, inv, 2, transport.clone())
        .expect("INVITE");
    l.send_request(now, opt, 2, transport).expect("OPTIONS");
    l
}

#[test]
fn rfc4475_torture_messages_do_not_upset_the_layer() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rfc4475");
    let mut fed = 0;
    for transport in [Transport::Udp, Transport::Tcp] {
        let t0 = Instant::now();
        let mut l = layer(t0, transport.clone());
        for entry in std::fs::read_dir(&dir).expect("testdata") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "dat") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            if let Ok(msg) = Message::parse(&bytes) {
                // Twice: the second time is a retransmission.
                feed(&mut l, t0, msg.clone(), transport.clone());
                feed(
                    &mut l,
                    t0 + Duration::from_millis(300),
                    msg,
                    transport.clone(),
                );
                fed += 1;
            }
        }
        drain_until_empty(&mut l, t0);
    }
    assert!(fed > 40, "{fed}");
}

#[test]
fn random_mutations_do_not_upset_the_layer() {
    for seed in 0..20 {
        let mut rng = StdRng::seed_from_u64(seed);
        let t0 = Instant::now();
        let mut l = layer(t0, Transport::Udp);
        let mut now = t0;
        for _ in 0..500 {
            let mut bytes = if rng.random_bool(0.5) {
                INVITE.to_vec()
            } else {
                RESPONSE.to_vec()
            };
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..bytes.len());
                match rng.random_range(0..3) {
                    0 => bytes[i] = rng.random(),
                    1 => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i, b"z9hG4bK;:,<>@ \r\n"[rng.random_range(0..16)]),
                }
            }
            now += Duration::from_millis(rng.random_range(0..200));
            l.handle_timeout(now);
            if let Ok(msg) = Message::parse(&bytes) {
                feed(&mut l, now, msg, Transport::Udp);
            }
        }
        drain_until_empty(&mut l, now);
    }
}
