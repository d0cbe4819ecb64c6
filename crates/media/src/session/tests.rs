#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An RTP packet with this PT (and marker), SSRC and sequence number, 160 bytes of payload.
fn rtp(pt: u8, ssrc: u32, seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// An RTCP receiver report with no report blocks.
fn rtcp(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

/// Leg A: a phone behind NAT. Its INVITE came from 127.0.0.1, its SDP names 127.0.0.99:4000,
/// where nothing listens. Leg B: a phone on 127.0.0.2 whose SDP is right.
fn call() -> Session {
    let mut s = Session::new(SessionConfig::default());
    s.set_remote(
        Leg::A,
        LegRemote::new(ip("127.0.0.1"), addr("127.0.0.99:4000")),
    );
    s.set_remote(
        Leg::B,
        LegRemote::new(ip("127.0.0.2"), addr("127.0.0.2:6000")),
    );
    s
}

fn forward(via: Leg, component: Component, to: &str) -> Verdict {
    let kind = match component {
        Component::Rtp => PacketKind::Rtp,
        Component::Rtcp => PacketKind::Rtcp,
    };
    Verdict::Forward {
        kind,
        via,
        component,
        to: addr(to),
    }
}

#[test]
fn before_latching_media_goes_to_the_sdp_address() {
    let mut s = call();
    let now = Instant::now();
    // B speaks first: A has not latched, so A's media goes where A's SDP said.
    let v = s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.2:6000"),
        now,
        &mut rtp(0, 2, 1),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtp, "127.0.0.99:4000"));
}

#[test]
fn nat_leg_gets_media_where_its_packets_come_from() {
    let mut s = call();
    let now = Instant::now();
    // A's packets come from its NAT's address (the signalling IP), not from its SDP address.
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5555"),
        now,
        &mut rtp(0, 1, 1),
    );
    assert_eq!(v, forward(Leg::B, Component::Rtp, "127.0.0.2:6000"));
    let v = s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.2:6000"),
        now,
        &mut rtp(0, 2, 1),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtp, "127.0.0.1:5555"));
    let stats = s.stats();
    assert_eq!(stats.leg(Leg::A).latched_rtp, Some(addr("127.0.0.1:5555")));
    assert_eq!(stats.leg(Leg::A).last_rtp, Some(now));
    assert_eq!(stats.leg(Leg::A).rtp_packets, 1);
    assert_eq!(stats.leg(Leg::A).bytes, 172);
    assert_eq!(stats.relayed(), 2);
}

#[test]
fn strict_leg_refuses_a_stranger_rtp_bleed() {
    let mut s = call();
    let now = Instant::now();
    // Before A sends anything, a stranger sprays our port: it must not latch.
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.66:7777"),
        now,
        &mut rtp(0, 9, 1),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Stranger));
    assert_eq!(s.stats().leg(Leg::A).latched_rtp, None);
    // B's media still goes to A's SDP address, not to the stranger.
    let v = s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.2:6000"),
        now,
        &mut rtp(0, 2, 1),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtp, "127.0.0.99:4000"));
    // A latches; the stranger, with a new SSRC or not, is still refused.
    s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5555"),
        now,
        &mut rtp(0, 1, 1),
    );
    let later = now + Duration::from_secs(5);
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.66:7777"),
        later,
        &mut rtp(0, 1, 2),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Stranger));
    let v = s.on_packet(
        Leg::A,
        Component::Rtcp,
        addr("127.0.0.66:7778"),
        later,
        &mut rtcp(9),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Stranger));
    assert_eq!(
        s.stats().leg(Leg::A).latched_rtp,
        Some(addr("127.0.0.1:5555"))
    );
    assert_eq!(s.stats().leg(Leg::A).dropped.stranger, 3);
    // The stranger never refreshed A's activity.
    assert_eq!(s.stats().leg(Leg::A).last_rtp, Some(now));
}

#[test]
fn strict_leg_with_no_remote_accepts_nothing() {
    let mut s = Session::new(SessionConfig::default());
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5"),
        Instant::now(),
        &mut rtp(0, 1, 1),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Stranger));
}

