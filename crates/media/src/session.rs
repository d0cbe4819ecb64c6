//! A relay session: two legs, latching, payload-type maps, counters. Sans-IO.
//!
//! The driver owns four sockets per session (RTP and RTCP for each leg) and calls
//! [`Session::on_packet`] for every datagram, with the leg and component of the socket it
//! arrived on, its source, the time, and the bytes (which may be rewritten in place). The
//! [`Verdict`] says which local socket to send the same bytes from and to whom, or why they
//! are dropped. Nothing here allocates, reads a clock or touches a socket.
//!
//! # Latching (symmetric RTP) and RTP bleed
//!
//! Media for a leg is sent to where that leg's packets come from, not to where its SDP said:
//! a phone behind NAT names a private address in its SDP that nothing outside can reach, but
//! its packets arrive from its NAT's public address, which is where the answer must go. Until
//! a leg has sent anything, its media goes to its SDP address.
//!
//! Who may be latched onto is the leg's [`LatchPolicy`]. The default, [`LatchPolicy::Strict`],
//! accepts a packet only when its source IP (any port) is the leg's SIP signalling IP or an
//! IP its SDP named. Without that, anyone who sprays a relay's port range takes over the
//! stream before or during a call ("RTP bleed", CVE-2017-14099). [`LatchPolicy::Any`]
//! accepts any source, for peers whose media comes from another host than their signalling
//! (a per-domain relaxation).
//!
//! # Re-latching
//!
//! The latch of each component (RTP, RTCP) of a leg moves to a new source address, among the
//! sources the policy allows, when:
//!
//! - nothing is latched yet;
//! - the packet carries another SSRC than the latched stream: a new stream (a phone that
//!   restarted its media, a transfer, a re-INVITE that moved media elsewhere);
//! - the latched source has been silent for [`SessionConfig::relatch_idle`]: a phone whose
//!   NAT mapping changed (Wi-Fi to LTE, a NAT timeout) keeps its SSRC and only its address
//!   moves;
//! - the leg's remote changed ([`Session::set_remote`] with another SDP address or signalling
//!   IP, as a re-INVITE does): the latch is cleared and the next allowed packet latches.
//!
//! Otherwise a second source with the same SSRC while the latched one is live is a duplicate
//! and is dropped ([`DropReason::NotLatched`]), so a stream cannot be split or flapped by a
//! copy of it.
//!
//! # What is rewritten
//!
//! Only the RTP payload type, when a [`PtMap`] for that direction says so. SSRC, sequence
//! numbers and timestamps pass unchanged, so RTCP reports stay true and need no rewrite.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::rtp::{PacketKind, PtMap, RtcpPacket, RtpPacket, Ssrc, demux};

/// One side of a relayed call: the caller's leg is usually A, the callee's B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The first leg.
    A,
    /// The second leg.
    B,
}

impl Leg {
    /// The other leg.
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    /// 0 for A, 1 for B.
    pub fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// Which of a leg's two sockets: RTP (the even port) or RTCP (the odd one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// The RTP socket; with RFC 5761 multiplexing it carries RTCP too.
    Rtp,
    /// The RTCP socket.
    Rtcp,
}

impl Component {
    /// 0 for RTP, 1 for RTCP.
    pub fn index(self) -> usize {
        match self {
            Component::Rtp => 0,
            Component::Rtcp => 1,
        }
    }
}

/// A direction of media through a session, named by where the packets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by leg A's phone, relayed to leg B's.
    AToB,
    /// Sent by leg B's phone, relayed to leg A's.
    BToA,
}

impl Direction {
    /// The direction of packets that arrive from `leg`'s phone.
    pub fn from_leg(leg: Leg) -> Direction {
        match leg {
            Leg::A => Direction::AToB,
            Leg::B => Direction::BToA,
        }
    }

    fn index(self) -> usize {
        match self {
            Direction::AToB => 0,
            Direction::BToA => 1,
        }
    }
}

/// Which sources a leg may latch onto. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatchPolicy {
    /// Only sources whose IP is the leg's signalling IP or one its SDP named, any port
    /// (against RTP bleed, CVE-2017-14099).
    #[default]
    Strict,
    /// Any source.
    Any,
}

