//! A client that stops reading its replies is disconnected once they pass the configured
//! size, and cleaned up upstream; meanwhile another client is served as if it were alone.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::Net;
use ninep::msg::{Fcall, Fid};
use ninep::mux::{self, DisconnectReason, Event};
use ninep::server;

#[test]
fn a_stalled_reader_never_holds_back_another() {
    let config = mux::Config {
        msize: 8192 + 24,
        max_queued: 4096,
        ..mux::Config::default()
    };
    let mut net = Net::with(config, server::Config::default(), true);
    let slow = net.versioned();
    let fast = net.versioned();
    net.attach_operator(fast, 0);
    let fids_before = net.up.fids();
    net.attach_operator(slow, 0);
    net.walk(slow, 0, 1, "big");
    net.stalled.insert(slow);
    let mut sent = 0;
    while !net
        .events
        .iter()
        .any(|e| matches!(e, Event::Disconnect { .. }))
    {
        sent += 1;
        assert!(sent < 1000, "never disconnected");
        net.send(slow, 7, Fcall::Tstat { fid: Fid(1) });
        // The fast client gets each of its answers at once.
        assert_eq!(net.stat_name(fast, 7, 0), "/");
    }
    // Limit: the larger of max_queued and msize, in stat replies of a few dozen bytes.
    assert!(sent > 100, "{sent}");
    assert_eq!(
        net.events,
        [Event::Disconnect {
            client: slow,
            reason: DisconnectReason::SlowReader
        }]
    );
    assert!(
        net.mux.client_output(slow).is_empty(),
        "its queue is dropped"
    );
    assert_eq!(net.up.fids(), fids_before, "its fids were clunked upstream");
    net.mux.client_gone(slow);
    assert_eq!(net.mux.counters().clients, 1);
    assert_eq!(net.mux.counters().sessions, 1);
}
