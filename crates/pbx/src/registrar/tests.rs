use rand::SeedableRng;
use sip::digest::{self, Algorithm, Credentials, Qop};
use sip::{Message, Transport};

use super::*;
use crate::directory::{Domain, Secret, User};

const NOW: u64 = 1_795_543_261;

fn secret(user: &str, domain: &str, password: &str) -> Secret {
    Secret {
        md5: digest::ha1(Algorithm::Md5, user, domain, password),
        sha256: digest::ha1(Algorithm::Sha256, user, domain, password),
    }
}

fn registrar(digest_list: Vec<DigestAlgorithm>) -> Registrar {
    let state = Arc::new(State::default());
    {
        let mut dir = state.directory.write().expect("lock");
        let mut d = Domain::new("pbx.test");
        d.digest = digest_list;
        let users = ["1000", "1001"]
            .iter()
            .map(|u| User {
                name: (*u).into(),
                secret: secret(u, "pbx.test", &format!("pw{u}")),
            })
            .collect();
        dir.put_domain(d, Some(users));
    }
    Registrar::new(RegistrarConfig::default(), state, StdRng::seed_from_u64(9))
}

fn flow() -> Flow {
    Flow {
        transport: Transport::Udp,
        remote: "127.0.0.99:5999".parse().expect("addr"),
        conn: None,
    }
}

