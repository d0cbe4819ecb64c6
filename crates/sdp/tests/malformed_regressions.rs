//! Malformed and abusive input (STYLE.md section 2): every file in `testdata/sdp-malformed/`
//! (hand-written limit cases and every input a fuzzer ever found a bug with) goes through the
//! checks the fuzz target runs, and ends as `testdata/sdp-malformed/README.md` says.

#[path = "common/checks.rs"]
mod checks;

use std::path::PathBuf;

use sdp::SessionDescription;

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sdp-malformed")
}

/// `file -> outcome` from the README table.
fn expected() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(folder().join("README.md")).expect("README.md");
    readme
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let outcome = cells.get(2)?.trim_matches('`');
            Some((file.to_owned(), outcome.to_owned()))
        })
        .collect()
}

#[test]
fn every_regression_input_keeps_the_invariants_and_its_outcome() {
    let table = expected();
    let mut seen = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder())
        .expect("testdata/sdp-malformed")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 name")
            .to_owned();
        let bytes = std::fs::read(&path).expect("readable");
        if let Err(e) = checks::parse_invariants(&bytes) {
            panic!("{name}: {e}");
        }
        let Some((_, want)) = table.iter().find(|(f, _)| *f == name) else {
            panic!("{name} has no row in testdata/sdp-malformed/README.md");
        };
        let got = match SessionDescription::parse(&bytes) {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{e:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        assert_eq!(&got, want, "{name}");
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} inputs found");
}

#[test]
fn junk_values_read_as_absent() {
    let bytes =
        std::fs::read(folder().join("accepted-bare-lf-and-junk-attributes.sdp")).expect("readable");
    let sdp = SessionDescription::parse(&bytes).expect("parses");
    let m = &sdp.media[0];
    assert_eq!(m.rtpmap(96), None);
    assert_eq!(m.rtcp(), None);
    assert_eq!(m.ptime(), None);
    assert_eq!(m.fmtp(0), Some(""), "a=fmtp:0 with no parameters");
    assert_eq!(m.direction(), None);
    assert_eq!(m.bandwidth("AS"), None);
    // 0 still reads as PCMU from the static table, since its rtpmap does not parse.
    assert_eq!(
        m.codec(0).map(|c| c.to_string()).as_deref(),
        Some("PCMU/8000")
    );
}
