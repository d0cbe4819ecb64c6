//! The call manager on simulated time, against a fake relay: no sockets, no transaction
//! layer (its events are fed by hand).

use std::sync::Arc;
use std::time::{Duration, Instant};

use media::testing::FakeMedia;
use rand::SeedableRng;
use sip::transaction::{ClientEvent, TransactionKey};
use sip::{Message, Method, Request, Response, StatusCode, Transport};

use super::*;
use crate::directory::{Domain, Secret, User};
use crate::location::Binding;

const OFFER: &str = "v=0\r\no=a 1 1 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const ANSWER: &str = "v=0\r\no=b 2 2 IN IP4 127.0.0.20\r\ns=-\r\nc=IN IP4 127.0.0.20\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\n";

fn a_flow() -> Flow {
    Flow {
        transport: Transport::Udp,
        remote: "127.0.0.10:5070".parse().expect("addr"),
        conn: None,
    }
}

fn b_flow(n: u16) -> Flow {
    Flow {
        transport: Transport::Udp,
        remote: format!("127.0.0.20:{}", 5080 + n).parse().expect("addr"),
        conn: None,
    }
}

fn binding(user: &str, n: u16) -> Binding {
    Binding {
        domain: "pbx.test".into(),
        user: user.into(),
        contact: format!("sip:{user}@127.0.0.20:{}", 5080 + n).into(),
        flow: b_flow(n),
        agent: "phone".into(),
        call_id: format!("reg{n}").into(),
        cseq: 1,
        registered_at: 0,
        expires_at: u64::MAX,
        outstanding_pings: 0,
    }
}

struct Harness {
    calls: Calls,
    media: Arc<FakeMedia>,
    t0: Instant,
}

fn harness(contacts: u16, config: CallConfig) -> Harness {
    let state = Arc::new(State::default());
    {
        let mut dir = state.directory.write().expect("lock");
        let secret = Secret {
            md5: String::new(),
            sha256: String::new(),
        };
        let users = ["alice", "bob", "carol"]
            .iter()
            .map(|u| User {
                name: (*u).into(),
                secret: secret.clone(),
            })
            .collect();
        dir.put_domain(Domain::new("pbx.test"), Some(users));
        let mut loc = state.location.write().expect("lock");
        loc.set(
            "pbx.test",
            "bob",
            (0..contacts).map(|n| binding("bob", n)).collect(),
        );
    }
    let media = Arc::new(FakeMedia::new());
    let t0 = Instant::now();
    let calls = Calls::new(
        config,
        state,
        media.clone(),
        "127.0.0.1:5060".parse().expect("addr"),
        (t0, 1_800_000_000),
        StdRng::seed_from_u64(7),
    );
    Harness { calls, media, t0 }
}

fn parse_request(raw: &str) -> Request {
    match Message::parse(raw.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn invite(to: &str, body: Option<&str>, extra: &str) -> Request {
    let body = body.unwrap_or("");
    parse_request(&format!(
        "INVITE sip:{to}@pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.10:5070;branch=z9hG4bKa1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@pbx.test>;tag=at\r\nTo: <sip:{to}@pbx.test>\r\n\
         Call-ID: a-call\r\nCSeq: 2 INVITE\r\nContact: <sip:alice@127.0.0.10:5070>\r\n{extra}\
         {ct}Content-Length: {len}\r\n\r\n{body}",
        ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        },
        len = body.len(),
    ))
}

fn caller() -> Caller {
    Caller {
        domain: "pbx.test".into(),
        user: "alice".into(),
    }
}

fn inbound(request: Request) -> Inbound {
    Inbound {
        key: TransactionKey::server_for_request(&request).expect("key"),
        request,
        flow: a_flow(),
    }
}

/// The UAS answer to one of our requests.
fn answer(req: &Request, status: StatusCode, tag: &str, body: Option<&str>) -> Response {
    let mut r = Response::to_request(req, status);
    r.head.to.params.set("tag", Some(tag.into()));
    r.head.contact = vec![sip::Contact::Addr(sip::NameAddr::new(
        sip::Uri::parse("sip:bob@127.0.0.20:5080").expect("uri"),
    ))];
    if let Some(b) = body {
        r.head
            .headers
            .push(sip::HeaderName::ContentType, "application/sdp");
        r.body = bytes::Bytes::from(b.to_owned());
    }
    r
}

/// The caller's ACK for our 2xx `ok`, with `body` (the answer, after a late offer).
fn caller_ack(ok: &Response, body: Option<&str>) -> Request {
    let mut ack = invite("bob", body, "");
    ack.method = Method::Ack;
    ack.head.cseq = sip::CSeq {
        seq: ok.head.cseq.seq,
        method: Method::Ack,
    };
    ack.head
        .to
        .params
        .set("tag", ok.head.to.tag().map(str::to_owned));
    ack
}

fn drain(calls: &mut Calls) -> Vec<Action> {
    std::iter::from_fn(|| calls.poll_action()).collect()
}

fn responses(actions: &[Action]) -> Vec<Response> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Respond { response, .. } => Some(response.clone()),
            _ => None,
        })
        .collect()
}

fn statuses(actions: &[Action]) -> Vec<u16> {
    responses(actions).iter().map(|r| r.status.code()).collect()
}

fn requests(actions: &[Action]) -> Vec<(Request, Flow)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Request { request, to } => Some((request.clone(), to.clone())),
            _ => None,
        })
        .collect()
}

fn sent(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn cdrs(actions: &[Action]) -> Vec<Cdr> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(CallEvent::HungUp(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn key(req: &Request) -> TransactionKey {
    TransactionKey::client_for_request(req).expect("key")
}

fn body_of(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// A call from alice to bob with `contacts` phones, the first of which answers with SDP.
/// Returns the harness and the INVITE each fork got.
fn answered(contacts: u16) -> (Harness, Vec<Request>) {
    let mut h = harness(contacts, CallConfig::default());
    h.calls
        .handle_invite(h.t0, caller(), inbound(invite("bob", Some(OFFER), "")));
    let acts = drain(&mut h.calls);
    let forks: Vec<Request> = requests(&acts).into_iter().map(|(r, _)| r).collect();
    let ok = answer(&forks[0], StatusCode::OK, "bt", Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&forks[0]), ClientEvent::Final(ok));
    drain(&mut h.calls);
    (h, forks)
}

#[test]
fn early_offer_call_forks_rings_answers_and_hangs_up() {
    let mut h = harness(2, CallConfig::default());
    h.calls
        .handle_invite(h.t0, caller(), inbound(invite("bob", Some(OFFER), "")));
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [100]);
    let forks = requests(&acts);
    assert_eq!(forks.len(), 2, "one INVITE per contact");
    assert_eq!(forks[0].1, b_flow(0));
    assert_eq!(forks[1].1, b_flow(1));
    let offer_b = String::from_utf8_lossy(&forks[0].0.body).into_owned();
    assert!(offer_b.contains("c=IN IP4 127.0.0.1\r\n"), "{offer_b}");
    assert!(
        !offer_b.contains("4000"),
        "the caller's port never reaches the callee"
    );
    assert_eq!(forks[0].0.head.max_forwards, Some(69));

    // Fork 1 rings: the caller hears it once.
    let ringing = answer(&forks[1].0, StatusCode::RINGING, "b1", None);
    h.calls
        .handle_client_event(h.t0, &key(&forks[1].0), ClientEvent::Provisional(ringing));
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [180]);
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Event(CallEvent::Ringing(_))))
    );

    // Fork 0 answers: the caller gets 200 with the PBX's SDP, fork 1 is cancelled.
    let ok = answer(&forks[0].0, StatusCode::OK, "b0", Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&forks[0].0), ClientEvent::Final(ok));
    let acts = drain(&mut h.calls);
    let resp = responses(&acts);
    assert_eq!(resp[0].status, StatusCode::OK);
    let sdp_a = body_of(&resp[0]);
    assert!(sdp_a.contains("c=IN IP4 127.0.0.1\r\n"), "{sdp_a}");
    // In the caller's numbering: PCMA and its own telephone-event 101.
    assert!(sdp_a.contains("RTP/AVP 8 101\r\n"), "{sdp_a}");
    let out = requests(&acts);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.method, Method::Cancel);
    assert_eq!(out[0].1, b_flow(1));
    let session = h.media.open_sessions()[0];
    let fake = h.media.session(session).expect("session");
    assert!(
        format!("{fake:?}").contains("127.0.0.20"),
        "B's remote set: {fake:?}"
    );

    // The caller's ACK releases the ACK to the callee.
    h.calls.handle_ack(h.t0, &caller_ack(&resp[0], None));
    let acts = drain(&mut h.calls);
    let acks = sent(&acts);
    assert_eq!(acks.len(), 1);
    let Message::Request(b_ack) = &acks[0] else {
        panic!("not an ACK")
    };
    assert_eq!(b_ack.method, Method::Ack);
    assert_eq!(b_ack.head.to.tag(), Some("b0"));

    // The callee hangs up: BYE answered, BYE to the caller, one CDR.
    let later = h.t0 + Duration::from_secs(30);
    let mut bye = parse_request(&format!(
        "BYE sip:switchboard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.20:5080;branch=z9hG4bKbye\r\n\
         From: <sip:bob@pbx.test>;tag=b0\r\nTo: <sip:alice@pbx.test>;tag=x\r\nCall-ID: {}\r\n\
         CSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n",
        forks[0].0.head.call_id
    ));
    bye.head.to = forks[0].0.head.from.clone();
    h.calls.handle_request(
        later,
        Inbound {
            key: TransactionKey::server_for_request(&bye).expect("key"),
            request: bye,
            flow: b_flow(0),
        },
        None,
    );
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [200]);
    let out = requests(&acts);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.method, Method::Bye);
    assert_eq!(out[0].1, a_flow());
    let cdr = cdrs(&acts);
    assert_eq!(cdr.len(), 1);
    assert_eq!(
        (cdr[0].cause.code, cdr[0].hangup_by.as_str()),
        (200, "callee")
    );
    assert_eq!((cdr[0].duration, cdr[0].billsec), (30, 30));
    assert_eq!(cdr[0].codecs, ["PCMA/8000"]);
    assert!(h.media.open_sessions().is_empty(), "media released");
}

