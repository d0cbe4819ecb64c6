//! Two `switchboard mux` back to back over one TCP connection (one `--accept`s, the other
//! dials it with `--upstream`), each with its own `--export` server: a session in each
//! direction at once. A client of the accepting mux reaches the dialling side's server, and a
//! client of the dialling mux reaches the accepting side's server, over the same link.

mod common;
mod mux_common;

#[test]
fn back_to_back() {
    let server_a =
        common::Server::start_with_config(&common::config_with_users("a.example", 1, ""), &[]);
    let server_b =
        common::Server::start_with_config(&common::config_with_users("b.example", 1, ""), &[]);
    let export_a = common::ninep_tcp(server_a.ninep);
    let export_b = common::ninep_tcp(server_b.ninep);
    let accepting =
        mux_common::MuxProc::start(&["--accept", "tcp!127.0.0.1!0", "--export", &export_a]);
    let peer = common::ninep_tcp(accepting.peer.expect("peer address"));
    let dialling = mux_common::MuxProc::start(&["--upstream", &peer, "--export", &export_b]);

    let (path_acc, path_dial) = (accepting.path(), dialling.path());
    // Through the accepting mux: the link to the dialling side, whose export is server B.
    let to_b = std::thread::spawn(move || {
        let mut c = mux_common::Conn::dial(&path_acc);
        let root = c.login("user0@b.example", "pw0").expect("login on B");
        (c.stat(root, "/"), c.ls(root, "/"))
    });
    // Through the dialling mux: its upstream is the accepting side, whose export is server A.
    let to_a = std::thread::spawn(move || {
        let mut c = mux_common::Conn::dial(&path_dial);
        let root = c.login("user0@a.example", "pw0").expect("login on A");
        (c.stat(root, "/"), c.ls(root, "/"))
    });
    for (t, domain) in [(to_b, "b.example"), (to_a, "a.example")] {
        let (stat, ls) = t.join().expect("client");
        let user = format!("user0@{domain}");
        assert_eq!(stat, Ok(("user0".to_owned(), user.clone())));
        let ls = ls.expect("ls");
        assert!(
            ls.iter().any(|(n, u)| n == "credential" && *u == user),
            "{ls:?}"
        );
    }
}