/// What the call manager knows of a leg's far end. Set at once or in steps: the signalling IP
/// is known from the INVITE, the SDP address only once the leg's offer or answer arrives, and
/// both may change with a re-INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegRemote {
    /// Where the leg's SIP signalling comes from: the source IP of its INVITE, or of the
    /// contact that answered.
    pub signalling: IpAddr,
    /// The RTP address the leg's SDP named (`c=` and the `m=` port), if known. An unspecified
    /// IP or port 0 (hold as in RFC 2543, a rejected stream) counts as none.
    pub rtp: Option<SocketAddr>,
    /// The RTCP address its SDP named (`a=rtcp`, RFC 3605); `None` means the RTP port + 1.
    pub rtcp: Option<SocketAddr>,
    /// The leg multiplexes RTCP on its RTP port (`a=rtcp-mux` agreed, RFC 5761). A leg that
    /// sends RTCP on its RTP port is treated as multiplexing too.
    pub rtcp_mux: bool,
}

impl LegRemote {
    /// A remote known only by its signalling IP (before its SDP arrives).
    pub fn signalling(ip: IpAddr) -> Self {
        Self {
            signalling: ip,
            rtp: None,
            rtcp: None,
            rtcp_mux: false,
        }
    }

    /// Signalling IP and SDP RTP address, RTCP on the next port, no multiplexing.
    pub fn new(signalling: IpAddr, rtp: SocketAddr) -> Self {
        Self {
            rtp: Some(rtp),
            ..Self::signalling(signalling)
        }
    }

    fn sdp_rtp(&self) -> Option<SocketAddr> {
        usable(self.rtp)
    }

    fn sdp_rtcp(&self) -> Option<SocketAddr> {
        match usable(self.rtcp) {
            Some(a) => Some(a),
            None => next_port(self.sdp_rtp()?),
        }
    }
}

/// Settings of a session's core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Latch policy of leg A and leg B.
    pub policy: [LatchPolicy; 2],
    /// How long a latched source must be silent before another allowed source with the same
    /// SSRC may take the latch over (a phone whose NAT mapping moved).
    pub relatch_idle: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            policy: [LatchPolicy::Strict; 2],
            // 25 packets at 20 ms: long enough that jitter never moves a live stream, short
            // enough that a phone that moved gets its audio back at once.
            relatch_idle: Duration::from_millis(500),
        }
    }
}

/// Why a packet was not relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not RTP or RTCP (bad version, lengths that do not fit, too short).
    Malformed,
    /// The source is not allowed by the leg's latch policy (RTP bleed).
    Stranger,
    /// An allowed source other than the latched one, with the latched stream's SSRC, while
    /// the latched source is live: a duplicate.
    NotLatched,
    /// The other leg has no address yet (no SDP, nothing latched).
    NoDestination,
    /// The destination is the relay itself (an SDP that names our own ports): dropped so
    /// that no packet loops. Counted by the driver.
    Loop,
    /// The socket refused to send (buffer full, unreachable). Counted by the driver.
    SendFailed,
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (possibly rewritten) bytes from `via`'s `component` socket to `to`.
    Forward {
        /// What the packet is (RTCP may travel on an RTP socket, RFC 5761).
        kind: PacketKind,
        /// The leg whose socket sends.
        via: Leg,
        /// Which of that leg's sockets.
        component: Component,
        /// The destination.
        to: SocketAddr,
    },
    /// Drop, for this reason (already counted).
    Drop(DropReason),
}

/// Drop counters of a leg, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    /// [`DropReason::Malformed`].
    pub malformed: u64,
    /// [`DropReason::Stranger`].
    pub stranger: u64,
    /// [`DropReason::NotLatched`].
    pub not_latched: u64,
    /// [`DropReason::NoDestination`].
    pub no_destination: u64,
    /// [`DropReason::Loop`].
    pub looped: u64,
    /// [`DropReason::SendFailed`].
    pub send_failed: u64,
}

impl DropCounts {
    /// All drops.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.stranger
            + self.not_latched
            + self.no_destination
            + self.looped
            + self.send_failed
    }

    fn count(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::Malformed => &mut self.malformed,
            DropReason::Stranger => &mut self.stranger,
            DropReason::NotLatched => &mut self.not_latched,
            DropReason::NoDestination => &mut self.no_destination,
            DropReason::Loop => &mut self.looped,
            DropReason::SendFailed => &mut self.send_failed,
        };
        *c += 1;
    }
}