#[test]
fn a_losing_fork_that_answers_is_acked_and_byed() {
    let (mut h, forks) = answered(2);
    let late = answer(&forks[1], StatusCode::OK, "late", Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&forks[1]), ClientEvent::Final(late));
    let acts = drain(&mut h.calls);
    let acks = sent(&acts);
    assert!(
        matches!(&acks[..], [Message::Request(r)] if r.method == Method::Ack && r.head.to.tag() == Some("late"))
    );
    let byes = requests(&acts);
    assert!(matches!(&byes[..], [(r, f)] if r.method == Method::Bye && *f == b_flow(1)));
    assert!(cdrs(&acts).is_empty(), "the call itself goes on");
}

#[test]
fn cancel_before_answer_gives_487_and_cancels_ringing_forks() {
    let mut h = harness(2, CallConfig::default());
    let inv = invite("bob", Some(OFFER), "");
    let invite_key = TransactionKey::server_for_request(&inv).expect("key");
    h.calls.handle_invite(h.t0, caller(), inbound(inv.clone()));
    let forks: Vec<Request> = requests(&drain(&mut h.calls))
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let ringing = answer(&forks[0], StatusCode::RINGING, "b0", None);
    h.calls
        .handle_client_event(h.t0, &key(&forks[0]), ClientEvent::Provisional(ringing));
    drain(&mut h.calls);

    let mut cancel = inv;
    cancel.method = Method::Cancel;
    cancel.head.cseq.method = Method::Cancel;
    cancel.body = bytes::Bytes::new();
    assert!(h.calls.owns_invite(&invite_key));
    h.calls
        .handle_request(h.t0, inbound(cancel), Some(invite_key));
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [200, 487]);
    // The ringing fork is cancelled now; the silent one when it first answers.
    let out = requests(&acts);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.method, Method::Cancel);
    let trying = answer(&forks[1], StatusCode::RINGING, "b1", None);
    h.calls
        .handle_client_event(h.t0, &key(&forks[1]), ClientEvent::Provisional(trying));
    let acts2 = drain(&mut h.calls);
    assert!(matches!(&requests(&acts2)[..], [(r, _)] if r.method == Method::Cancel));
    assert!(statuses(&acts2).is_empty(), "nothing more for the caller");
    let cdr = cdrs(&acts);
    assert_eq!(
        (cdr[0].cause.code, cdr[0].hangup_by.as_str()),
        (487, "caller")
    );
    assert_eq!(cdr[0].answer, None);
}

#[test]
fn busy_everywhere_is_relayed_as_486() {
    let mut h = harness(2, CallConfig::default());
    h.calls
        .handle_invite(h.t0, caller(), inbound(invite("bob", Some(OFFER), "")));
    let forks = requests(&drain(&mut h.calls));
    let busy = answer(&forks[0].0, StatusCode::BUSY_HERE, "b0", None);
    h.calls
        .handle_client_event(h.t0, &key(&forks[0].0), ClientEvent::Final(busy));
    assert!(
        statuses(&drain(&mut h.calls)).is_empty(),
        "the other phone may answer"
    );
    h.calls
        .handle_client_event(h.t0, &key(&forks[1].0), ClientEvent::Timeout);
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [486]);
    assert_eq!(cdrs(&acts)[0].cause.code, 486);
}

#[test]
fn no_answer_times_out_with_480() {
    let config = CallConfig {
        no_answer_timeout: Duration::from_secs(20),
        ..CallConfig::default()
    };
    let mut h = harness(1, config);
    h.calls
        .handle_invite(h.t0, caller(), inbound(invite("bob", Some(OFFER), "")));
    let forks = requests(&drain(&mut h.calls));
    let ringing = answer(&forks[0].0, StatusCode::RINGING, "b0", None);
    h.calls
        .handle_client_event(h.t0, &key(&forks[0].0), ClientEvent::Provisional(ringing));
    drain(&mut h.calls);
    assert_eq!(h.calls.poll_timeout(), Some(h.t0 + Duration::from_secs(20)));
    h.calls.handle_timeout(h.t0 + Duration::from_secs(20));
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [480]);
    assert!(matches!(&requests(&acts)[..], [(r, _)] if r.method == Method::Cancel));
    assert_eq!(cdrs(&acts)[0].hangup_by.as_str(), "system");
}

#[test]
fn unknown_and_unregistered_targets_leave_a_cdr() {
    let mut h = harness(1, CallConfig::default());
    h.calls
        .handle_invite(h.t0, caller(), inbound(invite("nobody", Some(OFFER), "")));
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [100, 404]);
    assert_eq!(cdrs(&acts).len(), 1);
    h.calls
        .handle_invite(h.t0, caller(), inbound(invite("carol", Some(OFFER), "")));
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [100, 480]);
    assert_eq!(cdrs(&acts)[0].cause.code, 480);
    assert!(h.calls.is_empty());
    assert!(h.media.open_sessions().is_empty());
}

#[test]
fn our_2xx_is_retransmitted_until_the_ack_and_the_call_ends_without_one() {
    let (mut h, _) = answered(1);
    let mut at = h.t0;
    let mut retransmissions = 0;
    while let Some(next) = h.calls.poll_timeout() {
        at = next;
        h.calls.handle_timeout(at);
        let acts = drain(&mut h.calls);
        retransmissions += sent(&acts)
            .iter()
            .filter(|m| matches!(m, Message::Response(r) if r.status == StatusCode::OK))
            .count();
        if !cdrs(&acts).is_empty() {
            // 64*T1 without an ACK: BYE both legs.
            assert_eq!(requests(&acts).len(), 2);
            break;
        }
    }
    assert_eq!(at, h.t0 + Duration::from_secs(32));
    // T1 doubling to T2: 0.5, 1, 2, 4, 4, ... up to 32 s.
    assert_eq!(retransmissions, 10);
}

#[test]
fn session_interval_below_min_se_gets_422() {
    let mut h = harness(1, CallConfig::default());
    h.calls.handle_invite(
        h.t0,
        caller(),
        inbound(invite(
            "bob",
            Some(OFFER),
            "Supported: timer\r\nSession-Expires: 30\r\n",
        )),
    );
    let acts = drain(&mut h.calls);
    let resp = responses(&acts);
    assert_eq!(resp[1].status.code(), 422);
    assert_eq!(resp[1].head.get(&sip::HeaderName::MinSE), Some("90"));
}

