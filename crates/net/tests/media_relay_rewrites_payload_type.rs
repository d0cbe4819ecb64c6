//! The payload-type map set for a direction is applied on the wire (telephone-event 101 on
//! one leg is 96 on the other); the rest of the packet passes unchanged, and the other
//! direction keeps its numbers.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::time::Duration;

use media::{Direction, Leg, LegRemote, MediaControl, PtMap, SessionOptions};
use media_common::*;

#[test]
fn media_relay_rewrites_payload_type() {
    let engine = engine(22300, 22399, Duration::from_secs(1));
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
    engine
        .set_pt_map(
            info.id,
            Direction::AToB,
            PtMap::from_pairs(&[(101, 96)]).unwrap(),
        )
        .unwrap();
    let event = rtp(0x80 | 101, 1, 7);
    let (got, _) = send_until_received(&caller, info.leg(Leg::A).rtp, &event, &callee, 50)
        .expect("callee receives the event");
    let mut expected = event.clone();
    expected[1] = 0x80 | 96;
    assert_eq!(got, expected);
    let back = rtp(101, 2, 1);
    let (got, _) = send_until_received(&callee, info.leg(Leg::B).rtp, &back, &caller, 50)
        .expect("caller receives");
    assert_eq!(got, back);
}
