//! The SDP work of the B2BUA, over the `sdp` crate: parse what a leg sent, rewrite it for the
//! other leg (the PBX's media address and that leg's relay port, its own `o=` line), and
//! negotiate an offer against an answer into the answer the offerer gets and the relay's
//! payload-type maps.
//!
//! The relay carries one RTP stream per call: the first active audio stream gets the relay
//! port, any other stream (video, a second audio) is refused with port 0 in what the other
//! leg sees, so RFC 3264 makes both ends drop it.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use sdp::{Attribute, Direction, LegMedia, Line, MediaDescription, MediaKind, SessionDescription};
use sip::StatusCode;

/// A parsed session description as a leg sent it.
pub(crate) type Sdp = SessionDescription;

/// What we keep per leg for the descriptions we send it: its `o=` line and version, the last
/// description sent, and whether the PBX holds the leg.
#[derive(Debug)]
pub(crate) struct LegSdp {
    session_id: u64,
    media: Option<LegMedia>,
    /// The last description sent on the leg (offer or answer), as sent.
    last: Option<Sdp>,
    /// The PBX holds this leg: every description sent on it has the relayed stream
    /// `a=inactive`, so a relayed offer or answer (a session refresh, a codec change) does
    /// not take the leg off hold.
    held: bool,
}

impl LegSdp {
    pub(crate) fn new(session_id: u64) -> Self {
        Self {
            session_id,
            media: None,
            last: None,
            held: false,
        }
    }

    /// True when the PBX holds this leg (see [`LegSdp::reoffer`]).
    pub(crate) fn held(&self) -> bool {
        self.held
    }

    /// True when the last description sent on the leg has the relayed (first audio) stream
    /// other than `sendrecv`: the call is on hold, by the PBX or by a phone.
    pub(crate) fn media_paused(&self) -> bool {
        let Some(sdp) = &self.last else {
            return false;
        };
        relayed_stream(sdp)
            .and_then(|i| sdp.media.get(i))
            .and_then(|m| m.direction().or_else(|| sdp.direction()))
            .is_some_and(|d| d != Direction::SendRecv)
    }

    /// The last description sent on the leg.
    pub(crate) fn last(&self) -> Option<&Sdp> {
        self.last.as_ref()
    }

    /// A new offer of the PBX's own on this leg (hold and resume, RFC 3264 section 8.4):
    /// the last description sent, with the relayed stream `a=inactive` (`hold`) or
    /// `a=sendrecv`, and the `o=` version raised. `None` when nothing was sent on the leg
    /// yet. Returns the offer and the description it replaces, for [`LegSdp::restore`].
    pub(crate) fn reoffer(&mut self, hold: bool) -> Option<(Bytes, Sdp)> {
        let before = self.last.clone()?;
        let media = self.media.as_mut()?;
        let direction = if hold {
            Direction::Inactive
        } else {
            Direction::SendRecv
        };
        let mut offer = with_direction(&before, direction);
        //= https://www.rfc-editor.org/rfc/rfc3264#section-8
        //# When issuing an offer that modifies the session, the "o=" line of the new SDP
        //# MUST be identical to that in the previous SDP, except that the version in the
        //# origin field MUST increment by one from the previous SDP.
        media.origin.stamp(&mut offer, media.address);
        let bytes = Bytes::from(offer.to_bytes());
        self.last = Some(offer);
        self.held = hold;
        Some((bytes, before))
    }

    /// The leg refused our offer of [`LegSdp::reoffer`]: the session is as it was
    /// (RFC 3264 section 8), `before` is its description again and the hold is undone.
    pub(crate) fn restore(&mut self, before: Sdp, held: bool) {
        self.last = Some(before);
        self.held = held;
    }

    /// The leg's rewrite state for a description with `sdp`'s streams, relay port `port`.
    fn leg(&mut self, sdp: &Sdp, address: IpAddr, port: u16) -> &mut LegMedia {
        let session_id = self.session_id;
        let leg = self
            .media
            .get_or_insert_with(|| LegMedia::new(address, Vec::new(), session_id));
        leg.address = address;
        leg.ports = ports_for(sdp, port);
        leg
    }
}

/// An offer and its answer, matched.
#[derive(Debug, Clone)]
pub(crate) struct Negotiated {
    /// The answer to give the offerer, rewritten for its leg, in its payload-type numbers.
    pub answer: Bytes,
    /// For packets from the offerer to the answerer.
    pub offerer_to_answerer: media::PtMap,
    /// For packets from the answerer to the offerer.
    pub answerer_to_offerer: media::PtMap,
    /// The codecs in use, `PCMU/8000` style.
    pub codecs: Vec<String>,
}

fn relayed_stream(sdp: &Sdp) -> Option<usize> {
    sdp.media
        .iter()
        .position(|m| m.kind == MediaKind::Audio && m.is_rtp() && !m.is_rejected())
}

fn ports_for(sdp: &Sdp, port: u16) -> Vec<u16> {
    let relayed = relayed_stream(sdp);
    (0..sdp.media.len())
        .map(|i| if Some(i) == relayed { port } else { 0 })
        .collect()
}

fn status(code: u16) -> StatusCode {
    StatusCode::new(code).unwrap_or(StatusCode::BAD_REQUEST)
}

