//! Sans-IO SIP (RFC 3261).
//!
//! This crate contains no networking code and reads no clock and no global RNG. It turns
//! bytes into [`Message`]s and back, cuts streams into messages ([`framing`]), and runs the
//! four transaction state machines ([`transaction`]) on time and randomness that the caller
//! supplies. Everything a peer can send is bounded by [`Limits`], and every refusal maps to
//! its answer in one place ([`ParseError::status`], [`reject`]).

#![warn(missing_docs)]

mod addr;
pub mod dialog;
pub mod digest;
mod error;
pub mod framing;
mod header;
mod message;
mod method;
mod scan;
pub mod transaction;
mod uri;

pub use addr::{CSeq, Contact, NameAddr, Transport, Via};
pub use error::ParseError;
pub use header::{Header, HeaderName, Headers};
pub use message::{Head, Limits, Message, Request, Response, reject};
pub use method::{Method, StatusCode};
pub use scan::{quote, unescape, unquote};
pub use uri::{Host, OtherUri, Param, Params, SipUri, TelUri, Uri};
