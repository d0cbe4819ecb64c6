//! Wireshark's 9P dissector, an independent decoder, reads a captured session between py9p and
//! `switchboard serve` (version, the afid exchange, attach, walks, reads, and an Rerror from
//! opening the write-only `credential`) with no malformed packet and no expert error, and the
//! capture holds at least one Tversion, Tauth, Tattach, Twalk, Tread and Rerror, so the check
//! cannot pass on an empty capture.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::Json;

/// A dumpcap on loopback, stopped by SIGINT (so that it closes the file cleanly), killed if
/// it outlives that, and bounded by its own `-a duration:` in any case.
struct Capture {
    child: Child,
}

impl Capture {
    /// Starts capturing TCP to and from `port` on `lo` into `file`; waits for dumpcap's
    /// "Capturing on" line. `Err` carries what dumpcap said when it cannot capture.
    fn start(dumpcap: &Path, port: u16, file: &Path) -> Result<Self, String> {
        let mut child = Command::new(dumpcap)
            .args(["-i", "lo", "-f", &format!("tcp port {port}")])
            .args(["-a", "duration:60", "-w"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run dumpcap: {e}"))?;
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut said = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line.starts_with("Capturing on") => return Ok(Self { child }),
                Ok(line) => said.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("dumpcap did not start capturing: {said:?}"));
                }
            }
        }
    }

    /// Stops the capture and waits for dumpcap to write the file out.
    fn stop(mut self) {
        // Let the last segments (the FIN exchange) reach the capture.
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs tshark on `file` with `port` decoded as 9P; returns its standard output.
fn tshark(tshark: &Path, file: &Path, port: u16, args: &[&str]) -> String {
    let out = Command::new(tshark)
        .arg("-r")
        .arg(file)
        .args(["-d", &format!("tcp.port=={port},9p")])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tshark_decodes_a_py9p_session_without_malformed_packets() {
    let Some(dumpcap) = common::peer("dumpcap") else {
        return;
    };
    let Some(tshark_bin) = common::peer("tshark") else {
        return;
    };
    if !common::py9p() {
        return;
    }
    let server =
        common::Server::start_with_config(&common::config_with_users("127.0.0.1", 2, ""), &[]);
    let port = server.ninep.port();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ninep.pcapng");
    let capture = match Capture::start(&dumpcap, port, &file) {
        Ok(c) => c,
        Err(why) => {
            if std::env::var("SWITCHBOARD_PEERS").is_ok_and(|v| v == "1") {
                panic!("cannot capture on lo (SWITCHBOARD_PEERS=1): {why}");
            }
            eprintln!("skipped: cannot capture on lo: {why}");
            return;
        }
    };

    let out = common::ninep_py(
        &common::ninep_tcp(server.ninep),
        Some(("user1@127.0.0.1", "pw1")),
        &["ls", "/", "cat", "/presence", "cat", "/credential"],
    );
    capture.stop();
    assert!(out[0].get("ok").is_some_and(Json::is_true), "{out:?}");
    assert!(out[2].get("ok").is_some_and(Json::is_true), "{out:?}");
    assert_eq!(
        out[3].get("ok"),
        Some(&Json::Bool(false)),
        "credential is write-only: {out:?}"
    );

    // Every 9P message, one "Msg Type: Tversion (100)" line each, and nothing malformed.
    let verbose = tshark(&tshark_bin, &file, port, &["-V"]);
    let types: Vec<&str> = verbose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Msg Type: "))
        .filter_map(|t| t.split_whitespace().next())
        .collect();
    for wanted in ["Tversion", "Tauth", "Tattach", "Twalk", "Tread", "Rerror"] {
        assert!(
            types.contains(&wanted),
            "no {wanted} decoded; types seen: {types:?}"
        );
    }
    // Every request answered: as many R-messages as T-messages.
    let requests = types.iter().filter(|t| t.starts_with('T')).count();
    let replies = types.iter().filter(|t| t.starts_with('R')).count();
    assert_eq!(requests, replies, "{types:?}");
    assert!(
        !verbose.contains("Malformed"),
        "tshark found a malformed packet:\n{verbose}"
    );
    let expert = tshark(&tshark_bin, &file, port, &["-q", "-z", "expert,error"]);
    assert!(
        !expert.contains("Errors (") && !expert.contains("Malformed"),
        "tshark expert errors:\n{expert}"
    );
    // The Rerror carries the server's text, decoded as a string.
    assert!(
        verbose.contains("Ename: permission denied"),
        "the Rerror's ename:\n{verbose}"
    );
}
