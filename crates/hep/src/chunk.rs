//! Chunks: the type-length-value items of a frame, and the standard types of vendor 0.
//!
//! ```text
//! vendor[2] type[2] length[2] value[length-6]      length includes these 6 bytes
//! ```

use crate::error::DecodeError;
use crate::{HEADER_LEN, MAGIC};

/// The generic vendor: the standard chunk types below. Other vendors (1 FreeSWITCH,
/// 2 Kamailio, 3 OpenSIPS, 4 Asterisk, ...) define their own types; the Wireshark dissector
/// reads standard chunks only with vendor 0, so that is what we send.
pub const VENDOR_GENERIC: u16 = 0x0000;

/// IP protocol family, 1 byte: 2 IPv4, 10 IPv6.
pub const IP_FAMILY: u16 = 0x0001;
/// IP protocol number, 1 byte: 17 UDP, 6 TCP.
pub const IP_PROTO: u16 = 0x0002;
/// IPv4 source address, 4 bytes.
pub const IPV4_SRC: u16 = 0x0003;
/// IPv4 destination address, 4 bytes.
pub const IPV4_DST: u16 = 0x0004;
/// IPv6 source address, 16 bytes.
pub const IPV6_SRC: u16 = 0x0005;
/// IPv6 destination address, 16 bytes.
pub const IPV6_DST: u16 = 0x0006;
/// Source port, 2 bytes.
pub const SRC_PORT: u16 = 0x0007;
/// Destination port, 2 bytes.
pub const DST_PORT: u16 = 0x0008;
/// Timestamp, Unix seconds, 4 bytes.
pub const TIME_SECS: u16 = 0x0009;
/// Timestamp, microseconds within the second, 4 bytes (heplify builds
/// `time.Unix(secs, micros * 1000)`).
pub const TIME_MICROS: u16 = 0x000a;
/// Protocol type of the payload, 1 byte (see [`crate::ProtoType`]).
pub const PROTO_TYPE: u16 = 0x000b;
/// Capture agent id, 4 bytes.
pub const CAPTURE_ID: u16 = 0x000c;
/// Keep-alive timer, 2 bytes.
pub const KEEPALIVE: u16 = 0x000d;
/// Authentication key (a password, in clear).
pub const AUTH_KEY: u16 = 0x000e;
/// The captured payload.
pub const PAYLOAD: u16 = 0x000f;
/// A compressed payload.
pub const COMPRESSED_PAYLOAD: u16 = 0x0010;
/// Correlation id: the SIP Call-ID that ties RTCP and logs to their call.
pub const CORRELATION_ID: u16 = 0x0011;
/// VLAN id, 2 bytes.
pub const VLAN_ID: u16 = 0x0012;
/// Node name (heplify) or group id (the specification).
pub const NODE_NAME: u16 = 0x0013;

/// Value bytes of a fixed-size standard chunk; `None` for variable ones.
pub fn fixed_size(kind: u16) -> Option<usize> {
    match kind {
        IP_FAMILY | IP_PROTO | PROTO_TYPE => Some(1),
        SRC_PORT | DST_PORT | KEEPALIVE | VLAN_ID => Some(2),
        IPV4_SRC | IPV4_DST | TIME_SECS | TIME_MICROS | CAPTURE_ID => Some(4),
        IPV6_SRC | IPV6_DST => Some(16),
        _ => None,
    }
}

/// One chunk of a frame, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Vendor id ([`VENDOR_GENERIC`] for the standard types).
    pub vendor: u16,
    /// Chunk type.
    pub kind: u16,
    /// The value, without the chunk header.
    pub value: &'a [u8],
}

/// The chunks of a frame, in order. Yields an error once (and then nothing) when a chunk
/// does not fit.
#[derive(Debug, Clone)]
pub struct Chunks<'a> {
    rest: &'a [u8],
    offset: usize,
    failed: bool,
}

