//! Sans-IO SDP (RFC 8866, RFC 4566 input) and offer/answer (RFC 3264) for a B2BUA that
//! anchors media.
//!
//! No sockets, no clock, no randomness: the caller hands in session ids and relay ports.
//!
//! - [`SessionDescription::parse`] and `to_string()`/[`SessionDescription::to_bytes`]: every
//!   line kept in order, CRLF out, LF accepted in, bounded by [`Limits`], errors typed
//!   ([`SdpError`], with [`SdpError::status`]).
//! - Typed accessors on [`MediaDescription`] (codecs, `rtpmap`/`fmtp`, ptime, `a=rtcp`,
//!   `telephone-event`) and, where the session level is a fallback, on
//!   [`SessionDescription`] (`connection_for`, `direction_for`, `rtp_addr`, `ice_for`).
//! - [`rewrite`]: the description to send on a leg ([`LegMedia`]): the PBX's address and
//!   relay ports, no ICE, the leg's own `o=` whose version rises with each change.
//! - [`negotiate`]: offer and answer as the two peers sent them give the answer for the
//!   offerer (in its own payload type numbers) and a [`PtMap`] per direction for the relay;
//!   [`retain_codecs`] filters an offer; [`NegotiationError`] is a 488.
//!
//! # Example: early offer through the PBX
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use sdp::{LegMedia, SessionDescription, negotiate, rewrite};
//!
//! let pbx = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
//! let mut leg_a = LegMedia::new(pbx, vec![20000], 1001);
//! let mut leg_b = LegMedia::new(pbx, vec![20002], 1002);
//!
//! // A's INVITE: PCMU, and DTMF on 101.
//! let a_offer: SessionDescription = "v=0\r\no=- 1 1 IN IP4 127.0.0.10\r\ns=-\r\n\
//!     c=IN IP4 127.0.0.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\n\
//!     a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n".parse()?;
//! // The INVITE to B carries the PBX's address and B-side port.
//! let b_offer = rewrite(&a_offer, &mut leg_b);
//! assert!(b_offer.to_string().contains("m=audio 20002 RTP/AVP 0 101\r\n"));
//!
//! // B's 200 OK names DTMF 96 instead.
//! let b_answer: SessionDescription = "v=0\r\no=- 7 7 IN IP4 127.0.0.20\r\ns=-\r\n\
//!     c=IN IP4 127.0.0.20\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 96\r\n\
//!     a=rtpmap:96 telephone-event/8000\r\n".parse()?;
//! let n = negotiate(&a_offer, &b_answer, &mut leg_a)?;
//!
//! // A's 200 OK uses A's numbers; the relay turns A's 101 into B's 96.
//! assert!(n.answer.to_string().contains("m=audio 20000 RTP/AVP 0 101\r\n"));
//! assert_eq!(n.streams[0].offerer_to_answerer.get(101), Some(96));
//! assert_eq!(n.streams[0].answerer_to_offerer.get(101), Some(101));
//! assert_eq!(n.codecs_in_use(), ["PCMU/8000"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod codec;
mod error;
mod model;
mod negotiate;
mod parse;
mod rewrite;
mod write;

pub use codec::{Codec, PtMap, RtpMap, static_codec};
pub use error::{NegotiationError, SdpError};
pub use model::{
    Attribute, Connection, Direction, Ice, Line, MediaDescription, MediaKind, Origin, Rtcp,
    SessionDescription,
};
pub use negotiate::{CodecMatch, NegotiatedStream, Negotiation, StreamOutcome, negotiate};
pub use parse::Limits;
pub use rewrite::{LegMedia, OriginState, retain_codecs, rewrite};