#[test]
fn a_session_without_refresh_is_torn_down() {
    let mut h = harness(1, CallConfig::default());
    h.calls.handle_invite(
        h.t0,
        caller(),
        inbound(invite(
            "bob",
            Some(OFFER),
            "Supported: timer\r\nSession-Expires: 90\r\n",
        )),
    );
    let forks = requests(&drain(&mut h.calls));
    assert_eq!(
        forks[0].0.head.get(&sip::HeaderName::SessionExpires),
        Some("90")
    );
    // The callee does not do timers: the caller is made refresher.
    let ok = answer(&forks[0].0, StatusCode::OK, "b0", Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&forks[0].0), ClientEvent::Final(ok));
    let acts = drain(&mut h.calls);
    let resp = responses(&acts);
    assert_eq!(
        resp[0].head.get(&sip::HeaderName::SessionExpires),
        Some("90;refresher=uac")
    );
    h.calls.handle_ack(h.t0, &caller_ack(&resp[0], None));
    drain(&mut h.calls);

    // No refresh: at 90 - min(32, 30) = 60 s the PBX hangs up both legs.
    assert_eq!(h.calls.poll_timeout(), Some(h.t0 + Duration::from_secs(60)));
    h.calls.handle_timeout(h.t0 + Duration::from_secs(60));
    let acts = drain(&mut h.calls);
    let byes = requests(&acts);
    assert_eq!(byes.len(), 2);
    assert!(byes.iter().all(|(r, _)| r.method == Method::Bye));
    let cdr = cdrs(&acts);
    assert_eq!(
        (cdr[0].cause.code, cdr[0].hangup_by.as_str()),
        (408, "system")
    );
}

#[test]
fn late_offer_travels_in_the_200_and_the_answer_in_the_acks() {
    let mut h = harness(1, CallConfig::default());
    h.calls
        .handle_invite(h.t0, caller(), inbound(invite("bob", None, "")));
    let forks = requests(&drain(&mut h.calls));
    assert!(forks[0].0.body.is_empty(), "no offer toward the callee");
    // The callee offers in its 200.
    let ok = answer(&forks[0].0, StatusCode::OK, "b0", Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&forks[0].0), ClientEvent::Final(ok));
    let acts = drain(&mut h.calls);
    let resp = responses(&acts);
    let offer_a = body_of(&resp[0]);
    assert!(offer_a.contains("c=IN IP4 127.0.0.1\r\n"), "{offer_a}");
    assert!(offer_a.contains("RTP/AVP 8 96\r\n"), "{offer_a}");
    assert!(
        sent(&acts).is_empty(),
        "the callee's ACK waits for the answer"
    );
    // The caller answers in its ACK, with its own number for telephone-event.
    let answer_a = "v=0\r\no=a 1 1 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    h.calls
        .handle_ack(h.t0, &caller_ack(&resp[0], Some(answer_a)));
    let acts = drain(&mut h.calls);
    let acks = sent(&acts);
    let Some(Message::Request(b_ack)) = acks.first() else {
        panic!("no ACK to the callee")
    };
    let answer_b = String::from_utf8_lossy(&b_ack.body).into_owned();
    assert!(answer_b.contains("c=IN IP4 127.0.0.1\r\n"), "{answer_b}");
    // In the callee's numbering.
    assert!(answer_b.contains("RTP/AVP 8 96\r\n"), "{answer_b}");
}

#[test]
fn shutdown_refuses_new_calls_and_hangs_up_live_ones() {
    let (mut h, _) = answered(1);
    h.calls.shutdown(h.t0);
    let acts = drain(&mut h.calls);
    assert_eq!(requests(&acts).len(), 2, "BYE to both legs");
    assert_eq!(cdrs(&acts)[0].cause.code, 503);
    let mut second = invite("bob", Some(OFFER), "");
    second.head.call_id = "another".into();
    h.calls.handle_invite(h.t0, caller(), inbound(second));
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [100, 503]);
    assert_eq!(cdrs(&acts).len(), 1);
}

/// Confirms an answered call (the caller's ACK for our 2xx).
fn confirm(h: &mut Harness) {
    let ok = h
        .calls
        .calls
        .values()
        .find_map(|c| c.retransmit[Side::A.index()].as_ref())
        .map(|r| r.response.clone())
        .expect("our 2xx to the caller");
    h.calls.handle_ack(h.t0, &caller_ack(&ok, None));
    drain(&mut h.calls);
}

#[test]
fn a_call_whose_media_stopped_is_ended() {
    let (mut h, _) = answered(1);
    confirm(&mut h);
    let session = h.media.open_sessions()[0];
    // Media flowed until 10 s in, then stopped both ways.
    let mut stats = media::SessionStats::default();
    stats.legs[0].last_rtp = Some(h.t0 + Duration::from_secs(10));
    stats.legs[1].last_rtp = Some(h.t0 + Duration::from_secs(9));
    h.media.set_stats(session, stats);
    h.calls.check_media(h.t0 + Duration::from_secs(69));
    assert!(
        cdrs(&drain(&mut h.calls)).is_empty(),
        "59 s of silence is not yet 60"
    );
    h.calls.check_media(h.t0 + Duration::from_secs(70));
    let acts = drain(&mut h.calls);
    assert_eq!(requests(&acts).len(), 2, "BYE to both legs");
    let cdr = cdrs(&acts);
    assert_eq!(
        (
            cdr[0].cause.code,
            cdr[0].cause.reason.as_str(),
            cdr[0].hangup_by
        ),
        (408, "Media Timeout", crate::cdr::HangupBy::System)
    );
}

#[test]
fn latching_follows_the_domain_setting() {
    let (h, _) = answered(1);
    let strict = h.media.calls();
    assert!(
        matches!(&strict[0], media::testing::Call::Open(_, o) if o.core.policy == [media::LatchPolicy::Strict; 2]),
        "{strict:?}"
    );
    let h = harness(1, CallConfig::default());
    {
        let mut dir = h.calls.state.directory.write().expect("lock");
        let mut d = Domain::new("pbx.test");
        d.latching = crate::Latching::Any;
        dir.put_domain(d, None);
    }
    let mut h = h;
    h.calls
        .handle_invite(h.t0, caller(), inbound(invite("bob", Some(OFFER), "")));
    drain(&mut h.calls);
    let any = h.media.calls();
    assert!(
        matches!(&any[0], media::testing::Call::Open(_, o) if o.core.policy == [media::LatchPolicy::Any; 2]),
        "{any:?}"
    );
}

#[test]
fn a_losing_forks_2xx_after_its_transaction_is_acked_and_byed() {
    let (mut h, forks) = answered(2);
    // The second fork's transaction is gone; its 2xx arrives as a stray response.
    let late = answer(&forks[1], StatusCode::OK, "late", Some(ANSWER));
    h.calls.handle_stray_response(&late);
    let acts = drain(&mut h.calls);
    let acks = sent(&acts);
    assert!(
        matches!(&acks[..], [Message::Request(r)] if r.method == Method::Ack && r.head.to.tag() == Some("late")),
        "{acks:?}"
    );
    let byes = requests(&acts);
    assert!(
        matches!(&byes[..], [(r, f)] if r.method == Method::Bye && *f == b_flow(1)),
        "the BYE goes to the fork that answered late: {byes:?}"
    );
}

// ---- calls placed by the PBX ("dial"): the extension's phones first, then the target ----

const DIAL_ID: &str = "9b2f3c1e-0000-4000-8000-000000000001";

fn ext_flow(n: u16) -> Flow {
    Flow {
        transport: Transport::Udp,
        remote: format!("127.0.0.10:{}", 5070 + n).parse().expect("addr"),
        conn: None,
    }
}

/// A harness where alice (the extension) has `phones` phones and bob (the target) `targets`.
fn dial_harness(phones: u16, targets: u16, config: CallConfig) -> Harness {
    let h = harness(targets, config);
    let bindings = (0..phones)
        .map(|n| Binding {
            contact: format!("sip:alice@127.0.0.10:{}", 5070 + n).into(),
            flow: ext_flow(n),
            ..binding("alice", n)
        })
        .collect();
    h.calls
        .state
        .location
        .write()
        .expect("lock")
        .set("pbx.test", "alice", bindings);
    h
}

fn live_state(h: &Harness) -> Option<CallInfo> {
    h.calls.live().read().expect("lock").get(DIAL_ID).cloned()
}

/// Requests as the call manager sent them, with where they went.
type Sent = Vec<(Request, Flow)>;

/// Dials bob from alice; returns the INVITE each of alice's phones got.
fn dial(h: &mut Harness) -> Vec<(Request, Flow)> {
    let placed = h.calls.dial(h.t0, DIAL_ID, "pbx.test", "alice", "bob");
    assert_eq!(placed, Ok(()));
    requests(&drain(&mut h.calls))
}

