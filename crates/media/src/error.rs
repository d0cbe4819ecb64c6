//! The media crate's one error type.

use std::net::SocketAddr;

use crate::control::{AddressFamily, SessionId};
use crate::tap::TapId;

/// Why a media-control request failed. Misuse of the API (an unknown session, a bad payload
/// type) is kept apart from running out of resources (ports, sessions, the engine's queue).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// No open session has this id (never opened, or already closed).
    #[error("no media session {0:?}")]
    UnknownSession(SessionId),
    /// Every port pair of the range is in use or in quarantine.
    #[error("no free RTP port pair")]
    NoPorts,
    /// The configured bound on open sessions is reached.
    #[error("too many media sessions (limit {limit})")]
    TooManySessions {
        /// The bound.
        limit: usize,
    },
    /// The engine cannot take the request now (its control queue is full); try later or
    /// refuse the call.
    #[error("media engine busy")]
    Busy,
    /// The engine has stopped.
    #[error("media engine stopped")]
    Stopped,
    /// The engine has no bind address for this address family.
    #[error("no media address for {0:?}")]
    FamilyDisabled(AddressFamily),
    /// A socket could not be bound or set up, for a reason other than the port being taken
    /// (taken ports are skipped).
    #[error("cannot bind media socket {addr}: {kind}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        kind: std::io::ErrorKind,
    },
    /// No live tap has this id in this session.
    #[error("no media tap {0:?}")]
    UnknownTap(TapId),
    /// A packet to inject that is not RTP (version 2 and a whole header).
    #[error("not an RTP packet")]
    NotRtp,
    /// A payload type of 128 or more in a [`crate::PtMap`].
    #[error("payload type {0} out of range 0..=127")]
    InvalidPayloadType(u8),
    /// A port range with no even/odd pair in it, or text that is not `LO-HI`.
    #[error("invalid RTP port range {lo}-{hi}")]
    InvalidPortRange {
        /// Lowest port asked for.
        lo: u16,
        /// Highest port asked for.
        hi: u16,
    },
}
