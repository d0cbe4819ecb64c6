//! The literal timer arithmetic of RFC 3261 section 17: how many times and when each
//! transaction sends, and when Timers B, F, H and J end it, on UDP and on TCP. Time is
//! simulated: one base `Instant` plus durations.

use std::time::{Duration, Instant};

use sip::transaction::{
    ClientEvent, Event, LayerConfig, ServerEvent, TimerConfig, TransactionKey, TransactionLayer,
};
use sip::{Message, Method, Request, Response, StatusCode, Transport};

type Layer = TransactionLayer<u32>;

fn request(method: &str, transport: &str) -> Request {
    let text = format!(
        "{method} sip:bob@biloxi.example.com SIP/2.0\r\n\
         Via: SIP/2.0/{transport} pc33.atlanta.example.com;branch=z9hG4bK74bf9\r\n\
         Max-Forwards: 70\r\n\
         To: Bob <sip:bob@biloxi.example.com>\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
         Call-ID: 3848276298220188511@atlanta.example.com\r\n\
         CSeq: 1 {method}\r\n\
         \r\n"
    );
    match Message::parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn response(req: &Request, code: u16) -> Response {
    let mut r = Response::to_request(req, StatusCode::new(code).expect("code"));
    r.head.to.params.set("tag", Some("8321234356".to_owned()));
    r
}

/// Seconds since `t0`, in milliseconds so that comparisons are exact.
fn at_ms(t0: Instant, t: Instant) -> u128 {
    t.duration_since(t0).as_millis()
}

/// Runs the layer alone until it is empty or `limit` passes. Returns the times (ms since
/// `t0`) of every transmission, and every event with its time.
fn run(l: &mut Layer, t0: Instant, limit: Duration) -> (Vec<u128>, Vec<(u128, Event<u32>)>) {
    let mut sends = Vec::new();
    let mut events = Vec::new();
    let mut now = t0;
    loop {
        while l.poll_transmit().is_some() {
            sends.push(at_ms(t0, now));
        }
        while let Some(e) = l.poll_event() {
            events.push((at_ms(t0, now), e));
        }
        match l.poll_timeout() {
            Some(t) if t <= t0 + limit => {
                assert!(t >= now, "time never goes backwards");
                now = t;
                l.handle_timeout(now);
            }
            _ => return (sends, events),
        }
    }
}

fn client_outcome(events: &[(u128, Event<u32>)], key: &TransactionKey) -> Vec<(u128, ClientEvent)> {
    events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Client { key: k, event } if k == key => Some((*t, event.clone())),
            _ => None,
        })
        .collect()
}

fn unanswered(method: &str, transport: Transport) -> (Vec<u128>, Vec<(u128, ClientEvent)>) {
    let t0 = Instant::now();
    let mut l = Layer::new(LayerConfig::default());
    let req = request(method, transport.as_str());
    let key = l.send_request(t0, req, 1, transport).expect("send");
    let (sends, events) = run(&mut l, t0, Duration::from_secs(120));
    assert!(l.is_empty());
    (sends, client_outcome(&events, &key))
}

#[test]
fn invite_over_udp_unanswered_is_sent_7_times_and_times_out_at_32_s() {
    let (sends, events) = unanswered("INVITE", Transport::Udp);
    assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(
        events,
        [
            (32_000, ClientEvent::Timeout),
            (32_000, ClientEvent::Terminated)
        ]
    );
}