/// Dials and has alice's first phone answer with an offer; returns the INVITEs to alice's
/// phones and to bob's.
fn dial_answered_by_extension(h: &mut Harness) -> (Sent, Sent) {
    let phones = dial(h);
    let ok = answer(&phones[0].0, StatusCode::OK, "x0", Some(OFFER));
    h.calls
        .handle_client_event(h.t0, &key(&phones[0].0), ClientEvent::Final(ok));
    let acts = drain(&mut h.calls);
    assert!(sent(&acts).is_empty(), "no ACK to the extension yet");
    let targets = requests(&acts)
        .into_iter()
        .filter(|(r, _)| r.method == Method::Invite)
        .collect();
    (phones, targets)
}

fn ack_to(acts: &[Action], flow: &Flow) -> Option<Request> {
    acts.iter().find_map(|a| match a {
        Action::Send {
            message: Message::Request(r),
            to,
        } if r.method == Method::Ack && to == flow => Some(r.clone()),
        _ => None,
    })
}

fn events(acts: &[Action]) -> Vec<&'static str> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Event(CallEvent::New(_)) => Some("new"),
            Action::Event(CallEvent::Ringing(_)) => Some("ringing"),
            Action::Event(CallEvent::Answered(_)) => Some("answered"),
            Action::Event(CallEvent::HungUp(_)) => Some("hungup"),
            _ => None,
        })
        .collect()
}

#[test]
fn dial_rings_the_extension_then_the_target_and_connects_them() {
    let mut h = dial_harness(2, 1, CallConfig::default());
    let placed = h.calls.dial(h.t0, DIAL_ID, "pbx.test", "alice", "bob");
    assert_eq!(placed, Ok(()));
    let info = live_state(&h).expect("in LiveCalls at once");
    assert_eq!(
        (
            info.from.as_str(),
            info.to.as_str(),
            info.domain.as_str(),
            info.state
        ),
        ("alice", "bob", "pbx.test", "trying")
    );
    let acts = drain(&mut h.calls);
    assert_eq!(events(&acts), ["new"]);
    let phones = requests(&acts);
    assert_eq!(phones.len(), 2, "every phone of the extension rings");
    assert_eq!(
        (phones[0].1.clone(), phones[1].1.clone()),
        (ext_flow(0), ext_flow(1))
    );
    let inv = &phones[0].0;
    assert!(inv.body.is_empty(), "no SDP: the phone makes the offer");
    assert_eq!(inv.head.from.display.as_deref(), Some("bob"));
    assert_eq!(inv.head.from.uri.to_string(), "sip:bob@pbx.test");
    assert_eq!(inv.head.to.uri.to_string(), "sip:alice@pbx.test");
    assert!(
        h.media.open_sessions().is_empty(),
        "no media before an offer"
    );

    // Phone 1 rings.
    let ringing = answer(&phones[1].0, StatusCode::RINGING, "x1", None);
    h.calls
        .handle_client_event(h.t0, &key(&phones[1].0), ClientEvent::Provisional(ringing));
    let acts = drain(&mut h.calls);
    assert_eq!(events(&acts), ["ringing"]);
    assert_eq!(live_state(&h).expect("live").state, "ringing");

    // Phone 0 answers with its offer: phone 1 is cancelled, bob is called with the offer
    // rewritten, and the phone's 2xx waits for its ACK.
    let ok = answer(&phones[0].0, StatusCode::OK, "x0", Some(OFFER));
    h.calls
        .handle_client_event(h.t0, &key(&phones[0].0), ClientEvent::Final(ok.clone()));
    let acts = drain(&mut h.calls);
    assert!(
        sent(&acts).is_empty(),
        "the ACK waits for the target's answer"
    );
    let out = requests(&acts);
    assert!(
        out.iter()
            .any(|(r, f)| r.method == Method::Cancel && *f == ext_flow(1)),
        "{out:?}"
    );
    let to_bob: Vec<_> = out
        .iter()
        .filter(|(r, _)| r.method == Method::Invite)
        .collect();
    assert_eq!(to_bob.len(), 1);
    assert_eq!(to_bob[0].1, b_flow(0));
    let bob_inv = &to_bob[0].0;
    assert_eq!(bob_inv.head.from.uri.to_string(), "sip:alice@pbx.test");
    assert_eq!(bob_inv.head.to.uri.to_string(), "sip:bob@pbx.test");
    let offer_b = String::from_utf8_lossy(&bob_inv.body).into_owned();
    assert!(offer_b.contains("c=IN IP4 127.0.0.1\r\n"), "{offer_b}");
    assert!(!offer_b.contains("4000"), "{offer_b}");
    let info = live_state(&h).expect("live");
    assert!(info.media.is_some() && info.media_session.is_some());
    assert_eq!(info.sip_call_ids.len(), 2);

    // Bob rings: nothing reaches the extension, no second ringing event.
    let ringing = answer(bob_inv, StatusCode::RINGING, "b0", None);
    h.calls
        .handle_client_event(h.t0, &key(bob_inv), ClientEvent::Provisional(ringing));
    let acts = drain(&mut h.calls);
    assert!(acts.is_empty(), "{acts:?}");

    // Phone 0 retransmits its 2xx meanwhile: still no ACK.
    h.calls.handle_client_event(
        h.t0,
        &key(&phones[0].0),
        ClientEvent::AdditionalSuccess(ok.clone()),
    );
    assert!(drain(&mut h.calls).is_empty());

    // Bob answers: his 2xx is ACKed, and so is the extension's, with bob's answer rewritten.
    let t1 = h.t0 + Duration::from_secs(5);
    let ok_b = answer(bob_inv, StatusCode::OK, "b0", Some(ANSWER));
    h.calls
        .handle_client_event(t1, &key(bob_inv), ClientEvent::Final(ok_b));
    let acts = drain(&mut h.calls);
    assert_eq!(events(&acts), ["answered"]);
    let ack_b = ack_to(&acts, &b_flow(0)).expect("ACK to bob");
    assert_eq!(ack_b.head.to.tag(), Some("b0"));
    assert!(ack_b.body.is_empty());
    let ack_a = ack_to(&acts, &ext_flow(0)).expect("ACK to the extension");
    assert_eq!(ack_a.head.to.tag(), Some("x0"));
    assert_eq!(ack_a.head.call_id, phones[0].0.head.call_id);
    let answer_a = String::from_utf8_lossy(&ack_a.body).into_owned();
    assert!(answer_a.contains("c=IN IP4 127.0.0.1\r\n"), "{answer_a}");
    // In the extension's numbering: PCMA and its own telephone-event 101.
    assert!(answer_a.contains("RTP/AVP 8 101\r\n"), "{answer_a}");
    let info = live_state(&h).expect("live");
    assert_eq!((info.state, info.answer), ("up", Some(1_800_000_005)));

    // The extension's 2xx again, now: ACKed again.
    h.calls
        .handle_client_event(t1, &key(&phones[0].0), ClientEvent::AdditionalSuccess(ok));
    let acts = drain(&mut h.calls);
    assert_eq!(ack_to(&acts, &ext_flow(0)), Some(ack_a.clone()));

    // From here it is a call like any other: the extension hangs up with BYE.
    let later = h.t0 + Duration::from_secs(65);
    let mut bye = parse_request(&format!(
        "BYE sip:switchboard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.10:5070;branch=z9hG4bKxbye\r\n\
         From: <sip:alice@pbx.test>;tag=x0\r\nTo: <sip:bob@pbx.test>\r\nCall-ID: {}\r\n\
         CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        phones[0].0.head.call_id
    ));
    bye.head.to = phones[0].0.head.from.clone();
    assert!(h.calls.owns_dialog(&bye));
    h.calls.handle_request(
        later,
        Inbound {
            key: TransactionKey::server_for_request(&bye).expect("key"),
            request: bye,
            flow: ext_flow(0),
        },
        None,
    );
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [200]);
    let out = requests(&acts);
    assert!(matches!(&out[..], [(r, f)] if r.method == Method::Bye && *f == b_flow(0)));
    let cdr = cdrs(&acts);
    assert_eq!(cdr.len(), 1);
    assert_eq!(
        (cdr[0].id.as_str(), cdr[0].from.as_str(), cdr[0].to.as_str()),
        (DIAL_ID, "alice", "bob")
    );
    assert_eq!(
        (cdr[0].cause.code, cdr[0].hangup_by.as_str()),
        (200, "caller")
    );
    assert_eq!((cdr[0].duration, cdr[0].billsec), (65, 60));
    assert_eq!(cdr[0].codecs, ["PCMA/8000"]);
    assert!(live_state(&h).is_none());
    assert!(h.media.open_sessions().is_empty(), "media released");
}

