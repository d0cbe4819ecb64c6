//! The media-control interface: what the call manager asks of a media engine, without
//! touching a socket (DESIGN.md section 3: applications talk to media through it).
//!
//! # Using it from the call manager
//!
//! Every method is synchronous and returns at once (no I/O waits, no blocking beyond a short
//! lock), so it may be called from inside a tokio task. One session per call, legs A (caller)
//! and B (callee):
//!
//! - **INVITE arrives (early offer)**: [`MediaControl::open`]; then
//!   `set_remote(id, A, LegRemote { signalling: caller's source IP, rtp: offer's c=/m=, .. })`;
//!   forward the offer to the callee with `c=`/`m=`/`a=rtcp` rewritten to
//!   `info.leg(B)` (the PBX's side facing the callee). When forking, the forks share leg B.
//! - **Answer (183 or 200)**: `set_remote(id, B, LegRemote { signalling: answering contact's
//!   source IP, rtp: answer's address, .. })`; [`MediaControl::set_pt_map`] for each direction
//!   whose payload-type numbers differ; send the answer to the caller rewritten to
//!   `info.leg(A)`.
//! - **Late offer** (INVITE without SDP): `open`, `set_remote(id, A,
//!   LegRemote::signalling(caller_ip))`; the 200's offer gives leg B's remote; the ACK's
//!   answer gives leg A's `rtp`.
//! - **re-INVITE / UPDATE with SDP**: `set_remote` for the leg that sent the new offer or
//!   answer, and new maps if the codecs changed. A changed address clears that leg's latch.
//!   Hold (`a=sendonly`/`inactive`) needs nothing; `c=0.0.0.0` counts as no address.
//! - **Media timeout**: every few seconds [`MediaControl::stats`]; a leg whose
//!   [`LegStats::last_activity`](crate::LegStats::last_activity) is older than the timeout
//!   (or `None`, counted from the answer) has stopped sending.
//! - **Hang-up** (BYE, CANCEL, failure, timeout): [`MediaControl::close`]. Its ports are
//!   quarantined before any other call gets them.
//!
//! # Taps and injection (the 9P tree's `.sock` files)
//!
//! [`MediaControl::tap`] copies a leg's packets, as they arrive from its party, into a
//! [`PacketQueue`] the reader owns: RTP as is ([`TapKind::Rtp`]: `rtp_src.sock` is leg A's,
//! `rtp_dest.sock` leg B's) or RTCP as HEP3 frames ([`TapKind::RtcpHep`], for `hep.sock`).
//! [`MediaControl::untap`] ends one (a clunk); closing the session ends all of its taps
//! without closing their queues (a `hep.sock` queue also gets the call's SIP). A session with
//! no tap pays nothing per packet for the feature. [`MediaControl::inject`] sends one RTP
//! packet to a leg's party from the PBX's port of that leg (a write to a `.sock`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::error::MediaError;
use std::sync::Arc;

use crate::rtp::PtMap;
use crate::session::{Direction, LatchPolicy, Leg, LegRemote, SessionConfig, SessionStats};
use crate::tap::{PacketQueue, TapId, TapKind};

/// A media session's id, unique for the life of the engine.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// IPv4 or IPv6: the family of a leg's sockets, which must match its phone's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddressFamily {
    /// IPv4.
    #[default]
    V4,
    /// IPv6.
    V6,
}

impl AddressFamily {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(_) => AddressFamily::V4,
            IpAddr::V6(_) => AddressFamily::V6,
        }
    }
}

/// How to open a session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionOptions {
    /// Address family of leg A's and leg B's sockets.
    pub family: [AddressFamily; 2],
    /// Latch policies and re-latch timing.
    pub core: SessionConfig,
    /// The label that ties the session's RTCP to its call in HEP capture (the correlation id
    /// of its type 5 frames): the call's SIP Call-ID. `None`: frames carry none.
    pub correlation: Option<Arc<str>>,
}

impl SessionOptions {
    /// Both legs IPv4, strict latching: the usual call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one leg's latch policy.
    pub fn with_policy(mut self, leg: Leg, policy: LatchPolicy) -> Self {
        self.core.policy[leg.index()] = policy;
        self
    }

    /// Sets one leg's address family.
    pub fn with_family(mut self, leg: Leg, family: AddressFamily) -> Self {
        self.family[leg.index()] = family;
        self
    }

    /// Sets the correlation label of HEP capture (the call's SIP Call-ID).
    pub fn with_correlation(mut self, label: impl Into<Arc<str>>) -> Self {
        self.correlation = Some(label.into());
        self
    }
}

