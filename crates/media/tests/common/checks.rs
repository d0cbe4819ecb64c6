//! The invariants of the relay core under arbitrary input, shared by the `rtp_relay` fuzz
//! target (`fuzz/fuzz_targets/rtp_relay.rs`) and `tests/malformed_regressions.rs`.
//!
//! The input is a script: a sequence of operations decoded from bytes, each starting with an
//! opcode byte.
//!
//! - `op % 8` in 0..=4: a packet. Next byte: bit 0 the leg, bit 1 the component, bits 2-3 the
//!   source (0: the leg's signalling IP, 1: its SDP IP, 2: a stranger, 3: the signalling IP as
//!   an IPv4-mapped IPv6 address), bits 4-7 the port variant; next byte: milliseconds to
//!   advance (times 8); next two bytes: length (big endian, capped at what is left); then the
//!   bytes.
//! - 5: `set_remote` for leg `op >> 3 & 1`: next byte picks the SDP address (0 none, 1 port 0,
//!   2 unspecified IP, else 127.0.0.x), RTCP given or not, rtcp-mux.
//! - 6: `set_pt_map`: direction `op >> 3 & 1`, next two bytes a (from, to) pair (masked to 7
//!   bits).
//! - 7: `set_policy`: leg `op >> 3 & 1`, `Any` if `op >> 4 & 1`.
//!
//! What must hold: nothing panics; a forwarded packet keeps its length, and every byte but
//! the payload type's 7 bits of an RTP packet; RTCP is never changed; a forwarded packet
//! parses as what the verdict says it is; the destination is never unspecified nor port 0;
//! a strict leg only ever relays from its signalling or SDP IP; counters add up.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use media::{
    Component, Direction, LatchPolicy, Leg, LegRemote, PacketKind, PtMap, RtcpPacket, RtpPacket,
    Session, SessionConfig, Verdict,
};

const SIGNALLING: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2)];
const STRANGER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 66);

struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

