//! One call's state.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::dialog::Dialog;
use sip::transaction::TransactionKey;
use sip::{Request, Response, StatusCode};

use super::sdp_glue::{LegSdp, Sdp};
use super::{Inbound, MediaPorts};
use crate::location::Flow;
use crate::registrar::Caller;

/// A leg of a call: A is the caller's, B the answering callee's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The caller's leg.
    A,
    /// The callee's leg.
    B,
}

impl Side {
    /// The other leg.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    pub(super) fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }

    /// `"caller"` or `"callee"`, as CDRs name who hung up.
    pub fn party(self) -> &'static str {
        match self {
            Self::A => "caller",
            Self::B => "callee",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// The callee's phones are being tried.
    Setup,
    /// We sent the caller a 2xx and wait for its ACK.
    Answered,
    /// Both legs are confirmed.
    Up,
    /// The call is over; it lingers while fork INVITE transactions finish, to ACK and BYE a
    /// late 2xx.
    Ended,
}

/// The caller's INVITE; for a call placed by the PBX ([`Dial`]), our INVITE to the
/// extension's first phone.
#[derive(Debug)]
pub(super) struct ALeg {
    /// The caller's INVITE server transaction; `None` for a call placed by the PBX.
    pub key: Option<TransactionKey>,
    pub invite: Request,
    pub flow: Flow,
    /// Our To tag toward the caller (our From tag toward the extension in a [`Dial`]).
    pub tag: String,
    pub call_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ForkState {
    /// Sent, nothing back.
    Calling,
    /// A provisional came: it can be cancelled.
    Early,
    /// It answered 2xx.
    Answered,
    /// A final non-2xx, a timeout or a transport error.
    Failed(StatusCode),
}

/// Our INVITE to one contact of the callee.
#[derive(Debug)]
pub(super) struct Fork {
    pub request: Request,
    pub flow: Flow,
    pub state: ForkState,
    /// CANCEL as soon as a provisional comes (RFC 3261 section 9.1).
    pub cancel_pending: bool,
    /// The transaction is alive (its Terminated event has not come).
    pub live: bool,
}

/// A call placed by the PBX (RFC 3725 flow I): the extension's phones are called first
/// (INVITE without SDP); the one that answers makes the offer in its 2xx, which we do not ACK
/// until the target answers (or refuses) that offer.
#[derive(Debug)]
pub(super) struct Dial {
    /// Our INVITEs to the extension's phones.
    pub forks: Vec<Fork>,
    /// The phone that answered; then the A leg is its dialog.
    pub winner: Option<usize>,
    /// The CSeq of the extension's 2xx while it waits for our ACK.
    pub unacked: Option<u32>,
}

/// A confirmed (or confirming) leg.
#[derive(Debug)]
pub(super) struct Leg {
    pub dialog: Dialog,
    pub flow: Flow,
}

/// Our 2xx to an INVITE from one leg, retransmitted until its ACK (RFC 3261 section
/// 13.3.1.4).
#[derive(Debug)]
pub(super) struct Retransmit {
    pub response: Response,
    pub cseq: u32,
    pub next: Instant,
    pub interval: Duration,
    pub give_up: Instant,
}

impl Retransmit {
    /// Starts retransmitting `response` at T1, giving up after 64*T1.
    pub fn new(response: Response, cseq: u32, now: Instant, t1: Duration) -> Self {
        Self {
            response,
            cseq,
            next: now + t1,
            interval: t1,
            give_up: now + t1 * 64,
        }
    }
}

/// An ACK we owe a leg once the other leg ACKs our 2xx: for its 2xx to INVITE `cseq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AckOwed {
    pub to: Side,
    pub cseq: u32,
}

/// The PBX's own re-INVITEs that put the call on hold or take it off (9P `ctl` "hold",
/// "unhold") while they wait for their final answers.
#[derive(Debug)]
pub(super) struct HoldChange {
    /// On hold (`a=inactive`) or off (`a=sendrecv`).
    pub hold: bool,
    /// Per leg: the CSeq of our re-INVITE still waiting, and the description it replaces
    /// (the session stays as that if the leg refuses).
    pub pending: [Option<(u32, Sdp)>; 2],
}

/// The session timer (RFC 4028) as the PBX enforces it.
#[derive(Debug, Clone, Copy)]
pub(super) struct SessionTimer {
    pub interval: u32,
    /// When the PBX ends the call unless a refresh comes first.
    pub deadline: Instant,
}

#[derive(Debug)]
pub(super) struct Call {
    /// The manager's key for this call.
    pub idx: u64,
    pub id: String,
    pub domain: String,
    pub from: String,
    pub to: String,
    pub start: u64,
    pub answer: Option<u64>,
    pub phase: Phase,
    pub a: ALeg,
    /// Our Call-ID and From tag toward the callee (all forks share them).
    pub b_call_id: String,
    pub b_tag: String,
    pub forks: Vec<Fork>,
    pub winner: Option<usize>,
    pub legs: [Option<Leg>; 2],
    pub media: Option<MediaPorts>,
    pub sdp: [LegSdp; 2],
    /// An SDP offer received from a leg, as it came, waiting for the answer.
    pub offer: Option<(Side, Sdp)>,
    pub codecs: Vec<String>,
    pub retransmit: [Option<Retransmit>; 2],
    /// The last ACK we sent each leg, for its 2xx retransmissions.
    pub acks: [Option<Request>; 2],
    pub ack_owed: Option<AckOwed>,
    /// A re-INVITE is being relayed: another gets 491 (RFC 3261 section 14.2).
    pub reinvite_pending: bool,
    pub no_answer_at: Option<Instant>,
    pub session: Option<SessionTimer>,
    /// The caller's INVITE asked for session timers (Supported: timer).
    pub timer_supported: bool,
    pub session_expires: Option<u32>,
    pub ringing: bool,
    /// The call was placed by the PBX ("dial"): the A leg is ours toward the extension.
    pub dial: Option<Dial>,
    /// Our hold or resume re-INVITEs in flight: a re-INVITE from a leg gets 491 meanwhile.
    pub hold_change: Option<HoldChange>,
}

impl Call {
    pub fn new(
        idx: u64,
        id: String,
        caller: Caller,
        inbound: Inbound,
        tag: String,
        start: u64,
    ) -> Self {
        let to = inbound
            .request
            .uri
            .sip()
            .and_then(|u| u.user.as_deref())
            .map(sip::unescape)
            .unwrap_or_default();
        let a = ALeg {
            key: Some(inbound.key),
            call_id: inbound.request.head.call_id.clone(),
            invite: inbound.request,
            flow: inbound.flow,
            tag,
        };
        Self::with_a(idx, id, (caller.domain, caller.user, to), a, start)
    }

