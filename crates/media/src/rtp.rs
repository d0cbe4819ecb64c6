//! Zero-copy views of RTP and RTCP packets (RFC 3550), the RFC 5761 demultiplexing rule, and
//! payload-type maps.
//!
//! Every view is checked against its buffer when it is made, so its accessors cannot read
//! beyond it: a packet whose lengths disagree with the bytes is an `Err`, never a panic.

use std::fmt;

use crate::error::MediaError;

/// An RTP synchronisation source identifier (RFC 3550 section 3).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ssrc(pub u32);

impl fmt::Debug for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ssrc({:#010x})", self.0)
    }
}

/// Why bytes are not a usable RTP or RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Shorter than the fixed header.
    #[error("packet too short")]
    TooShort,
    /// The version field is not 2.
    #[error("RTP version is not 2")]
    Version,
    /// The CSRC list or the header extension runs past the end of the packet.
    #[error("header longer than the packet")]
    HeaderOverrun,
    /// The padding count is zero or larger than the payload.
    #[error("bad padding length")]
    Padding,
    /// An RTCP packet type outside 192..=223 (RFC 5761 section 4).
    #[error("not an RTCP packet type")]
    NotRtcp,
    /// An RTCP length field that runs past the end of the datagram.
    #[error("RTCP length runs past the datagram")]
    RtcpLength,
}

/// What the first bytes of a datagram on a port that may carry both say it is (RFC 5761
/// section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// An RTP packet.
    Rtp,
    /// An RTCP (compound) packet.
    Rtcp,
}

//= https://www.rfc-editor.org/rfc/rfc5761#section-4
//# if the value of the second octet is within the range 192 to 223 inclusive, the packet
//# is RTCP; otherwise it is RTP.
/// Tells RTP from RTCP on a multiplexed port, from the second octet alone. `None` when the
/// datagram is shorter than two bytes.
pub fn demux(buf: &[u8]) -> Option<PacketKind> {
    let second = *buf.get(1)?;
    Some(if (192..=223).contains(&second) {
        PacketKind::Rtcp
    } else {
        PacketKind::Rtp
    })
}

/// The fixed RTP header length.
pub const RTP_HEADER_LEN: usize = 12;

/// A checked view of one RTP packet.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// |V=2|P|X|  CC   |M|     PT      |       sequence number         |
/// |                           timestamp                           |
/// |           synchronization source (SSRC) identifier            |
/// |            contributing source (CSRC) identifiers  (CC x 32)  |
/// |   profile-defined (16)        |   length in 32-bit words (16) |  if X
/// |                        header extension                       |
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    header_len: usize,
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// Checks the version, the CSRC list, the header extension and the padding against the
    /// buffer (RFC 3550 section 5.1 and 5.3.1).
    pub fn parse(buf: &'a [u8]) -> Result<Self, PacketError> {
        let first = *buf.first().ok_or(PacketError::TooShort)?;
        if buf.len() < RTP_HEADER_LEN {
            return Err(PacketError::TooShort);
        }
        if first >> 6 != 2 {
            return Err(PacketError::Version);
        }
        let csrc_count = usize::from(first & 0x0f);
        let mut header_len = RTP_HEADER_LEN + 4 * csrc_count;
        if header_len > buf.len() {
            return Err(PacketError::HeaderOverrun);
        }
        if first & 0x10 != 0 {
            // Extension header: 16 bits profile, 16 bits length in words, then the words.
            let words = buf
                .get(header_len + 2..header_len + 4)
                .ok_or(PacketError::HeaderOverrun)?;
            let words = usize::from(u16::from_be_bytes([words[0], words[1]]));
            header_len += 4 + 4 * words;
            if header_len > buf.len() {
                return Err(PacketError::HeaderOverrun);
            }
        }
        let mut payload_end = buf.len();
        if first & 0x20 != 0 {
            //= https://www.rfc-editor.org/rfc/rfc3550#section-5.1
            //# The last octet of the padding contains a count of how many padding octets
            //# should be ignored, including itself.
            let pad = usize::from(*buf.last().ok_or(PacketError::TooShort)?);
            if pad == 0 || pad > buf.len() - header_len {
                return Err(PacketError::Padding);
            }
            payload_end -= pad;
        }
        Ok(Self {
            buf,
            header_len,
            payload_end,
        })
    }

    /// The marker bit.
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The payload type, 0..=127.
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }

    /// The sequence number.
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// The RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// The synchronisation source.
    pub fn ssrc(&self) -> Ssrc {
        Ssrc(u32::from_be_bytes([
            self.buf[8],
            self.buf[9],
            self.buf[10],
            self.buf[11],
        ]))
    }

    /// How many CSRC identifiers follow the fixed header.
    pub fn csrc_count(&self) -> usize {
        usize::from(self.buf[0] & 0x0f)
    }

    /// The contributing source with this index, if there is one.
    pub fn csrc(&self, index: usize) -> Option<Ssrc> {
        if index >= self.csrc_count() {
            return None;
        }
        let at = RTP_HEADER_LEN + 4 * index;
        let b = self.buf.get(at..at + 4)?;
        Some(Ssrc(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    }

    /// The header extension's profile-defined word and its data, if the X bit is set.
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        if self.buf[0] & 0x10 == 0 {
            return None;
        }
        let at = RTP_HEADER_LEN + 4 * self.csrc_count();
        let profile = self.buf.get(at..at + 2)?;
        let data = self.buf.get(at + 4..self.header_len)?;
        Some((u16::from_be_bytes([profile[0], profile[1]]), data))
    }

    /// The length of the header: fixed part, CSRCs and extension.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The payload, without the header and without padding.
    pub fn payload(&self) -> &'a [u8] {
        self.buf
            .get(self.header_len..self.payload_end)
            .unwrap_or(&[])
    }

    /// How many padding octets end the packet (0 when the P bit is clear).
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.payload_end
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// RTCP packet types (RFC 3550 section 12.1, RFC 4585 section 6.1).
pub mod rtcp_type {
    /// Sender report.
    pub const SR: u8 = 200;
    /// Receiver report.
    pub const RR: u8 = 201;
    /// Source description.
    pub const SDES: u8 = 202;
    /// Goodbye.
    pub const BYE: u8 = 203;
    /// Application-defined.
    pub const APP: u8 = 204;
}

