//! Hold and resume by the PBX (the 9P call `ctl` "hold" and "unhold").
//!
//! The PBX holds both parties: each leg gets a re-INVITE of the PBX's own, its current
//! description (the last one the PBX sent on it) with the relayed stream `a=inactive` and the
//! `o=` version raised (RFC 3264 section 8.4, RFC 6337 section 5), so nobody hears anybody.
//! Resume is the same with `a=sendrecv`. Media stays on the same relay ports.
//!
//! ```text
//!  caller               PBX               callee
//!     |<-- re-INVITE -----|--- re-INVITE --->|   a=inactive, o= version + 1
//!     |--- 200 (answer) ->|<-- 200 (answer) -|
//!     |<-- ACK -----------|--- ACK --------->|   state "held"
//! ```
//!
//! While the PBX's re-INVITEs wait, a re-INVITE (or an UPDATE with an offer) from either leg
//! gets 491, and a hold is refused while a leg's re-INVITE is relayed (RFC 3261 section
//! 14.2, both ways). A leg that refuses keeps the session it had; a leg that does not answer
//! ends the call. While a leg is held, every description relayed to it keeps the stream
//! inactive, so a session refresh from the other side does not take it off hold.

use std::time::Instant;

use sip::transaction::ClientEvent;
use sip::{HeaderName, Message, Response};

use super::call::{self, Call, Side};
use super::{ALLOW, Action, Calls, Purpose, sdp_glue};

/// Why the PBX did not put a call on hold or take it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HoldError {
    /// No live call has this id.
    #[error("no such call")]
    NoSuchCall,
    /// The call is not answered and confirmed yet.
    #[error("the call is not up")]
    NotUp,
    /// Every leg is on hold already.
    #[error("the call is already held")]
    AlreadyHeld,
    /// No leg is on hold.
    #[error("the call is not held")]
    NotHeld,
    /// A re-INVITE (ours or a leg's) or an offer is still waiting for its answer.
    #[error("a re-INVITE is pending")]
    Pending,
    /// A leg has no session description to hold.
    #[error("the call has no media session")]
    NoMedia,
}

impl Calls {
    /// Puts the call `id` on hold ([`super::Command::Hold`]): a re-INVITE with `a=inactive`
    /// to each leg not held yet. `Ok(())` once they are sent; the call shows `"held"` when a
    /// leg has accepted.
    pub fn hold(&mut self, now: Instant, id: &str) -> Result<(), HoldError> {
        self.change_hold(now, id, true)
    }

    /// Takes the call `id` off hold ([`super::Command::Unhold`]): a re-INVITE with
    /// `a=sendrecv` to each held leg; the call shows `"up"` again once all have accepted.
    pub fn unhold(&mut self, now: Instant, id: &str) -> Result<(), HoldError> {
        self.change_hold(now, id, false)
    }

    fn change_hold(&mut self, now: Instant, id: &str, hold: bool) -> Result<(), HoldError> {
        let Some(idx) = self
            .calls
            .values()
            .find(|c| c.id == id && c.phase != call::Phase::Ended)
            .map(|c| c.idx)
        else {
            return Err(HoldError::NoSuchCall);
        };
        let mut outcome = Err(HoldError::NoSuchCall);
        self.with_call(idx, |this, call| outcome = this.send_hold(call, hold));
        match outcome {
            Ok(()) => tracing::info!(call = %id, hold, "hold change sent"),
            Err(e) => tracing::info!(call = %id, hold, error = %e, "hold change refused"),
        }
        let _ = now;
        outcome
    }

    /// Sends our re-INVITEs; refuses when the call cannot change now.
    fn send_hold(&mut self, call: &mut Call, hold: bool) -> Result<(), HoldError> {
        if call.phase != call::Phase::Up {
            return Err(HoldError::NotUp);
        }
        //= https://www.rfc-editor.org/rfc/rfc3261#section-14.1
        //# Note that a UAC MUST NOT initiate a new INVITE transaction within a dialog while
        //# another INVITE transaction is in progress in either direction.
        if call.hold_change.is_some()
            || call.reinvite_pending
            || call.retransmit.iter().any(Option::is_some)
            || call.ack_owed.is_some()
            || call.offer.is_some()
        {
            return Err(HoldError::Pending);
        }
        let sides: Vec<Side> = [Side::A, Side::B]
            .into_iter()
            .filter(|s| call.sdp[s.index()].held() != hold)
            .collect();
        if sides.is_empty() {
            return Err(if hold {
                HoldError::AlreadyHeld
            } else {
                HoldError::NotHeld
            });
        }
        if sides
            .iter()
            .any(|s| call.leg(*s).is_none() || call.sdp[s.index()].last().is_none())
        {
            return Err(HoldError::NoMedia);
        }
        let mut change = call::HoldChange {
            hold,
            pending: [None, None],
        };
        for side in sides {
            let Some(transport) = call.leg(side).map(|l| l.flow.transport.clone()) else {
                continue;
            };
            let via = self.via(&transport);
            let contact = self.contact(&transport);
            let Some((body, before)) = call.sdp[side.index()].reoffer(hold) else {
                continue;
            };
            let Some(leg) = call.leg_mut(side) else {
                continue;
            };
            let mut invite = leg.dialog.request(sip::Method::Invite, via);
            invite.head.max_forwards = Some(70);
            invite.head.contact = vec![contact];
            let headers = &mut invite.head.headers;
            headers.push(HeaderName::Allow, ALLOW);
            headers.push(HeaderName::UserAgent, self.config.agent.clone());
            headers.push(HeaderName::ContentType, "application/sdp");
            invite.body = body;
            let flow = leg.flow.clone();
            change.pending[side.index()] = Some((invite.head.cseq.seq, before));
            self.send_request(call.idx, invite, flow, Purpose::Hold(side));
        }
        call.hold_change = Some(change);
        Ok(())
    }