fn register(user: &str, cseq: u32, extra: &str) -> Request {
    let raw = format!(
        "REGISTER sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.99:5999;branch=z9hG4bK-{cseq}\r\n\
         From: <sip:{user}@pbx.test>;tag=f\r\nTo: <sip:{user}@pbx.test>\r\nCall-ID: reg-{user}\r\n\
         CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@127.0.0.99:5999>\r\n\
         User-Agent: test-phone/1.0\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    match Message::parse(raw.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn challenges(resp: &Response) -> Vec<Challenge> {
    resp.head
        .headers
        .get_all(&HeaderName::WwwAuthenticate)
        .map(|v| Challenge::parse(v).expect("challenge"))
        .collect()
}

fn authorization(ch: &Challenge, user: &str, password: &str, nc: u32) -> String {
    let ha1 = digest::ha1(ch.algorithm, user, &ch.realm, password);
    let uri = "sip:pbx.test";
    let cnonce = "c0ffee";
    let response = digest::response(
        ch.algorithm,
        &ha1,
        &ch.nonce,
        nc,
        cnonce,
        Some(Qop::Auth),
        "REGISTER",
        uri,
    )
    .expect("response");
    let creds = Credentials {
        username: user.into(),
        realm: ch.realm.clone(),
        nonce: ch.nonce.clone(),
        uri: uri.into(),
        response,
        algorithm: ch.algorithm,
        cnonce: Some(cnonce.into()),
        opaque: None,
        qop: Some(Qop::Auth),
        nc: Some(nc),
    };
    format!("Authorization: {creds}\r\n")
}

/// REGISTER, get challenged, answer it; returns the final outcome. Like a phone, each
/// REGISTER of the same Call-ID has a higher CSeq.
fn register_with(r: &mut Registrar, user: &str, password: &str, extra: &str) -> Outcome {
    static CSEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(100);
    let cseq = CSEQ.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
    let first = r.handle_register(NOW, &register(user, cseq, extra), flow());
    assert_eq!(first.response.status.code(), 401);
    assert_eq!(first.auth, AuthResult::Challenged);
    let ch = &challenges(&first.response)[0];
    let auth = authorization(ch, user, password, 1);
    r.handle_register(
        NOW,
        &register(user, cseq + 1, &format!("{extra}{auth}")),
        flow(),
    )
}

#[test]
fn challenge_then_register() {
    let mut r = registrar(vec![DigestAlgorithm::Md5]);
    let ok = register_with(&mut r, "1000", "pw1000", "");
    assert_eq!(ok.response.status.code(), 200, "{:?}", ok.response);
    assert_eq!(ok.auth, AuthResult::Succeeded);
    assert_eq!(ok.response.head.contact.len(), 1);
    let c = ok.response.head.contact[0].addr().expect("addr");
    assert_eq!(c.params.value("expires"), Some("3600"));
    assert!(ok.response.head.get(&HeaderName::Date).is_some());
    assert_eq!(
        ok.events,
        vec![RegEvent::Registered {
            domain: "pbx.test".into(),
            user: "1000".into(),
            host: "127.0.0.99".into(),
            port: 5999,
            agent: "test-phone/1.0".into(),
        }]
    );
    let loc = r.state().location.read().expect("lock");
    let b = &loc.bindings("pbx.test", "1000")[0];
    assert_eq!(b.flow, flow());
    assert_eq!(b.expires_at, NOW + 3600);
}

#[test]
fn refresh_fires_no_event_and_unregister_fires_one() {
    let mut r = registrar(vec![DigestAlgorithm::Md5]);
    assert_eq!(register_with(&mut r, "1000", "pw1000", "").events.len(), 1);
    let again = register_with(&mut r, "1000", "pw1000", "");
    assert_eq!(again.response.status.code(), 200);
    assert!(
        again.events.is_empty(),
        "a refresh is not a new registration"
    );
    let gone = register_with(&mut r, "1000", "pw1000", "Expires: 0\r\n");
    assert_eq!(gone.response.status.code(), 200);
    assert!(gone.response.head.contact.is_empty());
    assert_eq!(
        gone.events,
        vec![RegEvent::Unregistered {
            domain: "pbx.test".into(),
            user: "1000".into()
        }]
    );
}

#[test]
fn unknown_user_and_wrong_password_get_the_same_answer() {
    let mut r = registrar(vec![DigestAlgorithm::Md5]);
    let wrong = register_with(&mut r, "1000", "nope", "");
    let unknown = register_with(&mut r, "9999", "nope", "");
    assert_eq!(wrong.auth, AuthResult::Failed);
    assert_eq!(unknown.auth, AuthResult::Failed);
    let shape = |o: &Outcome| {
        let mut resp = o.response.clone();
        resp.head.to.params.remove("tag");
        resp.head.to.uri = Uri::parse("sip:x@pbx.test").expect("uri");
        resp.head.from.uri = Uri::parse("sip:x@pbx.test").expect("uri");
        resp.head.call_id.clear();
        resp.head.via.clear();
        resp.head.cseq.seq = 0;
        resp.head.headers = Headers::new();
        let challenges: Vec<Challenge> = challenges(&o.response)
            .into_iter()
            .map(|mut c| {
                c.nonce.clear();
                c
            })
            .collect();
        (resp, challenges)
    };
    assert_eq!(shape(&wrong), shape(&unknown));
    assert_eq!(wrong.response.status.code(), 401);
}

#[test]
fn replayed_nc_gets_a_fresh_challenge_and_stale_nonce_gets_stale_true() {
    let mut r = registrar(vec![DigestAlgorithm::Md5]);
    let first = r.handle_register(NOW, &register("1000", 1, ""), flow());
    let ch = challenges(&first.response).remove(0);
    let auth = authorization(&ch, "1000", "pw1000", 1);
    let ok = r.handle_register(NOW, &register("1000", 2, &auth), flow());
    assert_eq!(ok.response.status.code(), 200);
    // The same nc again: a new challenge with a new nonce, counted as a failure.
    let replay = r.handle_register(NOW, &register("1000", 3, &auth), flow());
    assert_eq!(replay.response.status.code(), 401);
    assert_eq!(replay.auth, AuthResult::Failed);
    assert_ne!(challenges(&replay.response)[0].nonce, ch.nonce);
    // A higher nc on the same nonce is fine.
    let auth2 = authorization(&ch, "1000", "pw1000", 2);
    assert_eq!(
        r.handle_register(NOW, &register("1000", 4, &auth2), flow())
            .response
            .status
            .code(),
        200
    );
    // Long after: stale=true, not a failure.
    let auth3 = authorization(&ch, "1000", "pw1000", 3);
    let late = r.handle_register(NOW + 3600, &register("1000", 5, &auth3), flow());
    assert_eq!(late.response.status.code(), 401);
    assert!(challenges(&late.response)[0].stale);
    assert_eq!(late.auth, AuthResult::Challenged);
    // Stale with a wrong password is a plain failure.
    let bad = authorization(&ch, "1000", "wrong", 4);
    let late_bad = r.handle_register(NOW + 3600, &register("1000", 6, &bad), flow());
    assert!(!challenges(&late_bad.response)[0].stale);
    assert_eq!(late_bad.auth, AuthResult::Failed);
}

#[test]
fn sha256_domains_challenge_sha256_first() {
    let mut r = registrar(vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5]);
    let first = r.handle_register(NOW, &register("1000", 1, ""), flow());
    let algs: Vec<Algorithm> = challenges(&first.response)
        .iter()
        .map(|c| c.algorithm)
        .collect();
    assert_eq!(algs, vec![Algorithm::Sha256, Algorithm::Md5]);
    // Both challenges share one nonce, so each answer uses its own nc.
    for (i, ch) in challenges(&first.response).iter().enumerate() {
        let nc = i as u32 + 1;
        let auth = authorization(ch, "1000", "pw1000", nc);
        let ok = r.handle_register(NOW, &register("1000", 2 + nc, &auth), flow());
        assert_eq!(ok.response.status.code(), 200, "{}", ch.algorithm);
    }
    // A default domain does not accept SHA-256 answers: it challenges again with MD5.
    let mut md5_only = registrar(vec![DigestAlgorithm::Md5]);
    let mut ch = challenges(
        &md5_only
            .handle_register(NOW, &register("1000", 1, ""), flow())
            .response,
    )
    .remove(0);
    ch.algorithm = Algorithm::Sha256;
    let auth = authorization(&ch, "1000", "pw1000", 1);
    let again = md5_only.handle_register(NOW, &register("1000", 2, &auth), flow());
    assert_eq!(again.response.status.code(), 401);
    assert_eq!(challenges(&again.response)[0].algorithm, Algorithm::Md5);
}

