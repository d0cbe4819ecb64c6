//! Offer/answer across the two legs of the B2BUA (RFC 3264): which codecs both sides
//! accepted, the answer the offerer gets in its own payload type numbers, and the payload-type
//! maps the relay applies in each direction.

use std::net::SocketAddr;

use crate::codec::{Codec, PtMap, fmtp_references, renumber_fmtp, static_codec};
use crate::error::NegotiationError;
use crate::model::{
    Attribute, Direction, Line, MediaDescription, MediaKind, SessionDescription, split_pt,
};
use crate::rewrite::{LegMedia, rewrite};

/// One codec both sides accepted, with the payload type each side declared for receiving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecMatch {
    /// The codec, as the offerer spelled it.
    pub codec: Codec,
    /// The payload type in the offer.
    pub offerer_pt: u8,
    /// The payload type in the answer.
    pub answerer_pt: u8,
}

/// What became of one `m=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOutcome {
    /// Both sides accepted the stream; for RTP, at least one codec is shared.
    Accepted,
    /// The offerer offered it with port 0 (disabled).
    Disabled,
    /// The answerer rejected it (port 0 in the answer).
    Rejected,
    /// An RTP stream whose offer and answer share no codec (only events or comfort noise at
    /// most): the PBX rejects it towards the offerer.
    NoCommonCodec,
}

/// The result of negotiation for one `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedStream {
    /// Index of the `m=` line (the same in offer and answer).
    pub index: usize,
    /// The media type.
    pub kind: MediaKind,
    /// Accepted or why not.
    pub outcome: StreamOutcome,
    /// The codecs both accepted, in the answerer's order of preference (first is the one it
    /// prefers), `telephone-event` included. Empty unless accepted.
    pub codecs: Vec<CodecMatch>,
    /// Payload types of RTP the offerer sends, as the answerer must receive them.
    pub offerer_to_answerer: PtMap,
    /// Payload types of RTP the answerer sends, as the offerer must receive them.
    pub answerer_to_offerer: PtMap,
    /// The offer's effective direction ([`SessionDescription::direction_for`]).
    pub offerer_direction: Direction,
    /// The answer's effective direction.
    pub answerer_direction: Direction,
    /// Where the offerer receives RTP, by its description.
    pub offerer_rtp: Option<SocketAddr>,
    /// Where the offerer receives RTCP, by its description.
    pub offerer_rtcp: Option<SocketAddr>,
    /// Where the answerer receives RTP, by its description.
    pub answerer_rtp: Option<SocketAddr>,
    /// Where the answerer receives RTCP, by its description.
    pub answerer_rtcp: Option<SocketAddr>,
}

impl NegotiatedStream {
    /// Whether media flows on this stream.
    pub fn is_accepted(&self) -> bool {
        self.outcome == StreamOutcome::Accepted
    }

    /// The first shared codec that carries media (not an event, comfort noise or FEC).
    pub fn primary(&self) -> Option<&CodecMatch> {
        self.codecs.iter().find(|c| !c.codec.is_auxiliary())
    }

    /// The shared `telephone-event` (RFC 4733): the one at the primary codec's clock rate,
    /// else the first.
    pub fn telephone_event(&self) -> Option<&CodecMatch> {
        let rate = self.primary().map(|p| p.codec.clock_rate);
        let mut events = self.codecs.iter().filter(|c| c.codec.is_telephone_event());
        let first = events.clone().next();
        events.find(|c| Some(c.codec.clock_rate) == rate).or(first)
    }
}

/// The outcome of [`negotiate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    /// The answer to send to the offerer: the answerer's answer renumbered to the offerer's
    /// payload types, rejected streams at port 0, rewritten for the offerer's leg.
    pub answer: SessionDescription,
    /// One entry per `m=` line.
    pub streams: Vec<NegotiatedStream>,
}

impl Negotiation {
    /// The codec in use on each accepted stream, as CDRs list them: `["PCMU/8000"]`.
    pub fn codecs_in_use(&self) -> Vec<String> {
        self.streams
            .iter()
            .filter_map(|s| s.primary())
            .map(|c| c.codec.to_string())
            .collect()
    }
}

