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
use sdp::{Attribute, LegMedia, Line, MediaDescription, MediaKind, SessionDescription};
use sip::StatusCode;

/// A parsed session description as a leg sent it.
pub(crate) type Sdp = SessionDescription;

/// What we keep per leg for the descriptions we send it: its `o=` line and version.
#[derive(Debug)]
pub(crate) struct LegSdp {
    session_id: u64,
    media: Option<LegMedia>,
}

impl LegSdp {
    pub(crate) fn new(session_id: u64) -> Self {
        Self {
            session_id,
            media: None,
        }
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
    let leg = leg.leg(sdp, address, port);
    Bytes::from(sdp::rewrite(sdp, leg).to_bytes())
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
    let leg = offerer_leg.leg(offer, address, port);
    let n = sdp::negotiate(offer, answer, leg).map_err(|e| status(e.status()))?;
    let stream = relayed_stream(offer)
        .and_then(|i| n.streams.get(i))
        .filter(|s| s.is_accepted())
        .ok_or(StatusCode::NOT_ACCEPTABLE_HERE)?;
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
