//! RTCP is relayed between the legs' odd ports, to the RTP port + 1 of each phone's SDP.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::net::SocketAddr;
use std::time::Duration;

use media::{Leg, LegRemote, MediaControl, SessionOptions};
use media_common::*;

#[test]
fn media_relay_rtcp() {
    let engine = engine(22400, 22499, Duration::from_secs(1));
    let info = engine.open(SessionOptions::new()).unwrap();
    let caller_rtcp = phone("127.0.0.1");
    let callee_rtcp = phone("127.0.0.1");
    // Each phone's SDP names RTP on the port below its RTCP socket.
    let rtp_of = |p: &std::net::UdpSocket| {
        let a = p.local_addr().unwrap();
        SocketAddr::new(a.ip(), a.port() - 1)
    };
    engine
        .set_remote(
            info.id,
            Leg::A,
            LegRemote::new(ip("127.0.0.1"), rtp_of(&caller_rtcp)),
        )
        .unwrap();
    engine
        .set_remote(
            info.id,
            Leg::B,
            LegRemote::new(ip("127.0.0.1"), rtp_of(&callee_rtcp)),
        )
        .unwrap();
    let (got, src) = send_until_received(
        &caller_rtcp,
        info.leg(Leg::A).rtcp,
        &rtcp(1),
        &callee_rtcp,
        50,
    )
    .expect("callee's RTCP port receives the report");
    assert_eq!(got, rtcp(1));
    assert_eq!(src, info.leg(Leg::B).rtcp);
    let (got, src) = send_until_received(
        &callee_rtcp,
        info.leg(Leg::B).rtcp,
        &rtcp(2),
        &caller_rtcp,
        50,
    )
    .expect("caller's RTCP port receives the report");
    assert_eq!(got, rtcp(2));
    assert_eq!(src, info.leg(Leg::A).rtcp);
    let stats = stats_until(&engine, info.id, |s| s.legs[1].last_rtcp.is_some());
    assert!(stats.leg(Leg::A).rtcp_packets >= 1);
    assert!(stats.leg(Leg::B).last_rtcp.is_some());
}
