//! The RFC 3261 section 17 transaction layer, as amended by RFC 6026, without I/O.
//!
//! Four state machines ([`ClientInvite`], [`ClientNonInvite`], [`ServerInvite`],
//! [`ServerNonInvite`]) and the [`TransactionLayer`] that owns them, matches messages to them
//! and multiplexes their timers. Time is an [`Instant`](std::time::Instant) passed in by the
//! caller; nothing here reads a clock, touches a socket or draws a random number.
//!
//! Every machine and the layer follow one calling convention: feed an input with a
//! `handle_*(now, ...)` method (or a TU command such as `respond`), then drain, in order,
//! `poll_transmit` until `None`, `poll_timeout` to re-arm the driver's timer, and
//! `poll_event` until `None`. When the timer fires, call `handle_timeout(now)`.

mod client_invite;
mod client_non_invite;
mod key;
mod layer;
mod server_invite;
mod server_non_invite;
mod timer;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::message::{Request, Response};
use crate::method::StatusCode;

pub use client_invite::ClientInvite;
pub use client_non_invite::ClientNonInvite;
pub use key::{MAGIC_COOKIE, Role, TransactionKey};
pub use layer::{Event, LayerConfig, TransactionLayer, Transmit};
pub use server_invite::ServerInvite;
pub use server_non_invite::ServerNonInvite;
pub use timer::{Timer, TimerConfig};

/// The state of a transaction. Each machine uses the states of its RFC figure:
///
/// - client INVITE (figure 5, RFC 6026): `Calling`, `Proceeding`, `Accepted`, `Completed`,
///   `Terminated`;
/// - client non-INVITE (figure 6): `Trying`, `Proceeding`, `Completed`, `Terminated`;
/// - server INVITE (figure 7, RFC 6026): `Proceeding`, `Completed`, `Confirmed`, `Accepted`,
///   `Terminated`;
/// - server non-INVITE (figure 8): `Trying`, `Proceeding`, `Completed`, `Terminated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Client INVITE: the request is out, nothing has come back.
    Calling,
    /// Non-INVITE: the request is out (client) or in (server), no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// RFC 6026: a 2xx was received (client) or sent (server); the transaction lingers to
    /// absorb retransmissions.
    Accepted,
    /// A final response (a non-2xx one for INVITE) was received or sent.
    Completed,
    /// Server INVITE: the ACK for a non-2xx final response arrived.
    Confirmed,
    /// Done; the layer forgets the transaction.
    Terminated,
}

/// What a client transaction tells its TU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A provisional (1xx) response.
    Provisional(Response),
    /// The final response; given once per transaction. For a non-2xx answer to an INVITE the
    /// transaction has already sent the ACK; for a 2xx the ACK is the TU's job.
    Final(Response),
    /// RFC 6026: a further 2xx in the Accepted state of an INVITE, a retransmission or the
    /// answer of another fork. The TU acknowledges it (again).
    AdditionalSuccess(Response),
    /// Timer B or F fired: no final response came.
    Timeout,
    /// The driver reported that the transport failed to deliver our request.
    TransportError,
    /// The transaction is over; this is its last event.
    Terminated,
}

/// What a server transaction tells its TU. The request itself reaches the TU when the
/// transaction is created (see [`Event::Request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// INVITE: the ACK for our non-2xx final response arrived; the transaction absorbed it.
    Confirmed,
    /// RFC 6026: an ACK matching the transaction in the Accepted state, the ACK to the TU's
    /// 2xx (from a peer that reused the INVITE's branch). It belongs to the dialog.
    Ack(Box<Request>),
    /// Timer H fired: the ACK to our non-2xx final response never came.
    Timeout,
    /// The driver reported that the transport failed to deliver our response.
    TransportError,
    /// The transaction is over; this is its last event.
    Terminated,
}

/// Misuse of the transaction API by the TU or the driver. Peer misbehaviour is never an
/// error here: stray or malformed messages become events or are dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// A request to send has no top Via branch with the magic cookie `z9hG4bK`.
    #[error("request has no top Via branch starting with z9hG4bK")]
    NoBranch,
    /// ACK is sent without a transaction (for a 2xx) or by the INVITE transaction itself.
    #[error("ACK does not open a client transaction")]
    Ack,
    /// A transaction with the same key is live.
    #[error("a transaction with this key exists")]
    Exists,
    /// No live transaction has this key (it may have terminated), or it is not a server
    /// transaction.
    #[error("no such server transaction")]
    Unknown,
    /// The response cannot be sent in the transaction's state (a provisional or second
    /// final response after a final one, other than a 2xx in Accepted).
    #[error("cannot send {status} in state {state:?}")]
    WrongState {
        /// The status the TU tried to send.
        status: StatusCode,
        /// The state the transaction was in.
        state: State,
    },
}

/// The output queues every machine keeps.
#[derive(Debug, Clone)]
struct Outputs<E> {
    transmits: VecDeque<Bytes>,
    events: VecDeque<E>,
}

impl<E> Default for Outputs<E> {
    fn default() -> Self {
        Self {
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }
}

fn response_bytes(response: &Response) -> Bytes {
    Bytes::from(response.to_bytes())
}

#[cfg(test)]
mod tests;
