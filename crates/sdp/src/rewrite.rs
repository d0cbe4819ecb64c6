//! What the PBX sends on a leg: a peer's description with the PBX's media address and relay
//! ports, no ICE, and the leg's own `o=` line.

use std::net::IpAddr;

use crate::codec::{Codec, fmtp_references};
use crate::error::NegotiationError;
use crate::model::{
    Attribute, Connection, Direction, Line, MediaKind, Origin, Rtcp, SessionDescription,
    payload_type, split_pt,
};

/// The `o=` line the PBX writes on one leg, and its version (RFC 3264 section 8).
///
/// Every description the PBX sends on the leg (offer or answer) goes through
/// [`OriginState::stamp`]: the version starts at 1 and rises by one each time the content
/// differs from the previous description sent; an identical description keeps its version.
/// The session id is chosen by the caller (no randomness in here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginState {
    username: String,
    session_id: u64,
    version: u64,
    /// The last description stamped, serialized with an empty version field.
    last: Option<Vec<u8>>,
}

impl OriginState {
    /// State for a new leg, with user name `switchboard`.
    pub fn new(session_id: u64) -> Self {
        Self::with_username("switchboard", session_id)
    }

    /// State for a new leg with another user name (blanks become `_`, empty becomes `-`).
    pub fn with_username(username: &str, session_id: u64) -> Self {
        let username = if username.is_empty() {
            "-".to_owned()
        } else {
            username.replace(|c: char| c.is_whitespace() || c.is_control(), "_")
        };
        OriginState {
            username,
            session_id,
            version: 1,
            last: None,
        }
    }

    /// The session id.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// The version of the last description stamped (1 before the first).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Writes this leg's `o=` line into `sdp` (naming `address`), raising the version if the
    /// description differs from the last one stamped.
    pub fn stamp(&mut self, sdp: &mut SessionDescription, address: IpAddr) {
        sdp.origin = Origin::new(&self.username, self.session_id, self.version, address);
        sdp.origin.session_version.clear();
        let content = sdp.to_bytes();
        //= https://www.rfc-editor.org/rfc/rfc3264#section-8
        //# the version in the origin field MUST increment by one from the previous SDP. If
        //# the version in the origin line does not increment, the SDP MUST be identical to
        //# the SDP with that version number.
        match &self.last {
            Some(last) if *last == content => {}
            Some(_) => {
                self.version = self.version.saturating_add(1);
                self.last = Some(content);
            }
            None => self.last = Some(content),
        }
        sdp.origin.session_version = self.version.to_string();
    }
}

/// What the PBX presents to one leg: its media address, the relay's RTP port for each `m=`
/// line, and the leg's `o=` state. One per leg, kept for the whole call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegMedia {
    /// The address the leg sends media to (the `--advertise` address where set), IPv4 or IPv6.
    pub address: IpAddr,
    /// The relay RTP port facing this leg for each `m=` line, by index; RTCP is the port plus
    /// one. A missing entry or 0 rejects that stream (port 0 in what is sent).
    pub ports: Vec<u16>,
    /// Keep `a=rtcp-mux` (RFC 5761). Off by default: the relay has an RTCP port of its own,
    /// so the mux offer is removed and the peer sends RTCP to port + 1.
    pub rtcp_mux: bool,
    /// The leg's `o=` line and version.
    pub origin: OriginState,
}

impl LegMedia {
    /// A leg whose relay ports are `ports` (one per `m=` line), with `o=switchboard
    /// <session_id> ...`.
    pub fn new(address: IpAddr, ports: Vec<u16>, session_id: u64) -> Self {
        LegMedia {
            address,
            ports,
            rtcp_mux: false,
            origin: OriginState::new(session_id),
        }
    }
}

/// The description to send on `leg`, made from one a peer sent on the other leg (RFC 3264
/// offer or answer alike):
///
/// - every `c=` names `leg.address` (a session-level `c=` is added if some stream had none);
/// - each `m=` port is the leg's relay port (a port 0 stays 0: a disabled or rejected stream),
///   without a `/<count>` suffix;
/// - `a=rtcp` names the relay's RTCP port (RTP port + 1) and address; `a=rtcp-mux` is removed
///   unless [`LegMedia::rtcp_mux`];
/// - ICE attributes are removed at both levels ([`Attribute::is_ice`]);
/// - direction attributes pass unchanged, and a stream held the RFC 2543 way (`c=0.0.0.0`)
///   gets its effective direction written out (`a=sendonly` or `a=inactive`), since its
///   address is replaced;
/// - `t=0 0` is added if there was no `t=`;
/// - `o=` is the leg's own, version raised if the content changed ([`OriginState::stamp`]).
///
/// Codecs and payload type numbers are unchanged; [`retain_codecs`] filters them first if
/// needed.
pub fn rewrite(sdp: &SessionDescription, leg: &mut LegMedia) -> SessionDescription {
    let address = leg.address;
    let mut out = sdp.clone();

    for (index, (m, original)) in out.media.iter_mut().zip(&sdp.media).enumerate() {
        let legacy_hold = sdp.is_legacy_hold(original);
        let effective = sdp.direction_for(original);
        let port = match original.port {
            0 => 0,
            _ => leg.ports.get(index).copied().unwrap_or(0),
        };
        m.port = port;
        // The relay has one port pair per stream, not the layered range `/<count>` names.
        m.port_count = None;
        let rtcp_port = port.checked_add(1).filter(|_| port != 0);
        let rtcp_mux = leg.rtcp_mux;
        let mut lines = Vec::with_capacity(m.lines.len());
        for line in m.lines.drain(..) {
            match line {
                Line::Connection(_) => lines.push(Line::Connection(Connection::new(address))),
                Line::Attribute(a) if a.is_ice() => {}
                Line::Attribute(a) if !rtcp_mux && (a.is("rtcp-mux") || a.is("rtcp-mux-only")) => {}
                Line::Attribute(a) if a.is("rtcp") => {
                    if let Some(rtcp) = rtcp_port {
                        lines.push(Line::Attribute(Attribute::new(
                            &a.name,
                            Rtcp::value(rtcp, address),
                        )));
                    }
                }
                Line::Attribute(a) if legacy_hold && Direction::from_name(&a.name).is_some() => {}
                other => lines.push(other),
            }
        }
        if legacy_hold {
            lines.push(Line::Attribute(Attribute::flag(effective.name())));
        }
        m.lines = lines;
    }

    let mut lines = Vec::with_capacity(out.lines.len().saturating_add(2));
    for line in out.lines.drain(..) {
        match line {
            Line::Connection(_) => lines.push(Line::Connection(Connection::new(address))),
            Line::Attribute(a) if a.is_ice() => {}
            other => lines.push(other),
        }
    }
    out.lines = lines;
    let session_c = out.connection().is_some();
    if !session_c && out.media.iter().any(|m| m.connection().is_none()) {
        insert_session_line(&mut out.lines, Line::Connection(Connection::new(address)));
    }
    if out.values('t').next().is_none() {
        insert_session_line(
            &mut out.lines,
            Line::Other {
                kind: 't',
                value: "0 0".to_owned(),
            },
        );
    }
    leg.origin.stamp(&mut out, address);
    out
}

