//! Server INVITE: RFC 3261 figure 7 as amended by RFC 6026 (Accepted, Timer L).

use super::*;
use crate::addr::Transport;
use crate::header::HeaderName;
use crate::method::Method;
use crate::transaction::{ServerEvent, ServerInvite, State, Timer, TimerConfig, TransactionError};

fn start(transport: Transport) -> (Instant, ServerInvite, Request) {
    let t0 = base();
    let req = invite(transport.as_str());
    let tx = ServerInvite::new(t0, &req, &transport, TimerConfig::default());
    assert_eq!(tx.state(), State::Proceeding);
    (t0, tx, req)
}

fn ack_for(req: &Request, to_tag: &str) -> Request {
    let mut ack = req.clone();
    ack.method = Method::Ack;
    ack.head.cseq.method = Method::Ack;
    ack.head.to.params.set("tag", Some(to_tag.to_owned()));
    ack
}

#[test]
fn proceeding_sends_100_trying_after_200_ms_with_timestamp() {
    let (t0, mut tx, req) = start(Transport::Udp);
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(200)));
    // A retransmission before any response has nothing to re-send.
    tx.handle_request(t0 + ms(100), req.clone());
    assert!(tx.poll_transmit().is_none());
    tx.handle_timeout(t0 + ms(200));
    let sent = drain(|| tx.poll_transmit());
    assert_eq!(sent.len(), 1);
    let Message::Response(trying) = parse(&sent[0]) else {
        panic!("response expected");
    };
    assert_eq!(trying.status, StatusCode::TRYING);
    assert_eq!(trying.head.get(&HeaderName::Timestamp), Some("54"));
    assert_eq!(trying.head.via, req.head.via);
    // Proceeding -> Proceeding on a retransmission: the 100 again.
    tx.handle_request(t0 + ms(300), req);
    assert_eq!(drain(|| tx.poll_transmit()), sent);
    assert_eq!(tx.state(), State::Proceeding);
}

#[test]
fn proceeding_no_100_when_the_tu_answers_in_time() {
    let (t0, mut tx, req) = start(Transport::Udp);
    tx.respond(t0 + ms(50), response(&req, 180, "s1"))
        .expect("1xx in Proceeding");
    assert_eq!(
        drain(|| tx.poll_transmit())
            .iter()
            .map(status_of)
            .collect::<Vec<_>>(),
        [180]
    );
    assert_eq!(tx.poll_timeout(), None);
    tx.handle_timeout(t0 + secs(1));
    assert!(tx.poll_transmit().is_none());
    // Proceeding -> Proceeding: the last provisional is re-sent on retransmission.
    tx.respond(t0 + ms(60), response(&req, 183, "s1"))
        .expect("1xx in Proceeding");
    drain(|| tx.poll_transmit());
    tx.handle_request(t0 + ms(500), req);
    assert_eq!(
        drain(|| tx.poll_transmit())
            .iter()
            .map(status_of)
            .collect::<Vec<_>>(),
        [183]
    );
}

#[test]
fn completed_retransmits_on_timer_g_until_ack_then_confirmed_then_timer_i() {
    let (t0, mut tx, req) = start(Transport::Udp);
    tx.respond(t0, response(&req, 486, "s1")).expect("final");
    assert_eq!(tx.state(), State::Completed);
    assert_eq!(drain(|| tx.poll_transmit()).len(), 1);
    assert_eq!(tx.timer(Timer::H), Some(t0 + secs(32)));
    let mut at = t0;
    for interval in [500, 1000, 2000, 4000, 4000] {
        at += ms(interval);
        assert_eq!(tx.timer(Timer::G), Some(at));
        tx.handle_timeout(at);
        assert_eq!(
            drain(|| tx.poll_transmit())
                .iter()
                .map(status_of)
                .collect::<Vec<_>>(),
            [486]
        );
    }
    // Completed -> Completed: a retransmitted INVITE gets the final response again.
    tx.handle_request(at, req.clone());
    assert_eq!(
        drain(|| tx.poll_transmit())
            .iter()
            .map(status_of)
            .collect::<Vec<_>>(),
        [486]
    );
    assert!(tx.respond(at, response(&req, 200, "s1")).is_err());

    // Completed -> Confirmed on ACK.
    tx.handle_request(at, ack_for(&req, "s1"));
    assert_eq!(tx.state(), State::Confirmed);
    assert_eq!(drain(|| tx.poll_event()), [ServerEvent::Confirmed]);
    assert_eq!(tx.timer(Timer::G), None);
    assert_eq!(tx.timer(Timer::H), None);
    assert_eq!(tx.poll_timeout(), Some(at + secs(5)), "Timer I = T4");
    // Confirmed -> Confirmed: ACKs and INVITEs are absorbed.
    tx.handle_request(at + secs(1), ack_for(&req, "s1"));
    tx.handle_request(at + secs(1), req);
    assert!(tx.poll_transmit().is_none());
    assert!(tx.poll_event().is_none());
    tx.handle_timeout(at + secs(5));
    assert_eq!(drain(|| tx.poll_event()), [ServerEvent::Terminated]);
}

