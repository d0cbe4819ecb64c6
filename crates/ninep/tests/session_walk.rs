//! walk(5): at most 16 names, not from an open fid, partial walks, and nothing above the
//! attach's root.

mod common;

use common::{Harness, names};
use ninep::msg::{Fcall, Fid, Message, OREAD, Tag, mtype};
use ninep::server::ename;

fn rwalk_len(m: &Message<'_>) -> usize {
    match &m.body {
        Fcall::Rwalk { wqids } => wqids.len(),
        other => panic!("expected Rwalk, got {other:?}"),
    }
}

#[test]
fn seventeen_names_are_refused() {
    let mut h = Harness::attached();
    // Built by hand: the encoder cannot hold 17 names.
    let mut body = Vec::new();
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&17u16.to_le_bytes());
    for _ in 0..17 {
        body.extend_from_slice(&[2, 0, b'.', b'.']);
    }
    let mut msg = Vec::new();
    msg.extend_from_slice(&(7 + body.len() as u32).to_le_bytes());
    msg.push(mtype::TWALK);
    msg.extend_from_slice(&5u16.to_le_bytes());
    msg.extend_from_slice(&body);
    let r = h.feed(&msg);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].tag, Tag(5));
    assert!(
        matches!(r[0].body, Fcall::Rerror { ename } if ename.contains("16")),
        "{r:?}"
    );
    assert_eq!(h.fids(), 1);
}

#[test]
fn sixteen_names_are_fine() {
    let mut h = Harness::attached();
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames: names(&[".."; 16]),
        },
    );
    assert_eq!(rwalk_len(&r), 16);
}

#[test]
fn walk_from_an_open_fid_is_refused() {
    let mut h = Harness::attached();
    h.walk(0, 1, "home");
    h.rpc(
        3,
        Fcall::Topen {
            fid: Fid(1),
            mode: OREAD,
        },
    );
    let e = h.error(
        2,
        Fcall::Twalk {
            fid: Fid(1),
            newfid: Fid(2),
            wnames: names(&[]),
        },
    );
    assert_eq!(e, ename::FID_OPEN);
}

#[test]
fn failing_on_the_first_name_is_rerror() {
    let mut h = Harness::attached();
    let e = h.error(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames: names(&["nope"]),
        },
    );
    assert_eq!(e, "file does not exist");
    assert_eq!(h.fids(), 1);
}

#[test]
fn failing_later_returns_the_qids_so_far_and_creates_no_fid() {
    let mut h = Harness::attached();
    let wnames = names(&["users", "alice", "nope", "deeper"]);
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames,
        },
    );
    assert_eq!(rwalk_len(&r), 2);
    assert_eq!(h.fids(), 1);
    let e = h.error(3, Fcall::Tstat { fid: Fid(1) });
    assert_eq!(e, ename::UNKNOWN_FID);
}

#[test]
fn failing_later_with_newfid_equal_to_fid_does_not_move_it() {
    let mut h = Harness::attached();
    let wnames = names(&["users", "nope"]);
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(0),
            wnames,
        },
    );
    assert_eq!(rwalk_len(&r), 1);
    let Fcall::Rstat { stat } = h.rpc(3, Fcall::Tstat { fid: Fid(0) }).body else {
        panic!()
    };
    assert_eq!(stat.name, "/");
}

#[test]
fn dotdot_at_the_root_stays_at_the_root() {
    let mut h = Harness::attached();
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames: names(&["..", ".."]),
        },
    );
    let Fcall::Rwalk { wqids } = r.body else {
        panic!("{r:?}")
    };
    assert!(wqids.iter().all(|q| q.path == common::memtree::ROOT));
}

#[test]
fn dotdot_walks_up_below_the_root() {
    let mut h = Harness::attached();
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames: names(&["users", "alice", "..", "bob"]),
        },
    );
    let Fcall::Rwalk { wqids } = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(wqids.len(), 4);
    assert_eq!(Some(wqids[2].path), h.tree.lookup("/users"));
    assert_eq!(Some(wqids[3].path), h.tree.lookup("/users/bob"));
}

/// Alice's attach is rooted at /users/alice: no walk reaches anything above it.
#[test]
fn nothing_above_the_attach_root_is_reachable() {
    let mut h = Harness::versioned(8192);
    let afid = Fid(100);
    h.rpc(
        1,
        Fcall::Tauth {
            afid,
            uname: "alice",
            aname: "",
        },
    );
    h.rpc(
        1,
        Fcall::Twrite {
            fid: afid,
            offset: 0,
            data: b"secret\n",
        },
    );
    h.rpc(
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid,
            uname: "alice",
            aname: "",
        },
    );
    let alice = h.tree.lookup("/users/alice").expect("alice");

    // `..` from alice's root, however often, stays there; then "bob" does not exist in it.
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames: names(&["..", "..", "..", "bob"]),
        },
    );
    let Fcall::Rwalk { wqids } = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(wqids.len(), 3);
    assert!(wqids.iter().all(|q| q.path == alice));
    assert_eq!(h.fids(), 2); // fid 0 and the afid

    // Down into a directory of hers and back up past the root.
    h.walk(0, 1, "");
    let mkdir = Fcall::Tcreate {
        fid: Fid(1),
        name: "sub",
        perm: ninep::msg::DMDIR | 0o755,
        mode: OREAD,
    };
    assert!(matches!(h.rpc(4, mkdir).body, Fcall::Rcreate { .. }));
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(2),
            wnames: names(&["sub", "..", "..", "..", "bob"]),
        },
    );
    let Fcall::Rwalk { wqids } = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(wqids.len(), 4);
    assert_eq!(wqids[3].path, alice);
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(2),
            wnames: names(&["..", "readonly"]),
        },
    );
    assert_eq!(rwalk_len(&r), 1);
    assert_eq!(
        h.error(3, Fcall::Tstat { fid: Fid(2) }),
        ninep::server::ename::UNKNOWN_FID
    );
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(0),
            wnames: names(&["..", ".."]),
        },
    );
    assert_eq!(rwalk_len(&r), 2);
    let Fcall::Rstat { stat } = h.rpc(3, Fcall::Tstat { fid: Fid(0) }).body else {
        panic!()
    };
    assert_eq!(stat.qid.path, alice);
}

#[test]
fn dot_is_a_name_like_any_other() {
    let mut h = Harness::attached();
    let e = h.error(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames: names(&["."]),
        },
    );
    assert_eq!(e, "file does not exist");
}

#[test]
fn a_name_with_a_slash_does_not_exist() {
    let mut h = Harness::attached();
    let e = h.error(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames: names(&["users/alice"]),
        },
    );
    assert_eq!(e, "file does not exist");
}

#[test]
fn walking_from_a_file_is_refused() {
    let mut h = Harness::attached();
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames: names(&["readonly", "x"]),
        },
    );
    assert_eq!(rwalk_len(&r), 1);
    h.walk(0, 1, "readonly");
    let e = h.error(
        2,
        Fcall::Twalk {
            fid: Fid(1),
            newfid: Fid(2),
            wnames: names(&[".."]),
        },
    );
    assert_eq!(e, ename::WALK_NOT_DIR);
    // A clone of a file is fine.
    h.walk(1, 2, "");
}