    /// A call placed by the PBX from `user` to `target` of `domain`: `first` is our INVITE
    /// to the extension's first phone (its Call-ID and From tag are the A leg's).
    pub fn dial(
        idx: u64,
        id: String,
        parties: (String, String, String),
        first: (Request, Flow),
        start: u64,
    ) -> Self {
        let (invite, flow) = first;
        let a = ALeg {
            key: None,
            tag: invite.head.from.tag().unwrap_or_default().to_owned(),
            call_id: invite.head.call_id.clone(),
            invite,
            flow,
        };
        let mut call = Self::with_a(idx, id, parties, a, start);
        call.dial = Some(Dial {
            forks: Vec::new(),
            winner: None,
            unacked: None,
        });
        call
    }

    fn with_a(
        idx: u64,
        id: String,
        (domain, from, to): (String, String, String),
        a: ALeg,
        start: u64,
    ) -> Self {
        Self {
            idx,
            id,
            domain,
            from,
            to,
            start,
            answer: None,
            phase: Phase::Setup,
            a,
            b_call_id: String::new(),
            b_tag: String::new(),
            forks: Vec::new(),
            winner: None,
            legs: [None, None],
            media: None,
            sdp: [LegSdp::new(0), LegSdp::new(0)],
            offer: None,
            codecs: Vec::new(),
            retransmit: [None, None],
            acks: [None, None],
            ack_owed: None,
            reinvite_pending: false,
            no_answer_at: None,
            session: None,
            timer_supported: false,
            session_expires: None,
            ringing: false,
            dial: None,
            hold_change: None,
        }
    }

    pub fn leg(&self, side: Side) -> Option<&Leg> {
        self.legs[side.index()].as_ref()
    }

    pub fn leg_mut(&mut self, side: Side) -> Option<&mut Leg> {
        self.legs[side.index()].as_mut()
    }

    /// The earliest moment something of this call is due.
    pub fn deadline(&self) -> Option<Instant> {
        let mut at: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        if self.phase == Phase::Setup {
            consider(self.no_answer_at);
        }
        for r in self.retransmit.iter().flatten() {
            consider(Some(r.next.min(r.give_up)));
        }
        if matches!(self.phase, Phase::Answered | Phase::Up) {
            consider(self.session.map(|s| s.deadline));
        }
        at
    }

    /// Fork INVITE transactions still alive.
    pub fn live_forks(&self) -> usize {
        let dial = self.dial.as_ref().map_or(&[][..], |d| &d.forks[..]);
        self.forks.iter().chain(dial).filter(|f| f.live).count()
    }

    /// Fork `index` of `side`: the callee's phones (B), or the extension's in a dial (A).
    pub fn fork_mut(&mut self, side: Side, index: usize) -> Option<&mut Fork> {
        match side {
            Side::B => self.forks.get_mut(index),
            Side::A => self.dial.as_mut()?.forks.get_mut(index),
        }
    }

    /// True when at least one leg has accepted the PBX's hold (a leg whose hold or resume
    /// is still pending counts as it was before).
    pub fn held(&self) -> bool {
        [Side::A, Side::B].into_iter().any(|side| {
            let pending = self
                .hold_change
                .as_ref()
                .filter(|c| c.pending[side.index()].is_some());
            match pending {
                Some(change) => !change.hold,
                None => self.sdp[side.index()].held(),
            }
        })
    }

    /// True while a dial waits for the extension to answer (phase 1).
    pub fn dial_ringing(&self) -> bool {
        self.phase == Phase::Setup && self.dial.as_ref().is_some_and(|d| d.winner.is_none())
    }

    /// The body of an ACK or a message, if it carries SDP.
    pub fn sdp_body(body: &Bytes) -> Option<&Bytes> {
        (!body.is_empty()).then_some(body)
    }
}