/// Counters and state of one leg: what its phone sent us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    /// RTP packets from this leg's phone relayed to the other leg.
    pub rtp_packets: u64,
    /// RTCP packets from this leg's phone relayed to the other leg.
    pub rtcp_packets: u64,
    /// Bytes (UDP payload) of those packets.
    pub bytes: u64,
    /// Packets from this leg's side that were not relayed, by reason.
    pub dropped: DropCounts,
    /// When the last RTP packet accepted from this leg arrived (for media timeouts).
    pub last_rtp: Option<Instant>,
    /// When the last RTCP packet accepted from this leg arrived.
    pub last_rtcp: Option<Instant>,
    /// Where this leg's RTP is sent now (latched source), if latched.
    pub latched_rtp: Option<SocketAddr>,
    /// Where this leg's RTCP is sent now, if latched.
    pub latched_rtcp: Option<SocketAddr>,
}

impl LegStats {
    /// The last time anything (RTP or RTCP) arrived from the leg.
    pub fn last_activity(&self) -> Option<Instant> {
        self.last_rtp.max(self.last_rtcp)
    }
}

/// One source a component is latched onto.
#[derive(Debug, Clone, Copy, Default)]
struct Latch {
    addr: Option<SocketAddr>,
    ssrc: Option<Ssrc>,
    last: Option<Instant>,
}

impl Latch {
    /// Accepts a packet from `src` with `ssrc`, latching or re-latching per the rules in the
    /// module documentation. False: a duplicate from a non-latched source.
    fn accept(&mut self, src: SocketAddr, ssrc: Ssrc, now: Instant, idle: Duration) -> bool {
        let take = match self.addr {
            None => true,
            Some(addr) if addr == src => true,
            Some(_) => {
                self.ssrc != Some(ssrc)
                    || self
                        .last
                        .is_none_or(|last| now.saturating_duration_since(last) >= idle)
            }
        };
        if take {
            self.addr = Some(src);
            self.ssrc = Some(ssrc);
            self.last = Some(now);
        }
        take
    }
}

#[derive(Debug, Clone, Default)]
struct LegState {
    remote: Option<LegRemote>,
    policy: LatchPolicy,
    rtp: Latch,
    rtcp: Latch,
    /// RTCP has arrived on the RTP socket: the phone multiplexes (RFC 5761).
    mux_seen: bool,
    stats: LegStats,
}

impl LegState {
    fn allows(&self, ip: IpAddr) -> bool {
        match self.policy {
            LatchPolicy::Any => true,
            LatchPolicy::Strict => self.remote.as_ref().is_some_and(|r| {
                canonical_ip(r.signalling) == ip
                    || r.sdp_rtp().is_some_and(|a| canonical_ip(a.ip()) == ip)
                    || usable(r.rtcp).is_some_and(|a| canonical_ip(a.ip()) == ip)
            }),
        }
    }

    /// Where this leg's RTP goes: the latched source, else its SDP address.
    fn rtp_destination(&self) -> Option<SocketAddr> {
        self.rtp
            .addr
            .or_else(|| self.remote.as_ref().and_then(LegRemote::sdp_rtp))
    }

    /// Where this leg's RTCP goes, and from which of its sockets.
    fn rtcp_destination(&self) -> Option<(Component, SocketAddr)> {
        let remote = self.remote.as_ref();
        if self.mux_seen || remote.is_some_and(|r| r.rtcp_mux) {
            let to = self.rtcp.addr.or_else(|| self.rtp_destination())?;
            return Some((Component::Rtp, to));
        }
        if let Some(to) = self.rtcp.addr {
            return Some((Component::Rtcp, to));
        }
        let sdp = remote.and_then(LegRemote::sdp_rtp);
        let to = match (self.rtp.addr, sdp) {
            // RTP latched somewhere other than the SDP's host (NAT): the SDP's RTCP address is
            // as unreachable as its RTP address, so guess the port next to the latched one.
            (Some(latched), Some(sdp)) if latched.ip() != sdp.ip() => next_port(latched)?,
            (Some(latched), None) => next_port(latched)?,
            _ => remote.and_then(LegRemote::sdp_rtcp)?,
        };
        Some((Component::Rtcp, to))
    }

