//! Auth passes through remapped: a failed Tauth frees the afid it was given (9pserve frees
//! the wrong fid there), a failed attach frees its fid and leaves the afid, and a clunked
//! afid is gone upstream too.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::Net;
use ninep::msg::{Fcall, Fid};
use ninep::{mux, server};

#[test]
fn a_failed_tauth_frees_its_afid_and_nothing_else() {
    // The upstream allows two fids: a root and one afid.
    let up = server::Config {
        max_fids: 2,
        ..server::Config::default()
    };
    let mut net = Net::with(mux::Config::default(), up, true);
    let c = net.versioned();
    net.attach_operator(c, 0);
    let r = net.rpc(
        c,
        2,
        Fcall::Tauth {
            afid: Fid(1),
            uname: "alice",
            aname: "",
        },
    );
    assert!(matches!(r.body, Fcall::Rauth { .. }), "{r:?}");
    let e = net.error(
        c,
        3,
        Fcall::Tauth {
            afid: Fid(2),
            uname: "bob",
            aname: "",
        },
    );
    assert_eq!(e, server::ename::TOO_MANY_FIDS);
    assert_eq!(net.mux.counters().fids, 2);
    // The root still works, the first afid still reads.
    assert_eq!(net.stat_name(c, 4, 0), "/");
    let r = net.rpc(
        c,
        5,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 64,
        },
    );
    assert_eq!(
        r.body,
        Fcall::Rread {
            data: b"challenge alice\n"
        }
    );
    // Afid 2 was freed: after clunking afid 1, it can be made again.
    let r = net.rpc(c, 6, Fcall::Tclunk { fid: Fid(1) });
    assert_eq!(r.body, Fcall::Rclunk);
    let r = net.rpc(
        c,
        7,
        Fcall::Tauth {
            afid: Fid(2),
            uname: "bob",
            aname: "",
        },
    );
    assert!(matches!(r.body, Fcall::Rauth { .. }), "{r:?}");
    assert_eq!(net.up.fids(), 2);
}

#[test]
fn a_wrong_secret_fails_the_attach_which_frees_its_fid() {
    let mut net = Net::new();
    let c = net.versioned();
    let r = net.rpc(
        c,
        1,
        Fcall::Tauth {
            afid: Fid(9),
            uname: "alice",
            aname: "",
        },
    );
    assert!(matches!(r.body, Fcall::Rauth { .. }), "{r:?}");
    let e = net.error(
        c,
        2,
        Fcall::Twrite {
            fid: Fid(9),
            offset: 0,
            data: b"guess\n",
        },
    );
    assert_eq!(e, "authentication failed");
    let e = net.error(
        c,
        3,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid(9),
            uname: "alice",
            aname: "",
        },
    );
    assert_eq!(e, "authentication failed");
    // Only the afid is left, on both sides.
    assert_eq!(net.mux.counters().fids, 1);
    assert_eq!(net.up.fids(), 1);
    let r = net.rpc(c, 4, Fcall::Tclunk { fid: Fid(9) });
    assert_eq!(r.body, Fcall::Rclunk);
    assert_eq!(net.mux.counters().fids, 0);
    assert_eq!(net.up.fids(), 0);
    // A fresh exchange on the same numbers works.
    net.login(c, 9, 0, "alice");
    assert_eq!(net.stat_name(c, 5, 0), "alice");
}