/// A checked view of the first packet of an RTCP compound packet.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// |V=2|P|    RC   |   PT=SR=200   |     length (words - 1)        |
/// |                         SSRC of sender                        |
/// ```
///
/// Only the first packet's length is required to fit: SRTCP (RFC 3711) appends an index and
/// an authentication tag after the compound packet, which a relay passes through unread.
#[derive(Debug, Clone, Copy)]
pub struct RtcpPacket<'a> {
    buf: &'a [u8],
    first_len: usize,
}

impl<'a> RtcpPacket<'a> {
    /// Checks the first header: version 2, a packet type in 192..=223, at least the sender's
    /// SSRC, and a length that fits the datagram.
    pub fn parse(buf: &'a [u8]) -> Result<Self, PacketError> {
        if buf.len() < 8 {
            return Err(PacketError::TooShort);
        }
        if buf[0] >> 6 != 2 {
            return Err(PacketError::Version);
        }
        if !(192..=223).contains(&buf[1]) {
            return Err(PacketError::NotRtcp);
        }
        let words = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        let first_len = 4 * (words + 1);
        if first_len > buf.len() || first_len < 8 {
            return Err(PacketError::RtcpLength);
        }
        Ok(Self { buf, first_len })
    }

    /// The first packet's type (200 SR, 201 RR, 202 SDES, 203 BYE, 204 APP, 205/206
    /// feedback...).
    pub fn packet_type(&self) -> u8 {
        self.buf[1]
    }

    /// The first packet's count field (reception report count, source count, or subtype).
    pub fn count(&self) -> u8 {
        self.buf[0] & 0x1f
    }

    /// The SSRC of the sender of the first packet.
    pub fn sender_ssrc(&self) -> Ssrc {
        Ssrc(u32::from_be_bytes([
            self.buf[4],
            self.buf[5],
            self.buf[6],
            self.buf[7],
        ]))
    }

    /// The first packet's length in bytes.
    pub fn first_len(&self) -> usize {
        self.first_len
    }