/// Negotiates across the legs: `offer` as the offerer sent it and `answer` as the answerer
/// sent it, both as received (not rewritten); `offerer_leg` is the PBX's side facing the
/// offerer.
///
/// Roles, not legs: early offer (A offers in INVITE, B answers in 200) is
/// `negotiate(a_offer, b_answer, &mut leg_a)`; late offer (B offers in 200, A answers in ACK)
/// is `negotiate(b_offer, a_answer, &mut leg_b)`; a re-INVITE or UPDATE from either side is
/// the same with that side as offerer.
///
/// Codecs are matched by encoding name (case-insensitive), clock rate and channels, never by
/// payload type number. It is assumed that the answerer received the offer with the offerer's
/// payload type numbers, as [`rewrite`] and [`retain_codecs`](crate::retain_codecs) leave
/// them. Then, by RFC 3264 section 6.1 (each side sends with the numbers the other declared
/// for receiving):
///
/// - the answer to the offerer lists, for each accepted codec, the offerer's number (with the
///   answerer's `fmtp`, renumbered), in the answerer's order;
/// - the offerer sends with its own numbers, the answerer expects its own:
///   [`NegotiatedStream::offerer_to_answerer`] maps offerer PT to answerer PT;
/// - the answerer sends with the offer's numbers, which are the offerer's:
///   [`NegotiatedStream::answerer_to_offerer`] is the identity on them, and also maps each
///   answerer PT to the offerer's, for answerers that send with their own numbers.
///
/// A stream with no codec in common is rejected towards the offerer (port 0). Fails with
/// [`NegotiationError::NoCommonCodec`] when the offer had an active audio stream and none is
/// accepted, [`NegotiationError::AllRejected`] when no active stream is accepted, and
/// [`NegotiationError::StreamCount`] when the answer does not have one `m=` per offered `m=`.
/// On failure `offerer_leg` is untouched.
pub fn negotiate(
    offer: &SessionDescription,
    answer: &SessionDescription,
    offerer_leg: &mut LegMedia,
) -> Result<Negotiation, NegotiationError> {
    if offer.media.len() != answer.media.len() {
        return Err(NegotiationError::StreamCount {
            offer: offer.media.len(),
            answer: answer.media.len(),
        });
    }
    let mut renumbered = answer.clone();
    let mut streams = Vec::with_capacity(offer.media.len());
    for (index, ((o, a), out)) in offer
        .media
        .iter()
        .zip(&answer.media)
        .zip(renumbered.media.iter_mut())
        .enumerate()
    {
        let codecs = if o.is_rtp() {
            shared_codecs(o, a)
        } else {
            Vec::new()
        };
        let outcome = if o.port == 0 {
            StreamOutcome::Disabled
        } else if a.port == 0 {
            StreamOutcome::Rejected
        } else if o.is_rtp() && !codecs.iter().any(|c| !c.codec.is_auxiliary()) {
            StreamOutcome::NoCommonCodec
        } else {
            StreamOutcome::Accepted
        };
        let accepted = outcome == StreamOutcome::Accepted;
        let codecs = if accepted { codecs } else { Vec::new() };
        let mut offerer_to_answerer = PtMap::new();
        let mut answerer_to_offerer = PtMap::new();
        for c in &codecs {
            offerer_to_answerer.insert(c.offerer_pt, c.answerer_pt);
            answerer_to_offerer.insert(c.offerer_pt, c.offerer_pt);
        }
        for c in &codecs {
            if answerer_to_offerer.get(c.answerer_pt).is_none() {
                answerer_to_offerer.insert(c.answerer_pt, c.offerer_pt);
            }
        }
        if accepted {
            if o.is_rtp() {
                renumber_answer(out, &codecs);
            }
        } else {
            reject_in_answer(out, o);
        }
        streams.push(NegotiatedStream {
            index,
            kind: o.kind.clone(),
            outcome,
            codecs,
            offerer_to_answerer,
            answerer_to_offerer,
            offerer_direction: offer.direction_for(o),
            answerer_direction: answer.direction_for(a),
            offerer_rtp: offer.rtp_addr(o),
            offerer_rtcp: offer.rtcp_addr(o),
            answerer_rtp: answer.rtp_addr(a),
            answerer_rtcp: answer.rtcp_addr(a),
        });
    }

    let active = |s: &&NegotiatedStream| s.outcome != StreamOutcome::Disabled;
    let audio: Vec<&NegotiatedStream> = streams
        .iter()
        .filter(active)
        .filter(|s| s.kind == MediaKind::Audio)
        .collect();
    if !audio.is_empty() && !audio.iter().any(|s| s.is_accepted()) {
        return Err(
            match audio
                .iter()
                .find(|s| s.outcome == StreamOutcome::NoCommonCodec)
            {
                Some(s) => NegotiationError::NoCommonCodec { stream: s.index },
                None => NegotiationError::AllRejected,
            },
        );
    }
    let mut any_active = streams.iter().filter(active).peekable();
    if any_active.peek().is_some() && !any_active.any(|s| s.is_accepted()) {
        return Err(NegotiationError::AllRejected);
    }
    Ok(Negotiation {
        answer: rewrite(&renumbered, offerer_leg),
        streams,
    })
}

