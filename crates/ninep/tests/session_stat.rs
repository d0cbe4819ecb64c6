//! stat(5): Rstat fits msize; wstat's "don't touch" values, immutable fields, owner and
//! permission rules, and all-or-nothing.

mod common;

use common::Harness;
use ninep::msg::{DMDIR, Fcall, Fid, OWRITE, Qid, Stat};
use ninep::server::{Config, ename};

fn stat(h: &mut Harness, fid: u32) -> Stat<'static> {
    match h.rpc(7, Fcall::Tstat { fid: Fid(fid) }).body {
        Fcall::Rstat { stat } => stat,
        other => panic!("expected Rstat, got {other:?}"),
    }
}

/// A file of adm's in home/, on fid 1.
fn with_file() -> Harness {
    let mut h = Harness::attached();
    h.walk(0, 1, "home");
    h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: "f",
            perm: 0o644,
            mode: OWRITE,
        },
    );
    h.rpc(
        5,
        Fcall::Twrite {
            fid: Fid(1),
            offset: 0,
            data: b"content",
        },
    );
    h
}

#[test]
fn stat_describes_the_file() {
    let mut h = Harness::attached();
    h.walk(0, 1, "readonly");
    let s = stat(&mut h, 1);
    assert_eq!(
        (s.name.as_ref(), s.mode, s.length, s.uid.as_ref()),
        ("readonly", 0o444, 10, "adm")
    );
    assert_eq!(Some(s.qid.path), h.tree.lookup("/readonly"));
    assert_eq!(stat(&mut h, 0).name, "/");
}

#[test]
fn an_rstat_that_does_not_fit_msize_is_refused() {
    let config = Config::default();
    let mut h = Harness::with(common::MemConn { trusted: true }, config, 1);
    h.rpc(
        ninep::msg::NOTAG,
        Fcall::Tversion {
            msize: 256,
            version: "9P2000",
        },
    );
    h.attach_operator(0);
    h.walk(0, 1, "home");
    let long = "n".repeat(200); // Tcreate fits 256 bytes; its Rstat (9 + 49 + 206) does not
    h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(1),
            name: &long,
            perm: 0o644,
            mode: OWRITE,
        },
    );
    let e = h.error(7, Fcall::Tstat { fid: Fid(1) });
    assert_eq!(e, ename::STAT_TOO_BIG);
}

#[test]
fn all_dont_touch_values_change_nothing() {
    let mut h = with_file();
    let before = stat(&mut h, 1);
    let r = h.rpc(
        8,
        Fcall::Twstat {
            fid: Fid(1),
            stat: Stat::dont_touch(),
        },
    );
    assert_eq!(r.body, Fcall::Rwstat);
    assert_eq!(stat(&mut h, 1), before);
}

#[test]
fn wstat_renames_sets_mode_and_truncates() {
    let mut h = with_file();
    let new = Stat {
        name: "g".into(),
        mode: 0o600,
        length: 3,
        ..Stat::dont_touch()
    };
    assert_eq!(
        h.rpc(
            8,
            Fcall::Twstat {
                fid: Fid(1),
                stat: new
            }
        )
        .body,
        Fcall::Rwstat
    );
    let s = stat(&mut h, 1);
    assert_eq!((s.name.as_ref(), s.mode, s.length), ("g", 0o600, 3));
    assert!(h.tree.lookup("/home/g").is_some() && h.tree.lookup("/home/f").is_none());
}

#[test]
fn changing_type_dev_qid_owner_muid_or_atime_is_refused() {
    let mut h = with_file();
    let before = stat(&mut h, 1);
    let attempts = [
        Stat {
            ty: 1,
            ..Stat::dont_touch()
        },
        Stat {
            dev: 1,
            ..Stat::dont_touch()
        },
        Stat {
            qid: Qid {
                path: 999,
                ..Qid::DONT_TOUCH
            },
            ..Stat::dont_touch()
        },
        Stat {
            qid: Qid {
                version: 999,
                ..Qid::DONT_TOUCH
            },
            ..Stat::dont_touch()
        },
        Stat {
            uid: "alice".into(),
            ..Stat::dont_touch()
        },
        Stat {
            muid: "alice".into(),
            ..Stat::dont_touch()
        },
        Stat {
            atime: 5,
            ..Stat::dont_touch()
        },
    ];
    for st in attempts {
        let e = h.error(
            8,
            Fcall::Twstat {
                fid: Fid(1),
                stat: st.clone(),
            },
        );
        assert_eq!(e, ename::WSTAT_IMMUTABLE, "{st:?}");
    }
    // The current values themselves are not changes.
    let same = Stat {
        qid: before.qid,
        uid: before.uid.clone(),
        ..Stat::dont_touch()
    };
    assert_eq!(
        h.rpc(
            8,
            Fcall::Twstat {
                fid: Fid(1),
                stat: same
            }
        )
        .body,
        Fcall::Rwstat
    );
}

#[test]
fn the_directory_bit_cannot_change_and_a_directory_has_no_length() {
    let mut h = with_file();
    let e = h.error(
        8,
        Fcall::Twstat {
            fid: Fid(1),
            stat: Stat {
                mode: DMDIR | 0o644,
                ..Stat::dont_touch()
            },
        },
    );
    assert_eq!(e, ename::WSTAT_DIR_BIT);
    h.walk(0, 2, "home");
    let e = h.error(
        8,
        Fcall::Twstat {
            fid: Fid(2),
            stat: Stat {
                length: 1,
                ..Stat::dont_touch()
            },
        },
    );
    assert_eq!(e, ename::WSTAT_DIR_LENGTH);
}

#[test]
fn only_the_owner_changes_mode() {
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
    h.attach_operator(5);
    h.walk(5, 1, "users/alice/notes");
    let e = h.error(
        8,
        Fcall::Twstat {
            fid: Fid(1),
            stat: Stat {
                mode: 0o666,
                ..Stat::dont_touch()
            },
        },
    );
    assert_eq!(e, "permission denied");
    h.walk(0, 2, "notes");
    let r = h.rpc(
        8,
        Fcall::Twstat {
            fid: Fid(2),
            stat: Stat {
                mode: 0o666,
                ..Stat::dont_touch()
            },
        },
    );
    assert_eq!(r.body, Fcall::Rwstat);
}

#[test]
fn wstat_is_all_or_nothing() {
    let mut h = with_file();
    h.walk(0, 2, "home");
    h.rpc(
        4,
        Fcall::Tcreate {
            fid: Fid(2),
            name: "taken",
            perm: 0o644,
            mode: OWRITE,
        },
    );
    // A rename onto an existing name fails, and the mode in the same request is not applied.
    let new = Stat {
        name: "taken".into(),
        mode: 0o600,
        ..Stat::dont_touch()
    };
    let e = h.error(
        8,
        Fcall::Twstat {
            fid: Fid(1),
            stat: new,
        },
    );
    assert_eq!(e, "file already exists");
    let s = stat(&mut h, 1);
    assert_eq!((s.name.as_ref(), s.mode), ("f", 0o644));
}

#[test]
fn renaming_to_an_illegal_name_is_refused() {
    let mut h = with_file();
    for name in ["..", ".", "a/b"] {
        let e = h.error(
            8,
            Fcall::Twstat {
                fid: Fid(1),
                stat: Stat {
                    name: name.into(),
                    ..Stat::dont_touch()
                },
            },
        );
        assert_eq!(e, ename::BAD_NAME, "{name}");
    }
}
