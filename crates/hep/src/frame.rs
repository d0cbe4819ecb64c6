//! The typed frame: what was captured, where and when.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::chunk::{self, Chunk, VENDOR_GENERIC};
use crate::error::{DecodeError, EncodeError};
use crate::{HEADER_LEN, MAGIC, MAX_FRAME};

/// The IP protocol number of the captured packet (chunk 0x0002).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpProto(pub u8);

impl IpProto {
    /// TCP (also what TLS and WebSocket travel on).
    pub const TCP: IpProto = IpProto(6);
    /// UDP.
    pub const UDP: IpProto = IpProto(17);
    /// SCTP.
    pub const SCTP: IpProto = IpProto(132);
}

impl fmt::Debug for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpProto::TCP => f.write_str("IpProto(TCP)"),
            IpProto::UDP => f.write_str("IpProto(UDP)"),
            IpProto::SCTP => f.write_str("IpProto(SCTP)"),
            IpProto(n) => write!(f, "IpProto({n})"),
        }
    }
}

/// What the payload is (chunk 0x000b).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtoType(pub u8);

impl ProtoType {
    /// A SIP message, as on the wire.
    pub const SIP: ProtoType = ProtoType(1);
    /// XMPP.
    pub const XMPP: ProtoType = ProtoType(2);
    /// SDP.
    pub const SDP: ProtoType = ProtoType(3);
    /// RTP.
    pub const RTP: ProtoType = ProtoType(4);
    /// RTCP as JSON (see [`crate::rtcp`]); Homer ties it to its call by the correlation id.
    pub const RTCP: ProtoType = ProtoType(5);
    /// MGCP.
    pub const MGCP: ProtoType = ProtoType(6);
    /// QoS report, JSON.
    pub const QOS_REPORT: ProtoType = ProtoType(0x22);
    /// DNS.
    pub const DNS: ProtoType = ProtoType(0x35);
    /// A log line.
    pub const LOG: ProtoType = ProtoType(100);
}

impl fmt::Debug for ProtoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProtoType::SIP => f.write_str("ProtoType(SIP)"),
            ProtoType::RTCP => f.write_str("ProtoType(RTCP)"),
            ProtoType::RTP => f.write_str("ProtoType(RTP)"),
            ProtoType::LOG => f.write_str("ProtoType(LOG)"),
            ProtoType(n) => write!(f, "ProtoType({n})"),
        }
    }
}

/// When the packet was seen: Unix seconds and microseconds (chunks 0x0009 and 0x000a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Seconds since 1970 (the 32-bit field lasts until 2106).
    pub secs: u32,
    /// Microseconds within the second, below 1,000,000 when we write it.
    pub micros: u32,
}

impl Timestamp {
    /// From the time since the Unix epoch.
    pub fn from_unix(since_epoch: Duration) -> Self {
        Self {
            secs: u32::try_from(since_epoch.as_secs()).unwrap_or(u32::MAX),
            micros: since_epoch.subsec_micros(),
        }
    }
}

/// Who captures: the fields every frame of one capture agent shares.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Agent {
    /// The capture agent id (chunk 0x000c), naming this PBX to the collector.
    pub capture_id: u32,
    /// The collector's password (chunk 0x000e), if it wants one. Sent in clear.
    pub auth_key: Option<Arc<[u8]>>,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never log a password.
        f.debug_struct("Agent")
            .field("capture_id", &self.capture_id)
            .field("auth_key", &self.auth_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// One HEP3 frame. Encoding writes the standard chunks with vendor 0 in this order: IP
/// family, IP protocol, source and destination address, ports, seconds, microseconds,
/// protocol type, capture id, then the authentication key and correlation id when present,
/// and the payload last.
///
/// Both addresses are written in one family: IPv4 when both are IPv4 (an IPv4-mapped IPv6
/// address counts as IPv4), otherwise IPv6 with any IPv4 address mapped (`::ffff:a.b.c.d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Where the packet came from.
    pub src: SocketAddr,
    /// Where it went.
    pub dst: SocketAddr,
    /// The transport it travelled on.
    pub ip_proto: IpProto,
    /// When it was seen.
    pub time: Timestamp,
    /// What the payload is.
    pub proto: ProtoType,
    /// The capture agent's id.
    pub capture_id: u32,
    /// The collector's password, if any.
    pub auth_key: Option<&'a [u8]>,
    /// The correlation id: the SIP Call-ID of the call the packet belongs to.
    pub correlation_id: Option<&'a [u8]>,
    /// The captured bytes.
    pub payload: &'a [u8],
}

/// IPv4 (2) or IPv6 (10) in the family chunk.
const FAMILY_V4: u8 = 2;
const FAMILY_V6: u8 = 10;

