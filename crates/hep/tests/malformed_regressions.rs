//! Malformed input (STYLE.md section 2): every file of `testdata/hep-malformed/` is refused
//! with the error its README row names, and goes through the same checks as the `hep_decode`
//! fuzz target (no panic; what decodes re-encodes to a frame that decodes the same).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use hep::Frame;

/// The README's table: file name to the `Debug` form of the error.
fn expected() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(common::testdata("hep-malformed").join("README.md"))
        .expect("README.md");
    readme
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let error = cells.get(3)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((file.to_owned(), error.to_owned()))
        })
        .collect()
}

/// What the fuzz target checks for any input.
fn fuzz_checks(bytes: &[u8]) {
    let _ = hep::frame_len(bytes);
    if let Ok(chunks) = hep::chunks(bytes) {
        chunks.for_each(drop);
    }
    if let Ok(frame) = Frame::decode(bytes) {
        let mut out = Vec::new();
        frame.encode(&mut out).expect("a decoded frame fits");
        let again = Frame::decode(&out).expect("re-encoded frame decodes");
        assert_eq!(again.payload, frame.payload);
        assert_eq!(again.correlation_id, frame.correlation_id);
    }
}

#[test]
fn malformed_frames_are_refused_with_their_reason() {
    let table = expected();
    let files = common::hex_files("hep-malformed");
    assert!(files.len() >= 20, "only {} files", files.len());
    for (name, bytes) in &files {
        let got = std::panic::catch_unwind(|| Frame::decode(bytes)).expect(name);
        fuzz_checks(bytes);
        match table.get(name) {
            Some(error) => assert_eq!(
                got.map(|f| f.payload.len()).map_err(|e| format!("{e:?}")),
                Err(error.clone()),
                "{name}"
            ),
            None => assert!(name.starts_with("fuzz-"), "{name} has no README row"),
        }
    }
    for name in table.keys() {
        assert!(
            files.iter().any(|(n, _)| n == name),
            "{name} in README only"
        );
    }
}

#[test]
fn golden_vectors_pass_the_fuzz_checks() {
    for (_, bytes) in common::hex_files("hep") {
        fuzz_checks(&bytes);
    }
}
