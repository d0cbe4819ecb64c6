//! Malformed input (STYLE.md section 2): every file of `testdata/ninep-malformed/` goes
//! through the fuzz target's checks; the hand-written `.hex` cases are refused by the decoder
//! and answered by a session with one Rerror carrying their tag.

#[path = "common/checks.rs"]
mod checks;

use std::path::PathBuf;

use ninep::msg::{Fcall, Header, Message};
use ninep::server::{Config, Session};

use checks::memtree::{MemConn, MemTree};

fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/ninep-malformed");
    let mut all: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("testdata/ninep-malformed")
        .map(|e| e.expect("entry").path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            let bytes = std::fs::read(&p).ok()?;
            if name.ends_with(".hex") {
                let text = String::from_utf8(bytes).expect("hex is text");
                let bytes = text
                    .lines()
                    .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
                    .map(|t| u8::from_str_radix(t, 16).expect("hex byte"))
                    .collect();
                Some((name, bytes))
            } else if name.ends_with(".bin") {
                Some((name, bytes))
            } else {
                None
            }
        })
        .collect();
    all.sort();
    all
}

#[test]
fn every_input_passes_the_fuzz_checks() {
    let all = inputs();
    assert!(all.len() >= 19, "only {} inputs", all.len());
    for (name, bytes) in &all {
        if let Err(e) = checks::run(bytes) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn hand_written_cases_are_refused_with_one_rerror() {
    for (name, bytes) in inputs().iter().filter(|(n, _)| n.ends_with(".hex")) {
        assert!(Message::decode(bytes).is_err(), "{name} decodes");
        let mut tree = MemTree::new(1);
        let mut s = Session::new(MemConn { trusted: true }, Config::default());
        s.handle(&mut tree, bytes);
        let out = s.output().to_vec();
        match Header::peek(bytes) {
            None => assert!(out.is_empty(), "{name}: answered without a header"),
            Some(h) => {
                let reply = Message::decode(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(reply.tag, h.tag, "{name}");
                assert!(
                    matches!(reply.body, Fcall::Rerror { .. }),
                    "{name}: {reply:?}"
                );
            }
        }
    }
}
