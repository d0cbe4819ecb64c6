//! Calls placed by the PBX (the 9P `ctl` "dial <target>"): the extension's own phones ring
//! first, and when one answers the target is called.
//!
//! This is RFC 3725 flow I, which fits a B2BUA: our INVITE to the extension carries no SDP,
//! so the phone that answers makes the offer in its 2xx; that offer, rewritten for leg B, goes
//! to the target in our INVITE; the target's 2xx answers it, and only then is the extension's
//! 2xx ACKed, with that answer rewritten for leg A. In the call's terms the extension is the
//! A leg (the caller, `from`) and the target the B leg (`to`), so once both are ACKed the call
//! is like any other: the same relay of in-dialog requests, BYE, hang-up, media timeout.
//!
//! ```text
//!  extension            PBX              target
//!     |<-- INVITE (no SDP)|                  |
//!     |--- 180 ---------->|                  |   state "ringing"
//!     |--- 200 (offer) -->|                  |   phase 2: media opened
//!     |                   |-- INVITE (offer')->
//!     |                   |<-- 180 ----------|
//!     |                   |<-- 200 (answer) -|
//!     |                   |--- ACK --------->|
//!     |<-- ACK (answer') -|                  |   state "up"
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use sip::transaction::{ClientEvent, TransactionKey};
use sip::{HeaderName, Host, Message, NameAddr, Request, Response, SipUri, StatusCode, Uri};

use super::call::{self, Call, Side};
use super::{
    ALLOW, Action, CallEvent, Calls, Purpose, best_failure, cancel_for, cancel_list, note,
    reason_of, sdp_glue,
};
use crate::location::Flow;

impl Calls {
    /// Places a call from `user` to `target` of `domain` with the id `id` (the 9P `ctl`
    /// "dial <target>"; see [`super::Command::Dial`]): INVITEs without SDP go to every
    /// registered phone of `user`. `Ok(())` when the call is admitted, and then it is already
    /// in [`super::LiveCalls`]; `Err(reason)` when it is refused at once (no CDR then: no
    /// call was placed).
    pub fn dial(
        &mut self,
        now: Instant,
        id: &str,
        domain: &str,
        user: &str,
        target: &str,
    ) -> Result<(), String> {
        if self.draining {
            return Err("shutting down".into());
        }
        if self.calls.len() >= self.config.max_calls {
            return Err("too many calls".into());
        }
        if id.is_empty() || self.calls.values().any(|c| c.id == id) {
            return Err(format!("call id {id:?} is in use"));
        }
        {
            let dir = self.state.read_directory();
            if dir.user(domain, target).is_none() {
                return Err(format!("no such target: {target}"));
            }
        }
        let phones = match self.targets(domain, user) {
            Ok(phones) => phones,
            Err(StatusCode::NOT_FOUND) => return Err(format!("no such user: {user}")),
            Err(_) => return Err(format!("{user} has no registered phone")),
        };
        let call_id = self.token() + &self.token();
        let tag = self.token();
        let mut invites = Vec::new();
        for (contact, flow) in phones {
            let Some(uri) = Uri::parse(&contact) else {
                continue;
            };
            let request = self.dial_invite((domain, user, target), (&call_id, &tag), uri, &flow);
            invites.push((request, flow));
        }
        let Some(first) = invites.first().cloned() else {
            return Err(format!("{user} has no usable contact"));
        };
        let idx = self.next_call;
        self.next_call += 1;
        let unix = self.unix(now);
        let parties = (domain.to_owned(), user.to_owned(), target.to_owned());
        let mut call = Call::dial(idx, id.to_owned(), parties, first, unix);
        call.sdp = [
            sdp_glue::LegSdp::new(rand::Rng::random::<u32>(&mut self.rng).into()),
            sdp_glue::LegSdp::new(rand::Rng::random::<u32>(&mut self.rng).into()),
        ];
        self.dialogs
            .insert((call.a.call_id.clone(), call.a.tag.clone()), (idx, Side::A));
        self.emit(CallEvent::New(note(&call, unix)));
        let mut forks = Vec::new();
        for (request, flow) in invites {
            let Some(key) = TransactionKey::client_for_request(&request) else {
                continue;
            };
            self.clients
                .insert(key, (idx, Purpose::DialFork(forks.len())));
            forks.push(call::Fork {
                request: request.clone(),
                flow: flow.clone(),
                state: call::ForkState::Calling,
                cancel_pending: false,
                live: true,
            });
            self.actions
                .push_back(Action::Request { request, to: flow });
        }
        if let Some(dial) = call.dial.as_mut() {
            dial.forks = forks;
        }
        call.no_answer_at = Some(now + self.config.no_answer_timeout);
        self.store(idx, call);
        Ok(())
    }

