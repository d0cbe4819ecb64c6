//! A client that hangs up with a read pending: the mux flushes the read and clunks its fids
//! upstream, swallowing the replies, so the upstream's fid count is back where it was.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use common::Event as TreeEvent;
use mux_net::Net;
use ninep::msg::{Fcall, Fid};

#[test]
fn its_fids_and_requests_in_flight_are_settled_upstream() {
    let mut net = Net::new();
    let stays = net.versioned();
    net.login(stays, 100, 0, "bob");
    let fids_before = net.up.fids();
    let attaches_before = net.up.session.counters().attaches;

    let goes = net.versioned();
    net.login(goes, 100, 0, "alice");
    net.open_read(goes, 0, 1, "notes");
    net.walk(goes, 0, 2, "");
    // A read still on its way upstream when the client hangs up: its reply comes, and is
    // swallowed.
    net.put(
        goes,
        9,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 64,
        },
    );
    assert!(net.up.fids() > fids_before);
    net.mux.client_gone(goes);
    net.pump();
    assert!(
        net.take(goes).is_empty(),
        "nothing for a client that is gone"
    );
    assert_eq!(net.up.fids(), fids_before);
    assert_eq!(net.up.session.counters().attaches, attaches_before);
    let c = net.mux.counters();
    assert_eq!((c.clients, c.sessions, c.outstanding), (1, 1, 0));
    assert_eq!(c.fids, fids_before);
    // The other client carries on.
    assert_eq!(net.stat_name(stays, 3, 0), "bob");
}

#[test]
fn a_pending_read_is_cancelled_and_its_fid_clunked() {
    let mut net = Net::trusted();
    let stays = net.versioned();
    net.attach_operator(stays, 0);
    let fids_before = net.up.fids();
    let goes = net.versioned();
    net.attach_operator(goes, 0);
    net.open_read(goes, 0, 1, "pipe");
    net.send(
        goes,
        9,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 64,
        },
    );
    assert_eq!(net.up.tree.waiting.len(), 1);
    assert_eq!(net.up.fids(), fids_before + 2);
    net.mux.client_gone(goes);
    net.pump();
    assert!(net.up.tree.waiting.is_empty());
    assert!(
        net.up
            .tree
            .events
            .iter()
            .any(|e| matches!(e, TreeEvent::Cancel { .. })),
        "{:?}",
        net.up.tree.events
    );
    assert_eq!(net.up.fids(), fids_before);
    assert_eq!(net.mux.counters().sessions, 1);
    assert_eq!(net.mux.counters().outstanding, 0);
    // A packet now goes to no one, and the other client is unaffected.
    net.push(b"late");
    assert!(net.take(stays).is_empty());
    assert_eq!(net.stat_name(stays, 3, 0), "/");
}
