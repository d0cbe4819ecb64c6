//! The description as parsed: session-level fields, `m=` sections, and typed accessors.
//!
//! Lines that the PBX reads (`o=`, `c=`, `m=`, `a=`) are typed; every other line is kept as
//! its letter and verbatim value, in input order, so an untouched description serializes back
//! to the bytes it came from (with CRLF line ends).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::codec::{Codec, RtpMap, static_codec};

/// A session description (RFC 8866 section 5).
///
/// `v=0` is implied (it is the only version) and always written first, then `o=` and `s=`,
/// then [`lines`](Self::lines) in order, then each `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`: who made the description and its version.
    pub origin: Origin,
    /// `s=`: the session name (`-` when the input had none).
    pub session_name: String,
    /// Session-level lines after `s=` (`i`, `u`, `e`, `p`, `c`, `b`, `t`, `r`, `z`, `k`, `a`
    /// and unknown letters), in input order.
    pub lines: Vec<Line>,
    /// The `m=` sections, in order.
    pub media: Vec<MediaDescription>,
}

/// The `o=` line: `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
///
/// Session id and version are kept as the text the peer sent (RFC 8866 only calls them
/// numeric strings, and some stacks send more digits than a `u64` holds);
/// [`Origin::version`] reads the version as a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `<username>`, `-` when the creator has none.
    pub username: String,
    /// `<sess-id>`.
    pub session_id: String,
    /// `<sess-version>`.
    pub session_version: String,
    /// `<nettype>`, `IN`.
    pub net_type: String,
    /// `<addrtype>`, `IP4` or `IP6`.
    pub addr_type: String,
    /// `<unicast-address>`.
    pub address: String,
}

impl Origin {
    /// An origin with numeric id and version, naming `address`.
    pub fn new(username: &str, session_id: u64, version: u64, address: IpAddr) -> Self {
        Origin {
            username: username.to_owned(),
            session_id: session_id.to_string(),
            session_version: version.to_string(),
            net_type: "IN".to_owned(),
            addr_type: addr_type(address).to_owned(),
            address: address.to_string(),
        }
    }

    /// The session version as a number, if it is one.
    pub fn version(&self) -> Option<u64> {
        digits(&self.session_version)
    }
}

/// A `c=` line: `c=<nettype> <addrtype> <connection-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `IN`.
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// The address as written, possibly with a multicast `/ttl/count` suffix or a host name.
    pub address: String,
}

impl Connection {
    /// `c=IN IP4 <ip>` or `c=IN IP6 <ip>`.
    pub fn new(ip: IpAddr) -> Self {
        Connection {
            net_type: "IN".to_owned(),
            addr_type: addr_type(ip).to_owned(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, when it is a literal (a multicast suffix is ignored); `None` for a
    /// host name.
    pub fn ip(&self) -> Option<IpAddr> {
        let literal = self.address.split('/').next().unwrap_or_default();
        literal.parse().ok()
    }

    /// Whether the address is `0.0.0.0` or `::`: the RFC 2543 hold form, or "no address yet"
    /// under ICE.
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

/// One line of a session or media section other than `v=`, `o=`, `s=` and `m=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `c=`.
    Connection(Connection),
    /// `a=`.
    Attribute(Attribute),
    /// Any other letter (`i`, `u`, `e`, `p`, `b`, `t`, `r`, `z`, `k`, or one SDP does not
    /// define), with its value verbatim.
    Other {
        /// The type letter.
        kind: char,
        /// Everything after `=`.
        value: String,
    },
}

/// An `a=` line: `a=<name>` (a flag) or `a=<name>:<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name, as written.
    pub name: String,
    /// Everything after the first `:`; `None` for a flag such as `a=sendrecv`.
    pub value: Option<String>,
}

impl Attribute {
    /// `a=<name>:<value>`.
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        Attribute {
            name: name.to_owned(),
            value: Some(value.into()),
        }
    }

    /// `a=<name>`.
    pub fn flag(name: &str) -> Self {
        Attribute {
            name: name.to_owned(),
            value: None,
        }
    }

    /// Whether this attribute is named `name` (case-insensitively).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// Whether this is one of the ICE attributes the PBX removes when it anchors media:
    /// `candidate`, `remote-candidates`, `end-of-candidates` and every `ice-*`
    /// (RFC 8839 section 5).
    pub fn is_ice(&self) -> bool {
        let name = self.name.to_ascii_lowercase();
        name == "candidate"
            || name == "remote-candidates"
            || name == "end-of-candidates"
            || name.starts_with("ice-")
    }
}

/// The media direction (RFC 8866 section 6.7, RFC 3264 section 5.1), from the point of view
/// of whoever wrote the description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv`, the default.
    SendRecv,
    /// `a=sendonly`: the writer sends and does not want to receive (it holds the other side).
    SendOnly,
    /// `a=recvonly`: the writer receives only.
    RecvOnly,
    /// `a=inactive`: nothing flows.
    Inactive,
}