    /// Our INVITE to one phone of the extension: no SDP (the phone makes the offer), From
    /// the target (so the phone shows whom it is about to call), To the extension.
    fn dial_invite(
        &mut self,
        (domain, user, target): (&str, &str, &str),
        (call_id, tag): (&str, &str),
        uri: Uri,
        flow: &Flow,
    ) -> Request {
        let host = Host::parse(domain).unwrap_or(Host::Name(domain.to_owned()));
        let mut from_uri = SipUri::new(host.clone());
        from_uri.user = Some(target.to_owned());
        let mut from = NameAddr::new(Uri::Sip(from_uri));
        from.display = Some(target.to_owned());
        from.params.set("tag", Some(tag.to_owned()));
        let mut to_uri = SipUri::new(host);
        to_uri.user = Some(user.to_owned());
        let mut headers = sip::Headers::new();
        headers.push(HeaderName::Allow, ALLOW);
        headers.push(HeaderName::UserAgent, self.config.agent.clone());
        Request {
            method: sip::Method::Invite,
            uri,
            head: sip::Head {
                via: vec![self.via(&flow.transport)],
                route: Vec::new(),
                record_route: Vec::new(),
                max_forwards: Some(70),
                from,
                to: NameAddr::new(Uri::Sip(to_uri)),
                call_id: call_id.to_owned(),
                cseq: sip::CSeq {
                    seq: 1,
                    method: sip::Method::Invite,
                },
                contact: vec![self.contact(&flow.transport)],
                headers,
            },
            body: bytes::Bytes::new(),
        }
    }

    /// An event of our INVITE to the extension's phone `index`.
    pub(super) fn dial_fork_event(
        &mut self,
        now: Instant,
        call: &mut Call,
        index: usize,
        event: ClientEvent,
    ) {
        match event {
            ClientEvent::Provisional(resp) => {
                let Some(fork) = call.fork_mut(Side::A, index) else {
                    return;
                };
                if fork.cancel_pending {
                    fork.cancel_pending = false;
                    let cancel = cancel_for(&fork.request);
                    let flow = fork.flow.clone();
                    self.send_request(call.idx, cancel, flow, Purpose::Ours);
                    return;
                }
                if resp.status.code() == 100 || fork.state != call::ForkState::Calling {
                    return;
                }
                fork.state = call::ForkState::Early;
                if call.dial_ringing() {
                    self.ringing(now, call);
                }
            }
            ClientEvent::Final(resp) | ClientEvent::AdditionalSuccess(resp)
                if resp.status.is_success() =>
            {
                self.extension_answered(now, call, index, &resp);
            }
            ClientEvent::Final(resp) => self.extension_failed(now, call, index, resp.status),
            ClientEvent::Timeout => {
                self.extension_failed(now, call, index, StatusCode::REQUEST_TIMEOUT);
            }
            ClientEvent::TransportError => {
                self.extension_failed(now, call, index, StatusCode::SERVICE_UNAVAILABLE);
            }
            ClientEvent::Terminated => {
                if let Some(fork) = call.fork_mut(Side::A, index) {
                    fork.live = false;
                }
            }
            ClientEvent::AdditionalSuccess(_) => {}
        }
    }

