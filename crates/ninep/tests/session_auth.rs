//! attach(5) and auth: the afid is read and written without Topen, the tree decides each
//! attach from the afid, uname, aname and connection, and identity is per attach.

mod common;

use common::{Event, Harness};
use ninep::msg::{Fcall, Fid, OREAD, QTAUTH};
use ninep::server::ename;

fn authenticate(h: &mut Harness, afid: u32, uname: &'static str) {
    let r = h.rpc(
        1,
        Fcall::Tauth {
            afid: Fid(afid),
            uname,
            aname: "",
        },
    );
    let Fcall::Rauth { aqid } = r.body else {
        panic!("{r:?}")
    };
    assert!(aqid.ty & QTAUTH != 0);
    let challenge = h.read(1, afid, 0, 100);
    assert_eq!(challenge, format!("challenge {uname}\n").as_bytes());
    let r = h.rpc(
        1,
        Fcall::Twrite {
            fid: Fid(afid),
            offset: 0,
            data: b"secret\n",
        },
    );
    assert_eq!(r.body, Fcall::Rwrite { count: 7 });
}

#[test]
fn the_afid_is_read_and_written_without_open_and_validates_an_attach() {
    let mut h = Harness::untrusted();
    h.rpc(
        ninep::msg::NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    );
    authenticate(&mut h, 100, "alice");
    let r = h.rpc(
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid(100),
            uname: "alice",
            aname: "",
        },
    );
    let Fcall::Rattach { qid } = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(Some(qid.path), h.tree.lookup("/users/alice"));
}

#[test]
fn a_wrong_answer_fails_and_the_attach_is_refused() {
    let mut h = Harness::untrusted();
    h.rpc(
        ninep::msg::NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    );
    h.rpc(
        1,
        Fcall::Tauth {
            afid: Fid(100),
            uname: "alice",
            aname: "",
        },
    );
    let e = h.error(
        1,
        Fcall::Twrite {
            fid: Fid(100),
            offset: 0,
            data: b"guess\n",
        },
    );
    assert_eq!(e, "authentication failed");
    // Dead now: even the right answer does not revive it.
    let e = h.error(
        1,
        Fcall::Twrite {
            fid: Fid(100),
            offset: 0,
            data: b"secret\n",
        },
    );
    assert_eq!(e, "authentication failed");
    let e = h.error(
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid(100),
            uname: "alice",
            aname: "",
        },
    );
    assert_eq!(e, "authentication failed");
    assert_eq!(h.session.counters().attaches, 0);
}

#[test]
fn an_afid_made_for_one_user_does_not_attach_another() {
    let mut h = Harness::untrusted();
    h.rpc(
        ninep::msg::NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    );
    authenticate(&mut h, 100, "alice");
    let e = h.error(
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid(100),
            uname: "bob",
            aname: "",
        },
    );
    assert_eq!(e, ename::AUTH_MISMATCH);
    let e = h.error(
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid(100),
            uname: "alice",
            aname: "x",
        },
    );
    assert_eq!(e, ename::AUTH_MISMATCH);
}

#[test]
fn nofid_is_refused_on_an_untrusted_connection() {
    let mut h = Harness::untrusted();
    h.rpc(
        ninep::msg::NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    );
    let e = h.error(
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid::NOFID,
            uname: "adm",
            aname: "",
        },
    );
    assert_eq!(e, "authentication required");
}

#[test]
fn a_file_fid_is_not_an_afid() {
    let mut h = Harness::attached();
    let e = h.error(
        1,
        Fcall::Tattach {
            fid: Fid(1),
            afid: Fid(0),
            uname: "glenda",
            aname: "",
        },
    );
    assert_eq!(e, ename::NOT_AUTH_FID);
    let e = h.error(
        1,
        Fcall::Tattach {
            fid: Fid(1),
            afid: Fid(55),
            uname: "glenda",
            aname: "",
        },
    );
    assert_eq!(e, ename::UNKNOWN_FID);
}

#[test]
fn an_afid_cannot_be_walked_or_statted() {
    let mut h = Harness::versioned(8192);
    authenticate(&mut h, 100, "alice");
    let e = h.error(
        2,
        Fcall::Twalk {
            fid: Fid(100),
            newfid: Fid(1),
            wnames: common::names(&[]),
        },
    );
    assert_eq!(e, ename::AUTH_FID);
    assert_eq!(h.error(2, Fcall::Tstat { fid: Fid(100) }), ename::AUTH_FID);
    // Opening it is a harmless no-op.
    assert!(matches!(
        h.rpc(
            2,
            Fcall::Topen {
                fid: Fid(100),
                mode: OREAD
            }
        )
        .body,
        Fcall::Ropen { .. }
    ));
}

#[test]
fn two_attaches_on_one_connection_keep_their_own_identity_and_root() {
    let mut h = Harness::versioned(8192);
    authenticate(&mut h, 100, "alice");
    authenticate(&mut h, 101, "bob");
    h.rpc(
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid(100),
            uname: "alice",
            aname: "",
        },
    );
    h.rpc(
        1,
        Fcall::Tattach {
            fid: Fid(1),
            afid: Fid(101),
            uname: "bob",
            aname: "",
        },
    );
    // Alice sees her notes; bob, on the same connection, does not.
    h.walk(0, 10, "notes");
    let e = h.error(
        2,
        Fcall::Twalk {
            fid: Fid(1),
            newfid: Fid(11),
            wnames: common::names(&["notes"]),
        },
    );
    assert_eq!(e, "file does not exist");
    // `..` from bob's root stays there; "alice" is then not found: a partial walk, no fid.
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(1),
            newfid: Fid(11),
            wnames: common::names(&["..", "alice"]),
        },
    );
    let Fcall::Rwalk { wqids } = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(wqids.len(), 1);
    assert_eq!(Some(wqids[0].path), h.tree.lookup("/users/bob"));
    assert_eq!(
        h.error(3, Fcall::Tstat { fid: Fid(11) }),
        ename::UNKNOWN_FID
    );
    // Bob may create in his own root (0755 bob), not alice.
    h.walk(1, 12, "");
    let r = h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(12),
            name: "x",
            perm: 0o644,
            mode: 1,
        },
    );
    let Fcall::Rcreate { .. } = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(
        h.tree.files[&h.tree.lookup("/users/bob/x").expect("x")].uid,
        "bob"
    );
    assert_eq!(h.session.counters().attaches, 2);
}

#[test]
fn clunking_the_afid_tells_the_tree() {
    let mut h = Harness::versioned(8192);
    authenticate(&mut h, 100, "alice");
    h.rpc(1, Fcall::Tclunk { fid: Fid(100) });
    assert_eq!(
        h.tree.events,
        [Event::AuthClunk {
            uname: "alice".into()
        }]
    );
}

#[test]
fn tauth_on_a_fid_in_use_or_nofid_is_refused() {
    let mut h = Harness::attached();
    assert_eq!(
        h.error(
            1,
            Fcall::Tauth {
                afid: Fid(0),
                uname: "alice",
                aname: ""
            }
        ),
        ename::FID_IN_USE
    );
    assert_eq!(
        h.error(
            1,
            Fcall::Tauth {
                afid: Fid::NOFID,
                uname: "alice",
                aname: ""
            }
        ),
        ename::NOFID
    );
}