#[test]
fn dial_is_refused_at_once_without_a_call() {
    let mut h = dial_harness(1, 1, CallConfig::default());
    for (user, target) in [("nobody", "bob"), ("alice", "nobody"), ("carol", "bob")] {
        let refused = h.calls.dial(h.t0, DIAL_ID, "pbx.test", user, target);
        assert!(refused.is_err(), "{user} -> {target}");
    }
    assert!(
        drain(&mut h.calls).is_empty(),
        "no request, no event, no CDR"
    );
    assert!(live_state(&h).is_none());

    let mut full = dial_harness(
        1,
        1,
        CallConfig {
            max_calls: 0,
            ..CallConfig::default()
        },
    );
    assert!(
        full.calls
            .dial(full.t0, DIAL_ID, "pbx.test", "alice", "bob")
            .is_err()
    );

    h.calls.shutdown(h.t0);
    let refused = h.calls.dial(h.t0, DIAL_ID, "pbx.test", "alice", "bob");
    assert_eq!(refused, Err("shutting down".into()));
    assert!(drain(&mut full.calls).is_empty());
}

#[test]
fn the_extension_refusing_ends_the_dial_with_its_answer() {
    let mut h = dial_harness(2, 1, CallConfig::default());
    let phones = dial(&mut h);
    let busy = answer(&phones[0].0, StatusCode::BUSY_HERE, "x0", None);
    h.calls
        .handle_client_event(h.t0, &key(&phones[0].0), ClientEvent::Final(busy));
    assert!(
        cdrs(&drain(&mut h.calls)).is_empty(),
        "the other phone may answer"
    );
    let decline = answer(&phones[1].0, StatusCode::new(603).expect("603"), "x1", None);
    h.calls
        .handle_client_event(h.t0, &key(&phones[1].0), ClientEvent::Final(decline));
    let acts = drain(&mut h.calls);
    assert!(requests(&acts).is_empty(), "the target is never called");
    let cdr = cdrs(&acts);
    assert_eq!(
        (cdr[0].cause.code, cdr[0].hangup_by.as_str(), cdr[0].answer),
        (603, "caller", None)
    );
    assert!(live_state(&h).is_none());
}

#[test]
fn the_extension_not_answering_ends_the_dial_with_480() {
    let config = CallConfig {
        no_answer_timeout: Duration::from_secs(20),
        ..CallConfig::default()
    };
    let mut h = dial_harness(1, 1, config);
    let phones = dial(&mut h);
    let ringing = answer(&phones[0].0, StatusCode::RINGING, "x0", None);
    h.calls
        .handle_client_event(h.t0, &key(&phones[0].0), ClientEvent::Provisional(ringing));
    drain(&mut h.calls);
    assert_eq!(h.calls.poll_timeout(), Some(h.t0 + Duration::from_secs(20)));
    h.calls.handle_timeout(h.t0 + Duration::from_secs(20));
    let acts = drain(&mut h.calls);
    assert!(
        matches!(&requests(&acts)[..], [(r, f)] if r.method == Method::Cancel && *f == ext_flow(0))
    );
    let cdr = cdrs(&acts);
    assert_eq!(
        (cdr[0].cause.code, cdr[0].hangup_by.as_str()),
        (480, "system")
    );
}

/// Checks the ACK the extension gets when the call cannot go on: an answer that accepts the
/// offer's first codec on the relay port but sends nothing.
fn assert_inactive_ack(ack: &Request, port: u16) {
    let body = String::from_utf8_lossy(&ack.body).into_owned();
    assert_eq!(
        ack.head.get(&sip::HeaderName::ContentType),
        Some("application/sdp")
    );
    assert!(body.contains("c=IN IP4 127.0.0.1\r\n"), "{body}");
    assert!(
        body.contains(&format!("m=audio {port} RTP/AVP 0\r\n")),
        "{body}"
    );
    assert!(body.contains("a=inactive\r\n"), "{body}");
    assert!(sdp::SessionDescription::parse(&ack.body).is_ok(), "{body}");
}

#[test]
fn the_target_refusing_acks_the_extension_with_an_inactive_answer_and_byes_it() {
    let mut h = dial_harness(1, 1, CallConfig::default());
    let (_, targets) = dial_answered_by_extension(&mut h);
    let a_port = live_state(&h).and_then(|i| i.media).expect("media").1;
    let busy = answer(&targets[0].0, StatusCode::BUSY_HERE, "b0", None);
    h.calls
        .handle_client_event(h.t0, &key(&targets[0].0), ClientEvent::Final(busy));
    let acts = drain(&mut h.calls);
    let ack = ack_to(&acts, &ext_flow(0)).expect("ACK to the extension");
    assert_inactive_ack(&ack, a_port);
    let out = requests(&acts);
    assert!(matches!(&out[..], [(r, f)] if r.method == Method::Bye && *f == ext_flow(0)));
    // The ACK goes before the BYE.
    let ack_at = acts.iter().position(|a| matches!(a, Action::Send { .. }));
    let bye_at = acts
        .iter()
        .position(|a| matches!(a, Action::Request { .. }));
    assert!(ack_at < bye_at);
    let cdr = cdrs(&acts);
    assert_eq!(
        (cdr[0].cause.code, cdr[0].hangup_by.as_str(), cdr[0].answer),
        (486, "callee", None)
    );
    assert!(h.media.open_sessions().is_empty());
}

#[test]
fn the_target_not_answering_within_the_extensions_2xx_window_ends_the_dial() {
    let mut h = dial_harness(1, 1, CallConfig::default());
    let (_, targets) = dial_answered_by_extension(&mut h);
    let ringing = answer(&targets[0].0, StatusCode::RINGING, "b0", None);
    h.calls
        .handle_client_event(h.t0, &key(&targets[0].0), ClientEvent::Provisional(ringing));
    drain(&mut h.calls);
    // 64*T1 = 32 s, shorter than the 60 s no-answer time.
    assert_eq!(h.calls.poll_timeout(), Some(h.t0 + Duration::from_secs(32)));
    h.calls.handle_timeout(h.t0 + Duration::from_secs(32));
    let acts = drain(&mut h.calls);
    assert!(ack_to(&acts, &ext_flow(0)).is_some());
    let out = requests(&acts);
    assert!(
        out.iter()
            .any(|(r, f)| r.method == Method::Cancel && *f == b_flow(0))
    );
    assert!(
        out.iter()
            .any(|(r, f)| r.method == Method::Bye && *f == ext_flow(0))
    );
    assert_eq!(cdrs(&acts)[0].cause.code, 480);
}

#[test]
fn hangup_while_the_extension_rings_cancels_its_phones() {
    let mut h = dial_harness(2, 1, CallConfig::default());
    let phones = dial(&mut h);
    let ringing = answer(&phones[0].0, StatusCode::RINGING, "x0", None);
    h.calls
        .handle_client_event(h.t0, &key(&phones[0].0), ClientEvent::Provisional(ringing));
    drain(&mut h.calls);
    assert!(h.calls.hangup(h.t0, DIAL_ID, None));
    let acts = drain(&mut h.calls);
    assert!(
        matches!(&requests(&acts)[..], [(r, f)] if r.method == Method::Cancel && *f == ext_flow(0))
    );
    assert_eq!(cdrs(&acts)[0].cause.code, 487);
    assert!(live_state(&h).is_none());
    // The silent phone is cancelled when it first answers; if it answers 2xx anyway, it is
    // ACKed and BYEd.
    let ok = answer(&phones[1].0, StatusCode::OK, "x1", Some(OFFER));
    h.calls
        .handle_client_event(h.t0, &key(&phones[1].0), ClientEvent::Final(ok));
    let acts = drain(&mut h.calls);
    assert!(ack_to(&acts, &ext_flow(1)).is_some());
    assert!(
        matches!(&requests(&acts)[..], [(r, f)] if r.method == Method::Bye && *f == ext_flow(1))
    );
    assert!(cdrs(&acts).is_empty(), "one CDR per call");
}