    /// A phone of the extension answered: the first one makes the A leg and its offer goes
    /// to the target (phase 2); a later one is ACKed and BYEd.
    fn extension_answered(&mut self, now: Instant, call: &mut Call, index: usize, resp: &Response) {
        let Some(winner) = call.dial.as_ref().map(|d| d.winner) else {
            return;
        };
        let setup = call.phase == call::Phase::Setup;
        let Some(fork) = call.fork_mut(Side::A, index) else {
            return;
        };
        let Some(dialog) = sip::dialog::Dialog::uac(&fork.request, resp) else {
            return;
        };
        if winner == Some(index) {
            // Its 2xx again. Before the target answers it waits for our ACK (the phone
            // retransmits for 64*T1, which bounds phase 2); after, it gets our ACK again.
            if let (Some(ack), Some(leg)) = (call.acks[Side::A.index()].clone(), call.leg(Side::A))
                && leg.dialog.remote_tag == dialog.remote_tag
            {
                self.actions.push_back(Action::Send {
                    message: Message::Request(ack),
                    to: leg.flow.clone(),
                });
            }
            return;
        }
        if winner.is_some() || !setup {
            self.ack_and_bye(call, Side::A, index, resp);
            return;
        }
        fork.state = call::ForkState::Answered;
        let flow = fork.flow.clone();
        let cseq = fork.request.head.cseq.seq;
        call.a.flow = flow.clone();
        call.legs[Side::A.index()] = Some(call::Leg { dialog, flow });
        if let Some(dial) = call.dial.as_mut() {
            dial.winner = Some(index);
            dial.unacked = Some(cseq);
        }
        self.cancel_dial_forks(call, Some(index));

        // The phone's 2xx carries the offer (RFC 3725 flow I).
        let offer = match call::Call::sdp_body(&resp.body).map(sdp_glue::parse) {
            Some(Ok(offer)) => offer,
            Some(Err(status)) => {
                return self.dial_abort(now, call, status.code(), reason_of(status), "system");
            }
            None => {
                let status = StatusCode::NOT_ACCEPTABLE_HERE;
                return self.dial_abort(now, call, status.code(), reason_of(status), "system");
            }
        };
        call.offer = Some((Side::A, offer.clone()));
        let targets = match self.targets(&call.domain, &call.to) {
            Ok(targets) => targets,
            Err(status) => {
                return self.dial_abort(now, call, status.code(), reason_of(status), "system");
            }
        };
        let media = match self.open_media(call, &targets) {
            Ok(media) => media,
            Err(status) => {
                return self.dial_abort(now, call, status.code(), reason_of(status), "system");
            }
        };
        self.learn_remote(call, Side::A, &offer);
        let body = sdp_glue::rewrite(
            &mut call.sdp[Side::B.index()],
            &offer,
            media.address,
            media.b_port,
        );
        self.send_forks(call, targets, 70, Some(body));
        if call.forks.is_empty() {
            let status = StatusCode::TEMPORARILY_UNAVAILABLE;
            return self.dial_abort(now, call, status.code(), reason_of(status), "system");
        }
        //= https://www.rfc-editor.org/rfc/rfc3261#section-13.3.1.4
        //# If the server retransmits the 2xx response for 64*T1 seconds without receiving
        //# an ACK, the dialog is confirmed, but the session SHOULD be terminated.
        let window = (self.config.t1 * 64).min(self.config.no_answer_timeout);
        call.no_answer_at = Some(now + window);
    }

    /// A phone of the extension refused (or could not be reached); when all have, the call
    /// ends with the best of their answers.
    fn extension_failed(
        &mut self,
        now: Instant,
        call: &mut Call,
        index: usize,
        status: StatusCode,
    ) {
        if let Some(fork) = call.fork_mut(Side::A, index) {
            if fork.state == call::ForkState::Answered {
                return;
            }
            fork.state = call::ForkState::Failed(status);
        }
        if !call.dial_ringing() {
            return;
        }
        let Some(dial) = call.dial.as_ref() else {
            return;
        };
        if !dial
            .forks
            .iter()
            .all(|f| matches!(f.state, call::ForkState::Failed(_)))
        {
            return;
        }
        let best = best_failure(&dial.forks);
        self.end(now, call, best.code(), reason_of(best), "caller");
    }

