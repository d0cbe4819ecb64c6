//! An independent digest client (tests/peers/digest_client.py: Python's hashlib, its math
//! checked against RFC 7616 section 3.9.1 first) registers where SIPp cannot: SHA-256 on a
//! domain that offers it first, a replayed nc (answered with a fresh 401 and a new nonce, not
//! 403), an expired nonce (stale=true), and a wrong password (a plain 401).

mod common;

use std::process::Command;

fn client(server: &common::Server, args: &[&str]) -> Vec<String> {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/digest_client.py");
    let python = common::peer("python3").expect("python3");
    let out = Command::new(python)
        .arg(script)
        .args(["--server", &server.sip.to_string(), "--domain", "127.0.0.1"])
        .args(["--user", "user0", "--password", "pw0"])
        .args(args)
        .output()
        .expect("run digest_client.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn has(line: &str, field: &str) -> bool {
    line.contains(field)
}

#[test]
fn digest_edge_cases_against_an_independent_client() {
    if common::peer("python3").is_none() {
        return;
    }
    let config =
        common::config_with_users("127.0.0.1", 1, "[registrar]\nnonce_lifetime_secs = 2\n");
    let config = config.replace(
        "name = \"127.0.0.1\"",
        "name = \"127.0.0.1\"\ndigest = [\"SHA-256\", \"MD5\"]",
    );
    let server = common::Server::start_with_config(&config, &[]);

    // SHA-256 first in the challenge list, and a SHA-256 answer registers.
    let sha = client(&server, &["--algorithm", "SHA-256"]);
    assert!(
        sha[0].contains(r#""challenges": [{"algorithm": "SHA-256""#),
        "{}",
        sha[0]
    );
    assert!(
        has(&sha[1], r#""status": 200"#) && has(&sha[1], r#""algorithm": "SHA-256""#),
        "{sha:?}"
    );

    // MD5 still works on the same domain.
    let md5 = client(&server, &["--algorithm", "MD5"]);
    assert!(has(&md5[1], r#""status": 200"#), "{md5:?}");

    // The same nc twice: a fresh challenge with a new nonce.
    let replay = client(&server, &["--replay-nc"]);
    let last = replay.last().expect("replay line");
    assert!(has(last, r#""exchange": "replay""#), "{replay:?}");
    assert!(
        has(last, r#""status": 401"#) && has(last, r#""new_nonce": true"#),
        "{last}"
    );

    // Answering after the nonce expired: stale=true, so the phone retries without asking the
    // user for a password.
    let stale = client(&server, &["--wait-stale", "3"]);
    let last = stale.last().expect("stale line");
    assert!(
        has(last, r#""status": 401"#) && has(last, r#""stale": true"#),
        "{last}"
    );

    // A wrong password: 401 without stale.
    let wrong = client(&server, &["--wrong-password"]);
    let last = wrong.last().expect("wrong line");
    assert!(
        has(last, r#""status": 401"#) && has(last, r#""stale": false"#),
        "{last}"
    );
}
