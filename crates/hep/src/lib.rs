//! HEP v3, the Homer Encapsulation Protocol: encode and decode, sans-IO.
//!
//! A HEP3 frame carries one captured packet (a SIP message, an RTCP report as JSON, a log
//! line) with the addresses, ports, transport and time it was seen at, so that a collector
//! (Homer's heplify-server, or any tool reading a `hep.sock`) can index it without seeing the
//! network itself. All integers are big-endian:
//!
//! ```text
//! "HEP3"  total_length[2]                         total includes these 6 bytes
//! chunk*: vendor[2] type[2] length[2] value[length-6]
//! ```
//!
//! - [`Frame`]: the typed frame. [`Frame::encode`] appends to a caller's `Vec` (no allocation
//!   once the vector has room: reuse it), [`Frame::decode`] borrows from the datagram and
//!   refuses what heplify-server refuses (a total length other than the datagram's, a chunk
//!   shorter than its own header or longer than what is left, a fixed-size chunk of another
//!   size) with a typed [`DecodeError`], never a panic.
//! - [`chunks`]: the chunk iterator under [`Frame::decode`], for vendor chunks and tools.
//! - [`frame_len`]: framing HEP over a byte stream (TCP), by the total length.
//! - [`rtcp`]: an RTCP compound packet as the JSON Homer expects in a type 5 frame.
//!
//! The standard chunks (vendor 0) and protocol types are listed in [`chunk`] and
//! [`ProtoType`]. Sources: the HEP3 specification (sipcapture/HEP), heplify-server's decoder.
//!
//! ```
//! use hep::{Frame, IpProto, ProtoType, Timestamp};
//!
//! let frame = Frame {
//!     src: "192.0.2.1:5060".parse().unwrap(),
//!     dst: "192.0.2.2:5060".parse().unwrap(),
//!     ip_proto: IpProto::UDP,
//!     time: Timestamp { secs: 1_700_000_000, micros: 250_000 },
//!     proto: ProtoType::SIP,
//!     capture_id: 1,
//!     auth_key: None,
//!     correlation_id: Some(b"a84b4c76e66710"),
//!     payload: b"OPTIONS sip:bob@example.com SIP/2.0\r\n\r\n",
//! };
//! let mut buf = Vec::new();
//! let n = frame.encode(&mut buf).unwrap();
//! assert_eq!(n, buf.len());
//! assert_eq!(Frame::decode(&buf).unwrap(), frame);
//! ```

#![warn(missing_docs)]

pub mod chunk;
mod error;
mod frame;
pub mod rtcp;

pub use chunk::{Chunk, Chunks, chunks};
pub use error::{DecodeError, EncodeError};
pub use frame::{Agent, Frame, IpProto, ProtoType, Timestamp, frame_len};

/// The four bytes every HEP3 frame starts with.
pub const MAGIC: [u8; 4] = *b"HEP3";

/// Bytes of the frame header: the magic and the total length.
pub const HEADER_LEN: usize = 6;

/// The largest frame: the total length is 16 bits.
pub const MAX_FRAME: usize = u16::MAX as usize;
