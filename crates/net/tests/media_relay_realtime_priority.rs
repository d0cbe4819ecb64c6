//! `realtime_priority`: the engine says whether its relay threads got `SCHED_FIFO`, and what
//! it says is what the kernel shows for every one of them; either way it relays.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::net::Ipv4Addr;

use media::PortRange;
use media_common::*;
use net::media::{MediaConfig, MediaEngine, Realtime};

#[test]
fn media_relay_realtime_priority() {
    let engine = MediaEngine::start(MediaConfig {
        bind_v4: Some(Ipv4Addr::LOCALHOST),
        ports: PortRange::new(23100, 23199).unwrap(),
        workers: 2,
        realtime_priority: Some(3),
        ..MediaConfig::default()
    })
    .unwrap();
    let threads = relay_thread_policies();
    assert_eq!(threads.len(), 2, "{threads:?}");
    match engine.realtime() {
        // Where the test runs with CAP_SYS_NICE (root, or an RLIMIT_RTPRIO of 3 or more).
        Realtime::Applied { priority: 3 } => assert!(threads.iter().all(|&t| t == (1, 3))),
        Realtime::Refused {
            priority: 3,
            reason,
        } => {
            assert!(!reason.is_empty());
            assert!(threads.iter().all(|&t| t == (0, 0)), "{threads:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    relays_one_packet(&engine);
}