#[test]
fn sdp_ip_is_allowed_too() {
    let mut s = call();
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.99:4000"),
        Instant::now(),
        &mut rtp(0, 1, 1),
    );
    assert_eq!(v, forward(Leg::B, Component::Rtp, "127.0.0.2:6000"));
}

#[test]
fn any_policy_latches_anything() {
    let config = SessionConfig {
        policy: [LatchPolicy::Any, LatchPolicy::Strict],
        ..SessionConfig::default()
    };
    let mut s = Session::new(config);
    let now = Instant::now();
    // Not even a remote set yet: the source is taken, the other leg has no address.
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.66:7777"),
        now,
        &mut rtp(0, 1, 1),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoDestination));
    assert_eq!(
        s.stats().leg(Leg::A).latched_rtp,
        Some(addr("127.0.0.66:7777"))
    );
    // The first remote does not clear a latch made before it.
    s.set_remote(
        Leg::A,
        LegRemote::new(ip("127.0.0.1"), addr("127.0.0.1:4000")),
    );
    assert_eq!(
        s.stats().leg(Leg::A).latched_rtp,
        Some(addr("127.0.0.66:7777"))
    );
}

#[test]
fn duplicate_source_with_same_ssrc_is_dropped_until_the_latched_one_goes_quiet() {
    let mut s = call();
    let t0 = Instant::now();
    s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5555"),
        t0,
        &mut rtp(0, 1, 1),
    );
    // Same SSRC from another allowed port while the latched source is live: a duplicate.
    let t1 = t0 + Duration::from_millis(20);
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5600"),
        t1,
        &mut rtp(0, 1, 2),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NotLatched));
    // The phone moved (NAT rebinding): the old source stays silent for relatch_idle.
    let t2 = t0 + SessionConfig::default().relatch_idle;
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5600"),
        t2,
        &mut rtp(0, 1, 3),
    );
    assert_eq!(v, forward(Leg::B, Component::Rtp, "127.0.0.2:6000"));
    assert_eq!(
        s.stats().leg(Leg::A).latched_rtp,
        Some(addr("127.0.0.1:5600"))
    );
    assert_eq!(s.stats().leg(Leg::A).dropped.not_latched, 1);
}

#[test]
fn new_ssrc_from_an_allowed_source_relatches_at_once() {
    let mut s = call();
    let t0 = Instant::now();
    s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5555"),
        t0,
        &mut rtp(0, 1, 1),
    );
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.99:4000"),
        t0,
        &mut rtp(0, 77, 1),
    );
    assert_eq!(v, forward(Leg::B, Component::Rtp, "127.0.0.2:6000"));
    let v = s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.2:6000"),
        t0,
        &mut rtp(0, 2, 1),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtp, "127.0.0.99:4000"));
    // The latched source changing SSRC keeps the latch (no address change).
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.99:4000"),
        t0,
        &mut rtp(0, 78, 1),
    );
    assert!(matches!(v, Verdict::Forward { .. }));
}

#[test]
fn reinvite_to_a_new_address_clears_the_latch() {
    let mut s = call();
    let t0 = Instant::now();
    s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.2:6000"),
        t0,
        &mut rtp(0, 2, 1),
    );
    s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5555"),
        t0,
        &mut rtp(0, 1, 1),
    );
    // The same SDP again (a hold re-INVITE, a session refresh): the latch stays.
    s.set_remote(
        Leg::A,
        LegRemote::new(ip("127.0.0.1"), addr("127.0.0.99:4000")),
    );
    let v = s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.2:6000"),
        t0,
        &mut rtp(0, 2, 2),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtp, "127.0.0.1:5555"));
    // B moves its media to another host: the old latch goes, the new SDP address is used...
    s.set_remote(
        Leg::B,
        LegRemote::new(ip("127.0.0.2"), addr("127.0.0.3:6100")),
    );
    assert_eq!(s.stats().leg(Leg::B).latched_rtp, None);
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5555"),
        t0,
        &mut rtp(0, 1, 2),
    );
    assert_eq!(v, forward(Leg::B, Component::Rtp, "127.0.0.3:6100"));
    // ...the old host is no longer allowed, the new one latches.
    let v = s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.4:6000"),
        t0,
        &mut rtp(0, 2, 3),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Stranger));
    let v = s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.3:6100"),
        t0,
        &mut rtp(0, 3, 1),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtp, "127.0.0.1:5555"));
    assert_eq!(s.remote(Leg::B).unwrap().rtp, Some(addr("127.0.0.3:6100")));
}