#[test]
fn non_invite_over_udp_unanswered_is_sent_11_times_and_times_out_at_32_s() {
    let (sends, events) = unanswered("OPTIONS", Transport::Udp);
    assert_eq!(
        sends,
        [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        events,
        [
            (32_000, ClientEvent::Timeout),
            (32_000, ClientEvent::Terminated)
        ]
    );
}

#[test]
fn over_tcp_each_request_is_sent_once_and_b_and_f_still_fire_at_32_s() {
    for method in ["INVITE", "OPTIONS", "BYE"] {
        let (sends, events) = unanswered(method, Transport::Tcp);
        assert_eq!(sends, [0], "{method}");
        assert_eq!(
            events,
            [
                (32_000, ClientEvent::Timeout),
                (32_000, ClientEvent::Terminated)
            ],
            "{method}"
        );
    }
}

#[test]
fn timers_follow_a_configured_t1() {
    let t0 = Instant::now();
    let mut l = Layer::new(LayerConfig {
        timers: TimerConfig {
            t1: Duration::from_millis(100),
            ..TimerConfig::default()
        },
        ..LayerConfig::default()
    });
    let key = l
        .send_request(t0, request("INVITE", "UDP"), 1, Transport::Udp)
        .expect("send");
    let (sends, events) = run(&mut l, t0, Duration::from_secs(60));
    assert_eq!(sends, [0, 100, 300, 700, 1500, 3100, 6300]);
    assert_eq!(
        client_outcome(&events, &key)[0],
        (6400, ClientEvent::Timeout)
    );
}

/// A server transaction for `method` over `transport`, answered at once with `code`.
fn answered(method: &str, transport: Transport, code: u16) -> (Instant, Layer, Request) {
    let t0 = Instant::now();
    let mut l = Layer::new(LayerConfig::default());
    let req = request(method, transport.as_str());
    l.handle_request(t0, req.clone(), 1, transport);
    let Some(Event::Request { key, .. }) = l.poll_event() else {
        panic!("new request expected");
    };
    l.respond(t0, &key, response(&req, code)).expect("respond");
    (t0, l, req)
}

#[test]
fn server_non_invite_completed_lasts_timer_j_32_s_on_udp() {
    let (t0, mut l, req) = answered("OPTIONS", Transport::Udp, 200);
    assert_eq!(l.poll_transmit().map(|t| t.transport), Some(Transport::Udp));
    // Just before Timer J, a retransmitted request is still absorbed and re-answered.
    l.handle_timeout(t0 + Duration::from_millis(31_999));
    l.handle_request(
        t0 + Duration::from_millis(31_999),
        req.clone(),
        1,
        Transport::Udp,
    );
    assert!(l.poll_event().is_none(), "absorbed");
    assert!(l.poll_transmit().is_some(), "the 200 again");
    assert_eq!(l.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    l.handle_timeout(t0 + Duration::from_secs(32));
    assert!(matches!(
        l.poll_event(),
        Some(Event::Server {
            event: ServerEvent::Terminated,
            ..
        })
    ));
    assert!(l.is_empty());
    // After Timer J the same request is new again.
    l.handle_request(t0 + Duration::from_secs(33), req, 1, Transport::Udp);
    assert!(matches!(l.poll_event(), Some(Event::Request { .. })));
}

#[test]
fn server_non_invite_completed_lasts_zero_on_tcp() {
    let (_, mut l, _) = answered("OPTIONS", Transport::Tcp, 200);
    assert!(l.poll_transmit().is_some());
    assert!(matches!(
        l.poll_event(),
        Some(Event::Server {
            event: ServerEvent::Terminated,
            ..
        })
    ));
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn server_invite_retransmits_486_doubling_to_t2_until_timer_h() {
    let (t0, mut l, _) = answered("INVITE", Transport::Udp, 486);
    let (sends, events) = run(&mut l, t0, Duration::from_secs(120));
    // T1, 2*T1, 4*T1 apart, then T2 apart.
    assert_eq!(
        sends,
        [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    let server: Vec<_> = events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Server { event, .. } => Some((*t, event.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        server,
        [
            (32_000, ServerEvent::Timeout),
            (32_000, ServerEvent::Terminated)
        ]
    );
    assert!(l.is_empty());
}

#[test]
fn server_invite_stops_retransmitting_on_ack_and_ends_after_timer_i() {
    let (t0, mut l, req) = answered("INVITE", Transport::Udp, 486);
    let (sends, _) = run(&mut l, t0, Duration::from_millis(4000));
    assert_eq!(sends, [0, 500, 1500, 3500]);
    let mut ack = req;
    ack.method = Method::Ack;
    ack.head.cseq.method = Method::Ack;
    ack.head.to.params.set("tag", Some("8321234356".to_owned()));
    let t_ack = t0 + Duration::from_millis(4000);
    l.handle_request(t_ack, ack, 1, Transport::Udp);
    assert!(matches!(
        l.poll_event(),
        Some(Event::Server {
            event: ServerEvent::Confirmed,
            ..
        })
    ));
    // Timer I = T4 = 5 s later; no more 486s meanwhile.
    assert_eq!(l.poll_timeout(), Some(t_ack + Duration::from_secs(5)));
    let (sends, events) = run(&mut l, t_ack, Duration::from_secs(60));
    assert!(sends.is_empty());
    assert_eq!(events.len(), 1);
    assert!(matches!(
        events[0],
        (
            5000,
            Event::Server {
                event: ServerEvent::Terminated,
                ..
            }
        )
    ));
}

#[test]
fn server_invite_over_tcp_sends_486_once_and_timer_h_still_fires() {
    let (t0, mut l, _) = answered("INVITE", Transport::Tcp, 486);
    let (sends, events) = run(&mut l, t0, Duration::from_secs(120));
    assert_eq!(sends, [0]);
    assert!(matches!(
        events.first(),
        Some((
            32_000,
            Event::Server {
                event: ServerEvent::Timeout,
                ..
            }
        ))
    ));
}
