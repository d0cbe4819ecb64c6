//! create(5): the fid becomes the new file, opened; permission in the directory; masked perm;
//! illegal names.

mod common;

use common::Harness;
use ninep::msg::{DMDIR, Fcall, Fid, OREAD, OWRITE};
use ninep::server::ename;

#[test]
fn create_turns_the_fid_into_the_new_file_opened() {
    let mut h = Harness::attached();
    h.walk(0, 1, "home");
    let r = h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: "new",
            perm: 0o644,
            mode: OWRITE,
        },
    );
    let Fcall::Rcreate { qid, .. } = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(Some(qid.path), h.tree.lookup("/home/new"));
    // Open for writing already: a write goes through, a second open is refused.
    let r = h.rpc(
        5,
        Fcall::Twrite {
            fid: Fid(1),
            offset: 0,
            data: b"hello",
        },
    );
    assert_eq!(r.body, Fcall::Rwrite { count: 5 });
    assert_eq!(
        h.error(
            6,
            Fcall::Topen {
                fid: Fid(1),
                mode: OREAD
            }
        ),
        ename::FID_OPEN
    );
    let Fcall::Rstat { stat } = h.rpc(7, Fcall::Tstat { fid: Fid(1) }).body else {
        panic!()
    };
    assert_eq!((stat.name.as_ref(), stat.length), ("new", 5));
}

#[test]
fn create_needs_write_permission_in_the_directory() {
    let mut h = Harness::attached();
    h.walk(0, 1, "big");
    let e = h.error(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: "x",
            perm: 0o644,
            mode: OWRITE,
        },
    );
    assert_eq!(e, "permission denied");
    assert!(h.tree.lookup("/big/x").is_none());
}

#[test]
fn permissions_are_masked_by_the_directory() {
    let mut h = Harness::attached();
    // users/alice is 0755 owned by alice; make adm a directory it may write: home (0777),
    // then a child dir 0750 and create in it.
    h.walk(0, 1, "home");
    h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: "d",
            perm: DMDIR | 0o750,
            mode: OREAD,
        },
    );
    h.walk(0, 2, "home/d");
    h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(2),
            name: "f",
            perm: 0o666,
            mode: OWRITE,
        },
    );
    h.walk(0, 3, "home/d");
    h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(3),
            name: "sub",
            perm: DMDIR | 0o777,
            mode: OREAD,
        },
    );
    let f = h.tree.lookup("/home/d/f").expect("f");
    let sub = h.tree.lookup("/home/d/sub").expect("sub");
    //= open(5)
    //# perm & (~0666 | (dir.perm & 0666)) ... perm & (~0777 | (dir.perm & 0777))
    assert_eq!(h.tree.files[&f].mode, 0o640);
    assert_eq!(h.tree.files[&sub].mode, DMDIR | 0o750);
}

#[test]
fn dot_dotdot_empty_and_slash_names_cannot_be_created() {
    let mut h = Harness::attached();
    for (i, name) in [".", "..", "", "a/b"].into_iter().enumerate() {
        let fid = 10 + i as u32;
        h.walk(0, fid, "home");
        let e = h.error(
            4,
            Fcall::Tcreate {
                fid: Fid(fid),
                name,
                perm: 0o644,
                mode: OWRITE,
            },
        );
        assert_eq!(e, ename::BAD_NAME, "{name:?}");
    }
}

#[test]
fn create_in_a_file_is_refused() {
    let mut h = Harness::attached();
    h.walk(0, 1, "readonly");
    let e = h.error(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: "x",
            perm: 0o644,
            mode: OWRITE,
        },
    );
    assert_eq!(e, "not a directory");
}

#[test]
fn a_directory_is_not_created_open_for_writing() {
    let mut h = Harness::attached();
    h.walk(0, 1, "home");
    let e = h.error(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: "d",
            perm: DMDIR | 0o777,
            mode: OWRITE,
        },
    );
    assert_eq!(e, "file is a directory");
    assert!(h.tree.lookup("/home/d").is_none());
}

#[test]
fn an_existing_name_is_refused_by_the_tree() {
    let mut h = Harness::attached();
    h.walk(0, 1, "");
    let e = h.error(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: "home",
            perm: 0o644,
            mode: OWRITE,
        },
    );
    assert_eq!(e, "file already exists");
}