/// The addresses as one family: both IPv4, or both IPv6.
enum Addrs {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

fn addrs(src: IpAddr, dst: IpAddr) -> Addrs {
    match (src.to_canonical(), dst.to_canonical()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Addrs::V4(s.octets(), d.octets()),
        (s, d) => Addrs::V6(v6(s).octets(), v6(d).octets()),
    }
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

impl<'a> Frame<'a> {
    /// Bytes the encoded frame takes (it may exceed [`MAX_FRAME`]; encoding then fails).
    pub fn encoded_len(&self) -> usize {
        let ip = match addrs(self.src.ip(), self.dst.ip()) {
            Addrs::V4(..) => 4,
            Addrs::V6(..) => 16,
        };
        let var = |v: Option<&[u8]>| v.map_or(0, |v| 6 + v.len());
        HEADER_LEN
            + 2 * (6 + 1) // family, protocol
            + 2 * (6 + ip)
            + 2 * (6 + 2) // ports
            + 3 * (6 + 4) // seconds, microseconds, capture id
            + (6 + 1) // protocol type
            + var(self.auth_key)
            + var(self.correlation_id)
            + 6
            + self.payload.len()
    }

    /// Appends the encoded frame to `out` and returns its length. Reusing one vector for
    /// every frame (`clear` it first) allocates nothing once it has grown to the largest
    /// frame. On error nothing is appended.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let len = self.encoded_len();
        if len > MAX_FRAME {
            return Err(EncodeError::TooLarge { len });
        }
        out.reserve(len);
        let start = out.len();
        self.write(&mut |bytes| out.extend_from_slice(bytes), len);
        debug_assert_eq!(out.len() - start, len);
        Ok(len)
    }

    /// Writes the encoded frame at the start of `buf` and returns its length.
    pub fn encode_to_slice(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let len = self.encoded_len();
        if len > MAX_FRAME {
            return Err(EncodeError::TooLarge { len });
        }
        let have = buf.len();
        let Some(mut rest) = buf.get_mut(..len) else {
            return Err(EncodeError::BufferTooSmall { needed: len, have });
        };
        self.write(
            &mut |bytes| {
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(bytes.len());
                head.copy_from_slice(bytes);
                rest = tail;
            },
            len,
        );
        Ok(len)
    }

    /// Emits the frame's bytes in order; `total` is [`Frame::encoded_len`], checked to fit.
    fn write(&self, put: &mut dyn FnMut(&[u8]), total: usize) {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&MAGIC);
        header[4..].copy_from_slice(&u16::try_from(total).unwrap_or(u16::MAX).to_be_bytes());
        put(&header);
        let mut chunk = |kind: u16, value: &[u8]| {
            // Values are bounded by the total, itself checked to fit 16 bits.
            let len = u16::try_from(6 + value.len()).unwrap_or(u16::MAX);
            let mut head = [0u8; 6];
            head[..2].copy_from_slice(&VENDOR_GENERIC.to_be_bytes());
            head[2..4].copy_from_slice(&kind.to_be_bytes());
            head[4..].copy_from_slice(&len.to_be_bytes());
            put(&head);
            put(value);
        };
        match addrs(self.src.ip(), self.dst.ip()) {
            Addrs::V4(s, d) => {
                chunk(chunk::IP_FAMILY, &[FAMILY_V4]);
                chunk(chunk::IP_PROTO, &[self.ip_proto.0]);
                chunk(chunk::IPV4_SRC, &s);
                chunk(chunk::IPV4_DST, &d);
            }
            Addrs::V6(s, d) => {
                chunk(chunk::IP_FAMILY, &[FAMILY_V6]);
                chunk(chunk::IP_PROTO, &[self.ip_proto.0]);
                chunk(chunk::IPV6_SRC, &s);
                chunk(chunk::IPV6_DST, &d);
            }
        }
        chunk(chunk::SRC_PORT, &self.src.port().to_be_bytes());
        chunk(chunk::DST_PORT, &self.dst.port().to_be_bytes());
        chunk(chunk::TIME_SECS, &self.time.secs.to_be_bytes());
        chunk(chunk::TIME_MICROS, &self.time.micros.to_be_bytes());
        chunk(chunk::PROTO_TYPE, &[self.proto.0]);
        chunk(chunk::CAPTURE_ID, &self.capture_id.to_be_bytes());
        if let Some(key) = self.auth_key {
            chunk(chunk::AUTH_KEY, key);
        }
        if let Some(id) = self.correlation_id {
            chunk(chunk::CORRELATION_ID, id);
        }
        chunk(chunk::PAYLOAD, self.payload);
    }