#[test]
fn hangup_while_the_target_rings_cancels_it_and_byes_the_extension() {
    let mut h = dial_harness(1, 1, CallConfig::default());
    let (_, targets) = dial_answered_by_extension(&mut h);
    let ringing = answer(&targets[0].0, StatusCode::RINGING, "b0", None);
    h.calls
        .handle_client_event(h.t0, &key(&targets[0].0), ClientEvent::Provisional(ringing));
    drain(&mut h.calls);
    assert!(h.calls.hangup(h.t0, DIAL_ID, Some("busy")));
    let acts = drain(&mut h.calls);
    assert!(ack_to(&acts, &ext_flow(0)).is_some());
    let out = requests(&acts);
    assert!(
        out.iter()
            .any(|(r, f)| r.method == Method::Cancel && *f == b_flow(0))
    );
    assert!(
        out.iter()
            .any(|(r, f)| r.method == Method::Bye && *f == ext_flow(0))
    );
    let cdr = cdrs(&acts);
    assert_eq!(
        (cdr[0].cause.code, cdr[0].hangup_by.as_str()),
        (486, "system")
    );
    // The target answers after all: ACKed and BYEd, no second CDR.
    let ok = answer(&targets[0].0, StatusCode::OK, "b0", Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&targets[0].0), ClientEvent::Final(ok));
    let acts = drain(&mut h.calls);
    assert!(ack_to(&acts, &b_flow(0)).is_some());
    assert!(matches!(&requests(&acts)[..], [(r, _)] if r.method == Method::Bye));
    assert!(cdrs(&acts).is_empty());
}

#[test]
fn hangup_of_a_dialled_call_that_is_up_byes_both_and_shutdown_ends_one_in_set_up() {
    let mut h = dial_harness(1, 1, CallConfig::default());
    let (_, targets) = dial_answered_by_extension(&mut h);
    let ok = answer(&targets[0].0, StatusCode::OK, "b0", Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&targets[0].0), ClientEvent::Final(ok));
    drain(&mut h.calls);
    assert!(h.calls.hangup(h.t0, DIAL_ID, None));
    let acts = drain(&mut h.calls);
    let byes: Vec<Flow> = requests(&acts)
        .into_iter()
        .filter(|(r, _)| r.method == Method::Bye)
        .map(|(_, f)| f)
        .collect();
    assert_eq!(byes, [ext_flow(0), b_flow(0)]);
    assert_eq!(cdrs(&acts)[0].cause.code, 200);

    let mut h = dial_harness(1, 1, CallConfig::default());
    dial_answered_by_extension(&mut h);
    h.calls.shutdown(h.t0);
    let acts = drain(&mut h.calls);
    assert!(ack_to(&acts, &ext_flow(0)).is_some());
    assert_eq!(cdrs(&acts)[0].cause.code, 503);
    assert!(live_state(&h).is_none());
}

#[test]
fn an_extension_answer_without_an_offer_ends_the_dial() {
    let mut h = dial_harness(1, 1, CallConfig::default());
    let phones = dial(&mut h);
    let ok = answer(&phones[0].0, StatusCode::OK, "x0", None);
    h.calls
        .handle_client_event(h.t0, &key(&phones[0].0), ClientEvent::Final(ok));
    let acts = drain(&mut h.calls);
    let ack = ack_to(&acts, &ext_flow(0)).expect("its 2xx is ACKed");
    assert!(ack.body.is_empty());
    let out = requests(&acts);
    assert!(matches!(&out[..], [(r, f)] if r.method == Method::Bye && *f == ext_flow(0)));
    assert_eq!(cdrs(&acts)[0].cause.code, 488);
    assert!(h.media.open_sessions().is_empty());
}

#[test]
fn a_target_that_left_ends_the_dial_after_the_extension_answers() {
    let mut h = dial_harness(1, 0, CallConfig::default());
    let phones = dial(&mut h);
    let ok = answer(&phones[0].0, StatusCode::OK, "x0", Some(OFFER));
    h.calls
        .handle_client_event(h.t0, &key(&phones[0].0), ClientEvent::Final(ok));
    let acts = drain(&mut h.calls);
    let ack = ack_to(&acts, &ext_flow(0)).expect("ACK");
    // No media session was opened: every stream is refused.
    let body = String::from_utf8_lossy(&ack.body).into_owned();
    assert!(body.contains("m=audio 0 "), "{body}");
    assert_eq!(cdrs(&acts)[0].cause.code, 480);
}

// ---- hold and unhold by the PBX ----------------------------------------------------------

/// The one live call's id.
fn the_call(h: &Harness) -> String {
    let live = h.calls.live();
    let live = live.read().expect("lock");
    assert_eq!(live.len(), 1);
    live.keys().next().cloned().expect("a call")
}

fn state_of(h: &Harness) -> &'static str {
    let live = h.calls.live();
    let live = live.read().expect("lock");
    live.values().next().map_or("gone", |c| c.state)
}

/// The `o=` version of a description.
fn o_version(sdp: &str) -> u64 {
    let o = sdp
        .lines()
        .find(|l| l.starts_with("o="))
        .expect("an o= line");
    o.split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .expect("a version")
}

/// The `m=audio` port of a description.
fn m_port(sdp: &str) -> String {
    let m = sdp
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .expect("an m= line");
    m.split_whitespace().nth(1).expect("a port").to_owned()
}

/// A phone's answer to one of our in-dialog requests (its To tag is there already).
fn reply(req: &Request, status: StatusCode, body: Option<&str>) -> Response {
    let mut r = Response::to_request(req, status);
    if let Some(b) = body {
        r.head
            .headers
            .push(sip::HeaderName::ContentType, "application/sdp");
        r.body = bytes::Bytes::from(b.to_owned());
    }
    r
}

/// An up call from alice to bob; returns it with what each leg last got from the PBX: the
/// caller's 200 and the callee's INVITE.
fn up_call() -> (Harness, Response, Request) {
    let (mut h, forks) = answered(1);
    let ok = h
        .calls
        .calls
        .values()
        .find_map(|c| c.retransmit[Side::A.index()].as_ref())
        .map(|r| r.response.clone())
        .expect("our 2xx to the caller");
    confirm(&mut h);
    assert_eq!(state_of(&h), "up");
    (h, ok, forks[0].clone())
}

/// Our re-INVITEs of a hold change: (to the caller, to the callee).
fn hold_invites(acts: &[Action]) -> (Request, Request) {
    let out = requests(acts);
    assert_eq!(out.len(), 2, "one re-INVITE per leg: {out:?}");
    assert!(out.iter().all(|(r, _)| r.method == Method::Invite));
    let to_a = out
        .iter()
        .find(|(_, f)| *f == a_flow())
        .expect("to the caller");
    let to_b = out
        .iter()
        .find(|(_, f)| *f == b_flow(0))
        .expect("to the callee");
    (to_a.0.clone(), to_b.0.clone())
}

/// The callee's answer to a held offer.
const HELD_ANSWER: &str = "v=0\r\no=b 2 3 IN IP4 127.0.0.20\r\ns=-\r\nc=IN IP4 127.0.0.20\r\n\
t=0 0\r\nm=audio 5000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=inactive\r\n";
/// The caller's.
const HELD_ANSWER_A: &str = "v=0\r\no=a 1 2 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\n\
t=0 0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=inactive\r\n";

/// Both legs accept our re-INVITEs with `a_body` and `b_body`; returns the ACKs sent.
fn accept_both(
    h: &mut Harness,
    (to_a, to_b): &(Request, Request),
    bodies: (&str, &str),
) -> Vec<Message> {
    let ok_a = reply(to_a, StatusCode::OK, Some(bodies.0));
    h.calls
        .handle_client_event(h.t0, &key(to_a), ClientEvent::Final(ok_a));
    let ok_b = reply(to_b, StatusCode::OK, Some(bodies.1));
    h.calls
        .handle_client_event(h.t0, &key(to_b), ClientEvent::Final(ok_b));
    sent(&drain(&mut h.calls))
}

