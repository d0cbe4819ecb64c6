//! Two muxes back to back on one link: each carries its clients' sessions to the other, whose
//! export server answers them, so sessions run both ways over the one connection at once.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use std::collections::BTreeMap;

use mux_net::{Server, decode_all, enc, frames, names};
use ninep::msg::{Fcall, Fid, Message, NOFID, NOTAG, Tag};
use ninep::mux::{ClientId, Config, Mux, ename};

/// One side: a mux, its export server, what its clients received.
struct Side {
    mux: Mux,
    export: Server,
    inbox: BTreeMap<ClientId, Vec<Message<'static>>>,
}

impl Side {
    fn new(files: usize) -> Side {
        let mut mux = Mux::new(Config::default());
        mux.export_connected();
        Side {
            mux,
            export: Server::new(true, Default::default(), files),
            inbox: BTreeMap::new(),
        }
    }

    /// Export traffic and client output; returns whether anything moved.
    fn local(&mut self) -> bool {
        let mut moved = false;
        let out = self.mux.export_output().to_vec();
        self.mux.consume_export_output(out.len());
        if !out.is_empty() {
            moved = true;
            let replies = self.export.feed(&out);
            for f in frames(&replies) {
                self.mux.handle_export(f);
            }
        }
        while let Some(id) = self.mux.poll_client_ready() {
            let out = self.mux.client_output(id).to_vec();
            self.mux.consume_client_output(id, out.len());
            moved |= !out.is_empty();
            self.inbox.entry(id).or_default().extend(decode_all(&out));
        }
        moved
    }
}

/// What `from` sends on the link, to `to`.
fn link(from: &mut Side, to: &mut Side) -> bool {
    let out = from.mux.upstream_output().to_vec();
    from.mux.consume_upstream_output(out.len());
    for f in frames(&out) {
        to.mux.handle_upstream(f);
    }
    !out.is_empty()
}

/// Moves bytes across the link and locally on both sides until nothing moves.
fn pump(a: &mut Side, b: &mut Side) {
    loop {
        let mut moved = a.local() | b.local();
        moved |= link(a, b);
        moved |= link(b, a);
        assert!(a.mux.poll_event().is_none() && b.mux.poll_event().is_none());
        if !moved {
            return;
        }
    }
}

fn rpc(
    a: &mut Side,
    b: &mut Side,
    on_a: bool,
    c: ClientId,
    tag: u16,
    body: Fcall<'_>,
) -> Fcall<'static> {
    let side = if on_a { &mut *a } else { &mut *b };
    side.mux.handle_client(c, &enc(tag, body));
    pump(a, b);
    let side = if on_a { &mut *a } else { &mut *b };
    let mut r = side.inbox.remove(&c).unwrap_or_default();
    assert_eq!(r.len(), 1, "{r:?}");
    let r = r.remove(0);
    assert_eq!(r.tag, Tag(tag));
    r.body
}

fn open_session(a: &mut Side, b: &mut Side, on_a: bool) -> ClientId {
    let c = if on_a {
        a.mux.add_client()
    } else {
        b.mux.add_client()
    };
    let r = rpc(
        a,
        b,
        on_a,
        c,
        NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    );
    assert!(matches!(r, Fcall::Rversion { msize: 8192, .. }), "{r:?}");
    let r = rpc(
        a,
        b,
        on_a,
        c,
        1,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid(NOFID),
            uname: "adm",
            aname: "",
        },
    );
    assert!(matches!(r, Fcall::Rattach { .. }), "{r:?}");
    c
}