#[test]
fn expiry_rules() {
    let mut r = registrar(vec![DigestAlgorithm::Md5]);
    let brief = register_with(&mut r, "1000", "pw1000", "Expires: 30\r\n");
    assert_eq!(brief.response.status.code(), 423);
    assert_eq!(brief.response.head.get(&HeaderName::MinExpires), Some("60"));
    let long = register_with(&mut r, "1000", "pw1000", "Expires: 999999\r\n");
    let c = long.response.head.contact[0].addr().expect("addr");
    assert_eq!(c.params.value("expires"), Some("7200"));
    assert!(r.expire(NOW + 7199).is_empty());
    assert_eq!(r.expire(NOW + 7200).len(), 1);
    assert!(r.state().location.read().expect("lock").is_empty());
}

#[test]
fn star_unregisters_everything_and_needs_expires_zero() {
    let mut r = registrar(vec![DigestAlgorithm::Md5]);
    register_with(&mut r, "1000", "pw1000", "");
    let star = |extra: &str| {
        let raw = String::from_utf8(register("1000", 9, extra).to_bytes())
            .expect("utf8")
            .replace("Contact: <sip:1000@127.0.0.99:5999>", "Contact: *");
        match Message::parse(raw.as_bytes()) {
            Ok(Message::Request(req)) => req,
            other => panic!("{other:?}"),
        }
    };
    let first = r.handle_register(NOW, &star(""), flow());
    let ch = challenges(&first.response).remove(0);
    let bad = r.handle_register(NOW, &star(&authorization(&ch, "1000", "pw1000", 1)), flow());
    assert_eq!(bad.response.status.code(), 400);
    let auth = authorization(&ch, "1000", "pw1000", 2);
    let ok = r.handle_register(NOW, &star(&format!("Expires: 0\r\n{auth}")), flow());
    assert_eq!(ok.response.status.code(), 200);
    assert_eq!(ok.events.len(), 1);
}

#[test]
fn contacts_are_bounded_and_tcp_bindings_end_with_their_connection() {
    let mut r = registrar(vec![DigestAlgorithm::Md5]);
    for i in 0..15 {
        let raw = String::from_utf8(register("1000", 1, "").to_bytes())
            .expect("utf8")
            .replace(
                "Contact: <sip:1000@127.0.0.99:5999>",
                &format!("Contact: <sip:1000@127.0.0.99:{}>", 6000 + i),
            )
            .replace("Call-ID: reg-1000", &format!("Call-ID: reg-{i}"));
        let Ok(Message::Request(req)) = Message::parse(raw.as_bytes()) else {
            panic!("parse")
        };
        let first = r.handle_register(NOW + i, &req, flow());
        let ch = challenges(&first.response).remove(0);
        let mut authed = req.clone();
        let auth = authorization(&ch, "1000", "pw1000", 1);
        authed.head.headers.push(
            HeaderName::Authorization,
            auth.trim_start_matches("Authorization: ").trim_end(),
        );
        let tcp = Flow {
            transport: Transport::Tcp,
            remote: flow().remote,
            conn: Some(7),
        };
        assert_eq!(
            r.handle_register(NOW + i, &authed, tcp)
                .response
                .status
                .code(),
            200
        );
    }
    let loc = r
        .state()
        .location
        .read()
        .expect("lock")
        .bindings("pbx.test", "1000")
        .to_vec();
    assert_eq!(loc.len(), 10);
    assert!(
        loc.iter().all(|b| !b.contact.ends_with(":6000")),
        "the oldest went first"
    );
    assert_eq!(r.connection_closed(8), vec![]);
    assert_eq!(r.connection_closed(7).len(), 1);
}