    /// The packet types of the compound packet, in order, as far as their headers are
    /// version 2 and their lengths fit (an SRTCP trailer or garbage ends the walk).
    pub fn packet_types(&self) -> impl Iterator<Item = u8> + 'a {
        let buf = self.buf;
        let mut at = 0usize;
        std::iter::from_fn(move || {
            let head = buf.get(at..at + 4)?;
            if head[0] >> 6 != 2 || !(192..=223).contains(&head[1]) {
                return None;
            }
            let len = 4 * (usize::from(u16::from_be_bytes([head[2], head[3]])) + 1);
            if at + len > buf.len() {
                return None;
            }
            at += len;
            Some(head[1])
        })
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// A payload-type translation for one direction of a session: 128 entries, identity by
/// default. The `sdp` crate decides the numbers (a PT on one leg is not assumed on the other);
/// the relay only applies them, rewriting the 7-bit PT field in place and keeping the marker
/// bit. Only RTP is touched; RTCP carries no payload type.
#[derive(Clone, PartialEq, Eq)]
pub struct PtMap {
    table: [u8; 128],
    identity: bool,
}

impl PtMap {
    /// The map that changes nothing.
    pub const fn identity() -> Self {
        let mut table = [0u8; 128];
        let mut i = 0;
        while i < 128 {
            table[i] = i as u8;
            i += 1;
        }
        Self {
            table,
            identity: true,
        }
    }

    /// A map from `(from, to)` pairs; other payload types stay as they are.
    pub fn from_pairs(pairs: &[(u8, u8)]) -> Result<Self, MediaError> {
        let mut map = Self::identity();
        for &(from, to) in pairs {
            map.set(from, to)?;
        }
        Ok(map)
    }

    /// Makes `from` become `to`. Both must be below 128.
    pub fn set(&mut self, from: u8, to: u8) -> Result<(), MediaError> {
        if from > 127 || to > 127 {
            return Err(MediaError::InvalidPayloadType(from.max(to)));
        }
        self.table[usize::from(from)] = to;
        self.identity = self
            .table
            .iter()
            .enumerate()
            .all(|(i, &v)| usize::from(v) == i);
        Ok(())
    }

    /// What `pt` becomes (its low 7 bits are used).
    pub fn get(&self, pt: u8) -> u8 {
        self.table[usize::from(pt & 0x7f)]
    }

    /// True when the map changes nothing.
    pub fn is_identity(&self) -> bool {
        self.identity
    }

    /// Rewrites the payload type of the RTP packet in `buf` in place, keeping the marker bit.
    /// The caller has checked `buf` with [`RtpPacket::parse`]; a buffer shorter than two
    /// bytes is left alone.
    pub fn apply(&self, buf: &mut [u8]) {
        if self.identity {
            return;
        }
        if let Some(second) = buf.get_mut(1) {
            *second = (*second & 0x80) | self.get(*second);
        }
    }
}

impl Default for PtMap {
    fn default() -> Self {
        Self::identity()
    }
}

impl fmt::Debug for PtMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (from, &to) in self.table.iter().enumerate() {
            if usize::from(to) != from {
                m.entry(&from, &to);
            }
        }
        m.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A G.711 packet: PT 0, seq 0x1234, ts 0xdeadbeef, SSRC 0x01020304, 160 bytes payload.
    fn pcmu() -> Vec<u8> {
        let mut p = vec![0x80, 0x00, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4];
        p.extend_from_slice(&[0xff; 160]);
        p
    }