    /// Decodes one frame (a whole datagram, or one frame cut from a stream by
    /// [`frame_len`]). Refuses, with the reason, what heplify-server refuses: a total length
    /// other than `datagram.len()`, a chunk shorter than 6 or past the end, a fixed-size
    /// chunk of another size, an unknown IP family. The family, both addresses of that
    /// family, the IP protocol, both ports, the protocol type and the payload are required;
    /// a missing time or capture id reads as 0. Chunks of other vendors and unknown types
    /// are skipped (see [`crate::chunks`]); of a repeated chunk the last counts.
    pub fn decode(datagram: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
        let mut family = None;
        let mut ip_proto = None;
        let (mut src4, mut dst4, mut src6, mut dst6) = (None, None, None, None);
        let (mut sport, mut dport) = (None, None);
        let mut time = Timestamp::default();
        let mut proto = None;
        let mut capture_id = 0;
        let mut auth_key = None;
        let mut correlation_id = None;
        let mut payload = None;
        for c in chunk::chunks(datagram)? {
            let Chunk {
                vendor,
                kind,
                value,
            } = c?;
            if vendor != VENDOR_GENERIC {
                continue;
            }
            if let Some(expected) = chunk::fixed_size(kind)
                && value.len() != expected
            {
                return Err(DecodeError::BadChunkSize {
                    kind,
                    len: value.len(),
                    expected,
                });
            }
            match kind {
                chunk::IP_FAMILY => family = value.first().copied(),
                chunk::IP_PROTO => ip_proto = value.first().copied().map(IpProto),
                chunk::IPV4_SRC => src4 = <[u8; 4]>::try_from(value).ok(),
                chunk::IPV4_DST => dst4 = <[u8; 4]>::try_from(value).ok(),
                chunk::IPV6_SRC => src6 = <[u8; 16]>::try_from(value).ok(),
                chunk::IPV6_DST => dst6 = <[u8; 16]>::try_from(value).ok(),
                chunk::SRC_PORT => sport = be16(value),
                chunk::DST_PORT => dport = be16(value),
                chunk::TIME_SECS => time.secs = be32(value).unwrap_or(0),
                chunk::TIME_MICROS => time.micros = be32(value).unwrap_or(0),
                chunk::PROTO_TYPE => proto = value.first().copied().map(ProtoType),
                chunk::CAPTURE_ID => capture_id = be32(value).unwrap_or(0),
                chunk::AUTH_KEY => auth_key = Some(value),
                chunk::CORRELATION_ID => correlation_id = Some(value),
                chunk::PAYLOAD => payload = Some(value),
                _ => {}
            }
        }
        let (src, dst): (IpAddr, IpAddr) =
            match family.ok_or(DecodeError::Missing(chunk::IP_FAMILY))? {
                FAMILY_V4 => (
                    src4.ok_or(DecodeError::Missing(chunk::IPV4_SRC))?.into(),
                    dst4.ok_or(DecodeError::Missing(chunk::IPV4_DST))?.into(),
                ),
                FAMILY_V6 => (
                    src6.ok_or(DecodeError::Missing(chunk::IPV6_SRC))?.into(),
                    dst6.ok_or(DecodeError::Missing(chunk::IPV6_DST))?.into(),
                ),
                other => return Err(DecodeError::UnknownFamily(other)),
            };
        Ok(Frame {
            src: SocketAddr::new(src, sport.ok_or(DecodeError::Missing(chunk::SRC_PORT))?),
            dst: SocketAddr::new(dst, dport.ok_or(DecodeError::Missing(chunk::DST_PORT))?),
            ip_proto: ip_proto.ok_or(DecodeError::Missing(chunk::IP_PROTO))?,
            time,
            proto: proto.ok_or(DecodeError::Missing(chunk::PROTO_TYPE))?,
            capture_id,
            auth_key,
            correlation_id,
            payload: payload.ok_or(DecodeError::Missing(chunk::PAYLOAD))?,
        })
    }
}

fn be16(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(<[u8; 2]>::try_from(v).ok()?))
}

fn be32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(<[u8; 4]>::try_from(v).ok()?))
}

