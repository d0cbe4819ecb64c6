//! Client INVITE: RFC 3261 figure 5 as amended by RFC 6026 (Accepted, Timer M).

use super::*;
use crate::addr::Transport;
use crate::method::Method;
use crate::transaction::{ClientEvent, ClientInvite, State, Timer, TimerConfig};

fn start(transport: Transport) -> (Instant, ClientInvite, Request) {
    let t0 = base();
    let req = invite(transport.as_str());
    let mut tx = ClientInvite::new(t0, req.clone(), &transport, TimerConfig::default());
    let sent = drain(|| tx.poll_transmit());
    assert_eq!(sent.len(), 1);
    assert_eq!(parse(&sent[0]), Message::Request(req.clone()));
    assert_eq!(tx.state(), State::Calling);
    (t0, tx, req)
}

#[test]
fn calling_retransmits_on_timer_a_doubling() {
    let (t0, mut tx, _) = start(Transport::Udp);
    assert_eq!(tx.timer(Timer::A), Some(t0 + ms(500)));
    assert_eq!(tx.timer(Timer::B), Some(t0 + secs(32)));
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(500)));
    tx.handle_timeout(t0 + ms(499));
    assert!(tx.poll_transmit().is_none());
    tx.handle_timeout(t0 + ms(500));
    assert_eq!(drain(|| tx.poll_transmit()).len(), 1);
    assert_eq!(tx.timer(Timer::A), Some(t0 + ms(1500)));
    tx.handle_timeout(t0 + ms(1500));
    assert_eq!(tx.timer(Timer::A), Some(t0 + ms(3500)));
    assert_eq!(tx.state(), State::Calling);
    assert!(tx.poll_event().is_none());
}

#[test]
fn calling_over_reliable_transport_has_no_timer_a() {
    let (t0, tx, _) = start(Transport::Tcp);
    assert_eq!(tx.timer(Timer::A), None);
    assert_eq!(tx.poll_timeout(), Some(t0 + secs(32)));
}