#[test]
fn hold_address_counts_as_none() {
    let mut s = call();
    s.set_remote(
        Leg::B,
        LegRemote::new(ip("127.0.0.2"), addr("0.0.0.0:6000")),
    );
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5555"),
        Instant::now(),
        &mut rtp(0, 1, 1),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoDestination));
    s.set_remote(Leg::B, LegRemote::new(ip("127.0.0.2"), addr("127.0.0.2:0")));
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5555"),
        Instant::now(),
        &mut rtp(0, 1, 1),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoDestination));
    assert_eq!(s.stats().leg(Leg::A).dropped.no_destination, 2);
}

#[test]
fn late_offer_signalling_ip_first() {
    let mut s = Session::new(SessionConfig::default());
    s.set_remote(Leg::A, LegRemote::signalling(ip("127.0.0.1")));
    let now = Instant::now();
    // A may send before its SDP is known (its answer comes in the ACK): it latches.
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5555"),
        now,
        &mut rtp(0, 1, 1),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoDestination));
    s.set_remote(
        Leg::B,
        LegRemote::new(ip("127.0.0.2"), addr("127.0.0.2:6000")),
    );
    let v = s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.2:6000"),
        now,
        &mut rtp(0, 2, 1),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtp, "127.0.0.1:5555"));
}

#[test]
fn payload_types_mapped_per_direction() {
    let mut s = call();
    let now = Instant::now();
    // A says telephone-event is 101, B negotiated 96; PCMU is 0 on both.
    s.set_pt_map(Direction::AToB, PtMap::from_pairs(&[(101, 96)]).unwrap());
    s.set_pt_map(Direction::BToA, PtMap::from_pairs(&[(96, 101)]).unwrap());
    let mut p = rtp(0x80 | 101, 1, 1);
    let before = p.clone();
    s.on_packet(Leg::A, Component::Rtp, addr("127.0.0.1:5555"), now, &mut p);
    assert_eq!(p[1], 0x80 | 96, "PT rewritten, marker kept");
    assert_eq!(p[0], before[0]);
    assert_eq!(p[2..], before[2..], "nothing else changes");
    let mut p = rtp(0, 1, 2);
    s.on_packet(Leg::A, Component::Rtp, addr("127.0.0.1:5555"), now, &mut p);
    assert_eq!(p[1], 0);
    let mut p = rtp(96, 2, 1);
    s.on_packet(Leg::B, Component::Rtp, addr("127.0.0.2:6000"), now, &mut p);
    assert_eq!(p[1], 101);
    // RTCP is never touched, even with a second octet a map would change.
    s.set_pt_map(Direction::AToB, PtMap::from_pairs(&[(73, 0)]).unwrap());
    let mut p = rtcp(1);
    s.on_packet(Leg::A, Component::Rtcp, addr("127.0.0.1:5556"), now, &mut p);
    assert_eq!(p, rtcp(1));
}

#[test]
fn rtcp_follows_sdp_then_latch() {
    let mut s = call();
    let now = Instant::now();
    // B's RTCP before A has sent any: A's SDP RTP port + 1 (no a=rtcp).
    let v = s.on_packet(
        Leg::B,
        Component::Rtcp,
        addr("127.0.0.2:6001"),
        now,
        &mut rtcp(2),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtcp, "127.0.0.99:4001"));
    // A's RTP latched behind NAT: its SDP's RTCP address is unreachable too, so the port
    // next to the latched RTP source is the better guess.
    s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5554"),
        now,
        &mut rtp(0, 1, 1),
    );
    let v = s.on_packet(
        Leg::B,
        Component::Rtcp,
        addr("127.0.0.2:6001"),
        now,
        &mut rtcp(2),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtcp, "127.0.0.1:5555"));
    // A's own RTCP arrives from elsewhere: that is where its RTCP goes.
    let v = s.on_packet(
        Leg::A,
        Component::Rtcp,
        addr("127.0.0.1:5999"),
        now,
        &mut rtcp(1),
    );
    assert_eq!(v, forward(Leg::B, Component::Rtcp, "127.0.0.2:6001"));
    let v = s.on_packet(
        Leg::B,
        Component::Rtcp,
        addr("127.0.0.2:6001"),
        now,
        &mut rtcp(2),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtcp, "127.0.0.1:5999"));
    assert_eq!(s.stats().leg(Leg::A).last_rtcp, Some(now));
    assert_eq!(s.stats().leg(Leg::B).rtcp_packets, 3);
}

