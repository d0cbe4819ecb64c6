//! Garbage sent to every media port is dropped and counted, and the relay goes on relaying.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::time::Duration;

use media::{Leg, LegRemote, MediaControl, SessionOptions};
use media_common::*;

#[test]
fn media_relay_survives_malformed() {
    let engine = engine(22600, 22699, Duration::from_secs(1));
    let info = engine.open(SessionOptions::new()).unwrap();
    let caller = phone("127.0.0.1");
    let callee = phone("127.0.0.1");
    for (leg, p) in [(Leg::A, &caller), (Leg::B, &callee)] {
        engine
            .set_remote(
                info.id,
                leg,
                LegRemote::new(ip("127.0.0.1"), p.local_addr().unwrap()),
            )
            .unwrap();
    }
    let garbage: [&[u8]; 6] = [
        b"",
        b"\x80",
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        b"\x8f\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01",
        b"\xa0\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xff",
        &[0xffu8; 1500],
    ];
    for leg in [Leg::A, Leg::B] {
        for port in [info.leg(leg).rtp, info.leg(leg).rtcp] {
            for g in garbage {
                caller.send_to(g, port).unwrap();
            }
        }
    }
    // A 60 KB datagram of version 1 too (larger than any MTU; loopback carries it).
    caller
        .send_to(&vec![0x40u8; 60_000], info.leg(Leg::A).rtp)
        .unwrap();
    let (got, _) = send_until_received(&caller, info.leg(Leg::A).rtp, &rtp(0, 1, 1), &callee, 50)
        .expect("still relaying");
    assert_eq!(got, rtp(0, 1, 1));
    let stats = stats_until(&engine, info.id, |s| s.dropped() >= 25);
    assert!(stats.leg(Leg::A).dropped.malformed >= 12);
    assert!(
        stats.leg(Leg::B).dropped.total() >= 12,
        "B's ports: malformed or stranger"
    );
}