#[test]
fn sessions_run_both_ways_over_one_link() {
    // A's export has 3 files in big/, B's has 7.
    let mut a = Side::new(3);
    let mut b = Side::new(7);
    // A dials, B accepts: both version the link, each answered by the other's export.
    a.mux.upstream_connected();
    b.mux.upstream_connected();
    pump(&mut a, &mut b);
    assert!(a.mux.upstream_msize().is_some() && b.mux.upstream_msize().is_some());

    let on_a = open_session(&mut a, &mut b, true);
    let on_b = open_session(&mut a, &mut b, false);
    // Same tags and fids on both sides, at once, each reaching the other side's export.
    a.mux.handle_client(
        on_a,
        &enc(
            5,
            Fcall::Twalk {
                fid: Fid(0),
                newfid: Fid(1),
                wnames: names("big/f0005"),
            },
        ),
    );
    b.mux.handle_client(
        on_b,
        &enc(
            5,
            Fcall::Twalk {
                fid: Fid(0),
                newfid: Fid(1),
                wnames: names("big/f0005"),
            },
        ),
    );
    pump(&mut a, &mut b);
    let ra = a.inbox.remove(&on_a).unwrap_or_default();
    let rb = b.inbox.remove(&on_b).unwrap_or_default();
    // A's client walks in B's export (7 files): whole; B's in A's (3 files): stops at big.
    assert!(
        matches!(&ra[0].body, Fcall::Rwalk { wqids } if wqids.len() == 2),
        "{ra:?}"
    );
    assert!(
        matches!(&rb[0].body, Fcall::Rwalk { wqids } if wqids.len() == 1),
        "{rb:?}"
    );
    assert_eq!(
        b.export.fids(),
        2,
        "A's client: root and f0005 on B's export"
    );
    assert_eq!(
        a.export.fids(),
        1,
        "B's client: its root only on A's export"
    );
    let r = rpc(
        &mut a,
        &mut b,
        true,
        on_a,
        6,
        Fcall::Topen {
            fid: Fid(1),
            mode: 0,
        },
    );
    assert!(matches!(r, Fcall::Ropen { .. }), "{r:?}");
    let r = rpc(
        &mut a,
        &mut b,
        true,
        on_a,
        7,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 64,
        },
    );
    assert_eq!(r, Fcall::Rread { data: b"file 5\n" });

    // B's client hangs up: B clunks its fid across the link, on A's export.
    b.mux.client_gone(on_b);
    pump(&mut a, &mut b);
    assert_eq!(a.export.fids(), 0);
    assert_eq!(b.export.fids(), 2);
}

#[test]
fn without_an_export_the_peers_requests_are_refused() {
    let mut mux = Mux::new(Config::default());
    mux.upstream_connected();
    let _ = mux.upstream_output().len();
    mux.consume_upstream_output(usize::MAX);
    mux.handle_upstream(&enc(
        NOTAG,
        Fcall::Rversion {
            msize: 8192,
            version: "9P2000",
        },
    ));
    mux.handle_upstream(&enc(3, Fcall::Tstat { fid: Fid(0) }));
    mux.handle_upstream(&enc(4, Fcall::Tflush { oldtag: Tag(3) }));
    let out = decode_all(mux.upstream_output());
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0].body,
        Fcall::Rerror {
            ename: ename::NO_EXPORT
        }
    );
    assert_eq!((out[1].tag, &out[1].body), (Tag(4), &Fcall::Rflush));
}

#[test]
fn losing_the_export_answers_the_peers_outstanding_requests() {
    let mut mux = Mux::new(Config::default());
    mux.upstream_connected();
    mux.consume_upstream_output(usize::MAX);
    mux.handle_upstream(&enc(
        NOTAG,
        Fcall::Rversion {
            msize: 8192,
            version: "9P2000",
        },
    ));
    mux.export_connected();
    mux.handle_upstream(&enc(
        3,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 10,
        },
    ));
    assert!(!mux.export_output().is_empty());
    assert_eq!(mux.counters().reverse_outstanding, 1);
    mux.export_gone();
    let out = decode_all(mux.upstream_output());
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].tag, &out[0].body),
        (
            Tag(3),
            &Fcall::Rerror {
                ename: ename::EXPORT_LOST
            }
        )
    );
}