    /// An event of our hold or resume re-INVITE to `side`.
    pub(super) fn hold_event(
        &mut self,
        now: Instant,
        call: &mut Call,
        side: Side,
        event: ClientEvent,
    ) {
        match event {
            ClientEvent::Final(resp) | ClientEvent::AdditionalSuccess(resp)
                if resp.status.is_success() =>
            {
                self.hold_accepted(call, side, &resp);
            }
            ClientEvent::Final(resp) => {
                let Some((hold, before)) = take_pending(call, side, resp.head.cseq.seq) else {
                    return;
                };
                //= https://www.rfc-editor.org/rfc/rfc3261#section-14.1
                //# If a UA receives a non-2xx final response to a re-INVITE, the session
                //# parameters MUST remain unchanged, as if no re-INVITE had been issued.
                call.sdp[side.index()].restore(before, !hold);
                tracing::info!(
                    call = %call.id,
                    leg = side.party(),
                    status = resp.status.code(),
                    hold,
                    "a leg refused the hold change; it stays as it was"
                );
                //= https://www.rfc-editor.org/rfc/rfc3261#section-12.2.1.2
                //# If the response for a request within a dialog is a 481 (Call/Transaction
                //# Does Not Exist) or a 408 (Request Timeout), the UAC SHOULD terminate the
                //# dialog.
                if matches!(resp.status.code(), 408 | 481) {
                    let reason = resp.reason.clone();
                    let code = resp.status.code();
                    self.hang_up(now, call, code, &reason, "system", Some(side));
                }
            }
            ClientEvent::Timeout | ClientEvent::TransportError => {
                let Some(change) = call.hold_change.as_mut() else {
                    return;
                };
                let hold = change.hold;
                change.pending[side.index()] = None;
                tracing::info!(
                    call = %call.id,
                    leg = side.party(),
                    hold,
                    "a leg did not answer the hold change"
                );
                self.hang_up(now, call, 408, "Request Timeout", "system", None);
            }
            ClientEvent::Provisional(_)
            | ClientEvent::AdditionalSuccess(_)
            | ClientEvent::Terminated => {}
        }
        if call
            .hold_change
            .as_ref()
            .is_some_and(|c| c.pending.iter().all(Option::is_none))
        {
            call.hold_change = None;
        }
    }

    /// A 2xx to our re-INVITE: ACK it (again, for a retransmission) and learn where the
    /// leg's answer says its media goes.
    fn hold_accepted(&mut self, call: &mut Call, side: Side, resp: &Response) {
        let cseq = resp.head.cseq.seq;
        if take_pending(call, side, cseq).is_none() {
            // A retransmission of the 2xx we already ACKed.
            if let (Some(ack), Some(leg)) = (call.acks[side.index()].clone(), call.leg(side))
                && ack.head.cseq.seq == cseq
            {
                self.actions.push_back(Action::Send {
                    message: Message::Request(ack),
                    to: leg.flow.clone(),
                });
            }
            return;
        }
        let Some(transport) = call.leg(side).map(|l| l.flow.transport.clone()) else {
            return;
        };
        let via = self.via(&transport);
        let Some(leg) = call.leg_mut(side) else {
            return;
        };
        leg.dialog.refresh_target(&resp.head.contact);
        let ack = leg.dialog.ack(cseq, via);
        let flow = leg.flow.clone();
        call.acks[side.index()] = Some(ack.clone());
        self.actions.push_back(Action::Send {
            message: Message::Request(ack),
            to: flow,
        });
        // The payload-type maps stay: the answer takes its codecs from our offer, which
        // repeats the session's.
        match call::Call::sdp_body(&resp.body).map(sdp_glue::parse) {
            Some(Ok(answer)) => self.learn_remote(call, side, &answer),
            Some(Err(status)) => tracing::debug!(
                call = %call.id,
                leg = side.party(),
                status = status.code(),
                "unusable answer to a hold change"
            ),
            None => tracing::debug!(call = %call.id, "hold change answered without SDP"),
        }
    }
}

/// The pending re-INVITE of `side` with CSeq `cseq`, taken: whether it held, and the
/// description it replaced.
fn take_pending(call: &mut Call, side: Side, cseq: u32) -> Option<(bool, sdp_glue::Sdp)> {
    let change = call.hold_change.as_mut()?;
    let slot = change.pending.get_mut(side.index())?;
    if slot.as_ref().is_some_and(|(seq, _)| *seq == cseq) {
        slot.take().map(|(_, before)| (change.hold, before))
    } else {
        None
    }
}
