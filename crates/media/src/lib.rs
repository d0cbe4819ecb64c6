//! The media core: RTP/RTCP views, relay sessions with latching, port allocation, and the
//! media-control interface the call manager uses. No I/O: packets, time and remotes are
//! inputs; verdicts and statistics are outputs. The sockets and threads live in `net::media`.
//!
//! - [`rtp`]: zero-copy RTP and RTCP views ([`RtpPacket`], [`RtcpPacket`]), RFC 5761
//!   demultiplexing, payload-type maps ([`PtMap`]).
//! - [`session`]: a relay [`Session`] of two legs: symmetric RTP (latching) under a
//!   [`LatchPolicy`] that refuses strangers (RTP bleed), re-latching rules, counters.
//! - [`ports`]: the [`PortAllocator`] of even/odd pairs with a quarantine before reuse.
//! - [`control`]: the [`MediaControl`] trait, and how the call manager drives it.
//! - [`tap`]: [`tap::PacketQueue`], the bounded queue of packets a tap (and every `.sock`
//!   file of the 9P tree) reads from.
//! - [`testing`]: [`testing::FakeMedia`], an in-memory `MediaControl` for unit tests.

#![warn(missing_docs)]

pub mod control;
mod error;
pub mod ports;
pub mod rtp;
pub mod session;
pub mod tap;
pub mod testing;

pub use control::{AddressFamily, LocalLeg, MediaControl, SessionId, SessionInfo, SessionOptions};
pub use error::MediaError;
pub use ports::{PortAllocator, PortPair, PortRange};
pub use rtp::{PacketError, PacketKind, PtMap, RtcpPacket, RtpPacket, Ssrc};
pub use session::{
    Component, Direction, DropCounts, DropReason, LatchPolicy, Leg, LegRemote, LegStats, Session,
    SessionConfig, SessionStats, Verdict,
};
pub use tap::{PacketQueue, TapId, TapKind};