/// For HEP over a stream (TCP, TLS): the length of the frame at the start of `buf`, once
/// `buf` holds all of it; `Ok(None)` while more bytes are needed (incomplete is not an
/// error). A total length below the header's 6 bytes is refused.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    if buf.len() < HEADER_LEN {
        return match chunk::header(buf) {
            Err(DecodeError::BadMagic) => Err(DecodeError::BadMagic),
            _ => Ok(None),
        };
    }
    let total = chunk::header(buf)?;
    if total < HEADER_LEN {
        return Err(DecodeError::LengthMismatch {
            declared: total,
            actual: HEADER_LEN,
        });
    }
    Ok((buf.len() >= total).then_some(total))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frame<'a>(src: &str, dst: &str, payload: &'a [u8]) -> Frame<'a> {
        Frame {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ip_proto: IpProto::UDP,
            time: Timestamp::from_unix(Duration::new(1_700_000_000, 987_654_321)),
            proto: ProtoType::SIP,
            capture_id: 7,
            auth_key: Some(b"pw"),
            correlation_id: Some(b"cid"),
            payload,
        }
    }

    #[test]
    fn round_trips_and_reuses_the_buffer() {
        let f = frame("192.0.2.1:5060", "[2001:db8::9]:5070", b"INVITE");
        assert_eq!(f.time.micros, 987_654);
        let mut buf = Vec::with_capacity(512);
        let ptr = buf.as_ptr();
        for _ in 0..3 {
            buf.clear();
            let n = f.encode(&mut buf).unwrap();
            assert_eq!(n, f.encoded_len());
        }
        assert_eq!(buf.as_ptr(), ptr, "encoding into a warm buffer reallocated");
        let back = Frame::decode(&buf).unwrap();
        // Mixed families travel as IPv6, the IPv4 address mapped.
        assert_eq!(back.src, "[::ffff:192.0.2.1]:5060".parse().unwrap());
        assert_eq!(back.dst, f.dst);
        assert_eq!(Frame { src: f.src, ..back }, f);
    }

    #[test]
    fn mapped_ipv4_travels_as_ipv4() {
        let f = frame("[::ffff:127.0.0.1]:1", "127.0.0.2:2", b"");
        let mut buf = Vec::new();
        f.encode(&mut buf).unwrap();
        let back = Frame::decode(&buf).unwrap();
        assert_eq!(back.src, "127.0.0.1:1".parse().unwrap());
        assert_eq!(f.encoded_len(), buf.len());
    }

    #[test]
    fn size_limits() {
        let big = vec![b'x'; MAX_FRAME];
        let f = frame("192.0.2.1:1", "192.0.2.2:2", &big);
        let mut buf = b"keep".to_vec();
        assert!(matches!(
            f.encode(&mut buf),
            Err(EncodeError::TooLarge { .. })
        ));
        assert_eq!(buf, b"keep");
        let fits = MAX_FRAME - frame("192.0.2.1:1", "192.0.2.2:2", b"").encoded_len();
        let f = frame("192.0.2.1:1", "192.0.2.2:2", &big[..fits]);
        assert_eq!(f.encode(&mut buf), Ok(MAX_FRAME));
        assert_eq!(Frame::decode(&buf[4..]).unwrap().payload.len(), fits);
        let mut small = [0u8; 10];
        assert_eq!(
            f.encode_to_slice(&mut small),
            Err(EncodeError::BufferTooSmall {
                needed: MAX_FRAME,
                have: 10
            })
        );
    }

    #[test]
    fn stream_framing() {
        let f = frame("192.0.2.1:1", "192.0.2.2:2", b"abc");
        let mut buf = Vec::new();
        f.encode(&mut buf).unwrap();
        f.encode(&mut buf).unwrap();
        let one = f.encoded_len();
        assert_eq!(frame_len(&buf), Ok(Some(one)));
        assert_eq!(frame_len(&buf[..one - 1]), Ok(None));
        assert_eq!(frame_len(&buf[..3]), Ok(None));
        assert_eq!(frame_len(b"HEX"), Err(DecodeError::BadMagic));
        assert_eq!(
            frame_len(b"HEP3\x00\x02rest"),
            Err(DecodeError::LengthMismatch {
                declared: 2,
                actual: 6
            })
        );
        assert_eq!(Frame::decode(&buf[..one]).unwrap(), f);
    }

    #[test]
    fn repeated_chunks_last_wins_and_debug_hides_the_key() {
        let f = frame("192.0.2.1:1", "192.0.2.2:2", b"abc");
        let mut buf = Vec::new();
        f.encode(&mut buf).unwrap();
        // Append a second payload chunk and fix the total length.
        buf.extend_from_slice(&[0, 0, 0, 0x0f, 0, 8, b'z', b'z']);
        let total = u16::try_from(buf.len()).unwrap().to_be_bytes();
        buf[4..6].copy_from_slice(&total);
        assert_eq!(Frame::decode(&buf).unwrap().payload, b"zz");
        let agent = Agent {
            capture_id: 3,
            auth_key: Some(Arc::from(&b"hunter2"[..])),
        };
        assert!(!format!("{agent:?}").contains("hunter2"));
        assert_eq!(format!("{:?}", ProtoType(200)), "ProtoType(200)");
        assert_eq!(format!("{:?}", IpProto::UDP), "IpProto(UDP)");
    }
}