#[test]
fn hold_reoffers_each_leg_its_own_sdp_inactive_and_unhold_sendrecv() {
    let (mut h, ok_a, invite_b) = up_call();
    let id = the_call(&h);
    let (before_a, before_b) = (
        body_of(&ok_a),
        String::from_utf8_lossy(&invite_b.body).into_owned(),
    );

    assert_eq!(h.calls.hold(h.t0, &id), Ok(()));
    let invites = hold_invites(&drain(&mut h.calls));
    let (to_a, to_b) = &invites;
    // Each leg gets its own description again: the same relay address and port, its own
    // o= line one version up, the stream inactive.
    for (req, before) in [(to_a, &before_a), (to_b, &before_b)] {
        let offer = String::from_utf8_lossy(&req.body).into_owned();
        assert!(offer.contains("a=inactive\r\n"), "{offer}");
        assert!(!offer.contains("sendrecv"), "{offer}");
        assert!(offer.contains("c=IN IP4 127.0.0.1\r\n"), "{offer}");
        assert_eq!(
            m_port(&offer),
            m_port(before),
            "media stays on the same relay port"
        );
        assert_eq!(o_version(&offer), o_version(before) + 1);
        let session = |s: &str| {
            s.lines()
                .find(|l| l.starts_with("o="))
                .map(|o| o.split_whitespace().nth(1).map(str::to_owned))
        };
        assert_eq!(session(&offer), session(before), "the leg's own o= session");
        assert_eq!(
            req.head.get(&sip::HeaderName::ContentType),
            Some("application/sdp")
        );
    }
    // In the legs' dialogs: toward the caller as the UAS of its INVITE, toward the callee
    // with the next CSeq of ours.
    assert_eq!(to_a.head.call_id, "a-call");
    assert_eq!(to_a.head.to.tag(), Some("at"));
    assert_eq!(to_a.uri.to_string(), "sip:alice@127.0.0.10:5070");
    assert_eq!(to_b.head.call_id, invite_b.head.call_id);
    assert_eq!(to_b.head.to.tag(), Some("bt"));
    assert_eq!(to_b.head.cseq.seq, invite_b.head.cseq.seq + 1);
    assert_eq!(state_of(&h), "up", "held only once the legs accept");

    let acks = accept_both(&mut h, &invites, (HELD_ANSWER_A, HELD_ANSWER));
    assert_eq!(acks.len(), 2, "each 200 is ACKed");
    for (ack, req) in acks.iter().zip([to_a, to_b]) {
        let Message::Request(ack) = ack else {
            panic!("not a request")
        };
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.head.cseq.seq, req.head.cseq.seq);
        assert_eq!(ack.head.call_id, req.head.call_id);
    }
    assert_eq!(state_of(&h), "held");
    // A retransmitted 200 is ACKed again.
    let again = reply(to_b, StatusCode::OK, Some(HELD_ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(to_b), ClientEvent::AdditionalSuccess(again));
    assert_eq!(sent(&drain(&mut h.calls)).len(), 1);

    assert_eq!(h.calls.unhold(h.t0, &id), Ok(()));
    let resumed = hold_invites(&drain(&mut h.calls));
    for (req, held) in [(&resumed.0, to_a), (&resumed.1, to_b)] {
        let offer = String::from_utf8_lossy(&req.body).into_owned();
        assert!(offer.contains("a=sendrecv\r\n"), "{offer}");
        assert!(!offer.contains("inactive"), "{offer}");
        assert_eq!(
            o_version(&offer),
            o_version(&String::from_utf8_lossy(&held.body)) + 1
        );
        assert_eq!(req.head.cseq.seq, held.head.cseq.seq + 1);
    }
    assert_eq!(
        state_of(&h),
        "held",
        "held until the legs accept the resume"
    );
    accept_both(&mut h, &resumed, (OFFER, ANSWER));
    assert_eq!(state_of(&h), "up");
    assert_eq!(
        h.media.open_sessions().len(),
        1,
        "the same relay session all along"
    );

    // Hang-up still works: BYE both, one CDR.
    assert!(h.calls.hangup(h.t0 + Duration::from_secs(5), &id, None));
    let acts = drain(&mut h.calls);
    assert_eq!(requests(&acts).len(), 2);
    assert_eq!(cdrs(&acts).len(), 1);
}

#[test]
fn hold_is_refused_before_the_call_is_up_twice_or_while_pending() {
    let mut h = harness(1, CallConfig::default());
    h.calls
        .handle_invite(h.t0, caller(), inbound(invite("bob", Some(OFFER), "")));
    drain(&mut h.calls);
    let id = the_call(&h);
    assert_eq!(h.calls.hold(h.t0, &id), Err(HoldError::NotUp), "ringing");
    assert_eq!(
        h.calls.hold(h.t0, "no-such-call"),
        Err(HoldError::NoSuchCall)
    );

    let (mut h, _) = answered(1);
    let id = the_call(&h);
    assert_eq!(
        h.calls.hold(h.t0, &id),
        Err(HoldError::NotUp),
        "not ACKed yet"
    );
    confirm(&mut h);
    assert_eq!(h.calls.unhold(h.t0, &id), Err(HoldError::NotHeld));
    assert_eq!(h.calls.hold(h.t0, &id), Ok(()));
    let invites = hold_invites(&drain(&mut h.calls));
    assert_eq!(h.calls.hold(h.t0, &id), Err(HoldError::Pending));
    assert_eq!(h.calls.unhold(h.t0, &id), Err(HoldError::Pending));
    assert!(
        requests(&drain(&mut h.calls)).is_empty(),
        "nothing sent on a refusal"
    );
    accept_both(&mut h, &invites, (HELD_ANSWER_A, HELD_ANSWER));
    assert_eq!(h.calls.hold(h.t0, &id), Err(HoldError::AlreadyHeld));
}

/// A re-INVITE from the caller in its dialog, CSeq `seq`.
fn caller_reinvite(seq: u32, body: &str) -> Request {
    let mut req = invite("bob", Some(body), "");
    req.head.to.params.set("tag", Some("x".into()));
    req.head.cseq.seq = seq;
    if let Some(via) = req.head.via.first_mut() {
        via.params.set("branch", Some(format!("z9hG4bKre{seq}")));
    }
    req
}

/// `req` with the To tag the PBX gave the caller.
fn in_caller_dialog(h: &Harness, mut req: Request) -> Request {
    let tag = h.calls.calls.values().next().map(|c| c.a.tag.clone());
    req.head.to.params.set("tag", tag);
    req
}

#[test]
fn glare_both_ways_gets_491_or_a_refusal() {
    let (mut h, _, _) = up_call();
    let id = the_call(&h);

    // Our hold is pending: the caller's re-INVITE gets 491.
    assert_eq!(h.calls.hold(h.t0, &id), Ok(()));
    let invites = hold_invites(&drain(&mut h.calls));
    let re = in_caller_dialog(&h, caller_reinvite(3, OFFER));
    h.calls.handle_request(h.t0, inbound(re), None);
    let acts = drain(&mut h.calls);
    assert_eq!(statuses(&acts), [491]);
    assert!(requests(&acts).is_empty(), "nothing relayed");
    accept_both(&mut h, &invites, (HELD_ANSWER_A, HELD_ANSWER));

    // The caller's re-INVITE is being relayed: our resume is refused.
    let re = in_caller_dialog(&h, caller_reinvite(4, OFFER));
    h.calls.handle_request(h.t0, inbound(re), None);
    let relayed = requests(&drain(&mut h.calls));
    assert_eq!(relayed.len(), 1);
    assert_eq!(h.calls.unhold(h.t0, &id), Err(HoldError::Pending));
    assert!(requests(&drain(&mut h.calls)).is_empty());
}

#[test]
fn a_leg_refusing_the_hold_stays_as_it_was() {
    let (mut h, _, _) = up_call();
    let id = the_call(&h);
    assert_eq!(h.calls.hold(h.t0, &id), Ok(()));
    let (to_a, to_b) = hold_invites(&drain(&mut h.calls));
    let refused = reply(&to_a, StatusCode::NOT_ACCEPTABLE_HERE, None);
    h.calls
        .handle_client_event(h.t0, &key(&to_a), ClientEvent::Final(refused));
    let ok_b = reply(&to_b, StatusCode::OK, Some(HELD_ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&to_b), ClientEvent::Final(ok_b));
    let acts = drain(&mut h.calls);
    assert_eq!(
        sent(&acts).len(),
        1,
        "only the 200 is ACKed (the transaction ACKs a 488)"
    );
    assert!(cdrs(&acts).is_empty(), "the call goes on");
    assert_eq!(state_of(&h), "held", "the callee is held");

    // The caller was not held: hold again goes to it alone, resume to the callee alone.
    assert_eq!(h.calls.unhold(h.t0, &id), Ok(()));
    let out = requests(&drain(&mut h.calls));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, b_flow(0));
    let ok = reply(&out[0].0, StatusCode::OK, Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&out[0].0), ClientEvent::Final(ok));
    drain(&mut h.calls);
    assert_eq!(state_of(&h), "up");
    assert_eq!(h.calls.hold(h.t0, &id), Ok(()));
    assert_eq!(requests(&drain(&mut h.calls)).len(), 2);
}

