//! A client and a server transaction layer across a simulated lossy network (quinn's `Pair`,
//! str0m's `netem`): per-packet loss, duplication and random latency (hence reordering),
//! from seeded RNGs, on simulated time. The server TU answers INVITE with 180 then 486 (so
//! that the ACK path of the transactions is exercised; 2xx retransmission is the TU's job)
//! and OPTIONS with 200.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sip::transaction::{
    ClientEvent, Event, LayerConfig, ServerEvent, TransactionKey, TransactionLayer,
};
use sip::{Message, Method, Request, Response, StatusCode, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Client,
    Server,
}

struct Netem {
    loss: f64,
    duplicate: f64,
    min_latency: Duration,
    max_latency: Duration,
}

const LOSSY: Netem = Netem {
    loss: 0.3,
    duplicate: 0.1,
    min_latency: Duration::from_millis(5),
    max_latency: Duration::from_millis(400),
};

#[derive(Default)]
struct ClientOutcome {
    method: Option<Method>,
    provisional: usize,
    finals: Vec<u16>,
    timeouts: usize,
    terminated: usize,
    timeout_at: Option<Duration>,
}

#[derive(Default)]
struct Report {
    clients: HashMap<TransactionKey, ClientOutcome>,
    /// How many times the server TU saw each request, by Call-ID.
    server_seen: HashMap<String, usize>,
    server_terminated: usize,
    server_confirmed: usize,
    server_timeouts: usize,
    delivered: usize,
    duration: Duration,
}

