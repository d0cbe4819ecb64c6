//! version(5): negotiation, capping, "unknown", and the reset a Tversion causes.

mod common;

use common::{Event, Harness};
use ninep::msg::{Fcall, Fid, IOHDRSZ, NOTAG, OREAD};
use ninep::server::{Config, MIN_MSIZE, ename};

#[test]
fn msize_is_the_smaller_of_client_and_server() {
    let mut h = Harness::new();
    let r = h.rpc(
        NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    );
    assert_eq!(
        r.body,
        Fcall::Rversion {
            msize: 8192,
            version: "9P2000"
        }
    );
    assert_eq!(h.session.msize(), 8192);
}

#[test]
fn huge_msize_is_capped_never_refused() {
    let mut h = Harness::new();
    let r = h.rpc(
        NOTAG,
        Fcall::Tversion {
            msize: u32::MAX,
            version: "9P2000",
        },
    );
    let max = Config::default().max_msize;
    assert!(max >= 256 * 1024 + IOHDRSZ);
    assert_eq!(
        r.body,
        Fcall::Rversion {
            msize: max,
            version: "9P2000"
        }
    );
}

#[test]
fn dotted_versions_are_answered_with_plain_9p2000() {
    for v in ["9P2000.u", "9P2000.L", "9P2000.anything"] {
        let mut h = Harness::new();
        let r = h.rpc(
            NOTAG,
            Fcall::Tversion {
                msize: 8192,
                version: v,
            },
        );
        assert_eq!(
            r.body,
            Fcall::Rversion {
                msize: 8192,
                version: "9P2000"
            },
            "{v}"
        );
    }
}

#[test]
fn other_versions_get_unknown_and_no_session() {
    for v in ["9P1999", "9P2000x", "", "9P", "2000"] {
        let mut h = Harness::new();
        let r = h.rpc(
            NOTAG,
            Fcall::Tversion {
                msize: 8192,
                version: v,
            },
        );
        assert_eq!(
            r.body,
            Fcall::Rversion {
                msize: 8192,
                version: "unknown"
            },
            "{v:?}"
        );
        let e = h.error(
            1,
            Fcall::Tattach {
                fid: Fid(0),
                afid: Fid::NOFID,
                uname: "u",
                aname: "",
            },
        );
        assert_eq!(e, ename::NOT_VERSIONED, "{v:?}");
    }
}

#[test]
fn requests_before_version_get_rerror() {
    let mut h = Harness::new();
    let e = h.error(
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid::NOFID,
            uname: "u",
            aname: "",
        },
    );
    assert_eq!(e, ename::NOT_VERSIONED);
    assert_eq!(h.fids(), 0);
}

#[test]
fn msize_below_the_minimum_gets_rerror() {
    let mut h = Harness::new();
    let e = h.error(
        NOTAG,
        Fcall::Tversion {
            msize: MIN_MSIZE - 1,
            version: "9P2000",
        },
    );
    assert_eq!(e, ename::MSIZE_TOO_SMALL);
    let r = h.rpc(
        NOTAG,
        Fcall::Tversion {
            msize: MIN_MSIZE,
            version: "9P2000",
        },
    );
    assert_eq!(
        r.body,
        Fcall::Rversion {
            msize: MIN_MSIZE,
            version: "9P2000"
        }
    );
}

#[test]
fn version_clunks_every_fid_and_abandons_pending_reads() {
    let mut h = Harness::attached();
    h.open_read(1, "pipe");
    h.walk(0, 2, "readonly");
    assert!(
        h.send(
            9,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 100
            }
        )
        .is_empty()
    );
    assert_eq!(h.session.counters().outstanding, 1);
    let pipe = h.tree.lookup("/pipe").expect("pipe");

    let r = h.rpc(
        NOTAG,
        Fcall::Tversion {
            msize: 4096,
            version: "9P2000",
        },
    );
    assert_eq!(
        r.body,
        Fcall::Rversion {
            msize: 4096,
            version: "9P2000"
        }
    );
    let c = h.session.counters();
    assert_eq!((c.fids, c.attaches, c.outstanding), (0, 0, 0));
    // The tree heard of all three fids and of the abandoned read.
    let clunks = h
        .tree
        .events
        .iter()
        .filter(|e| matches!(e, Event::Clunk { .. }))
        .count();
    assert_eq!(clunks, 3);
    assert!(h.tree.events.contains(&Event::Cancel {
        path: pipe,
        tag: ninep::Tag(9)
    }));
    // The abandoned read is never answered, even when data comes.
    h.tree.push(b"late");
    assert!(h.retry().is_empty());
    // The old fids are gone.
    let e = h.error(
        3,
        Fcall::Topen {
            fid: Fid(2),
            mode: OREAD,
        },
    );
    assert_eq!(e, ename::UNKNOWN_FID);
}

#[test]
fn close_clunks_every_fid_through_the_tree() {
    let mut h = Harness::attached();
    h.walk(0, 1, "readonly");
    h.session.close(&mut h.tree);
    let clunks = h
        .tree
        .events
        .iter()
        .filter(|e| matches!(e, Event::Clunk { .. }))
        .count();
    assert_eq!(clunks, 2);
    assert_eq!(h.session.counters(), Default::default());
}