/// The codecs of the answer that the offer also has, in the answer's order.
fn shared_codecs(offer: &MediaDescription, answer: &MediaDescription) -> Vec<CodecMatch> {
    let offered = offer.codecs();
    let mut matches: Vec<CodecMatch> = Vec::new();
    for (answerer_pt, codec) in answer.codecs() {
        if matches.iter().any(|m| m.answerer_pt == answerer_pt) {
            continue;
        }
        let free = |pt: &u8| !matches.iter().any(|m| m.offerer_pt == *pt);
        let found = match &codec {
            // The same number for the same codec first: the answerer usually keeps the
            // offer's numbers, and that settles offers that list one codec twice.
            Some(codec) => offered
                .iter()
                .find(|(pt, c)| {
                    *pt == answerer_pt && free(pt) && c.as_ref().is_some_and(|c| c.matches(codec))
                })
                .or_else(|| {
                    offered
                        .iter()
                        .find(|(pt, c)| free(pt) && c.as_ref().is_some_and(|c| c.matches(codec)))
                }),
            // An answer that leaves out the rtpmap of a dynamic type it took from the offer
            // (RFC 3264 section 6.1 requires it, some phones skip it).
            None => offered
                .iter()
                .find(|(pt, c)| *pt == answerer_pt && free(pt) && c.is_some()),
        };
        if let Some((offerer_pt, Some(offered_codec))) = found {
            matches.push(CodecMatch {
                codec: offered_codec.clone(),
                offerer_pt: *offerer_pt,
                answerer_pt,
            });
        }
    }
    // Redundancy and retransmission formats are only shared with what they protect.
    let answerer_pts: Vec<u8> = matches.iter().map(|m| m.answerer_pt).collect();
    matches.retain(|m| {
        answer.fmtp(m.answerer_pt).is_none_or(|f| {
            fmtp_references(&m.codec, f)
                .iter()
                .all(|r| answerer_pts.contains(r))
        })
    });
    matches
}

/// Rewrites an accepted RTP `m=` section of the answer into the offerer's payload types.
fn renumber_answer(m: &mut MediaDescription, codecs: &[CodecMatch]) {
    let to_offerer = |pt: u8| {
        codecs
            .iter()
            .find(|c| c.answerer_pt == pt)
            .map(|c| c.offerer_pt)
    };
    m.formats = codecs.iter().map(|c| c.offerer_pt.to_string()).collect();
    let mut with_rtpmap = Vec::new();
    let mut last_rtpmap = None;
    let mut lines = Vec::with_capacity(m.lines.len());
    for line in m.lines.drain(..) {
        let Line::Attribute(a) = &line else {
            lines.push(line);
            continue;
        };
        let kind = ["rtpmap", "fmtp", "rtcp-fb"].into_iter().find(|n| a.is(n));
        let parsed = a.value.as_deref().and_then(split_pt);
        let (Some(kind), Some((Some(pt), rest))) = (kind, parsed) else {
            lines.push(line);
            continue;
        };
        let Some(c) = codecs.iter().find(|c| c.answerer_pt == pt) else {
            continue;
        };
        let to = c.offerer_pt;
        let value = match kind {
            "rtpmap" => {
                with_rtpmap.push(to);
                last_rtpmap = Some(lines.len());
                format!("{to} {}", c.codec)
            }
            "fmtp" => format!("{to} {}", renumber_fmtp(&c.codec, rest, to_offerer)),
            _ => format!("{to} {rest}"),
        };
        lines.push(Line::Attribute(Attribute::new(&a.name, value)));
    }
    // Dynamic types need an rtpmap even if the answerer used a static number for them.
    let missing: Vec<Line> = codecs
        .iter()
        .filter(|c| !with_rtpmap.contains(&c.offerer_pt))
        .filter(|c| static_codec(c.offerer_pt).is_none_or(|s| !s.matches(&c.codec)))
        .map(|c| {
            Line::Attribute(Attribute::new(
                "rtpmap",
                format!("{} {}", c.offerer_pt, c.codec),
            ))
        })
        .collect();
    let at = match last_rtpmap {
        Some(i) => i.saturating_add(1),
        None => lines
            .iter()
            .position(|l| matches!(l, Line::Attribute(_)))
            .unwrap_or(lines.len()),
    };
    lines.splice(at..at, missing);
    m.lines = lines;
}

/// Marks a stream rejected in the answer to the offerer: port 0, the offer's formats, none of
/// the answerer's per-type attributes (they would name the answerer's numbers).
fn reject_in_answer(m: &mut MediaDescription, offered: &MediaDescription) {
    m.port = 0;
    if offered.is_rtp() {
        if !offered.formats.is_empty() {
            m.formats = offered.formats.clone();
        }
        m.lines.retain(|l| match l {
            Line::Attribute(a) => !(a.is("rtpmap") || a.is("fmtp") || a.is("rtcp-fb")),
            _ => true,
        });
    }
}

#[cfg(test)]
mod tests;