#[test]
fn a_leg_not_answering_the_hold_ends_the_call() {
    let (mut h, _, _) = up_call();
    let id = the_call(&h);
    assert_eq!(h.calls.hold(h.t0, &id), Ok(()));
    let (to_a, to_b) = hold_invites(&drain(&mut h.calls));
    let ok_b = reply(&to_b, StatusCode::OK, Some(HELD_ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&to_b), ClientEvent::Final(ok_b));
    drain(&mut h.calls);
    let later = h.t0 + Duration::from_secs(32);
    h.calls
        .handle_client_event(later, &key(&to_a), ClientEvent::Timeout);
    let acts = drain(&mut h.calls);
    let byes = requests(&acts);
    assert_eq!(byes.len(), 2, "BYE both");
    assert!(byes.iter().all(|(r, _)| r.method == Method::Bye));
    let cdr = cdrs(&acts);
    assert_eq!(cdr.len(), 1);
    assert_eq!(
        (cdr[0].cause.code, cdr[0].hangup_by.as_str()),
        (408, "system")
    );
    assert!(h.media.open_sessions().is_empty());
}

#[test]
fn a_held_call_stays_inactive_through_a_refresh_and_still_times_out() {
    let (mut h, _, _) = up_call();
    let id = the_call(&h);
    assert_eq!(h.calls.hold(h.t0, &id), Ok(()));
    let invites = hold_invites(&drain(&mut h.calls));
    accept_both(&mut h, &invites, (HELD_ANSWER_A, HELD_ANSWER));

    // The caller refreshes the session with its usual sendrecv offer: the callee still gets
    // an inactive stream, and so does the caller's answer.
    let re = in_caller_dialog(&h, caller_reinvite(3, OFFER));
    h.calls.handle_request(h.t0, inbound(re), None);
    let relayed = requests(&drain(&mut h.calls));
    assert_eq!(relayed.len(), 1);
    let offer_b = String::from_utf8_lossy(&relayed[0].0.body).into_owned();
    assert!(offer_b.contains("a=inactive\r\n"), "{offer_b}");
    let ok = reply(&relayed[0].0, StatusCode::OK, Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&relayed[0].0), ClientEvent::Final(ok));
    let resp = responses(&drain(&mut h.calls));
    assert_eq!(resp[0].status, StatusCode::OK);
    let answer_a = body_of(&resp[0]);
    assert!(answer_a.contains("a=inactive\r\n"), "{answer_a}");
    assert_eq!(state_of(&h), "held");

    // A held call whose media (RTCP included) stopped is ended at the hold timeout, not at
    // the media timeout: many phones send nothing on a held stream.
    let session = h.media.open_sessions()[0];
    let mut stats = media::SessionStats::default();
    stats.legs[0].last_rtp = Some(h.t0 + Duration::from_secs(1));
    h.media.set_stats(session, stats);
    h.calls.check_media(h.t0 + Duration::from_secs(61));
    assert!(
        cdrs(&drain(&mut h.calls)).is_empty(),
        "held: 60 s is not enough"
    );
    h.calls.check_media(h.t0 + Duration::from_secs(601));
    let acts = drain(&mut h.calls);
    assert_eq!(requests(&acts).len(), 2, "BYE to both legs");
    assert_eq!(cdrs(&acts)[0].cause.reason, "Media Timeout");
}

#[test]
fn a_held_call_without_session_refresh_is_torn_down() {
    let mut h = harness(1, CallConfig::default());
    h.calls.handle_invite(
        h.t0,
        caller(),
        inbound(invite(
            "bob",
            Some(OFFER),
            "Supported: timer\r\nSession-Expires: 90\r\n",
        )),
    );
    let forks = requests(&drain(&mut h.calls));
    let ok = answer(&forks[0].0, StatusCode::OK, "b0", Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&forks[0].0), ClientEvent::Final(ok));
    let resp = responses(&drain(&mut h.calls));
    h.calls.handle_ack(h.t0, &caller_ack(&resp[0], None));
    drain(&mut h.calls);
    let id = the_call(&h);
    assert_eq!(h.calls.hold(h.t0, &id), Ok(()));
    let invites = hold_invites(&drain(&mut h.calls));
    accept_both(&mut h, &invites, (HELD_ANSWER_A, HELD_ANSWER));
    assert_eq!(state_of(&h), "held");
    h.calls.handle_timeout(h.t0 + Duration::from_secs(60));
    let acts = drain(&mut h.calls);
    assert_eq!(requests(&acts).len(), 2, "BYE to both legs");
    assert_eq!(cdrs(&acts)[0].cause.reason, "Session Expired");
}

#[test]
fn a_dialled_call_is_held_on_both_legs_too() {
    let mut h = dial_harness(1, 1, CallConfig::default());
    let (phones, targets) = dial_answered_by_extension(&mut h);
    let ok = answer(&targets[0].0, StatusCode::OK, "b0", Some(ANSWER));
    h.calls
        .handle_client_event(h.t0, &key(&targets[0].0), ClientEvent::Final(ok));
    let acts = drain(&mut h.calls);
    let answer_a = ack_to(&acts, &ext_flow(0)).expect("the extension's ACK with the answer");
    assert_eq!(h.calls.hold(h.t0, DIAL_ID), Ok(()));
    let out = requests(&drain(&mut h.calls));
    assert_eq!(out.len(), 2);
    let to_ext = out
        .iter()
        .find(|(_, f)| *f == ext_flow(0))
        .expect("to the extension");
    // In our own dialog with the extension: the CSeq after our INVITE's, the answer it got
    // in our ACK one version up and inactive.
    assert_eq!(to_ext.0.head.cseq.seq, phones[0].0.head.cseq.seq + 1);
    let offer = String::from_utf8_lossy(&to_ext.0.body).into_owned();
    let before = String::from_utf8_lossy(&answer_a.body).into_owned();
    assert!(offer.contains("a=inactive\r\n"), "{offer}");
    assert_eq!(o_version(&offer), o_version(&before) + 1);
    assert_eq!(m_port(&offer), m_port(&before));
}

/// The caller's re-INVITE `seq` offering `offer`, relayed to the callee, answered there
/// with `answer`, the 200 relayed back and ACKed: the offer the callee got.
fn caller_reinvite_round(h: &mut Harness, seq: u32, offer: &str, answer: &str) -> String {
    let re = in_caller_dialog(h, caller_reinvite(seq, offer));
    h.calls.handle_request(h.t0, inbound(re), None);
    let relayed = requests(&drain(&mut h.calls));
    assert_eq!(relayed.len(), 1);
    let ok = reply(&relayed[0].0, StatusCode::OK, Some(answer));
    h.calls
        .handle_client_event(h.t0, &key(&relayed[0].0), ClientEvent::Final(ok));
    let resp = responses(&drain(&mut h.calls));
    assert_eq!(resp[0].status, StatusCode::OK);
    h.calls.handle_ack(h.t0, &caller_ack(&resp[0], None));
    drain(&mut h.calls);
    String::from_utf8_lossy(&relayed[0].0.body).into_owned()
}

#[test]
fn a_phone_holding_the_call_gets_the_hold_media_timeout() {
    let (mut h, _, _) = up_call();
    // The caller holds: its re-INVITE offers a=sendonly; the callee answers a=recvonly.
    let sendonly = OFFER.to_owned() + "a=sendonly\r\n";
    let recvonly = ANSWER.to_owned() + "a=recvonly\r\n";
    let offer_b = caller_reinvite_round(&mut h, 3, &sendonly, &recvonly);
    assert!(offer_b.contains("a=sendonly\r\n"), "{offer_b}");

    // Nothing flows, not even RTCP: a minute is not enough to end a held call...
    h.calls.check_media(h.t0 + Duration::from_secs(120));
    assert!(cdrs(&drain(&mut h.calls)).is_empty(), "held");

    // ...and once the caller resumes, the usual media timeout applies again.
    caller_reinvite_round(&mut h, 4, OFFER, ANSWER);
    h.calls.check_media(h.t0 + Duration::from_secs(121));
    let acts = drain(&mut h.calls);
    assert_eq!(cdrs(&acts)[0].cause.reason, "Media Timeout");
}
