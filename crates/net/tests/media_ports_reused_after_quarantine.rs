//! Ports of a closed session are not handed out again until their quarantine is over, so
//! late packets of one call never reach the next; after it they are reused.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::time::Duration;

use media::{Leg, MediaControl, MediaError, SessionOptions};
use media_common::*;

#[test]
fn media_ports_reused_after_quarantine() {
    // Two pairs: room for exactly one session.
    let engine = engine(22200, 22203, Duration::from_secs(2));
    let first = engine.open(SessionOptions::new()).unwrap();
    assert_eq!(
        engine.open(SessionOptions::new()).unwrap_err(),
        MediaError::NoPorts
    );
    engine.close(first.id).unwrap();
    assert_eq!(engine.ports_quarantined(), 2);
    // Just closed: still quarantined.
    assert_eq!(
        engine.open(SessionOptions::new()).unwrap_err(),
        MediaError::NoPorts
    );
    // Within 5 s (the quarantine is 2 s) the same ports come back.
    let mut second = None;
    for _ in 0..100 {
        match engine.open(SessionOptions::new()) {
            Ok(info) => {
                second = Some(info);
                break;
            }
            Err(MediaError::NoPorts) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("{e}"),
        }
    }
    let second = second.expect("ports reused after the quarantine");
    let mut old = [first.leg(Leg::A).rtp, first.leg(Leg::B).rtp];
    let mut new = [second.leg(Leg::A).rtp, second.leg(Leg::B).rtp];
    old.sort();
    new.sort();
    assert_eq!(old, new);
    assert_ne!(first.id, second.id);
}