/// A copy of `sdp` whose audio streams keep only the codecs named in `allowed`, for an offer
/// to the other leg when a domain restricts codecs.
///
/// Entries are encoding names (`PCMA`, case-insensitive) or full forms (`opus/48000/2`,
/// matched as [`Codec::matches`]). `telephone-event` and comfort noise stay whenever a codec
/// stays. The `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines of removed types go too. Non-audio
/// streams are untouched. An active audio stream left with no codec gets port 0 (disabled);
/// if that leaves no active audio stream, the offer cannot be served:
/// [`NegotiationError::NoCommonCodec`] (answer 488).
pub fn retain_codecs(
    sdp: &SessionDescription,
    allowed: &[&str],
) -> Result<SessionDescription, NegotiationError> {
    let allowed: Vec<(&str, Option<Codec>)> = allowed
        .iter()
        .map(|a| (a.trim(), Codec::parse(a)))
        .collect();
    let is_allowed = |codec: &Codec| {
        allowed.iter().any(|(name, full)| match full {
            Some(full) => full.matches(codec),
            None => codec.name.eq_ignore_ascii_case(name),
        })
    };
    let mut out = sdp.clone();
    let mut first_emptied = None;
    let mut audio_left = false;
    let mut audio_offered = false;
    for (index, m) in out.media.iter_mut().enumerate() {
        if m.kind != MediaKind::Audio || !m.is_rtp() || m.port == 0 {
            continue;
        }
        audio_offered = true;
        let codecs = m.codecs();
        let keep_main: Vec<u8> = codecs
            .iter()
            .filter(|(_, c)| {
                c.as_ref()
                    .is_some_and(|c| !c.is_auxiliary() && is_allowed(c))
            })
            .map(|(pt, _)| *pt)
            .collect();
        if keep_main.is_empty() {
            m.port = 0;
            first_emptied.get_or_insert(index);
            continue;
        }
        audio_left = true;
        // telephone-event, CN and FEC stay; red and rtx only if what they refer to stays.
        let keep_aux: Vec<u8> = codecs
            .iter()
            .filter_map(|(pt, c)| Some((*pt, c.as_ref()?)))
            .filter(|(_, c)| c.is_auxiliary())
            .filter(|(pt, c)| {
                m.fmtp(*pt)
                    .is_none_or(|f| fmtp_references(c, f).iter().all(|r| keep_main.contains(r)))
            })
            .map(|(pt, _)| pt)
            .collect();
        let keep = |pt: u8| keep_main.contains(&pt) || keep_aux.contains(&pt);
        m.formats.retain(|f| payload_type(f).is_none_or(keep));
        m.lines.retain(|line| match line {
            Line::Attribute(a) if a.is("rtpmap") || a.is("fmtp") || a.is("rtcp-fb") => {
                match a.value.as_deref().and_then(split_pt) {
                    Some((Some(pt), _)) => keep(pt),
                    _ => true,
                }
            }
            _ => true,
        });
    }
    match first_emptied {
        Some(stream) if audio_offered && !audio_left => {
            Err(NegotiationError::NoCommonCodec { stream })
        }
        _ => Ok(out),
    }
}

/// Inserts a session-level line where RFC 8866 section 5 orders it (`i u e p c b t r z k a`),
/// after the lines that come before it.
fn insert_session_line(lines: &mut Vec<Line>, line: Line) {
    let rank = |l: &Line| match l {
        Line::Connection(_) => 5,
        Line::Attribute(_) => 11,
        Line::Other { kind, .. } => match kind {
            'i' => 1,
            'u' => 2,
            'e' => 3,
            'p' => 4,
            'b' => 6,
            't' => 7,
            'r' => 8,
            'z' => 9,
            'k' => 10,
            _ => 12,
        },
    };
    let new = rank(&line);
    let at = lines
        .iter()
        .position(|l| rank(l) > new)
        .unwrap_or(lines.len());
    lines.insert(at, line);
}

#[cfg(test)]
mod tests;