/// Parses a body that should be SDP; 400 (or 413/488) when it is not usable.
pub(crate) fn parse(body: &Bytes) -> Result<Sdp, StatusCode> {
    let sdp = Sdp::parse(body).map_err(|e| status(e.status()))?;
    if relayed_stream(&sdp).is_none() {
        return Err(StatusCode::NOT_ACCEPTABLE_HERE);
    }
    Ok(sdp)
}

/// `sdp` (an offer, or an answer already in the leg's numbering) as it goes to a leg.
pub(crate) fn rewrite(leg: &mut LegSdp, sdp: &Sdp, address: IpAddr, port: u16) -> Bytes {
    let held;
    let sdp = if leg.held {
        held = with_direction(sdp, Direction::Inactive);
        &held
    } else {
        sdp
    };
    let out = sdp::rewrite(sdp, leg.leg(sdp, address, port));
    let bytes = Bytes::from(out.to_bytes());
    leg.last = Some(out);
    bytes
}

/// A copy of `sdp` whose relayed stream has the direction `direction` (a media-level
/// attribute, which wins over a session-level one).
fn with_direction(sdp: &Sdp, direction: Direction) -> Sdp {
    let mut out = sdp.clone();
    if let Some(m) = relayed_stream(sdp).and_then(|i| out.media.get_mut(i)) {
        m.lines.retain(
            |line| !matches!(line, Line::Attribute(a) if Direction::from_name(&a.name).is_some()),
        );
        m.lines
            .push(Line::Attribute(Attribute::flag(direction.name())));
    }
    out
}

fn pt_map(map: &sdp::PtMap) -> media::PtMap {
    let pairs: Vec<(u8, u8)> = map.iter().collect();
    media::PtMap::from_pairs(&pairs).unwrap_or_default()
}

/// Matches `answer` to `offer` (both as the peers sent them); the answer comes back rewritten
/// for the offerer's leg. 488 when they share no codec.
pub(crate) fn negotiate(
    offer: &Sdp,
    answer: &Sdp,
    offerer_leg: &mut LegSdp,
    address: IpAddr,
    port: u16,
) -> Result<Negotiated, StatusCode> {
    // A held leg gets an answer that sends and receives nothing, whatever the other said.
    let held;
    let answer = if offerer_leg.held {
        held = with_direction(answer, Direction::Inactive);
        &held
    } else {
        answer
    };
    let leg = offerer_leg.leg(offer, address, port);
    let n = sdp::negotiate(offer, answer, leg).map_err(|e| status(e.status()))?;
    let stream = relayed_stream(offer)
        .and_then(|i| n.streams.get(i))
        .filter(|s| s.is_accepted())
        .ok_or(StatusCode::NOT_ACCEPTABLE_HERE)?;
    offerer_leg.last = Some(n.answer.clone());
    Ok(Negotiated {
        answer: Bytes::from(n.answer.to_bytes()),
        offerer_to_answerer: pt_map(&stream.offerer_to_answerer),
        answerer_to_offerer: pt_map(&stream.answerer_to_offerer),
        codecs: n.codecs_in_use(),
    })
}

/// Where a leg's description says its media goes: the relayed stream's RTP and RTCP.
pub(crate) fn media_target(sdp: &Sdp) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let m = sdp.media.get(relayed_stream(sdp)?)?;
    Some((sdp.rtp_addr(m)?, sdp.rtcp_addr(m)))
}

/// An answer to `offer` for the offerer's leg that accepts the relayed stream on `port` with
/// the offer's first codec but sends and receives nothing (`a=inactive`), and refuses every
/// other stream (port 0; all of them when `port` is 0).
///
/// A call placed by the PBX must ACK the extension's 2xx, whose offer needs an answer
/// (RFC 3264 section 5), even when the target refused and the call ends at once with a BYE
/// (RFC 3725 section 4, flow I).
pub(crate) fn inactive_answer(leg: &mut LegSdp, offer: &Sdp, address: IpAddr, port: u16) -> Bytes {
    let relayed = relayed_stream(offer).filter(|_| port != 0);
    let mut answer = Sdp::new(offer.origin.clone());
    answer.media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            // The first real codec (not telephone-event or comfort noise).
            let pt = m
                .payload_types()
                .find(|&pt| m.codec(pt).is_none_or(|c| !c.is_auxiliary()));
            let first = match pt {
                Some(pt) => pt.to_string(),
                None => m.formats.first().cloned().unwrap_or_else(|| "0".to_owned()),
            };
            let accepted = Some(i) == relayed;
            let mut out = MediaDescription::new(
                m.kind.clone(),
                if accepted { port } else { 0 },
                &m.proto,
                &[first.as_str()],
            );
            if accepted {
                let rtpmap = m.attributes().find(|a| {
                    a.is("rtpmap")
                        && a.value.as_deref().and_then(|v| v.split_whitespace().next())
                            == Some(first.as_str())
                });
                if let Some(rtpmap) = rtpmap {
                    out.lines.push(Line::Attribute(rtpmap.clone()));
                }
                out.lines.push(Line::Attribute(Attribute::flag("inactive")));
            }
            out
        })
        .collect();
    rewrite(leg, &answer, address, port)
}
