//! A flood of garbage at one call's port does not stop the relay thread from serving another
//! call: each socket is drained a bounded number of packets at a time.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use media::{Leg, LegRemote, MediaControl, SessionOptions};
use media_common::*;

#[test]
fn media_relay_flood_spares_other_calls() {
    let engine = engine(22800, 22899, Duration::from_secs(1));
    let flooded = engine.open(SessionOptions::new()).unwrap();
    let call = engine.open(SessionOptions::new()).unwrap();
    let caller = phone("127.0.0.1");
    let callee = phone("127.0.0.1");
    for (leg, p) in [(Leg::A, &caller), (Leg::B, &callee)] {
        engine
            .set_remote(
                call.id,
                leg,
                LegRemote::new(ip("127.0.0.1"), p.local_addr().unwrap()),
            )
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = Arc::clone(&stop);
        let target = flooded.leg(Leg::A).rtp;
        std::thread::spawn(move || {
            let attacker = phone("127.0.0.66");
            let mut sent = 0u32;
            // Bounded: at most 200,000 packets or until told to stop.
            while !stop.load(Ordering::Relaxed) && sent < 200_000 {
                let _ = attacker.send_to(&rtp(0, 0x66, sent as u16), target);
                sent += 1;
            }
            sent
        })
    };
    // During the flood, the other call's audio gets through, every packet of it.
    let mut got = 0;
    for seq in 0..20u16 {
        if let Some((p, _)) =
            send_until_received(&caller, call.leg(Leg::A).rtp, &rtp(0, 1, seq), &callee, 20)
        {
            assert_eq!(p[8..12], rtp(0, 1, seq)[8..12], "the call's own stream");
            got += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent = flood.join().unwrap();
    assert_eq!(got, 20);
    let stats = stats_until(&engine, flooded.id, |s| s.leg(Leg::A).dropped.stranger > 0);
    assert!(
        stats.leg(Leg::A).dropped.stranger > 0,
        "flood of {sent} seen"
    );
}
