//! Every datagram in `testdata/rtp-malformed/` (and every crash the `rtp_relay` fuzzer ever
//! found) replayed through the relay core under the fuzz target's invariants. STYLE.md
//! section 2: bytes from the network never cause a panic.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::checks;

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rtp-malformed")
}

#[test]
fn every_file_keeps_the_invariants() {
    let readme = std::fs::read_to_string(dir().join("README.md")).unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "README.md" {
            continue;
        }
        assert!(
            readme.contains(&format!("`{name}`")),
            "{name} has no row in testdata/rtp-malformed/README.md"
        );
        let bytes = std::fs::read(&path).unwrap();
        // As a datagram on every socket of a call, and as a raw script (fuzzer artifacts).
        if let Err(e) = checks::run(&checks::datagram_script(&bytes)) {
            panic!("{name} as a datagram: {e}");
        }
        if let Err(e) = checks::run(&bytes) {
            panic!("{name} as a script: {e}");
        }
        n += 1;
    }
    assert!(n >= 19, "only {n} files");
}

#[test]
fn malformed_files_are_never_relayed_and_valid_ones_are() {
    use media::{Component, Leg, LegRemote, Session, SessionConfig, Verdict};
    use std::time::Instant;
    let valid = ["srtcp-trailer.bin", "rtp-max-csrc-extension.bin"];
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Fuzzer artifacts are scripts, not datagrams.
        if name == "README.md" || name.starts_with("fuzz-") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let mut s = Session::new(SessionConfig::default());
        let ip = "127.0.0.1".parse().unwrap();
        s.set_remote(
            Leg::A,
            LegRemote::new(ip, "127.0.0.1:4000".parse().unwrap()),
        );
        s.set_remote(
            Leg::B,
            LegRemote::new(ip, "127.0.0.1:6000".parse().unwrap()),
        );
        let mut relayed = false;
        for component in [Component::Rtp, Component::Rtcp] {
            let mut p = bytes.clone();
            let v = s.on_packet(
                Leg::A,
                component,
                "127.0.0.1:4000".parse().unwrap(),
                Instant::now(),
                &mut p,
            );
            relayed |= matches!(v, Verdict::Forward { .. });
        }
        assert_eq!(relayed, valid.contains(&name.as_str()), "{name}");
    }
}

#[test]
fn scripts_written_by_hand() {
    // Strict remotes, then packets from a stranger and garbage; policy flips; PT maps.
    let mut rtp = vec![0x80, 0x80 | 101, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    rtp.extend_from_slice(&[0xd5; 20]);
    let len = (rtp.len() as u16).to_be_bytes();
    let mut script = vec![5, 3, 13, 4, 6, 101, 96];
    for shape in [0u8, 8, 4, 1, 5, 12] {
        script.extend_from_slice(&[0, shape, 3, len[0], len[1]]);
        script.extend_from_slice(&rtp);
    }
    script.extend_from_slice(&[7 | 16, 0, 8, 0, 0, 12]);
    script.extend_from_slice(&rtp[..12]);
    checks::run(&script).unwrap();
    checks::run(&[]).unwrap();
    checks::run(&[0, 0xff, 0xff, 0xff, 0xff]).unwrap();
}
