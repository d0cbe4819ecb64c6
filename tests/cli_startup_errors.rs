//! Start-up errors (port in use, unreadable or invalid config, bad flag values) are one clear
//! line on stderr and a non-zero exit, never a panic or a backtrace.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_line_error(args: &[&str], needle: &str) {
    let (code, err) = run(args);
    assert_ne!(code, 0, "{args:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("switchboard: error: "), "{err}");
    assert!(err.contains(needle), "{err}");
}

#[test]
fn port_in_use() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    assert_one_line_error(&["serve", "--sip", &addr], "Address already in use");
    let taken_tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken_tcp.local_addr().expect("addr").to_string();
    assert_one_line_error(&["serve", "--sip", &addr], "tcp");
}

#[test]
fn unreadable_and_invalid_config() {
    assert_one_line_error(
        &["serve", "--config", "/nonexistent/switchboard.toml"],
        "cannot read",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[sip]\nlisten = \"not an address\"\n").expect("write");
    assert_one_line_error(
        &["serve", "--config", bad.to_str().expect("path")],
        "line 2",
    );
    std::fs::write(&bad, "[sip]\nlisen = \"127.0.0.1:5060\"\n").expect("write");
    assert_one_line_error(&["serve", "--config", bad.to_str().expect("path")], "lisen");
}

#[test]
fn bad_flag_values_are_refused_by_the_parser() {
    for args in [
        &["serve", "--sip", "nonsense"][..],
        &["serve", "--rtp-ports", "20000-10000"],
        &["serve", "--advertise", "300.1.1.1"],
    ] {
        let (code, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--sip",
        "--http",
        "--ninep",
        "--data",
        "--rtp-ports",
        "--advertise",
        "--hep",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn an_api_beyond_loopback_needs_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("path");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config", "/dev/null", "--sip", "127.0.0.1:0"])
        .args(["--http", "0.0.0.0:0", "--data", data])
        .env_remove("SWITCHBOARD_API_TOKEN")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("SWITCHBOARD_API_TOKEN"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
