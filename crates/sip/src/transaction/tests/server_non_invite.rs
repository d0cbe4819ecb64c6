//! Server non-INVITE: RFC 3261 figure 8.

use super::*;
use crate::addr::Transport;
use crate::transaction::{ServerEvent, ServerNonInvite, State, Timer, TimerConfig};

fn start(transport: Transport) -> (Instant, ServerNonInvite, Request) {
    let t0 = base();
    let req = options(transport.as_str(), "z9hG4bKsrv");
    let tx = ServerNonInvite::new(t0, &req, &transport, TimerConfig::default());
    assert_eq!(tx.state(), State::Trying);
    assert_eq!(tx.poll_timeout(), None);
    (t0, tx, req)
}

fn statuses(tx: &mut ServerNonInvite) -> Vec<u16> {
    drain(|| tx.poll_transmit()).iter().map(status_of).collect()
}

#[test]
fn trying_discards_retransmissions() {
    let (t0, mut tx, req) = start(Transport::Udp);
    tx.handle_request(t0 + ms(500), req);
    assert!(tx.poll_transmit().is_none());
    assert!(tx.poll_event().is_none());
    assert_eq!(tx.state(), State::Trying);
}

#[test]
fn trying_to_proceeding_to_completed_to_terminated() {
    let (t0, mut tx, req) = start(Transport::Udp);
    tx.respond(t0, response(&req, 100, ""))
        .expect("1xx in Trying");
    assert_eq!(tx.state(), State::Proceeding);
    assert_eq!(statuses(&mut tx), [100]);
    // Proceeding -> Proceeding: another provisional, and retransmissions re-send it.
    tx.respond(t0, response(&req, 182, "s"))
        .expect("1xx in Proceeding");
    assert_eq!(statuses(&mut tx), [182]);
    tx.handle_request(t0 + ms(500), req.clone());
    assert_eq!(statuses(&mut tx), [182]);
    // Proceeding -> Completed.
    tx.respond(t0 + secs(1), response(&req, 200, "s"))
        .expect("final");
    assert_eq!(tx.state(), State::Completed);
    assert_eq!(statuses(&mut tx), [200]);
    assert_eq!(tx.timer(Timer::J), Some(t0 + secs(33)));
    tx.handle_request(t0 + secs(2), req.clone());
    assert_eq!(statuses(&mut tx), [200]);
    assert!(tx.respond(t0 + secs(2), response(&req, 500, "s")).is_err());
    tx.handle_timeout(t0 + secs(33));
    assert_eq!(drain(|| tx.poll_event()), [ServerEvent::Terminated]);
}

#[test]
fn trying_to_completed_on_final() {
    let (t0, mut tx, req) = start(Transport::Udp);
    tx.respond(t0, response(&req, 404, "s"))
        .expect("final in Trying");
    assert_eq!(tx.state(), State::Completed);
    assert_eq!(statuses(&mut tx), [404]);
    assert_eq!(tx.poll_timeout(), Some(t0 + secs(32)));
}

#[test]
fn reliable_transport_timer_j_zero() {
    let (t0, mut tx, req) = start(Transport::Tcp);
    tx.respond(t0, response(&req, 200, "s")).expect("final");
    assert_eq!(statuses(&mut tx), [200]);
    assert_eq!(drain(|| tx.poll_event()), [ServerEvent::Terminated]);
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn transport_error_terminates_from_each_live_state() {
    for responses in [&[][..], &[100][..], &[200][..]] {
        let (t0, mut tx, req) = start(Transport::Udp);
        for &code in responses {
            tx.respond(t0, response(&req, code, "s")).expect("response");
        }
        tx.handle_transport_error(t0);
        assert_eq!(
            drain(|| tx.poll_event()),
            [ServerEvent::TransportError, ServerEvent::Terminated]
        );
    }
}
