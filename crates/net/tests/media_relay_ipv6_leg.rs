//! An IPv6 leg relayed to an IPv4 leg (the engine binds both families).

#![allow(clippy::unwrap_used)]

mod media_common;

use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::time::Duration;

use media::{AddressFamily, Leg, LegRemote, MediaControl, PortRange, SessionOptions};
use media_common::*;
use net::media::{MediaConfig, MediaEngine};

#[test]
fn media_relay_ipv6_leg() {
    if UdpSocket::bind("[::1]:0").is_err() {
        // No IPv6 loopback on this machine: nothing to show.
        eprintln!("skipped: no ::1");
        return;
    }
    let engine = MediaEngine::start(MediaConfig {
        bind_v4: Some(Ipv4Addr::LOCALHOST),
        bind_v6: Some(Ipv6Addr::LOCALHOST),
        ports: PortRange::new(22700, 22799).unwrap(),
        quarantine: Duration::from_secs(1),
        ..MediaConfig::default()
    })
    .unwrap();
    let info = engine
        .open(SessionOptions::new().with_family(Leg::A, AddressFamily::V6))
        .unwrap();
    assert!(info.leg(Leg::A).rtp.is_ipv6());
    assert!(info.leg(Leg::B).rtp.is_ipv4());
    let caller = phone("::1");
    let callee = phone("127.0.0.1");
    engine
        .set_remote(
            info.id,
            Leg::A,
            LegRemote::new(ip("::1"), caller.local_addr().unwrap()),
        )
        .unwrap();
    engine
        .set_remote(
            info.id,
            Leg::B,
            LegRemote::new(ip("127.0.0.1"), callee.local_addr().unwrap()),
        )
        .unwrap();
    let (got, _) = send_until_received(&caller, info.leg(Leg::A).rtp, &rtp(0, 1, 1), &callee, 50)
        .expect("v4 callee hears the v6 caller");
    assert_eq!(got, rtp(0, 1, 1));
    let (got, src) = send_until_received(&callee, info.leg(Leg::B).rtp, &rtp(0, 2, 1), &caller, 50)
        .expect("v6 caller hears the v4 callee");
    assert_eq!(got, rtp(0, 2, 1));
    assert_eq!(src, info.leg(Leg::A).rtp);
}