#[test]
fn rtcp_attribute_address_used() {
    let mut s = call();
    let mut b = LegRemote::new(ip("127.0.0.2"), addr("127.0.0.2:6000"));
    b.rtcp = Some(addr("127.0.0.2:7000"));
    s.set_remote(Leg::B, b);
    let v = s.on_packet(
        Leg::A,
        Component::Rtcp,
        addr("127.0.0.1:5556"),
        Instant::now(),
        &mut rtcp(1),
    );
    assert_eq!(v, forward(Leg::B, Component::Rtcp, "127.0.0.2:7000"));
}

#[test]
fn rtcp_mux_on_the_rtp_port() {
    let mut s = call();
    let now = Instant::now();
    let mut b = LegRemote::new(ip("127.0.0.2"), addr("127.0.0.2:6000"));
    b.rtcp_mux = true;
    s.set_remote(Leg::B, b);
    // RTCP for B leaves from B's RTP socket to B's RTP address.
    let v = s.on_packet(
        Leg::A,
        Component::Rtcp,
        addr("127.0.0.1:5556"),
        now,
        &mut rtcp(1),
    );
    assert_eq!(
        v,
        Verdict::Forward {
            kind: PacketKind::Rtcp,
            via: Leg::B,
            component: Component::Rtp,
            to: addr("127.0.0.2:6000")
        }
    );
}

#[test]
fn rtcp_mux_detected_from_the_packets() {
    let mut s = call();
    let now = Instant::now();
    let mut b = LegRemote::new(ip("127.0.0.2"), addr("127.0.0.2:6000"));
    b.rtcp_mux = true;
    s.set_remote(Leg::B, b);
    // A multiplexes without saying so: its RTCP arrives on the RTP socket, is recognised
    // (RFC 5761), relayed as RTCP, not PT-mapped, and A's RTCP then goes to its RTP socket.
    s.set_pt_map(Direction::AToB, PtMap::from_pairs(&[(73, 0)]).unwrap());
    let mut p = rtcp(1);
    let v = s.on_packet(Leg::A, Component::Rtp, addr("127.0.0.1:5555"), now, &mut p);
    assert_eq!(
        v,
        Verdict::Forward {
            kind: PacketKind::Rtcp,
            via: Leg::B,
            component: Component::Rtp,
            to: addr("127.0.0.2:6000")
        }
    );
    assert_eq!(p, rtcp(1));
    let v = s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.2:6000"),
        now,
        &mut rtcp(2),
    );
    assert_eq!(
        v,
        Verdict::Forward {
            kind: PacketKind::Rtcp,
            via: Leg::A,
            component: Component::Rtp,
            to: addr("127.0.0.1:5555")
        }
    );
    assert_eq!(s.stats().leg(Leg::A).rtcp_packets, 1);
    assert_eq!(s.stats().leg(Leg::A).rtp_packets, 0);
}

