//! RTCP taps and the export: RTCP from a leg's party reaches an `RtcpHep` tap of that leg and
//! the `--hep` export queue as one HEP3 frame of type 5 per packet, with the party's address
//! as source, the PBX's RTCP port of that leg as destination, the session's correlation label
//! (the Call-ID) as correlation id, and the report as Homer's JSON; RTP never goes to the
//! export.

#![allow(clippy::unwrap_used)]

mod media_common;

use std::net::Ipv4Addr;
use std::time::Duration;

use media::{Leg, LegRemote, MediaControl, PacketQueue, PortRange, SessionOptions, TapKind};
use media_common::*;
use net::media::{MediaConfig, MediaEngine};

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
fn media_tap_rtcp_hep() {
    let export = PacketQueue::unwoken(16);
    let engine = MediaEngine::start(MediaConfig {
        bind_v4: Some(Ipv4Addr::LOCALHOST),
        ports: PortRange::new(23000, 23099).unwrap(),
        hep_agent: hep::Agent {
            capture_id: 4242,
            auth_key: None,
        },
        hep_export: Some(export.clone()),
        ..MediaConfig::default()
    })
    .unwrap();
    let info = engine
        .open(SessionOptions::new().with_correlation("f81d4fae@192.0.2.4"))
        .unwrap();
    let caller = phone("127.0.0.1");
    let caller_rtcp = phone("127.0.0.1");
    let callee = phone("127.0.0.1");
    let callee_rtcp = phone("127.0.0.1");
    let mut remote_a = LegRemote::new(ip("127.0.0.1"), caller.local_addr().unwrap());
    remote_a.rtcp = Some(caller_rtcp.local_addr().unwrap());
    let mut remote_b = LegRemote::new(ip("127.0.0.1"), callee.local_addr().unwrap());
    remote_b.rtcp = Some(callee_rtcp.local_addr().unwrap());
    engine.set_remote(info.id, Leg::A, remote_a).unwrap();
    engine.set_remote(info.id, Leg::B, remote_b).unwrap();
    let hep_sock = PacketQueue::unwoken(16);
    engine
        .tap(info.id, Leg::A, TapKind::RtcpHep, hep_sock.clone())
        .unwrap();

    // RTP flows first: nothing of it reaches the export or the RTCP tap.
    send_until_received(&caller, info.leg(Leg::A).rtp, &rtp(0, 5, 1), &callee, 50)
        .expect("rtp relayed");
    let rr = rtcp(0x0102_0304);
    let (got, _) = send_until_received(&caller_rtcp, info.leg(Leg::A).rtcp, &rr, &callee_rtcp, 50)
        .expect("rtcp relayed");
    assert_eq!(got, rr);

    let frame_bytes = pop(&hep_sock).expect("a HEP frame in the tap");
    let frame = hep::Frame::decode(&frame_bytes).unwrap();
    assert_eq!(frame.proto, hep::ProtoType::RTCP);
    assert_eq!(frame.ip_proto, hep::IpProto::UDP);
    assert_eq!(frame.src, caller_rtcp.local_addr().unwrap());
    assert_eq!(frame.dst, info.leg(Leg::A).rtcp);
    assert_eq!(frame.capture_id, 4242);
    assert_eq!(frame.correlation_id, Some(&b"f81d4fae@192.0.2.4"[..]));
    let json = std::str::from_utf8(frame.payload).unwrap();
    assert!(
        json.starts_with("{\"type\":201,\"ssrc\":16909060,"),
        "{json}"
    );
    assert!(frame.time.secs > 1_600_000_000);
    // The export got every RTCP packet the caller sent (retries included), and only RTCP.
    let exported = pop(&export).expect("exported");
    assert_eq!(
        hep::Frame::decode(&exported).unwrap().payload,
        frame.payload
    );
    while let Some(p) = export.pop_with(<[u8]>::to_vec) {
        assert_eq!(hep::Frame::decode(&p).unwrap().proto, hep::ProtoType::RTCP);
    }

    // The callee's RTCP goes to the export but not to leg A's tap.
    while hep_sock.pop_into(&mut Vec::new()) {}
    let back = rtcp(0x0a0b_0c0d);
    send_until_received(&callee_rtcp, info.leg(Leg::B).rtcp, &back, &caller_rtcp, 50)
        .expect("relayed back");
    let exported = hep::Frame::decode(&pop(&export).expect("exported")[..])
        .map(|f| (f.src, f.dst))
        .unwrap();
    assert_eq!(
        exported,
        (callee_rtcp.local_addr().unwrap(), info.leg(Leg::B).rtcp)
    );
    assert!(hep_sock.is_empty());
}