use sip::Headers;

#[test]
fn keepalives_count_and_drop_silent_contacts() {
    let mut r = registrar(vec![DigestAlgorithm::Md5]);
    register_with(&mut r, "1000", "pw1000", "");
    let interval = RegistrarConfig::default().keepalive_interval;
    // Over one interval each binding is pinged exactly once.
    let mut pings = Vec::new();
    for t in 1..=interval {
        let (p, events) = r.due_pings(NOW + t, "127.0.0.1:5060");
        assert!(events.is_empty());
        pings.extend(p);
    }
    assert_eq!(pings.len(), 1);
    let ping = &pings[0];
    assert_eq!(ping.request.method, sip::Method::Options);
    assert_eq!(ping.request.uri.to_string(), "sip:1000@127.0.0.99:5999");
    assert_eq!(ping.flow, flow());
    assert_eq!(
        r.state()
            .location
            .read()
            .expect("lock")
            .bindings("pbx.test", "1000")[0]
            .outstanding_pings,
        1
    );
    // An answer clears the count.
    r.ping_answered("pbx.test", "1000", &ping.contact);
    assert_eq!(
        r.state()
            .location
            .read()
            .expect("lock")
            .bindings("pbx.test", "1000")[0]
            .outstanding_pings,
        0
    );
    // Three unanswered rounds, then the fourth drops the binding.
    let mut events = Vec::new();
    for t in interval + 1..=5 * interval {
        events.extend(r.due_pings(NOW + t, "127.0.0.1:5060").1);
    }
    assert_eq!(
        events,
        vec![RegEvent::Unregistered {
            domain: "pbx.test".into(),
            user: "1000".into()
        }]
    );
    assert!(r.state().location.read().expect("lock").is_empty());
}

#[test]
fn an_ip_in_to_maps_to_the_default_domain() {
    let r = registrar(vec![DigestAlgorithm::Md5]).with_default_domain("pbx.test");
    let mut r = r;
    let raw = String::from_utf8(register("1000", 1, "").to_bytes())
        .expect("utf8")
        .replace("<sip:1000@pbx.test>", "<sip:1000@192.0.2.10:5060>");
    let Ok(Message::Request(req)) = Message::parse(raw.as_bytes()) else {
        panic!("parse")
    };
    let first = r.handle_register(NOW, &req, flow());
    assert_eq!(challenges(&first.response)[0].realm, "pbx.test");
    // Without a default domain the IP is the domain.
    let mut plain = registrar(vec![DigestAlgorithm::Md5]);
    let first = plain.handle_register(NOW, &req, flow());
    assert_eq!(challenges(&first.response)[0].realm, "192.0.2.10");
}

#[test]
fn a_retransmitted_register_gets_the_same_answer_not_a_replay_challenge() {
    let mut r = registrar(vec![DigestAlgorithm::Md5]);
    let first = r.handle_register(NOW, &register("1000", 1, ""), flow());
    let ch = challenges(&first.response).remove(0);
    let req = register("1000", 2, &authorization(&ch, "1000", "pw1000", 1));
    let ok = r.handle_register(NOW, &req, flow());
    assert_eq!(ok.response.status.code(), 200);
    assert_eq!(ok.events.len(), 1);
    // The very same request again (UDP loss of our 200): 200 again, same bindings, no event.
    let again = r.handle_register(NOW, &req, flow());
    assert_eq!(again.response.status.code(), 200);
    assert_eq!(again.auth, AuthResult::Succeeded);
    assert_eq!(again.response.head.contact, ok.response.head.contact);
    assert!(again.events.is_empty());
}

fn sock_flow(conn: u64) -> Flow {
    Flow {
        transport: Transport::Tcp,
        remote: "127.0.0.1:4711".parse().expect("addr"),
        conn: Some(conn),
    }
}

fn ext(user: &str) -> Caller {
    Caller {
        domain: "pbx.test".into(),
        user: user.into(),
    }
}