    fn snapshot(&self) -> LegStats {
        LegStats {
            latched_rtp: self.rtp.addr,
            latched_rtcp: self.rtcp.addr,
            ..self.stats
        }
    }
}

/// The statistics of both legs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Leg A, then leg B; index with [`Leg::index`] or use [`SessionStats::leg`].
    pub legs: [LegStats; 2],
}

impl SessionStats {
    /// One leg's statistics.
    pub fn leg(&self, leg: Leg) -> &LegStats {
        &self.legs[leg.index()]
    }

    /// Packets relayed in both directions.
    pub fn relayed(&self) -> u64 {
        self.legs
            .iter()
            .map(|l| l.rtp_packets + l.rtcp_packets)
            .sum()
    }

    /// Packets dropped in both directions.
    pub fn dropped(&self) -> u64 {
        self.legs.iter().map(|l| l.dropped.total()).sum()
    }
}

/// The relay state of one call: two legs, their latches, payload-type maps and counters.
///
/// Inputs: [`Session::on_packet`] per datagram, [`Session::set_remote`] and
/// [`Session::set_pt_map`] from the call manager, [`Session::record_drop`] for what the
/// driver dropped after the verdict. Output: the [`Verdict`] of each packet, and
/// [`Session::stats`].
#[derive(Debug, Clone)]
pub struct Session {
    legs: [LegState; 2],
    maps: [PtMap; 2],
    relatch_idle: Duration,
}

impl Session {
    /// A session with no remote known on either leg: until [`Session::set_remote`], strict
    /// legs accept nothing and nothing has a destination.
    pub fn new(config: SessionConfig) -> Self {
        let leg = |policy| LegState {
            policy,
            ..LegState::default()
        };
        Self {
            legs: [leg(config.policy[0]), leg(config.policy[1])],
            maps: [PtMap::identity(), PtMap::identity()],
            relatch_idle: config.relatch_idle,
        }
    }

    /// Sets what is known of `leg`'s far end. When its SDP addresses or signalling IP change
    /// (a re-INVITE that moves media), the leg's latches are cleared: its media goes to the
    /// new SDP address until the phone sends from its new place.
    pub fn set_remote(&mut self, leg: Leg, remote: LegRemote) {
        let state = &mut self.legs[leg.index()];
        if state.remote.as_ref() != Some(&remote) {
            let moved = state.remote.is_none_or(|old| {
                old.signalling != remote.signalling
                    || old.sdp_rtp() != remote.sdp_rtp()
                    || old.sdp_rtcp() != remote.sdp_rtcp()
            });
            // The first remote clears nothing: under `Any` a leg may have latched already.
            if moved && state.remote.is_some() {
                state.rtp = Latch::default();
                state.rtcp = Latch::default();
                state.mux_seen = false;
            }
            state.remote = Some(remote);
        }
    }

    /// The remote last set for `leg`.
    pub fn remote(&self, leg: Leg) -> Option<&LegRemote> {
        self.legs[leg.index()].remote.as_ref()
    }

    /// Sets the payload-type map applied to RTP relayed in `direction`.
    pub fn set_pt_map(&mut self, direction: Direction, map: PtMap) {
        self.maps[direction.index()] = map;
    }

    /// Changes a leg's latch policy (a domain's setting that changed mid-call).
    pub fn set_policy(&mut self, leg: Leg, policy: LatchPolicy) {
        self.legs[leg.index()].policy = policy;
    }

    /// Decides the fate of one datagram that arrived on `leg`'s `arrived_on` socket from
    /// `source` at `now`, rewriting its payload type in place if a map says so. Never panics,
    /// whatever the bytes.
    pub fn on_packet(
        &mut self,
        leg: Leg,
        arrived_on: Component,
        source: SocketAddr,
        now: Instant,
        buf: &mut [u8],
    ) -> Verdict {
        let verdict = self.decide(leg, arrived_on, source, now, buf);
        let stats = &mut self.legs[leg.index()].stats;
        match verdict {
            Ok((kind, v)) => {
                match kind {
                    PacketKind::Rtp => stats.rtp_packets += 1,
                    PacketKind::Rtcp => stats.rtcp_packets += 1,
                }
                stats.bytes += buf.len() as u64;
                v
            }
            Err(reason) => {
                stats.dropped.count(reason);
                Verdict::Drop(reason)
            }
        }
    }

