//! Client non-INVITE: RFC 3261 figure 6.

use super::*;
use crate::addr::Transport;
use crate::transaction::{ClientEvent, ClientNonInvite, State, Timer, TimerConfig};

fn start(transport: Transport) -> (Instant, ClientNonInvite, Request) {
    let t0 = base();
    let req = options(transport.as_str(), "z9hG4bKnashds7");
    let mut tx = ClientNonInvite::new(t0, req.clone(), &transport, TimerConfig::default());
    assert_eq!(drain(|| tx.poll_transmit()).len(), 1);
    assert_eq!(tx.state(), State::Trying);
    (t0, tx, req)
}

#[test]
fn trying_retransmits_on_timer_e_capped_at_t2() {
    let (t0, mut tx, _) = start(Transport::Udp);
    assert_eq!(tx.timer(Timer::F), Some(t0 + secs(32)));
    let mut at = t0;
    for interval in [500, 1000, 2000, 4000, 4000, 4000] {
        at += ms(interval);
        assert_eq!(tx.timer(Timer::E), Some(at));
        tx.handle_timeout(at);
        assert_eq!(drain(|| tx.poll_transmit()).len(), 1);
        assert_eq!(tx.state(), State::Trying);
    }
}

#[test]
fn trying_to_proceeding_on_1xx_then_timer_e_is_t2() {
    let (t0, mut tx, req) = start(Transport::Udp);
    let trying = response(&req, 100, "");
    tx.handle_response(t0 + ms(100), trying.clone());
    assert_eq!(tx.state(), State::Proceeding);
    assert_eq!(
        drain(|| tx.poll_event()),
        [ClientEvent::Provisional(trying.clone())]
    );
    // Proceeding -> Proceeding on a further 1xx.
    tx.handle_response(t0 + ms(200), trying.clone());
    assert_eq!(
        drain(|| tx.poll_event()),
        [ClientEvent::Provisional(trying)]
    );
    // Timer E keeps firing in Proceeding, every T2.
    tx.handle_timeout(t0 + ms(500));
    assert_eq!(drain(|| tx.poll_transmit()).len(), 1);
    assert_eq!(tx.timer(Timer::E), Some(t0 + ms(4500)));
    tx.handle_timeout(t0 + ms(4500));
    assert_eq!(drain(|| tx.poll_transmit()).len(), 1);
    assert_eq!(tx.timer(Timer::E), Some(t0 + ms(8500)));
}

fn completed_after(provisional_first: bool) {
    let (t0, mut tx, req) = start(Transport::Udp);
    if provisional_first {
        tx.handle_response(t0, response(&req, 100, ""));
        drain(|| tx.poll_event());
    }
    let ok = response(&req, 200, "c1");
    tx.handle_response(t0 + secs(1), ok.clone());
    assert_eq!(tx.state(), State::Completed);
    assert_eq!(drain(|| tx.poll_event()), [ClientEvent::Final(ok.clone())]);
    assert_eq!(tx.poll_timeout(), Some(t0 + secs(6)), "Timer K = T4");
    // Completed absorbs retransmitted responses.
    tx.handle_response(t0 + secs(2), ok);
    tx.handle_response(t0 + secs(2), response(&req, 100, ""));
    assert!(tx.poll_event().is_none());
    assert!(tx.poll_transmit().is_none());
    tx.handle_timeout(t0 + secs(6));
    assert_eq!(drain(|| tx.poll_event()), [ClientEvent::Terminated]);
}

#[test]
fn trying_to_completed_on_final_then_timer_k() {
    completed_after(false);
}

#[test]
fn proceeding_to_completed_on_final_then_timer_k() {
    completed_after(true);
}

#[test]
fn timer_f_times_out_in_trying_and_in_proceeding() {
    for provisional in [false, true] {
        let (t0, mut tx, req) = start(Transport::Udp);
        if provisional {
            tx.handle_response(t0, response(&req, 100, ""));
            drain(|| tx.poll_event());
        }
        tx.handle_timeout(t0 + secs(32));
        assert_eq!(
            drain(|| tx.poll_event()),
            [ClientEvent::Timeout, ClientEvent::Terminated]
        );
        assert!(tx.is_terminated());
    }
}

#[test]
fn reliable_transport_no_timer_e_and_timer_k_zero() {
    let (t0, mut tx, req) = start(Transport::Tls);
    assert_eq!(tx.timer(Timer::E), None);
    assert_eq!(tx.poll_timeout(), Some(t0 + secs(32)));
    tx.handle_response(t0, response(&req, 404, "c1"));
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
}