fn request(method: &str, n: usize) -> Request {
    let text = format!(
        "{method} sip:service@server.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP client.example.com:5060;branch=z9hG4bK-{n}-{method}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:service@server.example.com>\r\n\
         From: <sip:user@client.example.com>;tag=f{n}\r\n\
         Call-ID: call-{n}@client.example.com\r\n\
         CSeq: {n} {method}\r\n\
         \r\n"
    );
    match Message::parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn answer(req: &Request, code: u16) -> Response {
    let mut r = Response::to_request(req, StatusCode::new(code).expect("code"));
    r.head
        .to
        .params
        .set("tag", Some(format!("srv-{}", req.head.cseq.seq)));
    r
}

/// Runs `transactions` transactions (INVITE and OPTIONS alternately, 100 ms apart) from the
/// client to the server over `netem`, until both layers are empty.
fn simulate(seed: u64, netem: &Netem, transactions: usize) -> Report {
    let mut rng = StdRng::seed_from_u64(seed);
    let t0 = Instant::now();
    let mut client = TransactionLayer::<Side>::new(LayerConfig::default());
    let mut server = TransactionLayer::<Side>::new(LayerConfig::default());
    let mut report = Report::default();

    // In-flight datagrams by delivery time (the counter keeps equal times apart and in order).
    let mut wire: BTreeMap<(Instant, u64), (Side, bytes::Bytes)> = BTreeMap::new();
    let mut seq = 0u64;
    // The server TU's pending answers.
    let mut tu: BTreeMap<(Instant, u64), (TransactionKey, Response)> = BTreeMap::new();
    // The client TU's requests still to send.
    let mut starts: BTreeMap<Instant, Request> = (0..transactions)
        .map(|n| {
            let method = if n % 2 == 0 { "INVITE" } else { "OPTIONS" };
            (
                t0 + Duration::from_millis(100 * n as u64),
                request(method, n),
            )
        })
        .collect();

    let mut now = t0;
    let horizon = t0 + Duration::from_secs(600);
    loop {
        // Outputs of both layers onto the wire, through the impairments.
        for (layer, to) in [(&mut client, Side::Server), (&mut server, Side::Client)] {
            while let Some(t) = layer.poll_transmit() {
                assert_eq!(t.destination, to);
                assert_eq!(t.transport, Transport::Udp);
                let copies = if rng.random_bool(netem.duplicate) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    if rng.random_bool(netem.loss) {
                        continue;
                    }
                    let latency = rng.random_range(netem.min_latency..=netem.max_latency);
                    seq += 1;
                    wire.insert((now + latency, seq), (to, t.payload.clone()));
                }
            }
        }
        // Client TU.
        while let Some(e) = client.poll_event() {
            match e {
                Event::Client { key, event } => {
                    let o = report.clients.entry(key).or_default();
                    match event {
                        ClientEvent::Provisional(_) => o.provisional += 1,
                        ClientEvent::Final(r) => o.finals.push(r.status.code()),
                        ClientEvent::Timeout => {
                            o.timeouts += 1;
                            o.timeout_at = Some(now - t0);
                        }
                        ClientEvent::Terminated => o.terminated += 1,
                        other => panic!("unexpected client event {other:?}"),
                    }
                }
                // A 486 retransmission or a duplicate arriving after Timer D/K is stray.
                Event::StrayResponse { .. } => {}
                other => panic!("unexpected event at the client {other:?}"),
            }
        }
        // Server TU.
        while let Some(e) = server.poll_event() {
            match e {
                Event::Request {
                    key,
                    request,
                    source,
                    ..
                } => {
                    assert_eq!(source, Side::Client);
                    *report
                        .server_seen
                        .entry(request.head.call_id.clone())
                        .or_default() += 1;
                    let mut plan = |delay_ms: u64, resp: Response| {
                        seq += 1;
                        tu.insert(
                            (now + Duration::from_millis(delay_ms), seq),
                            (key.clone(), resp),
                        );
                    };
                    if request.method == Method::Invite {
                        // Sometimes slower than 200 ms, so that the transaction's own 100
                        // Trying goes out too.
                        let ring = rng.random_range(0..400);
                        plan(ring, answer(&request, 180));
                        plan(ring + rng.random_range(1..1500), answer(&request, 486));
                    } else {
                        plan(rng.random_range(0..300), answer(&request, 200));
                    }
                }
                Event::Server { event, .. } => match event {
                    ServerEvent::Terminated => report.server_terminated += 1,
                    ServerEvent::Confirmed => report.server_confirmed += 1,
                    ServerEvent::Timeout => report.server_timeouts += 1,
                    other => panic!("unexpected server event {other:?}"),
                },
                // A retransmitted ACK after Timer I.
                Event::StrayAck { .. } => {}
                other => panic!("unexpected event at the server {other:?}"),
            }
        }

        let next = [
            client.poll_timeout(),
            server.poll_timeout(),
            wire.keys().next().map(|k| k.0),
            tu.keys().next().map(|k| k.0),
            starts.keys().next().copied(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            break;
        };
        assert!(next >= now, "time never goes backwards");
        assert!(
            next < horizon,
            "seed {seed}: the simulation does not settle"
        );
        now = next;

        while let Some(entry) = starts.first_entry().filter(|e| *e.key() <= now) {
            let req = entry.remove();
            let key = client
                .send_request(now, req.clone(), Side::Server, Transport::Udp)
                .expect("send_request");
            report.clients.entry(key).or_default().method = Some(req.method);
        }
        while let Some(entry) = wire.first_entry().filter(|e| e.key().0 <= now) {
            let (to, bytes) = entry.remove();
            report.delivered += 1;
            match (Message::parse(&bytes).expect("our messages parse"), to) {
                (Message::Request(r), Side::Server) => {
                    server.handle_request(now, r, Side::Client, Transport::Udp)
                }
                (Message::Response(r), Side::Client) => {
                    client.handle_response(now, r, Side::Server)
                }
                (m, side) => panic!("{side:?} received {m:?}"),
            }
        }
        while let Some(entry) = tu.first_entry().filter(|e| e.key().0 <= now) {
            let (key, resp) = entry.remove();
            server
                .respond(now, &key, resp)
                .expect("a server transaction waits for its final response");
        }
        client.handle_timeout(now);
        server.handle_timeout(now);
    }

    assert!(client.is_empty(), "seed {seed}: client transactions left");
    assert!(server.is_empty(), "seed {seed}: server transactions left");
    assert_eq!(server.server_len(), 0);
    report.duration = now - t0;
    report
}

#[test]
fn each_transaction_ends_once_and_the_tu_sees_each_request_once() {
    let (mut finals, mut timeouts, mut confirmed, mut provisional) = (0, 0, 0, 0);
    for seed in 0..50 {
        let report = simulate(seed, &LOSSY, 10);
        assert_eq!(report.clients.len(), 10);
        for (key, o) in &report.clients {
            assert_eq!(o.terminated, 1, "seed {seed} {key:?}: terminated once");
            assert_eq!(
                o.finals.len() + o.timeouts,
                1,
                "seed {seed} {key:?}: exactly one outcome, got finals {:?} and {} timeouts",
                o.finals,
                o.timeouts
            );
            let expected = match o.method {
                Some(Method::Invite) => 486,
                _ => 200,
            };
            assert!(o.finals.iter().all(|&c| c == expected), "seed {seed}");
            finals += o.finals.len();
            timeouts += o.timeouts;
        }
        // Retransmitted and duplicated requests were absorbed by the server transactions.
        for (call, n) in &report.server_seen {
            assert_eq!(*n, 1, "seed {seed}: the TU saw {call} {n} times");
        }
        // Every server transaction ended; INVITEs either got their ACK or Timer H.
        assert_eq!(
            report.server_terminated,
            report.server_seen.len(),
            "seed {seed}"
        );
        let invites = report
            .server_seen
            .keys()
            .filter(|call| {
                let n: usize = call
                    .trim_start_matches("call-")
                    .split('@')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("call number");
                n.is_multiple_of(2)
            })
            .count();
        assert_eq!(
            report.server_confirmed + report.server_timeouts,
            invites,
            "seed {seed}"
        );
        confirmed += report.server_confirmed;
        provisional += report
            .clients
            .values()
            .map(|o| o.provisional)
            .sum::<usize>();
    }
    eprintln!(
        "lossy network: {finals} finals, {timeouts} timeouts, {confirmed} ACKed 486s, \
         {provisional} provisionals over 500 transactions"
    );
    assert_eq!(finals + timeouts, 500);
    // With these seeds no transaction loses all 7 (INVITE) or 11 (non-INVITE) copies of its
    // request, nor every copy of its answer: each one gets exactly one final response.
    assert_eq!(
        timeouts, 0,
        "at 30% loss, every transaction gets its answer"
    );
    assert!(confirmed > 200, "the ACK path is exercised");
    assert!(provisional > 0);
}

#[test]
fn without_impairments_every_transaction_is_answered_and_acked() {
    let clean = Netem {
        loss: 0.0,
        duplicate: 0.0,
        min_latency: Duration::from_millis(20),
        max_latency: Duration::from_millis(20),
    };
    let report = simulate(7, &clean, 10);
    for o in report.clients.values() {
        assert_eq!(o.finals.len(), 1);
        assert_eq!(o.timeouts, 0);
    }
    assert_eq!(report.server_confirmed, 5, "every 486 got its ACK");
    assert_eq!(report.server_timeouts, 0);
}

#[test]
fn duplication_alone_never_reaches_the_tu_twice() {
    let dup = Netem {
        loss: 0.0,
        duplicate: 1.0,
        min_latency: Duration::from_millis(1),
        max_latency: Duration::from_millis(300),
    };
    for seed in 0..10 {
        let report = simulate(seed, &dup, 10);
        assert!(report.server_seen.values().all(|&n| n == 1), "seed {seed}");
        assert!(
            report.clients.values().all(|o| o.finals.len() == 1),
            "seed {seed}"
        );
    }
}

#[test]
fn total_loss_times_out_at_32_s() {
    let blackhole = Netem { loss: 1.0, ..LOSSY };
    for seed in 0..3 {
        let report = simulate(seed, &blackhole, 4);
        assert!(report.server_seen.is_empty());
        assert_eq!(report.delivered, 0);
        let mut starts: Vec<Duration> = report
            .clients
            .values()
            .map(|o| {
                assert!(o.finals.is_empty());
                assert_eq!(o.timeouts, 1);
                assert_eq!(o.terminated, 1);
                o.timeout_at.expect("timed out")
            })
            .collect();
        starts.sort();
        // Started 100 ms apart; each gives up exactly 64*T1 = 32 s after its start.
        let expected: Vec<Duration> = (0..4)
            .map(|n| Duration::from_millis(32_000 + 100 * n))
            .collect();
        assert_eq!(starts, expected);
    }
}
