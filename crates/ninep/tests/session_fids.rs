//! Fids: new ones must be free, old ones must exist, and their number is bounded.

mod common;

use common::{Harness, MemConn, names};
use ninep::msg::{Fcall, Fid, NOTAG, OREAD};
use ninep::server::{Config, ename};

#[test]
fn attach_to_a_fid_in_use_is_refused() {
    let mut h = Harness::attached();
    let e = h.error(
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid::NOFID,
            uname: "u",
            aname: "",
        },
    );
    assert_eq!(e, ename::FID_IN_USE);
    assert_eq!(h.session.counters().attaches, 1);
}

#[test]
fn forged_fids_are_unknown() {
    let mut h = Harness::attached();
    for body in [
        Fcall::Tstat { fid: Fid(99) },
        Fcall::Topen {
            fid: Fid(99),
            mode: OREAD,
        },
        Fcall::Tread {
            fid: Fid(99),
            offset: 0,
            count: 10,
        },
        Fcall::Twrite {
            fid: Fid(99),
            offset: 0,
            data: b"x",
        },
        Fcall::Tclunk { fid: Fid(99) },
        Fcall::Tremove { fid: Fid(99) },
        Fcall::Twalk {
            fid: Fid(99),
            newfid: Fid(100),
            wnames: names(&[]),
        },
    ] {
        assert_eq!(h.error(4, body.clone()), ename::UNKNOWN_FID, "{body:?}");
    }
    assert_eq!(h.fids(), 1);
}

#[test]
fn walk_to_a_newfid_in_use_is_refused() {
    let mut h = Harness::attached();
    h.walk(0, 1, "readonly");
    let e = h.error(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(1),
            wnames: names(&["home"]),
        },
    );
    assert_eq!(e, ename::FID_IN_USE);
}

#[test]
fn newfid_equal_to_fid_with_no_names_is_a_no_op() {
    let mut h = Harness::attached();
    let r = h.rpc(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(0),
            wnames: names(&[]),
        },
    );
    assert_eq!(
        r.body,
        Fcall::Rwalk {
            wqids: names_qids(&[])
        }
    );
    assert_eq!(h.fids(), 1);
}

fn names_qids(q: &[ninep::Qid]) -> ninep::msg::WalkQids {
    ninep::msg::WalkQids::from_slice(q).expect("few")
}

#[test]
fn newfid_equal_to_fid_moves_the_fid_when_the_walk_succeeds() {
    let mut h = Harness::attached();
    h.walk(0, 0, "users/alice");
    let r = h.rpc(3, Fcall::Tstat { fid: Fid(0) });
    let Fcall::Rstat { stat } = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(stat.name, "alice");
    assert_eq!(h.fids(), 1);
}

#[test]
fn the_number_of_fids_is_bounded() {
    let config = Config {
        max_fids: 3,
        ..Config::default()
    };
    let mut h = Harness::with(MemConn { trusted: true }, config, 1);
    h.rpc(
        NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    );
    h.attach_operator(0);
    h.walk(0, 1, "");
    h.walk(0, 2, "");
    let e = h.error(
        2,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(3),
            wnames: names(&[]),
        },
    );
    assert_eq!(e, ename::TOO_MANY_FIDS);
    let e = h.error(
        2,
        Fcall::Tauth {
            afid: Fid(3),
            uname: "alice",
            aname: "",
        },
    );
    assert_eq!(e, ename::TOO_MANY_FIDS);
    assert_eq!(h.fids(), 3);
}
