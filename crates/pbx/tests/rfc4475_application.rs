//! The RFC 4475 torture messages whose expected outcome is an application-layer answer
//! (section 3.3 and friends): fed to the PBX's own answers, they get the response the RFC
//! names, for every method this build serves.
//!
//! REGISTER and INVITE are not served by this build yet: they get 405 with an Allow header,
//! which RFC 4475 section 3.3.7 names as the answer of an element that is not a registrar.
//! The registrar and call issues move those rows to the RFC's answers (401, 200, 415, 406).

use std::path::PathBuf;

use rand::{SeedableRng, rngs::StdRng};
use sip::{Host, Message, Method};

use pbx::{Answers, Identity};

fn answers() -> Answers {
    // example.com and friends are foreign domains: the PBX is 127.0.0.1.
    let identity = Identity {
        hosts: vec![Host::parse("127.0.0.1").expect("ip")],
        server: "t".into(),
    };
    Answers::new(identity, StdRng::seed_from_u64(1))
}

#[test]
fn application_outcomes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rfc4475");
    let table = std::fs::read_to_string(dir.join("expected.tsv")).expect("table");
    let mut checked = 0;
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, section, outcome) = (cols[0], cols[1], cols[3]);
        if !section.starts_with("3.3") && !section.starts_with("3.2") {
            continue;
        }
        let raw = std::fs::read(dir.join(file)).expect("file");
        let req = match Message::parse(&raw) {
            Ok(Message::Request(r)) => r,
            // Responses (bcast) are never answered; parse errors are the parser's test.
            Ok(Message::Response(_)) | Err(_) => continue,
        };
        let got = answers().handle_request(&req).map(|r| r.status.code());
        let expected: u16 = match (file, &req.method) {
            // 3.2.1: an empty branch after the magic cookie; the RFC lets the element fall back
            // to RFC 2543 matching, which the transaction layer does. The request itself is a
            // ping for a foreign domain: refused, not relayed.
            ("badbranch.dat", _) => 403,
            (_, Method::Register | Method::Invite) => 405,
            _ => outcome.parse().expect("numeric outcome"),
        };
        assert_eq!(got, Some(expected), "{file} ({section})");
        checked += 1;
    }
    assert_eq!(checked, 12, "rows checked");
}
