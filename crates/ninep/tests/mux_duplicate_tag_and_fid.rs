//! A tag or fid already in use in a client's own space is refused by the mux itself; the
//! same numbers in another client's space are fine.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::{Net, names};
use ninep::msg::{Fcall, Fid};
use ninep::server::ename;

#[test]
fn a_tag_in_use_gets_duplicate_tag_locally() {
    let mut net = Net::trusted();
    let a = net.versioned();
    let b = net.versioned();
    net.attach_operator(a, 0);
    net.attach_operator(b, 0);
    net.open_read(a, 0, 1, "pipe");
    net.open_read(b, 0, 1, "pipe");
    net.send(
        a,
        7,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 100,
        },
    );
    assert!(net.take(a).is_empty(), "the read pends");
    net.put(a, 7, Fcall::Tstat { fid: Fid(0) });
    assert!(
        net.mux.upstream_output().is_empty(),
        "refused without going upstream"
    );
    net.pump();
    let r = net.take(a);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].body,
        Fcall::Rerror {
            ename: ename::DUPLICATE_TAG
        }
    );
    // Tag 7 is free in B's space.
    net.send(
        b,
        7,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 100,
        },
    );
    assert!(net.take(b).is_empty());
    net.push(b"one");
    net.push(b"two");
    let (ra, rb) = (net.take(a), net.take(b));
    assert_eq!(ra.len(), 1);
    assert_eq!(rb.len(), 1);
    assert_eq!(ra[0].tag.0, 7);
    assert_eq!(rb[0].tag.0, 7);
    let mut got = vec![ra[0].body.clone(), rb[0].body.clone()];
    got.sort_by_key(|b| format!("{b:?}"));
    assert_eq!(
        got,
        [Fcall::Rread { data: b"one" }, Fcall::Rread { data: b"two" }]
    );
}

#[test]
fn a_fid_in_use_is_refused_locally() {
    let mut net = Net::trusted();
    let a = net.versioned();
    net.attach_operator(a, 0);
    net.walk(a, 0, 1, "big");
    let before = net.up.fids();
    net.put(
        a,
        8,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames: names("home"),
        },
    );
    assert!(net.mux.upstream_output().is_empty());
    net.pump();
    let r = net.take(a);
    assert_eq!(
        r[0].body,
        Fcall::Rerror {
            ename: ename::FID_IN_USE
        }
    );
    let e = net.error(
        a,
        9,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid::NOFID,
            uname: "adm",
            aname: "",
        },
    );
    assert_eq!(e, ename::FID_IN_USE);
    assert_eq!(net.up.fids(), before);
    // Fid 1 still is big/.
    assert_eq!(net.stat_name(a, 10, 1), "big");
}
