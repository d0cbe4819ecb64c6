//! The transaction layer: matching, absorption, stray messages, limits, bookkeeping.

use super::*;
use crate::addr::Transport;
use crate::method::Method;
use crate::transaction::{
    ClientEvent, Event, LayerConfig, Role, ServerEvent, State, TransactionError, TransactionKey,
    TransactionLayer, Transmit,
};

type Layer = TransactionLayer<&'static str>;

fn layer() -> Layer {
    TransactionLayer::new(LayerConfig::default())
}

fn events(l: &mut Layer) -> Vec<Event<&'static str>> {
    drain(|| l.poll_event())
}

fn transmits(l: &mut Layer) -> Vec<Transmit<&'static str>> {
    drain(|| l.poll_transmit())
}

fn new_request(l: &mut Layer, now: Instant, req: Request, from: &'static str) -> TransactionKey {
    new_request_over(l, now, req, from, Transport::Udp)
}

fn new_request_over(
    l: &mut Layer,
    now: Instant,
    req: Request,
    from: &'static str,
    transport: Transport,
) -> TransactionKey {
    l.handle_request(now, req, from, transport);
    match events(l).as_slice() {
        [Event::Request { key, .. }] => key.clone(),
        other => panic!("expected one new request, got {other:?}"),
    }
}

fn ack_for(req: &Request, to_tag: &str) -> Request {
    let mut ack = req.clone();
    ack.method = Method::Ack;
    ack.head.cseq.method = Method::Ack;
    ack.head.to.params.set("tag", Some(to_tag.to_owned()));
    ack
}

#[test]
fn retransmissions_are_absorbed_and_answered_where_they_came_from() {
    let t0 = base();
    let mut l = layer();
    let req = options("UDP", "z9hG4bK1");
    let key = new_request(&mut l, t0, req.clone(), "a");
    assert_eq!(key.role(), Role::Server);
    assert_eq!(key.method(), &Method::Options);
    assert_eq!(key.branch(), Some("z9hG4bK1"));
    l.handle_request(t0 + ms(500), req.clone(), "a", Transport::Udp);
    assert!(events(&mut l).is_empty());
    assert!(transmits(&mut l).is_empty(), "nothing to re-send in Trying");

    l.respond(t0 + secs(1), &key, response(&req, 200, "t"))
        .expect("respond");
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].destination, "a");
    assert_eq!(sent[0].key, key);
    l.handle_request(t0 + secs(2), req, "b", Transport::Udp);
    assert!(events(&mut l).is_empty());
    let again = transmits(&mut l);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].destination, "b");
    assert_eq!(again[0].payload, sent[0].payload);

    assert_eq!(l.poll_timeout(), Some(t0 + secs(33)));
    l.handle_timeout(t0 + secs(33));
    assert_eq!(
        events(&mut l),
        [Event::Server {
            key,
            event: ServerEvent::Terminated
        }]
    );
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn ack_matches_its_invite_or_is_stray() {
    let t0 = base();
    let mut l = layer();
    let req = invite("UDP");
    let key = new_request(&mut l, t0, req.clone(), "a");
    l.respond(t0, &key, response(&req, 486, "t")).expect("486");
    transmits(&mut l);
    l.handle_request(t0 + ms(100), ack_for(&req, "t"), "a", Transport::Udp);
    assert_eq!(
        events(&mut l),
        [Event::Server {
            key: key.clone(),
            event: ServerEvent::Confirmed
        }]
    );
    assert_eq!(l.state(&key), Some(State::Confirmed));

    // An ACK with a branch of its own (the ACK to a 2xx) matches nothing.
    let mut stray = ack_for(&req, "t");
    stray.head.via[0]
        .params
        .set("branch", Some("z9hG4bKother".to_owned()));
    l.handle_request(t0 + ms(100), stray.clone(), "a", Transport::Udp);
    assert_eq!(
        events(&mut l),
        [Event::StrayAck {
            request: stray,
            source: "a",
            transport: Transport::Udp
        }]
    );
    assert_eq!(l.len(), 1, "an ACK never opens a transaction");
}

#[test]
fn cancel_is_its_own_transaction_and_names_the_invite() {
    let t0 = base();
    let mut l = layer();
    let inv = invite("UDP");
    let inv_key = new_request(&mut l, t0, inv.clone(), "a");
    let mut cancel = inv.clone();
    cancel.method = Method::Cancel;
    cancel.head.cseq.method = Method::Cancel;
    l.handle_request(t0 + ms(10), cancel.clone(), "a", Transport::Udp);
    let evs = events(&mut l);
    let [Event::Request { key, cancels, .. }] = evs.as_slice() else {
        panic!("expected a new CANCEL transaction, got {evs:?}");
    };
    assert_ne!(key, &inv_key);
    assert_eq!(cancels.as_ref(), Some(&inv_key));
    assert_eq!(l.len(), 2);

    // A CANCEL for an INVITE we do not have.
    let mut other = cancel;
    other.head.via[0]
        .params
        .set("branch", Some("z9hG4bKunknown".to_owned()));
    l.handle_request(t0 + ms(10), other, "a", Transport::Udp);
    let evs = events(&mut l);
    assert!(matches!(
        evs.as_slice(),
        [Event::Request { cancels: None, .. }]
    ));
}

