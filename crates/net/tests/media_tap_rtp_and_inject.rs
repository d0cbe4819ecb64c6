//! Taps and injection through the real engine: the caller's RTP appears in an RTP tap of
//! leg A as the caller sent it (before the payload-type rewrite the callee gets), one packet
//! per pop, and never a stranger's; an untapped leg and an ended tap deliver nothing; a
//! packet injected toward a leg arrives at its party from the PBX's port of that leg, at the
//! SDP address before latching and at the latched address after.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::time::Duration;

use media::{
    Direction, Leg, LegRemote, MediaControl, MediaError, PacketQueue, PtMap, SessionOptions,
    TapKind,
};
use media_common::*;

/// Pops one packet, waiting for it at most 2 s.
fn pop(queue: &PacketQueue) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for _ in 0..200 {
        if queue.pop_into(&mut out) {
            return Some(out);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

#[test]
fn media_tap_rtp_and_inject() {
    let engine = engine(22900, 22999, Duration::from_secs(1));
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
            PtMap::from_pairs(&[(0, 8)]).unwrap(),
        )
        .unwrap();
    let src = PacketQueue::unwoken(64);
    let dest = PacketQueue::unwoken(64);
    let tap_a = engine
        .tap(info.id, Leg::A, TapKind::Rtp, src.clone())
        .unwrap();
    engine
        .tap(info.id, Leg::B, TapKind::Rtp, dest.clone())
        .unwrap();

    // Injection before anything latched: to leg A's SDP address, from leg A's port.
    let hello = rtp(0, 0xfeed, 1);
    engine.inject(info.id, Leg::A, &hello).unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = caller
        .recv_from(&mut buf)
        .expect("injected packet reaches the caller");
    assert_eq!((&buf[..n], from), (&hello[..], info.leg(Leg::A).rtp));

    // The caller talks: the callee gets PT 8, the tap PT 0, as sent, one packet per pop.
    let first = rtp(0, 1, 100);
    let (got, _) =
        send_until_received(&caller, info.leg(Leg::A).rtp, &first, &callee, 50).expect("relayed");
    assert_eq!(got[1], 8);
    for seq in 101..104 {
        caller
            .send_to(&rtp(0, 1, seq), info.leg(Leg::A).rtp)
            .unwrap();
    }
    let mut seqs = Vec::new();
    while seqs.last() != Some(&103) {
        let p = pop(&src).expect("tapped packet");
        assert_eq!(p[1], 0, "tapped before the payload-type rewrite");
        assert_eq!(p.len(), first.len());
        seqs.push(u16::from_be_bytes([p[2], p[3]]));
    }
    // Retries of the first packet may precede the rest; every packet comes once, in order.
    let tail: Vec<u16> = seqs.iter().copied().filter(|&s| s != 100).collect();
    assert_eq!(tail, [101, 102, 103]);
    assert!(seqs.starts_with(&[100]));
    // The callee said nothing: its leg's tap is empty.
    assert!(dest.is_empty());

    // A stranger (another IP) is refused and never tapped.
    let stranger = phone("127.0.0.2");
    for seq in 0..5 {
        stranger
            .send_to(&rtp(0, 9, seq), info.leg(Leg::A).rtp)
            .unwrap();
    }
    // Then the caller again: that is the next packet the tap holds.
    caller
        .send_to(&rtp(0, 1, 104), info.leg(Leg::A).rtp)
        .unwrap();
    let p = pop(&src).expect("tapped");
    assert_eq!((p[1], u16::from_be_bytes([p[2], p[3]])), (0, 104));
    assert_eq!(u32::from_be_bytes([p[8], p[9], p[10], p[11]]), 1);

    // The callee talks from another port of its IP: leg B latches there, and what is
    // injected toward the callee goes to the latched address, from leg B's port.
    let callee_moved = phone("127.0.0.1");
    let back = rtp(8, 2, 1);
    send_until_received(&callee_moved, info.leg(Leg::B).rtp, &back, &caller, 50)
        .expect("relayed to the caller");
    assert_eq!(pop(&dest).expect("callee's tap")[..], back[..]);
    stats_until(&engine, info.id, |s| s.leg(Leg::B).latched_rtp.is_some());
    let injected = rtp(8, 0xbeef, 7);
    engine.inject(info.id, Leg::B, &injected).unwrap();
    let (n, from) = callee_moved
        .recv_from(&mut buf)
        .expect("injected packet reaches the latched callee");
    assert_eq!((&buf[..n], from), (&injected[..], info.leg(Leg::B).rtp));

    // Not RTP: refused. Unknown taps and sessions: refused.
    assert_eq!(
        engine.inject(info.id, Leg::B, b"hello").unwrap_err(),
        MediaError::NotRtp
    );
    engine.untap(info.id, tap_a).unwrap();
    assert_eq!(
        engine.untap(info.id, tap_a).unwrap_err(),
        MediaError::UnknownTap(tap_a)
    );
    // Untapped: the command is handled before later packets, so none of these is tapped.
    while src.pop_into(&mut Vec::new()) {}
    let after = rtp(0, 1, 200);
    send_until_received(&caller, info.leg(Leg::A).rtp, &after, &callee, 50).expect("relayed");
    assert!(src.is_empty(), "a packet reached an ended tap");
    assert_eq!(src.dropped(), 0);
    engine.close(info.id).unwrap();
    assert_eq!(
        engine.tap(info.id, Leg::A, TapKind::Rtp, src).unwrap_err(),
        MediaError::UnknownSession(info.id)
    );
}