/// The PBX's side of one leg: where that leg's phone must send, to be put in the SDP sent to
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalLeg {
    /// The RTP address for `c=` and the `m=` port: the engine's advertised address (or its
    /// bind address) and the even port. An unspecified IP (bound to `0.0.0.0` with nothing to
    /// advertise) must be replaced by the caller with the address its SIP is reached on.
    pub rtp: SocketAddr,
    /// The RTCP address for `a=rtcp`: the same IP, the next port.
    pub rtcp: SocketAddr,
}

/// What [`MediaControl::open`] gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's id, for every later call.
    pub id: SessionId,
    /// The PBX's side of leg A, then leg B.
    pub legs: [LocalLeg; 2],
}

impl SessionInfo {
    /// The PBX's side of one leg.
    pub fn leg(&self, leg: Leg) -> LocalLeg {
        self.legs[leg.index()]
    }
}

/// What the call manager asks of a media engine. Implemented by `net::media::MediaEngine`
/// (sockets and threads) and by [`crate::testing::FakeMedia`] (in memory, for tests).
///
/// Every method returns at once and may be called from any thread or async task.
pub trait MediaControl: Send + Sync {
    /// Opens a session: two port pairs bound, relaying as soon as packets arrive (strict legs
    /// accept nothing until their remote is set).
    fn open(&self, options: SessionOptions) -> Result<SessionInfo, MediaError>;

    /// Sets or changes what is known of a leg's far end (its signalling IP, its SDP address).
    fn set_remote(&self, id: SessionId, leg: Leg, remote: LegRemote) -> Result<(), MediaError>;

    /// Sets the payload-type map applied to RTP in one direction (identity by default).
    fn set_pt_map(&self, id: SessionId, direction: Direction, map: PtMap)
    -> Result<(), MediaError>;

    /// Counters, last activity and latched addresses of both legs; `None` for an unknown
    /// session. May lag the packets by up to the engine's publishing interval (100 ms by
    /// default).
    fn stats(&self, id: SessionId) -> Option<SessionStats>;

    /// Closes a session: its sockets close and its ports go into quarantine. Closing an
    /// unknown or closed session is [`MediaError::UnknownSession`].
    fn close(&self, id: SessionId) -> Result<(), MediaError>;

    /// Starts copying what `leg`'s party sends, as `kind` says, into `queue` (which the
    /// caller keeps reading). Several taps may share a leg, and a queue may take several
    /// taps. The tap ends with [`MediaControl::untap`] or when the session closes; the queue
    /// is never closed by the engine.
    fn tap(
        &self,
        id: SessionId,
        leg: Leg,
        kind: TapKind,
        queue: PacketQueue,
    ) -> Result<TapId, MediaError>;

    /// Ends a tap. An unknown tap (never made, already ended, or of another session) is
    /// [`MediaError::UnknownTap`].
    fn untap(&self, id: SessionId, tap: TapId) -> Result<(), MediaError>;

    /// Sends one RTP packet to `leg`'s party from the PBX's RTP port of that leg: to the
    /// address its media is latched to, or before that to its SDP address (dropped when it
    /// has neither). Returns once the packet is queued for its relay thread. Anything that is
    /// not an RTP packet (version 2, a whole header) is [`MediaError::NotRtp`].
    fn inject(&self, id: SessionId, leg: Leg, packet: &[u8]) -> Result<(), MediaError>;
}

impl<T: MediaControl + ?Sized> MediaControl for std::sync::Arc<T> {
    fn open(&self, options: SessionOptions) -> Result<SessionInfo, MediaError> {
        (**self).open(options)
    }
    fn set_remote(&self, id: SessionId, leg: Leg, remote: LegRemote) -> Result<(), MediaError> {
        (**self).set_remote(id, leg, remote)
    }
    fn set_pt_map(
        &self,
        id: SessionId,
        direction: Direction,
        map: PtMap,
    ) -> Result<(), MediaError> {
        (**self).set_pt_map(id, direction, map)
    }
    fn stats(&self, id: SessionId) -> Option<SessionStats> {
        (**self).stats(id)
    }
    fn close(&self, id: SessionId) -> Result<(), MediaError> {
        (**self).close(id)
    }
    fn tap(
        &self,
        id: SessionId,
        leg: Leg,
        kind: TapKind,
        queue: PacketQueue,
    ) -> Result<TapId, MediaError> {
        (**self).tap(id, leg, kind, queue)
    }
    fn untap(&self, id: SessionId, tap: TapId) -> Result<(), MediaError> {
        (**self).untap(id, tap)
    }
    fn inject(&self, id: SessionId, leg: Leg, packet: &[u8]) -> Result<(), MediaError> {
        (**self).inject(id, leg, packet)
    }
}