#[test]
fn same_branch_from_another_sent_by_is_another_transaction() {
    let t0 = base();
    let mut l = layer();
    let req = options("UDP", "z9hG4bKsame");
    new_request(&mut l, t0, req.clone(), "a");
    let mut other = req.clone();
    other.head.via[0].host = crate::uri::Host::Name("elsewhere.example.com".into());
    new_request(&mut l, t0, other, "b");
    // Host names compare case-insensitively.
    let mut upper = req;
    upper.head.via[0].host = crate::uri::Host::Name("PC33.Atlanta.Example.COM".into());
    l.handle_request(t0, upper, "a", Transport::Udp);
    assert!(events(&mut l).is_empty());
    assert_eq!(l.len(), 2);
}

#[test]
fn rfc2543_requests_match_without_the_magic_cookie() {
    let t0 = base();
    let mut l = layer();
    for branch_param in ["branch=1234", "received=192.0.2.1"] {
        let text = invite_text("UDP", "x").replace("branch=x", branch_param);
        let req = request(&text);
        let key = new_request(&mut l, t0, req.clone(), "a");
        assert_eq!(key.branch(), None);
        l.handle_request(t0 + ms(500), req.clone(), "a", Transport::Udp);
        assert!(events(&mut l).is_empty(), "retransmission absorbed");
        l.respond(t0, &key, response(&req, 486, "t")).expect("486");
        transmits(&mut l);
        // The ACK carries our To tag and still matches.
        l.handle_request(t0 + ms(600), ack_for(&req, "t"), "a", Transport::Udp);
        assert_eq!(
            events(&mut l),
            [Event::Server {
                key,
                event: ServerEvent::Confirmed
            }]
        );
    }
}

#[test]
fn server_transactions_are_bounded() {
    let t0 = base();
    let mut l = TransactionLayer::new(LayerConfig {
        max_server_transactions: 1,
        ..LayerConfig::default()
    });
    let first = options("TCP", "z9hG4bK1");
    let key = new_request_over(&mut l, t0, first.clone(), "a", Transport::Tcp);
    let second = options("TCP", "z9hG4bK2");
    l.handle_request(t0, second.clone(), "a", Transport::Tcp);
    assert!(matches!(events(&mut l).as_slice(), [Event::Refused { .. }]));
    assert_eq!(l.server_len(), 1);
    // Client transactions are not counted.
    l.send_request(t0, options("TCP", "z9hG4bKc"), "b", Transport::Tcp)
        .expect("client");
    // The slot frees when the transaction ends (TCP: Timer J is zero).
    l.respond(t0, &key, response(&first, 200, "t"))
        .expect("200");
    assert_eq!(l.server_len(), 0);
    events(&mut l);
    new_request_over(&mut l, t0, second, "a", Transport::Tcp);
}

#[test]
fn responses_reach_their_client_transaction_or_are_stray() {
    let t0 = base();
    let mut l = layer();
    let req = options("UDP", "z9hG4bKc1");
    let key = l
        .send_request(t0, req.clone(), "srv", Transport::Udp)
        .expect("send");
    assert_eq!(key.role(), Role::Client);
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].destination, "srv");
    assert_eq!(parse(&sent[0].payload), Message::Request(req.clone()));

    // Same branch, other CSeq method: not ours.
    let mut wrong = response(&req, 200, "t");
    wrong.head.cseq.method = Method::Invite;
    l.handle_response(t0, wrong.clone(), "srv");
    assert_eq!(
        events(&mut l),
        [Event::StrayResponse {
            response: wrong,
            source: "srv"
        }]
    );

    let ok = response(&req, 200, "t");
    l.handle_response(t0 + ms(20), ok.clone(), "srv");
    assert_eq!(
        events(&mut l),
        [Event::Client {
            key: key.clone(),
            event: ClientEvent::Final(ok)
        }]
    );
    assert_eq!(l.state(&key), Some(State::Completed));
    assert_eq!(l.poll_timeout(), Some(t0 + ms(20) + secs(5)));
}