#[test]
fn malformed_packets_are_dropped_and_counted() {
    let mut s = call();
    let src = addr("127.0.0.1:5555");
    let now = Instant::now();
    let cases: Vec<(Component, Vec<u8>)> = vec![
        (Component::Rtp, vec![]),
        (Component::Rtp, vec![0x80]),
        (Component::Rtp, vec![0x80, 0, 0, 0]),
        (Component::Rtp, {
            let mut p = rtp(0, 1, 1);
            p[0] = 0x00; // version 0
            p
        }),
        (Component::Rtp, vec![0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), // 15 CSRCs, none there
        (
            Component::Rtp,
            vec![0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff],
        ), // padding 255
        (Component::Rtcp, rtp(0, 1, 1)),                               // RTP on RTCP port
        (Component::Rtcp, vec![0x80, 201, 0xff, 0xff, 0, 0, 0, 1]),    // length past the end
        (Component::Rtp, vec![0x80, 200, 0, 0]),                       // mux RTCP too short
        (
            Component::Rtp,
            b"\x00\x01\x00\x00\x21\x12\xa4\x42stun-binding".to_vec(),
        ), // STUN
    ];
    for (component, mut bytes) in cases {
        let v = s.on_packet(Leg::A, component, src, now, &mut bytes);
        assert_eq!(v, Verdict::Drop(DropReason::Malformed), "{bytes:02x?}");
    }
    let stats = s.stats();
    assert_eq!(stats.leg(Leg::A).dropped.malformed, 10);
    assert_eq!(stats.leg(Leg::A).latched_rtp, None, "garbage never latches");
    assert_eq!(stats.leg(Leg::A).last_rtp, None);
    assert_eq!(stats.relayed(), 0);
}

#[test]
fn v4_mapped_source_matches_v4_sdp() {
    let mut s = call();
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("[::ffff:127.0.0.1]:5555"),
        Instant::now(),
        &mut rtp(0, 1, 1),
    );
    assert_eq!(v, forward(Leg::B, Component::Rtp, "127.0.0.2:6000"));
    assert_eq!(
        s.stats().leg(Leg::A).latched_rtp,
        Some(addr("127.0.0.1:5555"))
    );
}

#[test]
fn ipv6_legs() {
    let mut s = Session::new(SessionConfig::default());
    s.set_remote(Leg::A, LegRemote::new(ip("::1"), addr("[::1]:4000")));
    s.set_remote(
        Leg::B,
        LegRemote::new(ip("127.0.0.2"), addr("127.0.0.2:6000")),
    );
    let now = Instant::now();
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("[::1]:4000"),
        now,
        &mut rtp(0, 1, 1),
    );
    assert_eq!(v, forward(Leg::B, Component::Rtp, "127.0.0.2:6000"));
    let v = s.on_packet(
        Leg::B,
        Component::Rtp,
        addr("127.0.0.2:6000"),
        now,
        &mut rtp(0, 2, 1),
    );
    assert_eq!(v, forward(Leg::A, Component::Rtp, "[::1]:4000"));
}

#[test]
fn driver_drops_take_the_packet_back() {
    let mut s = call();
    let mut p = rtp(0, 1, 1);
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("127.0.0.1:5555"),
        Instant::now(),
        &mut p,
    );
    assert!(matches!(v, Verdict::Forward { .. }));
    s.record_drop(Leg::A, PacketKind::Rtp, p.len(), DropReason::SendFailed);
    s.record_drop(Leg::A, PacketKind::Rtcp, 8, DropReason::Loop);
    let a = *s.stats().leg(Leg::A);
    assert_eq!((a.rtp_packets, a.rtcp_packets, a.bytes), (0, 0, 0));
    assert_eq!((a.dropped.send_failed, a.dropped.looped), (1, 1));
    assert_eq!(s.stats().dropped(), 2);
}

#[test]
fn policy_can_change_mid_call() {
    let mut s = call();
    s.set_policy(Leg::A, LatchPolicy::Any);
    let v = s.on_packet(
        Leg::A,
        Component::Rtp,
        addr("192.0.2.7:9"),
        Instant::now(),
        &mut rtp(0, 1, 1),
    );
    assert_eq!(v, forward(Leg::B, Component::Rtp, "127.0.0.2:6000"));
    assert_eq!(LegStats::default().last_activity(), None);
    assert!(s.stats().leg(Leg::A).last_activity().is_some());
}

#[test]
fn unanswerable_sources_never_latch() {
    let mut s = call();
    s.set_policy(Leg::A, LatchPolicy::Any);
    for src in ["0.0.0.0:4000", "127.0.0.1:0", "224.0.0.1:4000", "[::]:4000"] {
        let v = s.on_packet(
            Leg::A,
            Component::Rtp,
            addr(src),
            Instant::now(),
            &mut rtp(0, 1, 1),
        );
        assert_eq!(v, Verdict::Drop(DropReason::Stranger), "{src}");
    }
    assert_eq!(s.stats().leg(Leg::A).latched_rtp, None);
}
