//! clunk(5) and remove(5): the fid always goes, the tree is told; remove needs write
//! permission in the parent and never reaches above the attach's root.

mod common;

use common::{Event, Harness};
use ninep::msg::{Fcall, Fid, OWRITE};
use ninep::server::ename;

#[test]
fn clunk_frees_the_fid_and_tells_the_tree() {
    let mut h = Harness::attached();
    h.open_read(1, "readonly");
    let path = h.tree.lookup("/readonly").expect("readonly");
    assert_eq!(h.rpc(5, Fcall::Tclunk { fid: Fid(1) }).body, Fcall::Rclunk);
    assert_eq!(h.tree.events, [Event::Clunk { path, open: true }]);
    assert_eq!(
        h.error(6, Fcall::Tclunk { fid: Fid(1) }),
        ename::UNKNOWN_FID
    );
    // The fid number is free again.
    h.walk(0, 1, "readonly");
}

#[test]
fn remove_removes_and_clunks() {
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
    let path = h.tree.lookup("/home/f").expect("f");
    assert_eq!(
        h.rpc(5, Fcall::Tremove { fid: Fid(1) }).body,
        Fcall::Rremove
    );
    assert!(h.tree.lookup("/home/f").is_none());
    assert!(h.tree.events.contains(&Event::Clunk { path, open: true }));
    assert_eq!(h.fids(), 1);
}

#[test]
fn a_failed_remove_still_clunks_the_fid() {
    let mut h = Harness::attached();
    h.walk(0, 1, "big/f0001");
    let e = h.error(5, Fcall::Tremove { fid: Fid(1) });
    assert_eq!(e, "permission denied");
    assert!(h.tree.lookup("/big/f0001").is_some());
    assert_eq!(h.fids(), 1);
    assert_eq!(
        h.error(6, Fcall::Tclunk { fid: Fid(1) }),
        ename::UNKNOWN_FID
    );
}

#[test]
fn a_tree_refusal_still_clunks_the_fid() {
    let mut h = Harness::attached();
    h.walk(0, 1, "users");
    // users/ is not empty; the tree refuses. (Its parent / is writable by adm.)
    let e = h.error(5, Fcall::Tremove { fid: Fid(1) });
    assert_eq!(e, "directory not empty");
    assert_eq!(h.fids(), 1);
}

#[test]
fn the_attach_root_cannot_be_removed() {
    let mut h = Harness::versioned(8192);
    h.rpc(
        1,
        Fcall::Tauth {
            afid: Fid(100),
            uname: "alice",
            aname: "",
        },
    );
    h.rpc(
        1,
        Fcall::Twrite {
            fid: Fid(100),
            offset: 0,
            data: b"secret\n",
        },
    );
    h.rpc(
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid(100),
            uname: "alice",
            aname: "",
        },
    );
    h.walk(0, 1, "notes");
    h.rpc(5, Fcall::Tremove { fid: Fid(1) });
    // Now alice's root is empty; still she cannot remove it: its parent is above her root.
    let e = h.error(6, Fcall::Tremove { fid: Fid(0) });
    assert_eq!(e, "permission denied");
    assert!(h.tree.lookup("/users/alice").is_some());
}
