//! The RFC 4475 torture messages, bit-exact from the RFC's archive (testdata/rfc4475): every
//! valid one parses and re-serializes to an equal message; every invalid one is refused with
//! the response the RFC names, or dropped where it says so.
//!
//! Application-layer outcomes (416, 420, 483...) are the PBX's to give; the parser's part is
//! to accept those messages, and `crates/pbx/tests/rfc4475_application.rs` checks the answers.

use std::path::PathBuf;

use sip::{Message, reject};

struct Case {
    file: String,
    kind: String,
    outcome: String,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rfc4475")
}

fn cases() -> Vec<Case> {
    let table = std::fs::read_to_string(dir().join("expected.tsv")).expect("expected.tsv");
    table
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Case {
                file: cols[0].into(),
                kind: cols[2].into(),
                outcome: cols[3].into(),
            }
        })
        .collect()
}

fn bytes(file: &str) -> Vec<u8> {
    std::fs::read(dir().join(file)).expect("torture file")
}

/// The RFC allows a second answer for a few messages.
fn acceptable(outcome: &str) -> &'static [u16] {
    match outcome {
        "400" => &[400],
        "505" => &[505],
        "501" => &[501, 400],
        "413" => &[413],
        "513" => &[513],
        _ => &[],
    }
}

#[test]
fn all_fifty_messages_are_in_the_table() {
    let cases = cases();
    assert_eq!(cases.len(), 50);
    for c in &cases {
        assert!(dir().join(&c.file).exists(), "{}", c.file);
    }
}

#[test]
fn valid_messages_parse_and_round_trip() {
    let mut checked = 0;
    for c in cases().iter().filter(|c| c.kind == "valid") {
        let raw = bytes(&c.file);
        let msg = match Message::parse(&raw) {
            Ok(m) => m,
            // insuf lacks From/To/Call-ID: its answer is a 400 (checked below).
            Err(e) if c.outcome == "400" => {
                assert_eq!(e.status().map(|s| s.code()), Some(400), "{}", c.file);
                continue;
            }
            Err(e) => panic!("{} must parse: {e}", c.file),
        };
        let again = Message::parse(&msg.to_bytes())
            .unwrap_or_else(|e| panic!("{} re-serialized does not parse: {e}", c.file));
        assert_eq!(msg, again, "{} round trip", c.file);
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} valid messages checked");
}

#[test]
fn invalid_messages_get_the_named_answer_or_are_dropped() {
    for c in cases().iter().filter(|c| c.kind == "invalid") {
        let raw = bytes(&c.file);
        let err = match Message::parse(&raw) {
            Err(e) => e,
            Ok(m) => panic!("{} must be refused, parsed as {:?}", c.file, m.head().cseq),
        };
        let answer = reject(&raw, &err, "torture");
        if c.outcome == "drop" {
            assert_eq!(answer, None, "{}: {err} must be dropped", c.file);
            continue;
        }
        let answer = answer.unwrap_or_else(|| panic!("{}: {err} must be answered", c.file));
        let code: u16 = String::from_utf8_lossy(&answer[8..11])
            .parse()
            .expect("status code");
        assert!(
            acceptable(&c.outcome).contains(&code),
            "{}: answered {code}, table says {}",
            c.file,
            c.outcome
        );
        // The Via lines are echoed as written (they may be the malformed part), and the
        // answer is framed: CRLF line ends, an empty line, no body.
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.contains("\r\nVia: ") || text.contains("\r\nv: "),
            "{}: {text}",
            c.file
        );
        assert!(
            text.ends_with("Content-Length: 0\r\n\r\n"),
            "{}: {text}",
            c.file
        );
    }
}

#[test]
fn details_the_rfc_calls_out() {
    let req = |f: &str| match Message::parse(&bytes(f)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{f}: {other:?}"),
    };
    // 3.1.1.5: RE%47IST%45R is an extension method, not REGISTER.
    let esc02 = req("esc02.dat");
    assert_eq!(esc02.method.as_str(), "RE%47IST%45R");
    // 3.1.1.7: 34 Via values spelled several ways.
    assert_eq!(req("longreq.dat").head.via.len(), 34);
    // 3.1.1.8: the bytes after Content-Length 0 are not part of the message.
    assert!(req("dblreq.dat").body.is_empty());
    // 3.1.1.9: the user part holds semicolons.
    let semi = req("semiuri.dat");
    let user = semi.uri.sip().and_then(|u| u.user.clone()).expect("user");
    assert_eq!(sip::unescape(&user), "user;par=u@example.net");
    // 3.1.1.11: the binary body arrives whole.
    let mpart = req("mpart01.dat");
    assert!(mpart.body.contains(&0));
    // 3.1.1.13: an empty reason phrase.
    match Message::parse(&bytes("noreason.dat")) {
        Ok(Message::Response(r)) => assert!(r.reason.is_empty()),
        other => panic!("noreason: {other:?}"),
    }
    // 3.4.1: RFC 2543 syntax, no branch: the body is the rest of the datagram.
    let old = req("inv2543.dat");
    assert!(old.head.via[0].branch().is_none());
    assert!(!old.body.is_empty());
}
