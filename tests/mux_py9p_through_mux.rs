//! An independent 9P client (p9fs 0.0.4's py9p) through `switchboard mux`: its Tversion is
//! answered by the mux, its afid exchange passes through to the server, and `ls` and `cat`
//! work as they do on a direct connection, next to one of our own clients on the same mux.

mod common;
mod mux_common;

#[test]
fn py9p_through_mux() {
    if common::peer("python3").is_none() {
        return;
    }
    let server =
        common::Server::start_with_config(&common::config_with_users("example.com", 2, ""), &[]);
    let upstream = common::ninep_tcp(server.ninep);
    let mux = mux_common::MuxProc::start(&["--upstream", &upstream]);
    // One of our clients holds a session on the mux meanwhile.
    let mut ours = mux_common::Conn::dial(&mux.path());
    let root = ours.login("user1@example.com", "pw1").expect("login");

    let out = common::ninep_py(
        &mux.addr,
        Some(("user0@example.com", "pw0")),
        &["ls", "/", "cat", "/presence", "stat", "/credential"],
    );
    // The attach, then one line per operation.
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(
        out.iter().all(|r| r.get("ok").is_some_and(|v| v.is_true())),
        "{out:?}"
    );
    let names = out[1].entry_names();
    for want in ["credential", "ctl", "presence", "cdr", "ongoing"] {
        assert!(
            names.iter().any(|n| n == want),
            "ls / lacks {want}: {names:?}"
        );
    }
    let presence = out[2]
        .get("data")
        .and_then(common::Json::as_str)
        .unwrap_or_default();
    assert!(
        presence.lines().any(|l| l.starts_with("user0 ")),
        "{presence}"
    );
    let uid = out[3]
        .get("stat")
        .and_then(|s| s.get("uid"))
        .and_then(common::Json::as_str);
    assert_eq!(uid.as_deref(), Some("user0@example.com"));

    assert_eq!(
        ours.stat(root, "/").expect("stat after py9p"),
        ("user1".to_owned(), "user1@example.com".to_owned())
    );
}
