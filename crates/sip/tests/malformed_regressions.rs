//! Malformed and abusive input (STYLE.md section 2): every file in `testdata/sip-malformed/`
//! (hand-written limit cases and every input a fuzzer ever found a bug with) and every RFC 4475
//! torture message goes through the same checks as the fuzz targets in `fuzz/`, and the
//! hand-written cases are refused with the answer `testdata/sip-malformed/README.md` names.

#[path = "common/checks.rs"]
mod checks;

use std::panic;
use std::path::PathBuf;

use sip::framing::Frame;
use sip::{Limits, Message, reject};

fn testdata(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(dir)
}

/// Every input file of a folder, by name, skipping its documentation and tables.
fn inputs(dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(testdata(dir))
        .expect("testdata folder")
        .map(|e| e.expect("folder entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            match dir {
                "rfc4475" => name.ends_with(".dat"),
                _ => name != "README.md",
            }
        })
        .map(|p| {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 file name")
                .to_owned();
            let bytes = std::fs::read(&p).expect("readable input");
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Both folders: the regression inputs and the RFC 4475 messages.
fn all_inputs() -> Vec<(String, Vec<u8>)> {
    let mut all = inputs("sip-malformed");
    all.extend(
        inputs("rfc4475")
            .into_iter()
            .map(|(n, b)| (format!("rfc4475/{n}"), b)),
    );
    assert!(all.len() >= 60, "only {} inputs found", all.len());
    all
}

/// One row of the README table.
#[derive(Debug)]
struct Row {
    file: String,
    parse: String,
    framer: String,
}

fn table() -> Vec<Row> {
    let readme =
        std::fs::read_to_string(testdata("sip-malformed").join("README.md")).expect("README.md");
    readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            let [file, _what, parse, framer] = cells.as_slice() else {
                panic!("README row without four cells: {l}");
            };
            Row {
                file: file.trim_matches('`').to_owned(),
                parse: (*parse).to_owned(),
                framer: (*framer).to_owned(),
            }
        })
        .collect()
}

/// Runs `check` on every input, catching panics, and fails once with every failure listed.
fn check_all(what: &str, check: impl Fn(&[u8]) -> Result<(), String> + panic::RefUnwindSafe) {
    let mut failures = Vec::new();
    let inputs = all_inputs();
    for (name, bytes) in &inputs {
        match panic::catch_unwind(|| check(bytes)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{name}: {e}")),
            Err(_) => failures.push(format!("{name}: panicked (see above)")),
        }
    }
    assert!(
        failures.is_empty(),
        "{what}: {} of {} inputs fail:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
}

#[test]
fn every_file_has_a_readme_row_and_every_row_a_file() {
    let rows = table();
    let files = inputs("sip-malformed");
    for (name, _) in &files {
        assert!(
            rows.iter().any(|r| &r.file == name),
            "{name} has no row in testdata/sip-malformed/README.md"
        );
    }
    for r in &rows {
        assert!(
            files.iter().any(|(n, _)| n == &r.file),
            "README row for missing file {}",
            r.file
        );
    }
    assert!(rows.len() >= 10, "only {} rows", rows.len());
}

/// The `sip_parse` fuzz target's checks.
#[test]
fn parse_invariants_hold_for_every_input() {
    check_all("sip_parse", checks::parse_invariants);
}

/// The `sip_framer` fuzz target's checks, on the file as the fuzzer would read it (first byte
/// choosing the reads), and on the whole file as a stream cut into reads of many sizes: one
/// byte at a time, short reads, long reads; alone, and twice with keepalives around it.
#[test]
fn framer_invariants_hold_for_every_input() {
    check_all("sip_framer", |bytes| {
        checks::framer_invariants(bytes)?;
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(bytes);
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(bytes);
        for s in [bytes, &stream[..]] {
            // Byte by byte is quadratic: keep it to the inputs of ordinary size.
            let seeds: &[u8] = if s.len() <= 8 * 1024 {
                &[0, 1, 2, 3, 4, 5, 0x17, 0x26, 0x3a, 0x4c]
            } else {
                &[0x08, 0x19, 0x2a, 0x3c]
            };
            for &seed in seeds {
                checks::framer_invariants_split(s, &checks::chunk_sizes(seed, s.len()))?;
            }
        }
        Ok(())
    });
}

#[test]
fn parse_outcomes_match_the_readme() {
    for row in table() {
        let raw = std::fs::read(testdata("sip-malformed").join(&row.file)).expect("input");
        let res = Message::parse(&raw);
        match (row.parse.as_str(), &res) {
            ("ok", Ok(_)) => {}
            ("ok", Err(e)) => panic!("{}: must parse, refused with {e:?}", row.file),
            (_, Ok(_)) => panic!("{}: must be refused ({}), parsed", row.file, row.parse),
            ("drop", Err(e)) => assert_eq!(
                reject(&raw, e, "t"),
                None,
                "{}: {e:?} must not be answered",
                row.file
            ),
            (code, Err(e)) => {
                let code: u16 = code.parse().expect("README parse cell: ok, drop or a code");
                assert_eq!(
                    e.status().map(|s| s.code()),
                    Some(code),
                    "{}: refused with {e:?}",
                    row.file
                );
                let answer = reject(&raw, e, "t").expect("answered");
                assert!(
                    answer.starts_with(format!("SIP/2.0 {code} ").as_bytes()),
                    "{}: {}",
                    row.file,
                    String::from_utf8_lossy(&answer)
                );
            }
        }
    }
}

#[test]
fn framer_outcomes_match_the_readme() {
    for row in table() {
        let raw = std::fs::read(testdata("sip-malformed").join(&row.file)).expect("input");
        let framing = checks::frame_whole(&raw).expect("framer bounds");
        match row.framer.as_str() {
            "message" => {
                // Keepalives or stray line ends, then one message that ends the file.
                let (last, before) = framing.frames.split_last().expect("a frame");
                let used: usize = framing
                    .frames
                    .iter()
                    .map(|f| match f {
                        Frame::Message(n) | Frame::Ping(n) | Frame::Pong(n) => *n,
                        Frame::Incomplete => 0,
                    })
                    .sum();
                assert!(
                    framing.end.is_ok()
                        && matches!(last, Frame::Message(_))
                        && before
                            .iter()
                            .all(|f| matches!(f, Frame::Ping(_) | Frame::Pong(_)))
                        && used == raw.len(),
                    "{}: {framing:?}",
                    row.file
                );
            }
            code => {
                let code: u16 = code.parse().expect("README framer cell: message or a code");
                let status = framing.end.as_ref().err().and_then(|e| e.status());
                assert_eq!(
                    status.map(|s| s.code()),
                    Some(code),
                    "{}: framed as {framing:?}",
                    row.file
                );
            }
        }
    }
}

/// The limits the hand-written cases aim at are the ones `Limits::default()` names; if the
/// defaults move, the files must move with them.
#[test]
fn hand_written_limit_cases_straddle_the_limits() {
    let lim = Limits::default();
    let big = std::fs::read(testdata("sip-malformed").join("limit-70kb-message.sip"))
        .expect("70 KB input");
    assert!(big.len() > lim.max_message);
    let many = std::fs::read(testdata("sip-malformed").join("limit-300-headers.sip"))
        .expect("300 headers input");
    let lines = many.split(|&b| b == b'\n').count();
    assert!(lines > lim.max_headers && many.len() < lim.max_message);
}