impl Direction {
    /// The direction an attribute name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| name.eq_ignore_ascii_case(d.name()))
    }

    /// The attribute name: `sendrecv`, `sendonly`, `recvonly`, `inactive`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether the writer sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the writer wants to receive media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same flow seen from the other side: `sendonly` and `recvonly` swap.
    pub fn reversed(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// This direction with receiving turned off (what `c=0.0.0.0` adds to it).
    pub fn without_receive(self) -> Self {
        match self {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The media type of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `text` (RFC 4103 real-time text).
    Text,
    /// `application`.
    Application,
    /// `message` (MSRP).
    Message,
    /// `image` (T.38 fax).
    Image,
    /// Any other token, as written.
    Other(String),
}

impl MediaKind {
    /// Reads a media token (case-insensitively for the known ones).
    pub fn parse(token: &str) -> Self {
        [
            MediaKind::Audio,
            MediaKind::Video,
            MediaKind::Text,
            MediaKind::Application,
            MediaKind::Message,
            MediaKind::Image,
        ]
        .into_iter()
        .find(|k| token.eq_ignore_ascii_case(k.as_str()))
        .unwrap_or_else(|| MediaKind::Other(token.to_owned()))
    }

    /// The token as written in `m=`.
    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Text => "text",
            MediaKind::Application => "application",
            MediaKind::Message => "message",
            MediaKind::Image => "image",
            MediaKind::Other(s) => s,
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when given as an IP literal.
    pub address: Option<IpAddr>,
}

impl Rtcp {
    /// Reads the value of an `a=rtcp` attribute.
    pub fn parse(value: &str) -> Option<Self> {
        let mut tokens = value.split_whitespace();
        let port = digits(tokens.next()?)?;
        let address = match (tokens.next(), tokens.next(), tokens.next()) {
            (Some(_net), Some(_kind), Some(addr)) => addr.parse().ok(),
            _ => None,
        };
        Some(Rtcp { port, address })
    }

    /// The attribute value: `<port> IN IP4 <address>`.
    pub fn value(port: u16, address: IpAddr) -> String {
        format!("{port} IN {} {address}", addr_type(address))
    }
}

/// The ICE attributes that apply to one `m=` section (RFC 8839), media level over session
/// level. Read it to log or refuse; [`rewrite`](crate::rewrite) removes them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ice<'a> {
    /// `a=ice-ufrag`.
    pub ufrag: Option<&'a str>,
    /// `a=ice-pwd`.
    pub pwd: Option<&'a str>,
    /// `a=ice-options`.
    pub options: Option<&'a str>,
    /// `a=ice-lite` at session level.
    pub lite: bool,
    /// The values of the media's `a=candidate` lines.
    pub candidates: Vec<&'a str>,
    /// `a=end-of-candidates` present.
    pub end_of_candidates: bool,
}

impl Ice<'_> {
    /// Whether the section uses ICE at all (credentials or candidates).
    pub fn is_present(&self) -> bool {
        self.ufrag.is_some() || !self.candidates.is_empty() || self.lite
    }
}

