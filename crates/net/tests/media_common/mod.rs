//! Helpers for the media engine's integration tests: test phones (plain UDP sockets on
//! loopback), RTP packets, bounded waits.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use media::{MediaControl, PortRange, SessionId, SessionStats};
use net::media::{MediaConfig, MediaEngine};

/// An engine on 127.0.0.1 with its own port range (each test file takes its own block, so
/// files running at once never share a port), released pairs quarantined for `quarantine`.
pub fn engine(lo: u16, hi: u16, quarantine: Duration) -> MediaEngine {
    MediaEngine::start(MediaConfig {
        bind_v4: Some(Ipv4Addr::LOCALHOST),
        ports: PortRange::new(lo, hi).unwrap(),
        quarantine,
        stats_interval: Duration::from_millis(10),
        ..MediaConfig::default()
    })
    .unwrap()
}

/// A phone: a UDP socket on `ip` (any port), with a short read timeout.
pub fn phone(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind(SocketAddr::new(ip.parse().unwrap(), 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    s
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A G.711 RTP packet (PT 0 unless given) with this SSRC and sequence number.
pub fn rtp(pt: u8, ssrc: u32, seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 160];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// An RTCP receiver report with no report blocks.
pub fn rtcp(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

/// Sends `packet` from `from` to `to` every 20 ms until `to_phone` receives something (then
/// returns it and its source), at most `tries` times.
pub fn send_until_received(
    from: &UdpSocket,
    to: SocketAddr,
    packet: &[u8],
    to_phone: &UdpSocket,
    tries: usize,
) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = [0u8; 2048];
    for _ in 0..tries {
        from.send_to(packet, to).unwrap();
        if let Ok((n, src)) = to_phone.recv_from(&mut buf) {
            return Some((buf[..n].to_vec(), src));
        }
    }
    None
}

/// Everything `phone` receives within `window` (bounded: at most 1,000 packets).
pub fn drain(phone: &UdpSocket, window: Duration) -> Vec<Vec<u8>> {
    let end = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end && got.len() < 1000 {
        if let Ok((n, _)) = phone.recv_from(&mut buf) {
            got.push(buf[..n].to_vec());
        }
    }
    got
}

/// Waits (at most 2 s) until the session's published statistics satisfy `ok`.
pub fn stats_until(
    engine: &MediaEngine,
    id: SessionId,
    ok: impl Fn(&SessionStats) -> bool,
) -> SessionStats {
    let mut last = SessionStats::default();
    for _ in 0..200 {
        last = engine.stats(id).unwrap();
        if ok(&last) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    last
}

/// The scheduling policy (0: SCHED_OTHER, 1: SCHED_FIFO) and real-time priority of each of
/// this process's threads named `media-relay-*`, from `/proc/self/task/*/stat`.
pub fn relay_thread_policies() -> Vec<(u32, u32)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
            continue;
        };
        let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
        if !stat[open + 1..close].starts_with("media-relay-") {
            continue;
        }
        // After the name: field 3 (state) is index 0, so rt_priority (40) is 37 and
        // policy (41) is 38.
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        found.push((fields[38].parse().unwrap(), fields[37].parse().unwrap()));
    }
    found
}

/// Opens a session with both phones on loopback and checks that a packet from the caller
/// reaches the callee through the relay.
pub fn relays_one_packet(engine: &MediaEngine) {
    use media::{Leg, LegRemote, SessionOptions};
    let info = engine.open(SessionOptions::new()).unwrap();
    let (caller, callee) = (phone("127.0.0.1"), phone("127.0.0.1"));
    for (leg, p) in [(Leg::A, &caller), (Leg::B, &callee)] {
        let remote = LegRemote::new(ip("127.0.0.1"), p.local_addr().unwrap());
        engine.set_remote(info.id, leg, remote).unwrap();
    }
    let (got, src) = send_until_received(&caller, info.leg(Leg::A).rtp, &rtp(0, 7, 1), &callee, 50)
        .expect("the callee receives the caller's packet");
    assert_eq!(got, rtp(0, 7, 1));
    assert_eq!(src, info.leg(Leg::B).rtp);
    engine.close(info.id).unwrap();
}