    #[test]
    fn fixed_header_fields() {
        let buf = pcmu();
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.payload_type(), 0);
        assert!(!p.marker());
        assert_eq!(p.sequence(), 0x1234);
        assert_eq!(p.timestamp(), 0xdead_beef);
        assert_eq!(p.ssrc(), Ssrc(0x0102_0304));
        assert_eq!(p.header_len(), 12);
        assert_eq!(p.payload().len(), 160);
        assert_eq!(p.padding_len(), 0);
        assert_eq!(p.extension(), None);
        assert_eq!(p.csrc(0), None);
    }

    #[test]
    fn csrcs_extension_and_padding() {
        // V=2 P=1 X=1 CC=2, M=1 PT=101
        let mut buf = vec![0xb2, 0x80 | 101, 0, 1, 0, 0, 0, 1, 9, 9, 9, 9];
        buf.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 8]); // two CSRCs
        buf.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]); // one-word extension
        buf.extend_from_slice(&[1, 2, 3, 4]); // payload (an RFC 4733 event)
        buf.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = RtpPacket::parse(&buf).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 101);
        assert_eq!(p.csrc_count(), 2);
        assert_eq!(p.csrc(1), Some(Ssrc(8)));
        assert_eq!(p.extension(), Some((0xbede, &[0x10, 0xaa, 0, 0][..])));
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert_eq!(p.padding_len(), 3);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let ok = pcmu();
        assert_eq!(RtpPacket::parse(&[]).unwrap_err(), PacketError::TooShort);
        assert_eq!(
            RtpPacket::parse(&ok[..11]).unwrap_err(),
            PacketError::TooShort
        );
        let mut v1 = ok.clone();
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1).unwrap_err(), PacketError::Version);
        // 15 CSRCs announced, 12-byte packet.
        let cc = [0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            RtpPacket::parse(&cc).unwrap_err(),
            PacketError::HeaderOverrun
        );
        // Extension bit with no room for its header, then with a length past the end.
        let x = [0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe];
        assert_eq!(
            RtpPacket::parse(&x).unwrap_err(),
            PacketError::HeaderOverrun
        );
        let x = [
            0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff,
        ];
        assert_eq!(
            RtpPacket::parse(&x).unwrap_err(),
            PacketError::HeaderOverrun
        );
        // Padding of zero, and padding longer than the payload.
        let mut p = ok.clone();
        p[0] |= 0x20;
        *p.last_mut().unwrap() = 0;
        assert_eq!(RtpPacket::parse(&p).unwrap_err(), PacketError::Padding);
        *p.last_mut().unwrap() = 161;
        assert_eq!(RtpPacket::parse(&p).unwrap_err(), PacketError::Padding);
        *p.last_mut().unwrap() = 160;
        assert_eq!(RtpPacket::parse(&p).unwrap().payload().len(), 0);
    }

    #[test]
    fn rtcp_first_header_and_compound_walk() {
        // RR with no report blocks (8 bytes), then SDES of 12 bytes, then an SRTCP-like tail.
        let mut buf = vec![0x80, 201, 0, 1, 0, 0, 0, 5];
        buf.extend_from_slice(&[0x81, 202, 0, 2, 0, 0, 0, 5, 1, 1, b'x', 0]);
        buf.extend_from_slice(&[0x80, 0, 0, 1, 0xaa, 0xbb]);
        let p = RtcpPacket::parse(&buf).unwrap();
        assert_eq!(p.packet_type(), rtcp_type::RR);
        assert_eq!(p.sender_ssrc(), Ssrc(5));
        assert_eq!(p.first_len(), 8);
        assert_eq!(p.packet_types().collect::<Vec<_>>(), vec![201, 202]);
        assert_eq!(
            RtcpPacket::parse(&buf[..7]).unwrap_err(),
            PacketError::TooShort
        );
        let mut long = buf.clone();
        long[3] = 200;
        assert_eq!(
            RtcpPacket::parse(&long).unwrap_err(),
            PacketError::RtcpLength
        );
        let mut rtp = buf.clone();
        rtp[1] = 0;
        assert_eq!(RtcpPacket::parse(&rtp).unwrap_err(), PacketError::NotRtcp);
    }

    #[test]
    fn demux_by_second_octet() {
        assert_eq!(demux(&[0x80, 0]), Some(PacketKind::Rtp));
        assert_eq!(demux(&[0x80, 0x80 | 8]), Some(PacketKind::Rtp));
        assert_eq!(demux(&[0x80, 200]), Some(PacketKind::Rtcp));
        assert_eq!(demux(&[0x80, 223]), Some(PacketKind::Rtcp));
        assert_eq!(demux(&[0x80, 224]), Some(PacketKind::Rtp));
        assert_eq!(demux(&[0x80]), None);
    }

    #[test]
    fn pt_map_rewrites_in_place_and_keeps_marker() {
        let mut map = PtMap::identity();
        assert!(map.is_identity());
        map.set(101, 96).unwrap();
        map.set(0, 8).unwrap();
        assert!(!map.is_identity());
        let mut buf = pcmu();
        map.apply(&mut buf);
        assert_eq!(buf[1], 8);
        buf[1] = 0x80 | 101;
        map.apply(&mut buf);
        assert_eq!(buf[1], 0x80 | 96);
        buf[1] = 9;
        map.apply(&mut buf);
        assert_eq!(buf[1], 9);
        assert_eq!(
            map.set(128, 0).unwrap_err(),
            MediaError::InvalidPayloadType(128)
        );
        map.set(101, 101).unwrap();
        map.set(0, 0).unwrap();
        assert!(map.is_identity());
        assert_eq!(PtMap::from_pairs(&[(3, 3)]).unwrap(), PtMap::identity());
        assert_eq!(
            format!("{:?}", PtMap::from_pairs(&[(0, 8)]).unwrap()),
            "{0: 8}"
        );
    }
}
