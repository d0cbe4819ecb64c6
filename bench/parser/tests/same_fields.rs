//! Both parsers must yield the same fields for every message of the set: each Via's branch
//! (in order), the From and To tags, the CSeq number and method, the Call-ID and each
//! Contact URI. The messages rsip is known not to parse are listed, with the header it fails
//! on, in `RSIP_KNOWN_FAILURES`; this test fails if that list is stale in either direction.

use sip_parser_bench::{
    Check, Fields, RSIP_KNOWN_FAILURES, check, load_messages, ours_fields, ours_parse_extract,
    rsip_parse_extract,
};

#[test]
fn both_parsers_agree_on_every_message() {
    let all = load_messages();
    assert!(
        all.len() >= 8,
        "message set is missing files: {}",
        all.len()
    );
    let mut problems = Vec::new();
    for s in &all {
        let known = RSIP_KNOWN_FAILURES.iter().find(|(n, _)| *n == s.name);
        match (check(&s.bytes), known) {
            (Check::Same(f), None) => {
                assert!(!f.via_branches.is_empty(), "{}: no Via", s.name);
                // Both timed functions must do the work (a parse failure returns 0).
                assert!(ours_parse_extract(&s.bytes) > 0, "{}", s.name);
                assert!(rsip_parse_extract(&s.bytes) > 0, "{}", s.name);
            }
            (
                Check::Failed {
                    ours: None,
                    rsip: Some(e),
                },
                Some((_, header)),
            ) if e.contains(&format!("rsip: {header}:")) => {}
            (c, known) => {
                problems.push(format!("{}: {c:?} (known rsip failure: {known:?})", s.name))
            }
        }
    }
    for (name, _) in RSIP_KNOWN_FAILURES {
        if !all.iter().any(|s| s.name == *name) {
            problems.push(format!(
                "{name}: listed as a known rsip failure but not in the set"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The compared fields are checked against values written by hand, so that the two parsers
/// cannot agree on something wrong.
#[test]
fn fields_match_the_messages() {
    let get = |name: &str| {
        let s = load_messages()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        ours_fields(&s.bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        get("01_invite_sdp"),
        Fields {
            via_branches: vec![
                some("z9hG4bK7d2c.a3f1b08e2c6d41a9e0b7f51a.0"),
                some("z9hG4bK4b43c2ff8.1"),
                some("z9hG4bKc1f5a9e07b3d4c28"),
            ],
            from_tag: some("a73kszlfl"),
            to_tag: None,
            cseq_seq: 24013,
            cseq_method: "INVITE".into(),
            call_id: "0f1e9c2d8b7a4e63".into(),
            contacts: vec!["sip:alice-0x55e1c3a2f0b0@192.0.2.20:43512;transport=udp".into()],
        }
    );
    assert_eq!(
        get("03_register_auth"),
        Fields {
            via_branches: vec![some("z9hG4bK.Fq7vX0cKm")],
            from_tag: some("Wd1p~mXh2"),
            to_tag: None,
            cseq_seq: 21,
            cseq_method: "REGISTER".into(),
            call_id: "9hJ3kRt~uV".into(),
            contacts: vec!["sip:carol@192.0.2.30:5062;transport=udp".into()],
        }
    );
    assert_eq!(
        get("04_unauthorized_401"),
        Fields {
            via_branches: vec![some("z9hG4bK.5pN0sQwLr")],
            from_tag: some("Wd1p~mXh2"),
            to_tag: some("as5f2a9c1e"),
            cseq_seq: 20,
            cseq_method: "REGISTER".into(),
            call_id: "9hJ3kRt~uV".into(),
            contacts: vec![],
        }
    );
    assert_eq!(get("08_notify_mwi").call_id, "7b6a5c4d3e2f1a0b@192.0.2.30");
}