#[test]
fn calling_to_terminated_on_timer_b() {
    let (t0, mut tx, _) = start(Transport::Tcp);
    tx.handle_timeout(t0 + secs(32));
    assert!(tx.poll_transmit().is_none(), "no ACK on timeout");
    assert_eq!(
        drain(|| tx.poll_event()),
        [ClientEvent::Timeout, ClientEvent::Terminated]
    );
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn calling_to_proceeding_on_1xx_stops_retransmissions_and_timer_b() {
    let (t0, mut tx, req) = start(Transport::Udp);
    let ringing = response(&req, 180, "b1");
    tx.handle_response(t0 + ms(100), ringing.clone());
    assert_eq!(tx.state(), State::Proceeding);
    assert_eq!(
        drain(|| tx.poll_event()),
        [ClientEvent::Provisional(ringing.clone())]
    );
    assert_eq!(tx.poll_timeout(), None);
    // Proceeding -> Proceeding: further provisionals still reach the TU.
    tx.handle_response(t0 + ms(200), ringing.clone());
    assert_eq!(
        drain(|| tx.poll_event()),
        [ClientEvent::Provisional(ringing)]
    );
    tx.handle_timeout(t0 + secs(100));
    assert!(tx.poll_transmit().is_none());
    assert_eq!(tx.state(), State::Proceeding);
}

fn accepted_after(provisional_first: bool) {
    let (t0, mut tx, req) = start(Transport::Udp);
    if provisional_first {
        tx.handle_response(t0, response(&req, 100, ""));
        assert_eq!(tx.state(), State::Proceeding);
        drain(|| tx.poll_event());
    }
    let ok = response(&req, 200, "b1");
    tx.handle_response(t0 + secs(1), ok.clone());
    assert_eq!(tx.state(), State::Accepted);
    assert!(tx.poll_transmit().is_none(), "the ACK to a 2xx is the TU's");
    assert_eq!(drain(|| tx.poll_event()), [ClientEvent::Final(ok.clone())]);
    assert_eq!(tx.poll_timeout(), Some(t0 + secs(33)));
    assert_eq!(tx.timer(Timer::M), Some(t0 + secs(33)));

    // Accepted -> Accepted: 2xx retransmissions and other forks go up; others are dropped.
    tx.handle_response(t0 + secs(2), ok.clone());
    let fork = response(&req, 200, "b2");
    tx.handle_response(t0 + secs(2), fork.clone());
    tx.handle_response(t0 + secs(2), response(&req, 486, "b3"));
    tx.handle_response(t0 + secs(2), response(&req, 180, "b1"));
    assert!(tx.poll_transmit().is_none());
    assert_eq!(
        drain(|| tx.poll_event()),
        [
            ClientEvent::AdditionalSuccess(ok),
            ClientEvent::AdditionalSuccess(fork)
        ]
    );

    tx.handle_timeout(t0 + secs(33));
    assert_eq!(drain(|| tx.poll_event()), [ClientEvent::Terminated]);
    assert!(tx.is_terminated());
}

#[test]
fn calling_to_accepted_on_2xx_then_timer_m() {
    accepted_after(false);
}

#[test]
fn proceeding_to_accepted_on_2xx_then_timer_m() {
    accepted_after(true);
}

fn completed_after(provisional_first: bool) {
    let (t0, mut tx, req) = start(Transport::Udp);
    if provisional_first {
        tx.handle_response(t0, response(&req, 183, "b1"));
        drain(|| tx.poll_event());
    }
    let busy = response(&req, 486, "b1");
    tx.handle_response(t0 + secs(1), busy.clone());
    assert_eq!(tx.state(), State::Completed);
    assert_eq!(
        drain(|| tx.poll_event()),
        [ClientEvent::Final(busy.clone())]
    );
    let acks = drain(|| tx.poll_transmit());
    assert_eq!(acks.len(), 1);
    let Message::Request(ack) = parse(&acks[0]) else {
        panic!("ACK expected");
    };
    // RFC 3261 section 17.1.1.3.
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, req.uri);
    assert_eq!(ack.head.call_id, req.head.call_id);
    assert_eq!(ack.head.from, req.head.from);
    assert_eq!(ack.head.to, busy.head.to);
    assert_eq!(ack.head.to.tag(), Some("b1"));
    assert_eq!(ack.head.via, req.head.via[..1]);
    assert_eq!(ack.head.cseq.seq, req.head.cseq.seq);
    assert_eq!(ack.head.cseq.method, Method::Ack);
    assert_eq!(ack.head.route, req.head.route);
    assert!(ack.body.is_empty());
    assert_eq!(tx.timer(Timer::D), Some(t0 + secs(33)));

    // Completed -> Completed: each retransmission of the final response is ACKed again and
    // not passed up.
    tx.handle_response(t0 + secs(2), busy.clone());
    assert_eq!(drain(|| tx.poll_transmit()), acks);
    tx.handle_response(t0 + secs(2), response(&req, 200, "b1"));
    assert!(tx.poll_transmit().is_none());
    assert!(tx.poll_event().is_none());

    tx.handle_timeout(t0 + secs(33));
    assert_eq!(drain(|| tx.poll_event()), [ClientEvent::Terminated]);
}

#[test]
fn calling_to_completed_on_non_2xx_sends_ack_then_timer_d() {
    completed_after(false);
}

#[test]
fn proceeding_to_completed_on_non_2xx_sends_ack_then_timer_d() {
    completed_after(true);
}

#[test]
fn completed_over_reliable_transport_terminates_at_once() {
    let (t0, mut tx, req) = start(Transport::Tcp);
    tx.handle_response(t0, response(&req, 603, "b1"));
    assert_eq!(
        drain(|| tx.poll_transmit()).len(),
        1,
        "the ACK is sent on TCP too"
    );
    assert!(matches!(
        drain(|| tx.poll_event()).as_slice(),
        [ClientEvent::Final(_), ClientEvent::Terminated]
    ));
}

#[test]
fn transport_error_terminates() {
    let (t0, mut tx, _) = start(Transport::Udp);
    tx.handle_transport_error(t0);
    assert_eq!(
        drain(|| tx.poll_event()),
        [ClientEvent::TransportError, ClientEvent::Terminated]
    );
    tx.handle_transport_error(t0);
    assert!(tx.poll_event().is_none(), "terminated once");
}
