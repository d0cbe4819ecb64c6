//! A real-time priority the OS refuses (here one out of SCHED_FIFO's 1-99) leaves the relay
//! threads on the normal scheduler, says why, and the engine relays as usual.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::net::Ipv4Addr;

use media::PortRange;
use media_common::*;
use net::media::{MediaConfig, MediaEngine, Realtime};

#[test]
fn media_relay_realtime_refused_still_relays() {
    let engine = MediaEngine::start(MediaConfig {
        bind_v4: Some(Ipv4Addr::LOCALHOST),
        ports: PortRange::new(23200, 23299).unwrap(),
        workers: 2,
        realtime_priority: Some(100),
        ..MediaConfig::default()
    })
    .unwrap();
    let Realtime::Refused { priority, reason } = engine.realtime() else {
        panic!("priority 100 accepted: {:?}", engine.realtime());
    };
    assert_eq!(*priority, 100);
    assert!(!reason.is_empty());
    let threads = relay_thread_policies();
    assert_eq!(threads, vec![(0, 0), (0, 0)]);
    relays_one_packet(&engine);
}
