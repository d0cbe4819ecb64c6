//! write(5): only on fids opened for writing; the tree says how much it took.

mod common;

use common::Harness;
use ninep::msg::{Fcall, Fid, OWRITE};
use ninep::server::ename;

#[test]
fn writing_a_fid_not_open_for_writing_is_refused() {
    let mut h = Harness::attached();
    h.walk(0, 1, "writeonly");
    let e = h.error(
        5,
        Fcall::Twrite {
            fid: Fid(1),
            offset: 0,
            data: b"x",
        },
    );
    assert_eq!(e, ename::NOT_OPEN_WRITE);
    h.open_read(2, "readonly");
    let e = h.error(
        5,
        Fcall::Twrite {
            fid: Fid(2),
            offset: 0,
            data: b"x",
        },
    );
    assert_eq!(e, ename::NOT_OPEN_WRITE);
}

#[test]
fn a_write_lands_in_the_tree_and_reports_its_count() {
    let mut h = Harness::attached();
    let r = h.open(1, "writeonly", OWRITE);
    assert!(matches!(r.body, Fcall::Ropen { .. }));
    let r = h.rpc(
        5,
        Fcall::Twrite {
            fid: Fid(1),
            offset: 2,
            data: b"abc",
        },
    );
    assert_eq!(r.body, Fcall::Rwrite { count: 3 });
    let path = h.tree.lookup("/writeonly").expect("writeonly");
    assert_eq!(h.tree.files[&path].content, b"\0\0abc");
}

#[test]
fn a_tree_error_is_the_rerror() {
    let mut h = Harness::attached();
    h.walk(0, 1, "home");
    h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: "f",
            perm: 0o666,
            mode: OWRITE,
        },
    );
    // The test tree refuses offsets past 1 MiB.
    let e = h.error(
        5,
        Fcall::Twrite {
            fid: Fid(1),
            offset: 1 << 40,
            data: b"x",
        },
    );
    assert_eq!(e, "invalid argument");
}