/// One `m=` section (RFC 8866 section 5.14) and the lines under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `<media>`.
    pub kind: MediaKind,
    /// `<port>`; 0 means the stream is disabled (offer) or rejected (answer).
    pub port: u16,
    /// The `/<number of ports>` suffix, if any.
    pub port_count: Option<u16>,
    /// `<proto>`: `RTP/AVP`, `RTP/SAVP`, `RTP/AVPF`, `UDP/TLS/RTP/SAVPF`, `udptl`...
    pub proto: String,
    /// `<fmt>` list as written; for RTP these are payload type numbers.
    pub formats: Vec<String>,
    /// Lines under `m=` (`i`, `c`, `b`, `k`, `a`, others), in input order.
    pub lines: Vec<Line>,
}

impl MediaDescription {
    /// An empty section: `m=<kind> <port> <proto>` with the given formats and no lines.
    pub fn new(kind: MediaKind, port: u16, proto: &str, formats: &[&str]) -> Self {
        MediaDescription {
            kind,
            port,
            port_count: None,
            proto: proto.to_owned(),
            formats: formats.iter().map(|f| (*f).to_owned()).collect(),
            lines: Vec::new(),
        }
    }

    /// Whether the port is 0 (stream disabled or rejected).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// Whether the transport is RTP (`RTP/AVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVP`...), so that
    /// formats are payload types.
    pub fn is_rtp(&self) -> bool {
        self.proto
            .split('/')
            .any(|part| part.eq_ignore_ascii_case("RTP"))
    }

    /// The formats that are payload type numbers (0..=127), in order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| payload_type(f))
    }

    /// The attributes of this section, in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        attributes(&self.lines)
    }

    /// The first attribute named `name` (case-insensitively).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes().find(|a| a.is(name))
    }

    /// Whether a flag or valued attribute named `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// The media-level `c=` line, if any (see
    /// [`SessionDescription::connection_for`] for the fallback to session level).
    pub fn connection(&self) -> Option<&Connection> {
        connection(&self.lines)
    }

    /// The explicit media-level direction attribute, if any (see
    /// [`SessionDescription::direction_for`] for the effective direction).
    pub fn direction(&self) -> Option<Direction> {
        direction(&self.lines)
    }

    /// The values of every line of letter `kind` that is neither `c=` nor `a=` (`i`, `b`,
    /// `k`...).
    pub fn values(&self, kind: char) -> impl Iterator<Item = &str> {
        values(&self.lines, kind)
    }

    /// `b=<kind>:<value>` (RFC 8866 section 5.8), e.g. `bandwidth("AS")` in kilobits per second.
    pub fn bandwidth(&self, kind: &str) -> Option<u64> {
        bandwidth(&self.lines, kind)
    }

    /// The explicit `a=rtpmap` for a payload type.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.pt_attributes("rtpmap", pt)
            .find_map(Codec::parse)
            .map(|codec| RtpMap { pt, codec })
    }

    /// The codec of a payload type: its `a=rtpmap`, else the static assignment of RFC 3551
    /// (0 PCMU/8000, 3 GSM/8000, 8 PCMA/8000, 9 G722/8000, 18 G729/8000...). `None` for a
    /// dynamic type without `rtpmap`.
    pub fn codec(&self, pt: u8) -> Option<Codec> {
        self.rtpmap(pt)
            .map(|m| m.codec)
            .or_else(|| static_codec(pt))
    }

    /// The `a=fmtp` parameters of a payload type, everything after `<pt> `.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.pt_attributes("fmtp", pt).next()
    }

    /// Each payload type of the `m=` line with its codec (`None` when unknown), in order.
    pub fn codecs(&self) -> Vec<(u8, Option<Codec>)> {
        self.payload_types()
            .map(|pt| (pt, self.codec(pt)))
            .collect()
    }

    /// The payload type of RFC 4733 `telephone-event`: among those listed, the first whose
    /// clock rate is that of the first codec, else the first one.
    pub fn telephone_event(&self) -> Option<u8> {
        let codecs = self.codecs();
        let rate = codecs
            .iter()
            .find_map(|(_, c)| c.as_ref().filter(|c| !c.is_auxiliary()))
            .map(|c| c.clock_rate);
        let events = codecs
            .iter()
            .filter(|(_, c)| c.as_ref().is_some_and(Codec::is_telephone_event));
        let mut first = None;
        for (pt, c) in events {
            first = first.or(Some(*pt));
            if c.as_ref().map(|c| c.clock_rate) == rate {
                return Some(*pt);
            }
        }
        first
    }

    /// `a=ptime` in milliseconds (a fractional value is cut to whole milliseconds).
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")
            .and_then(|a| a.value.as_deref())
            .and_then(milliseconds)
    }

    /// `a=maxptime` in milliseconds.
    pub fn maxptime(&self) -> Option<u32> {
        self.attribute("maxptime")
            .and_then(|a| a.value.as_deref())
            .and_then(milliseconds)
    }

    /// `a=rtcp` (RFC 3605).
    pub fn rtcp(&self) -> Option<Rtcp> {
        self.attribute("rtcp")
            .and_then(|a| a.value.as_deref())
            .and_then(Rtcp::parse)
    }

    /// Whether `a=rtcp-mux` is present (RFC 5761: RTCP on the RTP port).
    pub fn rtcp_mux(&self) -> bool {
        self.has_attribute("rtcp-mux")
    }

    /// Values of the attributes `name` whose value starts with payload type `pt`, with the
    /// type and the blank after it removed.
    fn pt_attributes<'a>(&'a self, name: &'a str, pt: u8) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes()
            .filter(move |a| a.is(name))
            .filter_map(move |a| split_pt(a.value.as_deref()?))
            .filter(move |(p, _)| *p == Some(pt))
            .map(|(_, rest)| rest)
    }
}

