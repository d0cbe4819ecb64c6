//! A client killed mid-session (fids open, a read outstanding): the mux flushes its request and
//! clunks its fids upstream, so the server's `switchboard_ninep_open_fids` gauge comes back to
//! where it was before the client came, while the other client on the mux keeps its session.

mod common;
mod mux_common;

use std::io::Write;
use std::time::{Duration, Instant};

const GAUGE: &str = "switchboard_ninep_open_fids";

#[test]
fn killed_client_frees_fids() {
    let server =
        common::Server::start_with_config(&common::config_with_users("example.com", 2, ""), &[]);
    let upstream = common::ninep_tcp(server.ninep);
    let mux = mux_common::MuxProc::start(&["--upstream", &upstream]);
    // A client that stays: the mux's upstream connection and its session live on.
    let mut stays = mux_common::Conn::dial(&mux.path());
    let stays_root = stays.login("user1@example.com", "pw1").expect("login");
    let before = mux_common::gauge(server.http, GAUGE);

    let mut victim = mux_common::Conn::dial(&mux.path());
    let root = victim.login("user0@example.com", "pw0").expect("login");
    let presence = victim.walk(root, "presence").expect("walk");
    victim
        .rpc(|c, out| c.open(presence, ninep::msg::OREAD, out), |_| ())
        .expect("open");
    let _ctl = victim.walk(root, "ctl").expect("walk ctl");
    let _dir = victim.walk(root, "ongoing").expect("walk ongoing");
    let during = mux_common::gauge(server.http, GAUGE);
    assert!(during >= before + 4, "open fids {before} then {during}");

    // One more request on the wire, never read, then the connection is gone.
    let mut out = Vec::new();
    victim
        .client
        .read(presence, 0, 8192, &mut out)
        .expect("read");
    victim.stream.write_all(&out).expect("send read");
    drop(victim);

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut now = during;
    while now != before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        now = mux_common::gauge(server.http, GAUGE);
    }
    assert_eq!(now, before, "open fids back where they were");
    assert_eq!(
        stays
            .stat(stays_root, "/")
            .expect("the other session goes on"),
        ("user1".to_owned(), "user1@example.com".to_owned())
    );
}