    /// The target answered the extension's offer: ACK it, ACK the extension with the answer
    /// rewritten for it, and the call is up. A 2xx without a usable answer ends the call.
    pub(super) fn target_answered(&mut self, now: Instant, call: &mut Call, resp: &Response) {
        let negotiated = match (
            call.offer.clone(),
            call::Call::sdp_body(&resp.body),
            call.media,
        ) {
            (Some((Side::A, offer)), Some(raw), Some(media)) => {
                sdp_glue::parse(raw).and_then(|answer| {
                    let n = sdp_glue::negotiate(
                        &offer,
                        &answer,
                        &mut call.sdp[Side::A.index()],
                        media.address,
                        media.a_port,
                    )?;
                    Ok((answer, n))
                })
            }
            _ => Err(StatusCode::NOT_ACCEPTABLE_HERE),
        };
        call.ack_owed = Some(call::AckOwed {
            to: Side::B,
            cseq: resp.head.cseq.seq,
        });
        match negotiated {
            Ok((answer, n)) => {
                call.offer = None;
                self.send_owed_ack(call, None);
                self.learn_remote(call, Side::B, &answer);
                self.apply_maps(call, Side::A, &n);
                self.ack_extension(call, Some(n.answer.clone()));
                call.phase = call::Phase::Up;
                let unix = self.unix(now);
                call.answer = Some(unix);
                self.emit(CallEvent::Answered(note(call, unix)));
            }
            Err(status) => {
                self.send_owed_ack(call, None);
                self.ack_extension(call, None);
                self.hang_up(now, call, status.code(), &reason_of(status), "system", None);
            }
        }
    }

    /// Ends a call placed by the PBX before it is up: CANCEL what still rings; the
    /// extension's 2xx, if it answered, is ACKed (with an answer that sends nothing) and
    /// BYEd.
    pub(super) fn dial_abort(
        &mut self,
        now: Instant,
        call: &mut Call,
        code: u16,
        reason: String,
        by: &'static str,
    ) {
        self.cancel_forks(call, None);
        self.cancel_dial_forks(call, None);
        if self.ack_extension(call, None)
            && let Some(transport) = call.leg(Side::A).map(|l| l.flow.transport.clone())
        {
            let via = self.via(&transport);
            if let Some(leg) = call.leg_mut(Side::A) {
                let bye = leg.dialog.request(sip::Method::Bye, via);
                let flow = leg.flow.clone();
                self.send_request(call.idx, bye, flow, Purpose::Ours);
            }
        }
        self.end(now, call, code, reason, by);
    }

    /// ACKs the extension's 2xx if it waits for it, with `answer`, else (the call cannot go
    /// on) an answer to its offer that sends nothing. True when an ACK went out.
    pub(super) fn ack_extension(&mut self, call: &mut Call, answer: Option<bytes::Bytes>) -> bool {
        let Some(cseq) = call.dial.as_mut().and_then(|d| d.unacked.take()) else {
            return false;
        };
        let body = answer.or_else(|| self.inactive_answer(call));
        let Some(transport) = call.leg(Side::A).map(|l| l.flow.transport.clone()) else {
            return false;
        };
        let via = self.via(&transport);
        let Some(leg) = call.leg(Side::A) else {
            return false;
        };
        let mut ack = leg.dialog.ack(cseq, via);
        if let Some(b) = body {
            ack.head
                .headers
                .push(HeaderName::ContentType, "application/sdp");
            ack.body = b;
        }
        let flow = leg.flow.clone();
        call.acks[Side::A.index()] = Some(ack.clone());
        self.actions.push_back(Action::Send {
            message: Message::Request(ack),
            to: flow,
        });
        true
    }

    /// An answer to the extension's pending offer that accepts its first codec but sends
    /// and receives nothing; `None` when there is no usable offer to answer.
    fn inactive_answer(&mut self, call: &mut Call) -> Option<bytes::Bytes> {
        let Some((Side::A, offer)) = call.offer.take() else {
            return None;
        };
        let (address, port) = match call.media {
            Some(m) => (m.address, m.a_port),
            None => (
                self.host.ip().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                0,
            ),
        };
        Some(sdp_glue::inactive_answer(
            &mut call.sdp[Side::A.index()],
            &offer,
            address,
            port,
        ))
    }

    /// CANCELs every phone of the extension still ringing except `keep`.
    pub(super) fn cancel_dial_forks(&mut self, call: &mut Call, keep: Option<usize>) {
        let Some(dial) = call.dial.as_mut() else {
            return;
        };
        for (cancel, flow) in cancel_list(&mut dial.forks, keep) {
            self.send_request(call.idx, cancel, flow, Purpose::Ours);
        }
    }

    /// The call rings (once: the first 180 or 183 of either phase).
    pub(super) fn ringing(&mut self, now: Instant, call: &mut Call) {
        if !call.ringing {
            call.ringing = true;
            let unix = self.unix(now);
            self.emit(CallEvent::Ringing(note(call, unix)));
        }
    }
}