impl SessionDescription {
    /// A minimal description: `o=` from `origin`, `s=-`, `t=0 0`, no media.
    pub fn new(origin: Origin) -> Self {
        SessionDescription {
            origin,
            session_name: "-".to_owned(),
            lines: vec![Line::Other {
                kind: 't',
                value: "0 0".to_owned(),
            }],
            media: Vec::new(),
        }
    }

    /// The session-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        attributes(&self.lines)
    }

    /// The first session-level attribute named `name` (case-insensitively).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes().find(|a| a.is(name))
    }

    /// The session-level `c=` line, if any.
    pub fn connection(&self) -> Option<&Connection> {
        connection(&self.lines)
    }

    /// The explicit session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction(&self.lines)
    }

    /// The values of every session-level line of letter `kind` other than `c=` and `a=`
    /// (`i`, `u`, `e`, `p`, `b`, `t`, `r`, `z`, `k`).
    pub fn values(&self, kind: char) -> impl Iterator<Item = &str> {
        values(&self.lines, kind)
    }

    /// Session-level `b=<kind>:<value>`.
    pub fn bandwidth(&self, kind: &str) -> Option<u64> {
        bandwidth(&self.lines, kind)
    }

    /// The connection that applies to `m`: its own `c=`, else the session's.
    pub fn connection_for<'a>(&'a self, m: &'a MediaDescription) -> Option<&'a Connection> {
        m.connection().or_else(|| self.connection())
    }

    /// The direction that applies to `m` (RFC 3264 section 5.1): its own attribute, else the
    /// session's, else `sendrecv`; then, if the connection address is `0.0.0.0` or `::` and the
    /// section does not use ICE (where that address means "no candidate yet"), receiving is
    /// turned off: the RFC 2543 hold form reads as `sendonly` (RFC 3264 section 8.4).
    pub fn direction_for(&self, m: &MediaDescription) -> Direction {
        let explicit = m
            .direction()
            .or_else(|| self.direction())
            .unwrap_or(Direction::SendRecv);
        if self.is_legacy_hold(m) {
            explicit.without_receive()
        } else {
            explicit
        }
    }

    /// Whether `m` is held the RFC 2543 way: an unspecified connection address without ICE.
    pub fn is_legacy_hold(&self, m: &MediaDescription) -> bool {
        self.connection_for(m)
            .is_some_and(Connection::is_unspecified)
            && !self.ice_for(m).is_present()
    }

    /// Where RTP for `m` goes: its connection IP and port. `None` when the stream is rejected,
    /// the address is a host name or unspecified, or there is no `c=`.
    pub fn rtp_addr(&self, m: &MediaDescription) -> Option<SocketAddr> {
        let ip = self.connection_for(m)?.ip()?;
        (m.port != 0 && !ip.is_unspecified()).then_some(SocketAddr::new(ip, m.port))
    }

    /// Where RTCP for `m` goes: `a=rtcp` (its address or the connection's), else the RTP port
    /// plus one (RFC 3550 section 11); the RTP address when `a=rtcp-mux` is present.
    pub fn rtcp_addr(&self, m: &MediaDescription) -> Option<SocketAddr> {
        let rtp = self.rtp_addr(m)?;
        if m.rtcp_mux() {
            return Some(rtp);
        }
        match m.rtcp() {
            Some(rtcp) => Some(SocketAddr::new(rtcp.address.unwrap_or(rtp.ip()), rtcp.port)),
            None => rtp
                .port()
                .checked_add(1)
                .map(|p| SocketAddr::new(rtp.ip(), p)),
        }
    }

    /// The ICE attributes that apply to `m`, media level over session level.
    pub fn ice_for<'a>(&'a self, m: &'a MediaDescription) -> Ice<'a> {
        let value = |name: &str| {
            m.attribute(name)
                .or_else(|| self.attribute(name))
                .and_then(|a| a.value.as_deref())
        };
        Ice {
            ufrag: value("ice-ufrag"),
            pwd: value("ice-pwd"),
            options: value("ice-options"),
            lite: self.attribute("ice-lite").is_some(),
            candidates: m
                .attributes()
                .filter(|a| a.is("candidate"))
                .filter_map(|a| a.value.as_deref())
                .collect(),
            end_of_candidates: m.has_attribute("end-of-candidates")
                || self.attribute("end-of-candidates").is_some(),
        }
    }
}

