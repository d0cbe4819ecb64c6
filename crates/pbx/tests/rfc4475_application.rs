//! The RFC 4475 torture messages whose expected outcome is an application-layer answer
//! (section 3.3 and friends): fed to the PBX's own answers, they get the response the RFC
//! names, for every method this build serves.
//!
//! REGISTER goes to the registrar, which authenticates: it challenges (401) where the RFC's
//! 200 presumes a registrar without authentication (3.3.12-3.3.14), answers 401 to the unknown
//! scheme of 3.3.7 as the RFC says, and 400 to the non-SIP To of 3.3.4. INVITE is not served
//! by this build yet: it gets 405 with an Allow header; the calls issue moves those rows to
//! the RFC's answers (415, 406).

use std::path::PathBuf;

use rand::{SeedableRng, rngs::StdRng};
use sip::{Host, Message, Method};

use pbx::{Answers, Flow, Identity, Registrar, RegistrarConfig, State};

fn answers() -> Answers {
    // example.com and friends are foreign domains: the PBX is 127.0.0.1.
    let identity = Identity {
        hosts: vec![Host::parse("127.0.0.1").expect("ip")],
        server: "t".into(),
        allow: vec![Method::Options, Method::Register],
    };
    Answers::new(identity, StdRng::seed_from_u64(1))
}

fn registrar() -> Registrar {
    let state = std::sync::Arc::new(State::default());
    Registrar::new(RegistrarConfig::default(), state, StdRng::seed_from_u64(2))
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
        let got = if req.method == Method::Register {
            let flow = Flow {
                transport: sip::Transport::Udp,
                remote: "127.0.0.1:5060".parse().expect("addr"),
                conn: None,
            };
            Some(
                registrar()
                    .handle_register(1_800_000_000, &req, flow)
                    .response
                    .status
                    .code(),
            )
        } else {
            answers().handle_request(&req).map(|r| r.status.code())
        };
        let expected: u16 = match (file, &req.method) {
            // 3.2.1: an empty branch after the magic cookie; the RFC lets the element fall back
            // to RFC 2543 matching, which the transaction layer does. The request itself is a
            // ping for a foreign domain: refused, not relayed.
            ("badbranch.dat", _) => 403,
            ("cparam01.dat" | "cparam02.dat" | "regescrt.dat", _) => 401,
            (_, Method::Invite) => 405,
            _ => outcome.parse().expect("numeric outcome"),
        };
        assert_eq!(got, Some(expected), "{file} ({section})");
        checked += 1;
    }
    assert_eq!(checked, 12, "rows checked");
}
