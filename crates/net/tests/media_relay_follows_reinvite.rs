//! A re-INVITE that moves a leg's media to another address: the relay stops sending to the
//! old latched address and sends to the new SDP address.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::time::Duration;

use media::{Leg, LegRemote, MediaControl, SessionOptions};
use media_common::*;

#[test]
fn media_relay_follows_reinvite() {
    let engine = engine(22500, 22599, Duration::from_secs(1));
    let info = engine.open(SessionOptions::new()).unwrap();
    let caller = phone("127.0.0.1");
    let callee = phone("127.0.0.1");
    let moved = phone("127.0.0.2");
    for (leg, p) in [(Leg::A, &caller), (Leg::B, &callee)] {
        engine
            .set_remote(
                info.id,
                leg,
                LegRemote::new(ip("127.0.0.1"), p.local_addr().unwrap()),
            )
            .unwrap();
    }
    // Both latch.
    send_until_received(&caller, info.leg(Leg::A).rtp, &rtp(0, 1, 1), &callee, 50).unwrap();
    send_until_received(&callee, info.leg(Leg::B).rtp, &rtp(0, 2, 1), &caller, 50).unwrap();
    // The callee re-INVITEs with media on another host.
    engine
        .set_remote(
            info.id,
            Leg::B,
            LegRemote::new(ip("127.0.0.1"), moved.local_addr().unwrap()),
        )
        .unwrap();
    let (got, _) = send_until_received(&caller, info.leg(Leg::A).rtp, &rtp(0, 1, 2), &moved, 50)
        .expect("media goes to the new address");
    assert_eq!(got, rtp(0, 1, 2));
    // Nothing more reaches the old address (a packet or two in flight before the change
    // may have).
    drain(&callee, Duration::from_millis(20));
    caller.send_to(&rtp(0, 1, 3), info.leg(Leg::A).rtp).unwrap();
    assert!(drain(&callee, Duration::from_millis(100)).is_empty());
}
