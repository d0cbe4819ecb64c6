//! open(5): modes, permissions against the attach's user, directories, ORCLOSE, iounit.

mod common;

use common::{Event, Harness};
use ninep::msg::{Fcall, Fid, IOHDRSZ, OEXEC, ORCLOSE, ORDWR, OREAD, OTRUNC, OWRITE};
use ninep::server::ename;

fn open_error(h: &mut Harness, fid: u32, path: &str, mode: u8) -> &'static str {
    match h.open(fid, path, mode).body {
        Fcall::Rerror { ename } => ename,
        other => panic!("open {path} {mode:#x}: expected Rerror, got {other:?}"),
    }
}

#[test]
fn a_directory_cannot_be_opened_for_writing_truncation_or_rclose() {
    let mut h = Harness::attached();
    for (i, mode) in [OWRITE, ORDWR, OREAD | OTRUNC, OREAD | ORCLOSE]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            open_error(&mut h, 10 + i as u32, "home", mode),
            "file is a directory"
        );
    }
    let r = h.open(20, "home", OREAD);
    assert!(matches!(r.body, Fcall::Ropen { .. }), "{r:?}");
}

#[test]
fn a_write_only_file_cannot_be_opened_for_reading() {
    let mut h = Harness::attached();
    assert_eq!(
        open_error(&mut h, 1, "writeonly", OREAD),
        "permission denied"
    );
    assert_eq!(
        open_error(&mut h, 2, "writeonly", ORDWR),
        "permission denied"
    );
    let r = h.open(3, "writeonly", OWRITE);
    assert!(matches!(r.body, Fcall::Ropen { .. }), "{r:?}");
}

#[test]
fn a_read_only_file_cannot_be_opened_for_writing_or_truncation() {
    let mut h = Harness::attached();
    assert_eq!(
        open_error(&mut h, 1, "readonly", OWRITE),
        "permission denied"
    );
    assert_eq!(
        open_error(&mut h, 2, "readonly", OREAD | OTRUNC),
        "permission denied"
    );
    assert_eq!(
        open_error(&mut h, 3, "readonly", OEXEC),
        "permission denied"
    );
}

/// Alice owns /users/alice/notes (0644): owner bits for her, other bits for the operator
/// ("adm"), who reaches it from `/`.
#[test]
fn owner_bits_apply_to_the_owner_other_bits_to_the_rest() {
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
    h.walk(0, 10, "notes");
    let r = h.rpc(
        3,
        Fcall::Topen {
            fid: Fid(10),
            mode: ORDWR,
        },
    );
    assert!(matches!(r.body, Fcall::Ropen { .. }), "{r:?}");

    h.attach_operator(2);
    h.walk(2, 11, "users/alice/notes");
    let e = h.error(
        3,
        Fcall::Topen {
            fid: Fid(11),
            mode: OWRITE,
        },
    );
    assert_eq!(e, "permission denied");
    let r = h.rpc(
        3,
        Fcall::Topen {
            fid: Fid(11),
            mode: OREAD,
        },
    );
    assert!(matches!(r.body, Fcall::Ropen { .. }), "{r:?}");
}

#[test]
fn an_open_fid_cannot_be_opened_again() {
    let mut h = Harness::attached();
    h.open_read(1, "readonly");
    let e = h.error(
        3,
        Fcall::Topen {
            fid: Fid(1),
            mode: OREAD,
        },
    );
    assert_eq!(e, ename::FID_OPEN);
}

#[test]
fn unknown_mode_bits_are_refused() {
    let mut h = Harness::attached();
    assert_eq!(open_error(&mut h, 1, "readonly", 0x20), ename::BAD_MODE);
    assert_eq!(open_error(&mut h, 2, "readonly", 0x80), ename::BAD_MODE);
}

#[test]
fn iounit_is_msize_minus_iohdrsz() {
    let mut h = Harness::attached();
    let r = h.open(1, "readonly", OREAD);
    let Fcall::Ropen { iounit, qid } = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(iounit, 8192 - IOHDRSZ);
    assert_eq!(Some(qid.path), h.tree.lookup("/readonly"));
}

#[test]
fn rclose_removes_the_file_at_clunk() {
    let mut h = Harness::attached();
    h.walk(0, 1, "home");
    h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: "tmp",
            perm: 0o666,
            mode: OWRITE,
        },
    );
    h.rpc(4, Fcall::Tclunk { fid: Fid(1) });
    let r = h.open(2, "home/tmp", OREAD | ORCLOSE);
    assert!(matches!(r.body, Fcall::Ropen { .. }), "{r:?}");
    let path = h.tree.lookup("/home/tmp").expect("tmp");
    h.rpc(5, Fcall::Tclunk { fid: Fid(2) });
    assert!(h.tree.lookup("/home/tmp").is_none());
    assert!(h.tree.events.contains(&Event::Remove { path }));
}

#[test]
fn rclose_needs_write_permission_in_the_parent() {
    let mut h = Harness::attached();
    // big/ is 0555: its files cannot be removed, so not opened ORCLOSE either.
    assert_eq!(
        open_error(&mut h, 1, "big/f0000", OREAD | ORCLOSE),
        "permission denied"
    );
}
