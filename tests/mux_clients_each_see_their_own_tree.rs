//! 50 concurrent clients through one `switchboard mux` to `switchboard serve`, each logged in
//! as a different extension over the one shared upstream connection. Every client uses the
//! same tags and fids (our client starts them all at the same values), so they collide on
//! purpose: each must still see exactly its own tree.

mod common;
mod mux_common;

use std::sync::{Arc, Barrier};

const CLIENTS: usize = 50;

#[test]
fn clients_each_see_their_own_tree() {
    let server = common::Server::start_with_config(
        &common::config_with_users("example.com", CLIENTS, ""),
        &[],
    );
    let upstream = common::ninep_tcp(server.ninep);
    let mux = mux_common::MuxProc::start(&["--upstream", &upstream]);
    let path = mux.path();
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let user = format!("user{i}@example.com");
                let mut conn = mux_common::Conn::dial(&path);
                // Connected and waiting together: the logins and reads interleave upstream.
                barrier.wait();
                let root = conn.login(&user, &format!("pw{i}")).expect("login");
                let entries = conn.ls(root, "/").expect("ls /");
                let stat = conn.stat(root, "/").expect("stat /");
                let presence = conn.walk(root, "presence").expect("walk presence");
                let presence = conn.read_all(presence).expect("cat presence");
                (
                    i,
                    root,
                    entries,
                    stat,
                    String::from_utf8_lossy(&presence).into_owned(),
                )
            })
        })
        .collect();
    let mut roots = Vec::new();
    for t in threads {
        let (i, root, entries, stat, presence) = t.join().expect("client thread");
        let user = format!("user{i}@example.com");
        assert_eq!(stat, (format!("user{i}"), user.clone()), "stat / of {user}");
        assert!(
            entries.iter().any(|(n, u)| n == "credential" && *u == user),
            "{user} sees its own credential: {entries:?}"
        );
        assert!(
            entries.iter().all(|(_, u)| *u == user),
            "{user} sees only its own files: {entries:?}"
        );
        assert!(
            presence
                .lines()
                .any(|l| l.starts_with(&format!("user{i} "))),
            "{user}'s presence: {presence}"
        );
        roots.push(root);
    }
    roots.dedup();
    assert_eq!(roots.len(), 1, "every client used the same root fid");
}
