//! Each client's Tversion is answered by the mux (msize = min of the client's and the
//! upstream's) without reaching the upstream, which is versioned once; a client's second
//! Tversion resets only its own session.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::Net;
use ninep::msg::{Fcall, Fid, NOTAG};
use ninep::mux;
use ninep::server;

#[test]
fn msize_is_the_smaller_and_nothing_goes_upstream() {
    let up = server::Config {
        max_msize: 16384,
        ..server::Config::default()
    };
    let mut net = Net::with(mux::Config::default(), up, true);
    assert_eq!(net.mux.upstream_msize(), Some(16384));
    let small = net.client();
    net.put(
        small,
        NOTAG,
        Fcall::Tversion {
            msize: 4096,
            version: "9P2000",
        },
    );
    assert!(
        net.mux.upstream_output().is_empty(),
        "the Tversion stays local"
    );
    net.pump();
    let r = net.take(small);
    assert_eq!(
        r[0].body,
        Fcall::Rversion {
            msize: 4096,
            version: "9P2000"
        }
    );
    let big = net.client();
    assert_eq!(net.version(big, 1 << 20), 16384);
    assert_eq!(net.mux.client_msize(big), 16384);
    // A version the mux does not speak.
    let odd = net.client();
    let r = net.rpc(
        odd,
        NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P3000",
        },
    );
    assert_eq!(
        r.body,
        Fcall::Rversion {
            msize: 8192,
            version: "unknown"
        }
    );
}

#[test]
fn a_second_tversion_resets_only_that_client() {
    let mut net = Net::trusted();
    let a = net.versioned();
    let b = net.versioned();
    net.attach_operator(a, 0);
    net.walk(a, 0, 1, "big");
    net.attach_operator(b, 0);
    assert_eq!(net.up.fids(), 3);
    assert_eq!(net.version(a, 8192), 8192);
    // A's fids are clunked upstream; B's root is untouched.
    assert_eq!(net.up.fids(), 1);
    assert_eq!(net.mux.counters().fids, 1);
    assert_eq!(net.stat_name(b, 7, 0), "/");
    // A starts over: fid 0 is free again, fid 1 unknown.
    let e = net.error(a, 7, Fcall::Tstat { fid: Fid(1) });
    assert_eq!(e, server::ename::UNKNOWN_FID);
    net.attach_operator(a, 0);
    assert_eq!(net.up.fids(), 2);
}
