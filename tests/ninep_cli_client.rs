//! `switchboard 9p`, the operators' client: the operator on the Unix socket creates a domain
//! and lists the root; an extension over TCP (secret from SWITCHBOARD_SECRET) lists its
//! directory, reads `presence`, stats a file, changes its own secret through `credential`
//! (stdin) and logs in with the new one; refusals come back as one-line errors.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

fn client(
    addr: &str,
    user: Option<(&str, &str)>,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["9p", "-a", addr]);
    if let Some((user, secret)) = user {
        cmd.args(["-u", user]).env("SWITCHBOARD_SECRET", secret);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run switchboard 9p");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_9p_command_reads_and_writes_the_tree() {
    let config = common::config_with_users("127.0.0.1", 2, "");
    let server = common::Server::start_with_config(&config, &[]);
    let unix = format!("unix!{}", server.ninep_unix.display());
    let tcp = common::ninep_tcp(server.ninep);

    let (ok, _, err) = client(&unix, None, &["mkdir", "/x.example"], "");
    assert!(ok, "{err}");
    let (ok, out, err) = client(&unix, None, &["ls", "/"], "");
    assert!(ok, "{err}");
    let names: Vec<&str> = out.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    assert_eq!(names, ["127.0.0.1", "x.example"], "{out}");
    assert!(out.lines().all(|l| l.starts_with("d777 ")), "{out}");

    let user0 = Some(("user0@127.0.0.1", "pw0"));
    let (ok, out, err) = client(&tcp, user0, &["ls", "/"], "");
    assert!(ok, "{err}");
    for name in ["credential", "ctl", "presence", "cdr", "ongoing", "uacs"] {
        assert!(
            out.lines().any(|l| l.ends_with(&format!(" {name}"))),
            "{name}: {out}"
        );
    }
    let (ok, out, _) = client(&tcp, user0, &["cat", "/presence"], "");
    assert!(ok);
    assert_eq!(out, "user0 idle\nuser1 idle\n");
    let (ok, out, _) = client(&tcp, user0, &["stat", "/credential"], "");
    assert!(ok);
    assert!(
        out.starts_with("-222 user0@127.0.0.1 127.0.0.1 0 credential"),
        "{out}"
    );

    // A new secret through credential: the old one stops working, the new one logs in.
    let (ok, _, err) = client(&tcp, user0, &["write", "/credential"], "newpw\n");
    assert!(ok, "{err}");
    let (ok, _, err) = client(&tcp, user0, &["ls", "/"], "");
    assert!(!ok);
    assert!(err.contains("authentication failed"), "{err}");
    let (ok, _, err) = client(&tcp, Some(("user0@127.0.0.1", "newpw")), &["ls", "/"], "");
    assert!(ok, "{err}");

    // Refusals are one-line errors.
    let (ok, _, err) = client(
        &tcp,
        Some(("user0@127.0.0.1", "newpw")),
        &["cat", "/credential"],
        "",
    );
    assert!(!ok);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("permission denied"), "{err}");
    let (ok, _, err) = client(&tcp, None, &["ls", "/"], "");
    assert!(!ok);
    assert!(err.contains("authentication required"), "{err}");
}
