//! Tags: unique among outstanding requests, NOTAG only for Tversion, a bound on outstanding
//! requests, and the counters the driver reads.

mod common;

use common::Harness;
use ninep::msg::{Fcall, Fid, NOTAG};
use ninep::server::{Config, ename};

#[test]
fn a_tag_in_use_gets_duplicate_tag() {
    let mut h = Harness::attached();
    h.open_read(1, "pipe");
    assert!(
        h.send(
            7,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 100
            }
        )
        .is_empty()
    );
    let e = h.error(7, Fcall::Tstat { fid: Fid(0) });
    assert_eq!(e, ename::DUPLICATE_TAG);
    // The first request is still pending and still answered.
    h.tree.push(b"x");
    let r = h.retry();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].body, Fcall::Rread { data: b"x" });
}

#[test]
fn notag_is_refused_for_anything_but_version() {
    let mut h = Harness::attached();
    let e = h.error(NOTAG, Fcall::Tstat { fid: Fid(0) });
    assert_eq!(e, ename::NOTAG);
}

#[test]
fn pending_reads_are_bounded() {
    let config = Config {
        max_outstanding: 2,
        ..Config::default()
    };
    let mut h = Harness::with(common::MemConn { trusted: true }, config, 1);
    h.rpc(
        NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    );
    h.attach_operator(0);
    h.open_read(1, "pipe");
    assert!(
        h.send(
            10,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 10
            }
        )
        .is_empty()
    );
    assert!(
        h.send(
            11,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 10
            }
        )
        .is_empty()
    );
    let e = h.error(
        12,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 10,
        },
    );
    assert_eq!(e, ename::TOO_MANY_REQUESTS);
    assert_eq!(h.session.counters().outstanding, 2);
    // The refused read left nothing behind in the tree.
    assert!(!h.tree.waiting.contains(&ninep::Tag(12)));
}

#[test]
fn counters_follow_fids_attaches_and_outstanding_reads() {
    let mut h = Harness::attached();
    h.attach_operator(5);
    h.walk(0, 1, "readonly");
    h.open_read(2, "pipe");
    assert!(
        h.send(
            9,
            Fcall::Tread {
                fid: Fid(2),
                offset: 0,
                count: 10
            }
        )
        .is_empty()
    );
    let c = h.session.counters();
    assert_eq!((c.fids, c.attaches, c.outstanding), (4, 2, 1));
    // The attach of fid 5 ends with its only fid; fid 0's lives on in 1 and 2.
    h.rpc(20, Fcall::Tclunk { fid: Fid(5) });
    h.rpc(21, Fcall::Tclunk { fid: Fid(0) });
    let c = h.session.counters();
    assert_eq!((c.fids, c.attaches), (2, 1));
    h.rpc(
        22,
        Fcall::Tflush {
            oldtag: ninep::Tag(9),
        },
    );
    h.rpc(23, Fcall::Tclunk { fid: Fid(1) });
    h.rpc(24, Fcall::Tclunk { fid: Fid(2) });
    assert_eq!(h.session.counters(), Default::default());
}