/// Runs a script; `Err` describes the first broken invariant.
pub fn run(data: &[u8]) -> Result<(), String> {
    let mut session = Session::new(SessionConfig::default());
    let mut policy = [LatchPolicy::Strict; 2];
    let mut remotes: [Option<LegRemote>; 2] = [None, None];
    let mut now = Instant::now();
    let mut input = Reader { data };
    let mut forwarded = 0u64;
    let mut dropped = 0u64;
    let mut ops = 0;
    while let Some(op) = input.byte() {
        ops += 1;
        if ops > 4096 {
            break;
        }
        let leg = if op >> 3 & 1 == 0 { Leg::A } else { Leg::B };
        match op % 8 {
            0..=4 => {
                let Some(shape) = input.byte() else { break };
                let leg = if shape & 1 == 0 { Leg::A } else { Leg::B };
                let component = if shape & 2 == 0 {
                    Component::Rtp
                } else {
                    Component::Rtcp
                };
                let port = 4000 + u16::from(shape >> 4);
                let sdp_ip = remotes[leg.index()]
                    .and_then(|r| r.rtp)
                    .map_or(IpAddr::V4(STRANGER), |a| a.ip());
                let source: IpAddr = match shape >> 2 & 3 {
                    0 => SIGNALLING[leg.index()].into(),
                    1 => sdp_ip,
                    2 => STRANGER.into(),
                    _ => SIGNALLING[leg.index()].to_ipv6_mapped().into(),
                };
                let advance = input.byte().unwrap_or(0);
                now += Duration::from_millis(u64::from(advance) * 8);
                let hi = input.byte().unwrap_or(0);
                let lo = input.byte().unwrap_or(0);
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                let original = input.bytes(len).to_vec();
                let mut packet = original.clone();
                let verdict = session.on_packet(
                    leg,
                    component,
                    SocketAddr::new(source, port),
                    now,
                    &mut packet,
                );
                match verdict {
                    Verdict::Forward { kind, via, to, .. } => {
                        forwarded += 1;
                        check_forward(&original, &packet, kind)?;
                        if via != leg.other() {
                            return Err(format!("relayed from {leg:?} out of {via:?}"));
                        }
                        if to.ip().is_unspecified() || to.port() == 0 {
                            return Err(format!("sent to {to}"));
                        }
                        if policy[leg.index()] == LatchPolicy::Strict {
                            let r =
                                remotes[leg.index()].ok_or("strict leg relayed without remote")?;
                            let ip = source.to_canonical();
                            let allowed = ip == r.signalling
                                || r.rtp.is_some_and(|a| a.ip() == ip)
                                || r.rtcp.is_some_and(|a| a.ip() == ip);
                            if !allowed {
                                return Err(format!("strict leg relayed a packet from {ip}"));
                            }
                        }
                    }
                    Verdict::Drop(_) => {
                        dropped += 1;
                        if packet != original {
                            return Err("a dropped packet was changed".into());
                        }
                    }
                }
            }
            5 => {
                let pick = input.byte().unwrap_or(0);
                let rtp = match pick % 8 {
                    0 => None,
                    1 => Some(SocketAddr::new(Ipv4Addr::new(127, 0, 0, 9).into(), 0)),
                    2 => Some(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 5000)),
                    n => Some(SocketAddr::new(
                        Ipv4Addr::new(127, 0, 0, 90 + n).into(),
                        5000,
                    )),
                };
                let rtcp = (pick & 8 != 0)
                    .then(|| SocketAddr::new(Ipv4Addr::new(127, 0, 0, 80).into(), 5001));
                let remote = LegRemote {
                    signalling: SIGNALLING[leg.index()].into(),
                    rtp,
                    rtcp,
                    rtcp_mux: pick & 16 != 0,
                };
                session.set_remote(leg, remote);
                remotes[leg.index()] = Some(remote);
            }
            6 => {
                let from = input.byte().unwrap_or(0) & 0x7f;
                let to = input.byte().unwrap_or(0) & 0x7f;
                let direction = if leg == Leg::A {
                    Direction::AToB
                } else {
                    Direction::BToA
                };
                let map = PtMap::from_pairs(&[(from, to)]).map_err(|e| e.to_string())?;
                session.set_pt_map(direction, map);
            }
            _ => {
                let p = if op >> 4 & 1 == 1 {
                    LatchPolicy::Any
                } else {
                    LatchPolicy::Strict
                };
                session.set_policy(leg, p);
                policy[leg.index()] = p;
            }
        }
    }
    let stats = session.stats();
    if stats.relayed() != forwarded || stats.dropped() != dropped {
        return Err(format!(
            "counters: relayed {} dropped {}, verdicts {forwarded} {dropped}",
            stats.relayed(),
            stats.dropped()
        ));
    }
    Ok(())
}

fn check_forward(original: &[u8], packet: &[u8], kind: PacketKind) -> Result<(), String> {
    if original.len() != packet.len() {
        return Err("length changed".into());
    }
    match kind {
        PacketKind::Rtcp => {
            RtcpPacket::parse(packet)
                .map_err(|e| format!("relayed RTCP that does not parse: {e}"))?;
            if original != packet {
                return Err("RTCP changed".into());
            }
        }
        PacketKind::Rtp => {
            RtpPacket::parse(packet)
                .map_err(|e| format!("relayed RTP that does not parse: {e}"))?;
            for (i, (a, b)) in original.iter().zip(packet).enumerate() {
                let changed = if i == 1 { (a ^ b) & 0x80 } else { a ^ b };
                if changed != 0 {
                    return Err(format!("RTP byte {i} changed"));
                }
            }
        }
    }
    Ok(())
}

/// Wraps one datagram as a script: strict remotes on both legs, then the datagram sent on
/// each leg and component from the signalling IP, so a malformed-packet file exercises both
/// parsers.
pub fn datagram_script(datagram: &[u8]) -> Vec<u8> {
    let mut script = vec![5, 3, 5 | 8, 4];
    let len = u16::try_from(datagram.len().min(usize::from(u16::MAX))).unwrap_or(u16::MAX);
    for shape in [0u8, 1, 2, 3] {
        script.extend_from_slice(&[0, shape, 1]);
        script.extend_from_slice(&len.to_be_bytes());
        script.extend_from_slice(&datagram[..usize::from(len)]);
    }
    script
}
