//! A phone behind NAT: its SDP names 127.0.0.99:PORT, where nothing listens (a private
//! address in real life). It still gets audio, as soon as it sends: the relay latches onto
//! where its packets come from (symmetric RTP).

#![allow(clippy::unwrap_used)]

mod media_common;

use std::time::Duration;

use media::{Leg, LegRemote, MediaControl, SessionOptions};
use media_common::*;

#[test]
fn media_relay_latches_nat() {
    let engine = engine(22000, 22099, Duration::from_secs(1));
    let info = engine.open(SessionOptions::new()).unwrap();
    let nat_phone = phone("127.0.0.1");
    let callee = phone("127.0.0.1");
    // The NATed phone's INVITE came from 127.0.0.1; its SDP says 127.0.0.99:PORT.
    let sdp_port = nat_phone.local_addr().unwrap().port();
    let private = format!("127.0.0.99:{sdp_port}").parse().unwrap();
    engine
        .set_remote(info.id, Leg::A, LegRemote::new(ip("127.0.0.1"), private))
        .unwrap();
    engine
        .set_remote(
            info.id,
            Leg::B,
            LegRemote::new(ip("127.0.0.1"), callee.local_addr().unwrap()),
        )
        .unwrap();

    // Before the NATed phone sends, the callee's audio goes to the dead SDP address.
    callee.send_to(&rtp(0, 2, 1), info.leg(Leg::B).rtp).unwrap();
    assert!(drain(&nat_phone, Duration::from_millis(100)).is_empty());

    // The NATed phone speaks: the callee hears it, unchanged, from the PBX's leg-B port.
    let (got, src) =
        send_until_received(&nat_phone, info.leg(Leg::A).rtp, &rtp(0, 1, 1), &callee, 50)
            .expect("callee receives the NATed phone's audio");
    assert_eq!(got, rtp(0, 1, 1));
    assert_eq!(src, info.leg(Leg::B).rtp);

    // And now the callee's audio reaches the NATed phone where it really is.
    let (got, src) =
        send_until_received(&callee, info.leg(Leg::B).rtp, &rtp(0, 2, 2), &nat_phone, 50)
            .expect("NATed phone receives audio once latched");
    assert_eq!(got, rtp(0, 2, 2));
    assert_eq!(src, info.leg(Leg::A).rtp);

    let stats = stats_until(&engine, info.id, |s| s.legs[0].latched_rtp.is_some());
    assert_eq!(
        stats.leg(Leg::A).latched_rtp,
        Some(nat_phone.local_addr().unwrap())
    );
    assert!(stats.leg(Leg::A).rtp_packets >= 1);
    assert!(stats.leg(Leg::A).last_rtp.is_some());
    assert!(engine.packets_relayed() >= 2);
}
