//! RTP bleed (CVE-2017-14099): a stranger who sprays the relay's ports must not latch onto a
//! leg and receive its audio. Under the default strict policy only the leg's signalling IP
//! or SDP IP may latch.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::time::Duration;

use media::{Leg, LegRemote, MediaControl, SessionOptions};
use media_common::*;

#[test]
fn media_relay_refuses_stranger() {
    let engine = engine(22100, 22199, Duration::from_secs(1));
    let info = engine.open(SessionOptions::new()).unwrap();
    let caller = phone("127.0.0.1");
    let callee = phone("127.0.0.1");
    let stranger = phone("127.0.0.66");
    engine
        .set_remote(
            info.id,
            Leg::A,
            LegRemote::new(ip("127.0.0.1"), caller.local_addr().unwrap()),
        )
        .unwrap();
    engine
        .set_remote(
            info.id,
            Leg::B,
            LegRemote::new(ip("127.0.0.1"), callee.local_addr().unwrap()),
        )
        .unwrap();

    // The stranger sends to leg A's port before the caller has sent anything...
    for seq in 0..5 {
        stranger
            .send_to(&rtp(0, 0x66, seq), info.leg(Leg::A).rtp)
            .unwrap();
    }
    // ...then the callee talks: the caller gets it (its SDP address), the stranger nothing.
    let (got, _) = send_until_received(&callee, info.leg(Leg::B).rtp, &rtp(0, 2, 1), &caller, 50)
        .expect("caller receives the callee's audio");
    assert_eq!(got, rtp(0, 2, 1));
    assert!(drain(&stranger, Duration::from_millis(100)).is_empty());
    // The stranger's packets reached nobody.
    assert!(drain(&callee, Duration::from_millis(50)).is_empty());

    let stats = stats_until(&engine, info.id, |s| s.legs[0].dropped.stranger >= 5);
    assert_eq!(stats.leg(Leg::A).dropped.stranger, 5);
    assert_eq!(stats.leg(Leg::A).latched_rtp, None);
    assert!(engine.packets_dropped() >= 5);
}