#[test]
fn a_sip_sock_binds_at_open_and_fires_the_registration_event() {
    let mut r = registrar(vec![]);
    let conn = VIRTUAL_CONNS + 1;
    let events = r.bind_trusted(
        NOW,
        &ext("1000"),
        "sip:1000@9p.invalid;uac=a",
        "9P a",
        sock_flow(conn),
    );
    assert!(matches!(&events[..], [RegEvent::Registered { user, .. }] if user == "1000"));
    let location = r.state().location.read().expect("lock");
    let bound = location.bindings("pbx.test", "1000");
    assert_eq!(bound.len(), 1);
    assert_eq!(&*bound[0].contact, "sip:1000@9p.invalid;uac=a");
    assert_eq!(&*bound[0].agent, "9P a");
}

#[test]
fn a_register_on_a_sip_sock_is_not_challenged_and_replaces_the_open_binding() {
    let mut r = registrar(vec![]);
    let conn = VIRTUAL_CONNS + 2;
    r.bind_trusted(
        NOW,
        &ext("1000"),
        "sip:1000@9p.invalid;uac=a",
        "9P a",
        sock_flow(conn),
    );
    let out =
        r.handle_register_trusted(NOW, &register("1000", 1, ""), sock_flow(conn), &ext("1000"));
    assert_eq!(out.response.status, StatusCode::OK);
    assert!(out.events.is_empty(), "still registered: {:?}", out.events);
    let location = r.state().location.read().expect("lock");
    let contacts: Vec<&str> = location
        .bindings("pbx.test", "1000")
        .iter()
        .map(|b| &*b.contact)
        .collect();
    assert_eq!(contacts, ["sip:1000@127.0.0.99:5999"]);
}

#[test]
fn a_sip_sock_cannot_register_or_call_as_another_user() {
    let mut r = registrar(vec![]);
    let conn = VIRTUAL_CONNS + 3;
    let out =
        r.handle_register_trusted(NOW, &register("1001", 1, ""), sock_flow(conn), &ext("1000"));
    assert_eq!(out.response.status, StatusCode::FORBIDDEN);
    assert!(
        r.state()
            .location
            .read()
            .expect("lock")
            .bindings("pbx.test", "1001")
            .is_empty()
    );

    let invite = |from: &str| {
        let raw = format!(
            "INVITE sip:1001@pbx.test SIP/2.0\r\nVia: SIP/2.0/TCP 9p.invalid;branch=z9hG4bK-i\r\n\
             From: <sip:{from}@pbx.test>;tag=f\r\nTo: <sip:1001@pbx.test>\r\nCall-ID: i\r\n\
             CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        match Message::parse(raw.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        r.trusted_caller(&invite("1000"), &ext("1000")).ok(),
        Some(ext("1000"))
    );
    let refused = r
        .trusted_caller(&invite("1001"), &ext("1000"))
        .expect_err("403");
    assert_eq!(refused.response.status, StatusCode::FORBIDDEN);
}

#[test]
fn sip_sock_bindings_neither_expire_nor_get_keepalives_and_end_with_the_connection() {
    let mut r = registrar(vec![]);
    let conn = VIRTUAL_CONNS + 4;
    r.bind_trusted(
        NOW,
        &ext("1000"),
        "sip:1000@9p.invalid;uac=a",
        "9P a",
        sock_flow(conn),
    );
    let later = NOW + 100_000;
    assert!(r.expire(later).is_empty());
    for t in later..later + 60 {
        let (pings, _) = r.due_pings(t, "pbx.test:5060");
        assert!(pings.is_empty(), "no keepalive to a sip.sock");
    }
    let events = r.connection_closed(conn);
    assert!(matches!(&events[..], [RegEvent::Unregistered { user, .. }] if user == "1000"));
}

#[test]
fn a_user_deleted_after_it_authenticated_gets_no_binding() {
    // A sip.sock's caller was authenticated when its 9P attach was made; the user is deleted
    // while the file is open. Its REGISTER then binds nothing (the same check guards a digest
    // REGISTER that authenticated just before a deletion).
    let mut r = registrar(vec![]);
    r.state()
        .directory
        .write()
        .expect("lock")
        .remove_user("pbx.test", "1000");
    let conn = VIRTUAL_CONNS + 5;
    let out =
        r.handle_register_trusted(NOW, &register("1000", 1, ""), sock_flow(conn), &ext("1000"));
    assert_eq!(out.response.status, StatusCode::NOT_FOUND);
    assert!(out.events.is_empty());
    assert!(r.state().location.read().expect("lock").is_empty());
}