#[test]
fn completed_timer_h_reports_the_missing_ack() {
    let (t0, mut tx, req) = start(Transport::Udp);
    tx.respond(t0 + ms(10), response(&req, 180, "s1"))
        .expect("1xx");
    tx.respond(t0 + ms(20), response(&req, 404, "s1"))
        .expect("final from Proceeding");
    tx.handle_timeout(t0 + ms(20) + secs(32));
    assert_eq!(
        drain(|| tx.poll_event()),
        [ServerEvent::Timeout, ServerEvent::Terminated]
    );
    assert!(tx.is_terminated());
}

#[test]
fn proceeding_to_accepted_on_2xx_then_timer_l() {
    let (t0, mut tx, req) = start(Transport::Udp);
    let ok = response(&req, 200, "s1");
    tx.respond(t0 + ms(10), ok.clone()).expect("2xx");
    assert_eq!(tx.state(), State::Accepted);
    assert_eq!(drain(|| tx.poll_transmit()).len(), 1);
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + ms(10) + secs(32)),
        "Timer L = 64*T1"
    );
    // Accepted -> Accepted: INVITE retransmissions are absorbed, not answered.
    tx.handle_request(t0 + secs(1), req.clone());
    assert!(tx.poll_transmit().is_none());
    // The TU's own 2xx retransmissions go out.
    tx.respond(t0 + secs(1), ok.clone())
        .expect("2xx in Accepted");
    assert_eq!(drain(|| tx.poll_transmit()).len(), 1);
    assert_eq!(
        tx.respond(t0 + secs(1), response(&req, 486, "s1")),
        Err(TransactionError::WrongState {
            status: StatusCode::new(486).expect("code"),
            state: State::Accepted
        })
    );
    // An ACK that matched (same branch) goes to the TU.
    let ack = ack_for(&req, "s1");
    tx.handle_request(t0 + secs(1), ack.clone());
    assert_eq!(drain(|| tx.poll_event()), [ServerEvent::Ack(Box::new(ack))]);
    tx.handle_timeout(t0 + ms(10) + secs(32));
    assert_eq!(drain(|| tx.poll_event()), [ServerEvent::Terminated]);
}

#[test]
fn reliable_transport_no_timer_g_and_timer_i_zero() {
    let (t0, mut tx, req) = start(Transport::Tcp);
    tx.respond(t0, response(&req, 486, "s1")).expect("final");
    assert_eq!(tx.timer(Timer::G), None);
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + secs(32)),
        "Timer H on every transport"
    );
    tx.handle_request(t0 + ms(30), ack_for(&req, "s1"));
    assert_eq!(
        drain(|| tx.poll_event()),
        [ServerEvent::Confirmed, ServerEvent::Terminated]
    );
}

#[test]
fn transport_error_terminates() {
    let (t0, mut tx, _) = start(Transport::Udp);
    tx.handle_transport_error(t0);
    assert_eq!(
        drain(|| tx.poll_event()),
        [ServerEvent::TransportError, ServerEvent::Terminated]
    );
    assert!(tx.respond(t0, response(&invite("UDP"), 180, "x")).is_err());
}
