//! A walk that stops part-way (an Rwalk with fewer qids than names) leaves no mapping for the
//! new fid, unlike 9pserve: the fid is unknown, its upstream fid is free, and it can be used
//! again.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::{Net, names};
use ninep::msg::{Fcall, Fid};
use ninep::server::ename;

#[test]
fn a_partial_walk_creates_no_fid() {
    let mut net = Net::trusted();
    let c = net.versioned();
    net.attach_operator(c, 0);
    let r = net.rpc(
        c,
        3,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(5),
            wnames: names("big/nothing/deeper"),
        },
    );
    match r.body {
        Fcall::Rwalk { wqids } => assert_eq!(wqids.len(), 1, "stops after big"),
        other => panic!("{other:?}"),
    }
    assert_eq!(net.mux.counters().fids, 1);
    assert_eq!(net.up.fids(), 1);
    // The mux itself says the fid is unknown: nothing goes upstream.
    net.put(c, 4, Fcall::Tstat { fid: Fid(5) });
    assert!(net.mux.upstream_output().is_empty());
    net.pump();
    assert_eq!(
        net.take(c)[0].body,
        Fcall::Rerror {
            ename: ename::UNKNOWN_FID
        }
    );
    // Fid 5 is free for a walk that succeeds.
    net.walk(c, 0, 5, "big/f0001");
    assert_eq!(net.stat_name(c, 6, 5), "f0001");
    assert_eq!(net.up.fids(), 2);
}

#[test]
fn a_walk_failing_at_the_first_name_creates_no_fid() {
    let mut net = Net::trusted();
    let c = net.versioned();
    net.attach_operator(c, 0);
    let r = net.rpc(
        c,
        3,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(5),
            wnames: names("nothing"),
        },
    );
    assert!(matches!(r.body, Fcall::Rerror { .. }), "{r:?}");
    assert_eq!(net.mux.counters().fids, 1);
    net.walk(c, 0, 5, "home");
}