#[test]
fn api_misuse_is_an_error_not_a_panic() {
    let t0 = base();
    let mut l = layer();
    let req = options("UDP", "z9hG4bKc1");
    let key = l
        .send_request(t0, req.clone(), "srv", Transport::Udp)
        .expect("send");
    assert_eq!(
        l.send_request(t0, req.clone(), "srv", Transport::Udp),
        Err(TransactionError::Exists)
    );
    assert_eq!(
        l.send_request(t0, options("UDP", "1234"), "srv", Transport::Udp),
        Err(TransactionError::NoBranch)
    );
    let mut no_via = req.clone();
    no_via.head.via.clear();
    assert_eq!(
        l.send_request(t0, no_via.clone(), "srv", Transport::Udp),
        Err(TransactionError::NoBranch)
    );
    let mut ack = req.clone();
    ack.method = Method::Ack;
    assert_eq!(
        l.send_request(t0, ack, "srv", Transport::Udp),
        Err(TransactionError::Ack)
    );
    assert_eq!(
        l.respond(t0, &key, response(&req, 200, "t")),
        Err(TransactionError::Unknown),
        "not a server transaction"
    );
    // A request without Via is dropped without an event.
    l.handle_request(t0, no_via, "x", Transport::Udp);
    assert!(events(&mut l).is_empty());
    l.handle_transport_error(t0, &key);
    assert_eq!(
        events(&mut l),
        [
            Event::Client {
                key: key.clone(),
                event: ClientEvent::TransportError
            },
            Event::Client {
                key: key.clone(),
                event: ClientEvent::Terminated
            }
        ]
    );
    assert_eq!(
        l.respond(t0, &key, response(&req, 200, "t")),
        Err(TransactionError::Unknown)
    );
    l.handle_transport_error(t0, &key);
    assert!(l.is_empty());
}

#[test]
fn poll_timeout_is_the_earliest_deadline() {
    let t0 = base();
    let mut l = layer();
    l.send_request(t0, invite("TCP"), "s", Transport::Tcp)
        .expect("invite");
    assert_eq!(l.poll_timeout(), Some(t0 + secs(32)));
    l.send_request(
        t0 + secs(1),
        options("UDP", "z9hG4bKo"),
        "s",
        Transport::Udp,
    )
    .expect("options");
    assert_eq!(transmits(&mut l).len(), 2);
    assert_eq!(l.poll_timeout(), Some(t0 + secs(1) + ms(500)));
    l.handle_timeout(t0 + secs(1) + ms(500));
    assert_eq!(transmits(&mut l).len(), 1);
    assert_eq!(l.poll_timeout(), Some(t0 + secs(1) + ms(1500)));
    l.handle_timeout(t0 + secs(40));
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn client_cancel_shares_the_invite_branch_but_not_its_transaction() {
    let t0 = base();
    let mut l = layer();
    let inv = invite("UDP");
    let inv_key = l
        .send_request(t0, inv.clone(), "s", Transport::Udp)
        .expect("INVITE");
    let mut cancel = inv.clone();
    cancel.method = Method::Cancel;
    cancel.head.cseq.method = Method::Cancel;
    cancel.head.via.truncate(1);
    let cancel_key = l
        .send_request(t0 + secs(1), cancel.clone(), "s", Transport::Udp)
        .expect("CANCEL");
    assert_ne!(inv_key, cancel_key);
    assert_eq!(inv_key.branch(), cancel_key.branch());
    events(&mut l);

    let ok = response(&cancel, 200, "t");
    l.handle_response(t0 + secs(1), ok.clone(), "s");
    let terminated = response(&inv, 487, "t");
    l.handle_response(t0 + secs(1), terminated.clone(), "s");
    assert_eq!(
        events(&mut l),
        [
            Event::Client {
                key: cancel_key,
                event: ClientEvent::Final(ok)
            },
            Event::Client {
                key: inv_key.clone(),
                event: ClientEvent::Final(terminated)
            }
        ]
    );
    assert_eq!(l.state(&inv_key), Some(State::Completed));
}

#[test]
fn thousands_of_transactions_share_one_timer() {
    let t0 = base();
    let mut l = layer();
    for n in 0..5_000u64 {
        l.send_request(
            t0 + ms(n),
            options("UDP", &format!("z9hG4bK{n}")),
            "s",
            Transport::Udp,
        )
        .expect("send");
    }
    assert_eq!(l.len(), 5_000);
    assert_eq!(l.poll_timeout(), Some(t0 + ms(500)));
    let mut fired = 0;
    while let Some(t) = l.poll_timeout() {
        l.handle_timeout(t);
        fired += 1;
    }
    assert!(l.is_empty());
    // 10 retransmissions and Timer F each, with deadlines of neighbours 1 ms apart.
    assert!(fired <= 5_000 * 11, "{fired}");
    let timeouts = events(&mut l)
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Client {
                    event: ClientEvent::Timeout,
                    ..
                }
            )
        })
        .count();
    assert_eq!(timeouts, 5_000);
}