/// Checks a datagram's header (magic, total length equal to its length) and returns its
/// chunks. Sizes of fixed chunks are checked by [`crate::Frame::decode`], not here.
pub fn chunks(datagram: &[u8]) -> Result<Chunks<'_>, DecodeError> {
    let total = header(datagram)?;
    if total != datagram.len() {
        return Err(DecodeError::LengthMismatch {
            declared: total,
            actual: datagram.len(),
        });
    }
    Ok(Chunks {
        rest: datagram.get(HEADER_LEN..).unwrap_or_default(),
        offset: HEADER_LEN,
        failed: false,
    })
}

/// The magic and the total length of a frame that starts `buf`.
pub(crate) fn header(buf: &[u8]) -> Result<usize, DecodeError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        // Say BadMagic early when what we have already differs from "HEP3".
        if !MAGIC.starts_with(buf.get(..buf.len().min(4)).unwrap_or_default()) {
            return Err(DecodeError::BadMagic);
        }
        return Err(DecodeError::TooShort { len: buf.len() });
    };
    if head[..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    Ok(usize::from(u16::from_be_bytes([head[4], head[5]])))
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Result<Chunk<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let offset = self.offset;
        let result = match self.rest {
            [v0, v1, t0, t1, l0, l1, ..] => {
                let len = usize::from(u16::from_be_bytes([*l0, *l1]));
                if len < 6 {
                    Err(DecodeError::ChunkTooShort { offset, len })
                } else {
                    match self.rest.get(6..len) {
                        Some(value) => Ok((
                            Chunk {
                                vendor: u16::from_be_bytes([*v0, *v1]),
                                kind: u16::from_be_bytes([*t0, *t1]),
                                value,
                            },
                            len,
                        )),
                        None => Err(DecodeError::ChunkOverrun { offset, len }),
                    }
                }
            }
            short => Err(DecodeError::ChunkTooShort {
                offset,
                len: short.len(),
            }),
        };
        match result {
            Ok((chunk, len)) => {
                self.rest = self.rest.get(len..).unwrap_or_default();
                self.offset += len;
                Some(Ok(chunk))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn iterates_and_stops_at_the_first_bad_chunk() {
        let mut f = b"HEP3\x00\x00".to_vec();
        f.extend_from_slice(&[0, 0, 0, 0x0b, 0, 7, 1]);
        f.extend_from_slice(&[0, 4, 0x12, 0x34, 0, 8, 0xab, 0xcd]);
        f.extend_from_slice(&[0, 0, 0, 1, 0, 9, 2]);
        let n = f.len() as u16;
        f[4..6].copy_from_slice(&n.to_be_bytes());
        let got: Vec<_> = chunks(&f).unwrap().collect();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            Ok(Chunk {
                vendor: 0,
                kind: PROTO_TYPE,
                value: &[1]
            })
        );
        assert_eq!(
            got[1],
            Ok(Chunk {
                vendor: 4,
                kind: 0x1234,
                value: &[0xab, 0xcd]
            })
        );
        assert_eq!(
            got[2],
            Err(DecodeError::ChunkOverrun { offset: 21, len: 9 })
        );
    }

    #[test]
    fn header_checks() {
        assert_eq!(header(b"HEP"), Err(DecodeError::TooShort { len: 3 }));
        assert_eq!(header(b"HEP2"), Err(DecodeError::BadMagic));
        assert_eq!(header(b"\x02\x10"), Err(DecodeError::BadMagic));
        assert_eq!(header(b"HEP3\x01\x00"), Ok(256));
        assert_eq!(
            chunks(b"HEP3\x00\x07x").unwrap().next(),
            Some(Err(DecodeError::ChunkTooShort { offset: 6, len: 1 }))
        );
        assert!(matches!(
            chunks(b"HEP3\x00\x07"),
            Err(DecodeError::LengthMismatch {
                declared: 7,
                actual: 6
            })
        ));
        assert_eq!(chunks(b"HEP3\x00\x06").unwrap().count(), 0);
    }
}