/// `IP4` or `IP6`.
pub(crate) fn addr_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// A number made of ASCII digits only (`str::parse` also takes a leading `+`).
pub(crate) fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A payload type format: digits, 0..=127.
pub(crate) fn payload_type(format: &str) -> Option<u8> {
    digits::<u8>(format).filter(|pt| *pt < 128)
}

/// Splits `<pt> <rest>` (or `* <rest>`): the payload type if numeric, and the rest trimmed.
pub(crate) fn split_pt(value: &str) -> Option<(Option<u8>, &str)> {
    let value = value.trim_start();
    let end = value.find(char::is_whitespace).unwrap_or(value.len());
    let (head, rest) = value.split_at(end);
    if head.is_empty() {
        return None;
    }
    Some((payload_type(head), rest.trim()))
}

fn milliseconds(value: &str) -> Option<u32> {
    let whole = value.trim().split('.').next()?;
    digits(whole)
}

pub(crate) fn attributes(lines: &[Line]) -> impl Iterator<Item = &Attribute> {
    lines.iter().filter_map(|l| match l {
        Line::Attribute(a) => Some(a),
        _ => None,
    })
}

fn connection(lines: &[Line]) -> Option<&Connection> {
    lines.iter().find_map(|l| match l {
        Line::Connection(c) => Some(c),
        _ => None,
    })
}

fn direction(lines: &[Line]) -> Option<Direction> {
    attributes(lines)
        .filter(|a| a.value.is_none())
        .find_map(|a| Direction::from_name(&a.name))
}

fn values(lines: &[Line], kind: char) -> impl Iterator<Item = &str> {
    lines.iter().filter_map(move |l| match l {
        Line::Other { kind: k, value } if *k == kind => Some(value.as_str()),
        _ => None,
    })
}

fn bandwidth(lines: &[Line], kind: &str) -> Option<u64> {
    values(lines, 'b').find_map(|v| {
        let (k, n) = v.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(kind)
            .then(|| digits(n.trim()))
            .flatten()
    })
}

#[cfg(test)]
mod tests;