    fn decide(
        &mut self,
        leg: Leg,
        arrived_on: Component,
        source: SocketAddr,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<(PacketKind, Verdict), DropReason> {
        let kind = match arrived_on {
            Component::Rtp => demux(buf).ok_or(DropReason::Malformed)?,
            Component::Rtcp => PacketKind::Rtcp,
        };
        let ssrc = match kind {
            PacketKind::Rtp => RtpPacket::parse(buf).map(|p| p.ssrc()),
            PacketKind::Rtcp => RtcpPacket::parse(buf).map(|p| p.sender_ssrc()),
        }
        .map_err(|_| DropReason::Malformed)?;
        let source = SocketAddr::new(canonical_ip(source.ip()), source.port());
        // A source that cannot be answered (found by the rtp_relay fuzzer: under `Any`, a
        // leg latched onto 0.0.0.0 and its media was then sent there, which Linux delivers
        // to the host itself).
        if source.port() == 0 || source.ip().is_unspecified() || source.ip().is_multicast() {
            return Err(DropReason::Stranger);
        }

        let idle = self.relatch_idle;
        let from = &mut self.legs[leg.index()];
        if !from.allows(source.ip()) {
            return Err(DropReason::Stranger);
        }
        let latch = match kind {
            PacketKind::Rtp => &mut from.rtp,
            PacketKind::Rtcp => &mut from.rtcp,
        };
        if !latch.accept(source, ssrc, now, idle) {
            return Err(DropReason::NotLatched);
        }
        match kind {
            PacketKind::Rtp => from.stats.last_rtp = Some(now),
            PacketKind::Rtcp => {
                from.stats.last_rtcp = Some(now);
                if arrived_on == Component::Rtp {
                    from.mux_seen = true;
                }
            }
        }

        let to_leg = leg.other();
        let to = &self.legs[to_leg.index()];
        let (component, dest) = match kind {
            PacketKind::Rtp => (Component::Rtp, to.rtp_destination()),
            PacketKind::Rtcp => match to.rtcp_destination() {
                Some((c, a)) => (c, Some(a)),
                None => (Component::Rtcp, None),
            },
        };
        let dest = dest.ok_or(DropReason::NoDestination)?;
        if kind == PacketKind::Rtp {
            self.maps[Direction::from_leg(leg).index()].apply(buf);
        }
        Ok((
            kind,
            Verdict::Forward {
                kind,
                via: to_leg,
                component,
                to: dest,
            },
        ))
    }

    /// Counts a drop the driver decided after a `Forward` verdict ([`DropReason::Loop`],
    /// [`DropReason::SendFailed`]), against the leg the packet came from. The packet was
    /// already counted as relayed; this takes it back.
    pub fn record_drop(&mut self, from: Leg, kind: PacketKind, len: usize, reason: DropReason) {
        let stats = &mut self.legs[from.index()].stats;
        match kind {
            PacketKind::Rtp => stats.rtp_packets = stats.rtp_packets.saturating_sub(1),
            PacketKind::Rtcp => stats.rtcp_packets = stats.rtcp_packets.saturating_sub(1),
        }
        stats.bytes = stats.bytes.saturating_sub(len as u64);
        stats.dropped.count(reason);
    }

    /// Counters, last activity and latched addresses of both legs.
    pub fn stats(&self) -> SessionStats {
        SessionStats {
            legs: [self.legs[0].snapshot(), self.legs[1].snapshot()],
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is, so `::ffff:192.0.2.1` matches an
/// SDP's `192.0.2.1`.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The address, unless it cannot be sent to (unspecified IP, port 0).
fn usable(addr: Option<SocketAddr>) -> Option<SocketAddr> {
    addr.filter(|a| !a.ip().is_unspecified() && a.port() != 0)
        .map(|a| SocketAddr::new(canonical_ip(a.ip()), a.port()))
}

fn next_port(addr: SocketAddr) -> Option<SocketAddr> {
    Some(SocketAddr::new(addr.ip(), addr.port().checked_add(1)?))
}

#[cfg(test)]
mod tests;
