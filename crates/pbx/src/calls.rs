//! The call manager: a B2BUA between two extensions of one domain (DESIGN.md sections 5 and 6).
//!
//! Each call has an A leg (the caller's INVITE, answered by us as a UAS) and, once someone
//! answers, a B leg (our INVITE to the callee, one fork per registered contact). Media is
//! anchored: both legs see only the PBX's relay ports in their SDP, and the relay latches onto
//! where each phone's packets really come from.
//!
//! Like the other applications it is sans-IO. The endpoint feeds it requests, responses and
//! transaction events with the time; it queues [`Action`]s (responses on server transactions,
//! requests to send as client transactions, stateless sends for ACKs and 2xx
//! retransmissions, and call events) that the endpoint drains with [`Calls::poll_action`],
//! and it asks to be woken at [`Calls::poll_timeout`]. Randomness (tags, branches, call ids)
//! comes from the RNG it is given.

mod call;
mod dial;
mod hold;
mod record;
mod sdp_glue;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rand::{Rng, rngs::StdRng};
use sip::transaction::{ClientEvent, TransactionKey};
use sip::{
    Contact, HeaderName, Host, Message, NameAddr, Request, Response, SipUri, StatusCode, Transport,
    Uri, Via,
};

use crate::directory::Latching;
use crate::location::Flow;
use crate::registrar::{Caller, State};

use call::Call;
pub use call::Side;
pub use hold::HoldError;
pub use record::{CallEvent, CallNote, Cdr};

/// The call manager's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConfig {
    /// How long the callee's phones ring before the caller gets 480.
    pub no_answer_timeout: Duration,
    /// The smallest session interval accepted (RFC 4028 Min-SE, at least 90 s).
    pub min_se: u32,
    /// A call whose media stopped both ways for this long is ended. `None`: never.
    pub media_timeout: Option<Duration>,
    /// The same for a call on hold (the last description sent on either leg has its stream
    /// `sendonly`, `recvonly` or `inactive`): many phones send nothing, not even RTCP, on a
    /// held stream, so a held call gets longer (Asterisk's `rtpholdtimeout`, FreeSWITCH's
    /// `media_hold_timeout`). `None`: never.
    pub media_hold_timeout: Option<Duration>,
    /// Calls alive at once; more get 503.
    pub max_calls: usize,
    /// RFC 3261 T1 and T2, for retransmitting our 2xx until the ACK comes.
    pub t1: Duration,
    /// See `t1`.
    pub t2: Duration,
    /// The Server / User-Agent header value.
    pub agent: String,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            no_answer_timeout: Duration::from_secs(60),
            min_se: 90,
            media_timeout: Some(Duration::from_secs(60)),
            media_hold_timeout: Some(Duration::from_secs(600)),
            max_calls: 5_000,
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            agent: "switchboard".into(),
        }
    }
}

/// What the call manager asks the endpoint to do.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Action {
    /// Answer on a server transaction.
    Respond {
        /// The server transaction.
        key: TransactionKey,
        /// The response.
        response: Response,
    },
    /// Send a request in a new client transaction along `to`; if that fails, report it with
    /// [`Calls::handle_client_event`] and [`ClientEvent::TransportError`].
    Request {
        /// The request (its top Via branch is the transaction's key).
        request: Request,
        /// Where it goes.
        to: Flow,
    },
    /// Send a message without a transaction: an ACK for a 2xx, a 2xx retransmission.
    Send {
        /// The message.
        message: Message,
        /// Where it goes.
        to: Flow,
    },
    /// A call event for webhooks; `HungUp` carries the CDR, to be committed before the event
    /// is delivered.
    Event(CallEvent),
}

/// A call as `GET /call` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    /// The PBX's call id (a UUID).
    pub id: String,
    /// The domain.
    pub domain: String,
    /// The caller.
    pub from: String,
    /// The dialled user.
    pub to: String,
    /// `"ringing"`, `"answered"` (before the ACK) or `"up"`; `"trying"` before any ringing;
    /// `"held"` once the PBX put it on hold ([`Command::Hold`]).
    pub state: &'static str,
    /// Unix seconds when the INVITE came.
    pub start: u64,
    /// Unix seconds when it was answered.
    pub answer: Option<u64>,
    /// The codecs in use.
    pub codecs: Vec<String>,
    /// The relay's address and the RTP port facing each leg (caller, callee).
    pub media: Option<(IpAddr, u16, u16)>,
    /// The relay's session, for packet taps.
    pub media_session: Option<media::SessionId>,
    /// The SIP Call-IDs of the call's legs: the caller's, then ours toward the callee once
    /// the INVITE went out. HEP capture correlates by them.
    pub sip_call_ids: Vec<String>,
}

/// Where the call manager answers a command, once: for [`Command::Dial`] `Ok(())` when the
/// call is admitted (and already in [`LiveCalls`]), `Err(reason)` when it is refused at once;
/// for [`Command::Hold`] and [`Command::Unhold`] whether the re-INVITEs went out.
pub type CommandReply = std::sync::mpsc::SyncSender<Result<(), String>>;

/// A command for the call manager from the HTTP API or the 9P tree.
#[derive(Debug, Clone)]
pub enum Command {
    /// Hang up the call with this id (`POST /call/{id}/hangup`): BYE both legs, or a final
    /// answer to the caller while it rings (486 for `busy`, else 480).
    Hangup {
        /// The PBX's call id.
        id: String,
        /// `busy`, or another reason.
        reason: Option<String>,
    },
    /// Place a call from an extension (the 9P `ctl` "dial <target>"): the extension's own
    /// registered phones ring first; when one answers, the target is called; when the target
    /// answers, the two are connected through the relay like any call.
    Dial {
        /// The new call's id, chosen by the caller of the command (a UUID, as text).
        id: String,
        /// The domain.
        domain: String,
        /// The extension whose phones ring first (it is the call's `from`).
        user: String,
        /// The dialled user of the same domain (the call's `to`).
        target: String,
        /// Answered once: `Ok(())` when the call is admitted and already in `LiveCalls` (so a
        /// reader of LiveCalls sees it right after), or `Err(reason)` when it is refused at
        /// once (unknown user or target, extension not registered, over max_calls, shutting
        /// down).
        reply: CommandReply,
    },
    /// Put an answered call on hold (the 9P `ctl` "hold"): each leg gets a re-INVITE with its
    /// description `a=inactive` (RFC 3264 section 8.4), so nobody hears anybody. Refused
    /// (and logged) when the call is not up, already held, or a re-INVITE is pending; see
    /// [`Calls::hold`].
    Hold {
        /// The PBX's call id.
        id: String,
        /// Answered once with the outcome, when given.
        reply: Option<CommandReply>,
    },
    /// Take a held call off hold (the 9P `ctl` "unhold"): the same with `a=sendrecv`; see
    /// [`Calls::unhold`].
    Unhold {
        /// The PBX's call id.
        id: String,
        /// Answered once with the outcome, when given.
        reply: Option<CommandReply>,
    },
}

/// The live calls, shared with the HTTP API.
pub type LiveCalls = Arc<RwLock<HashMap<String, CallInfo>>>;

/// A call's media session as the relay gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPorts {
    /// The relay's handle for the session.
    pub id: media::SessionId,
    /// The address to put in SDP (`c=`).
    pub address: IpAddr,
    /// The RTP port of the A leg (RTCP is the next one).
    pub a_port: u16,
    /// The RTP port of the B leg.
    pub b_port: u16,
}

/// Who a request to the call manager comes from and how it arrived.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The server transaction.
    pub key: TransactionKey,
    /// The request.
    pub request: Request,
    /// The flow it came on.
    pub flow: Flow,
}

/// What a client transaction of ours is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    /// The INVITE to fork `index` of the call.
    Fork(usize),
    /// The INVITE to the extension's phone `index` in a call placed by the PBX.
    DialFork(usize),
    /// A request relayed from `from` (its server transaction `server`) to the other leg.
    Relay {
        from: Side,
        server: TransactionKey,
        request: Box<Request>,
    },
    /// Our own re-INVITE putting the leg on hold or taking it off.
    Hold(Side),
    /// Our own BYE or CANCEL: its answer changes nothing.
    Ours,
}

/// The call manager.
pub struct Calls {
    config: CallConfig,
    state: Arc<State>,
    media: Arc<dyn media::MediaControl>,
    live: LiveCalls,
    rng: StdRng,
    /// Our Via sent-by and Contact host.
    host: Host,
    port: u16,
    /// The address put in SDP, when it is not the relay's own (`--advertise`).
    advertise: Option<IpAddr>,
    /// Wall clock at `epoch`, for CDR times.
    epoch: (Instant, u64),
    calls: HashMap<u64, Call>,
    next_call: u64,
    /// The caller's INVITE server transaction of each call in set-up.
    invites: HashMap<TransactionKey, u64>,
    clients: HashMap<TransactionKey, (u64, Purpose)>,
    /// (Call-ID, our tag) of each leg's dialog.
    dialogs: HashMap<(String, String), (u64, Side)>,
    deadlines: BTreeSet<(Instant, u64)>,
    deadline_of: HashMap<u64, Instant>,
    actions: VecDeque<Action>,
    draining: bool,
}

impl Calls {
    /// A call manager. `sent_by` is the host and port of our Via and Contact; `epoch` pairs an
    /// instant with the Unix time it was, so CDR times come from the monotonic clock.
    pub fn new(
        config: CallConfig,
        state: Arc<State>,
        media: Arc<dyn media::MediaControl>,
        sent_by: SocketAddr,
        epoch: (Instant, u64),
        rng: StdRng,
    ) -> Self {
        Self {
            config,
            state,
            media,
            live: LiveCalls::default(),
            rng,
            host: Host::parse(&sent_by.ip().to_string()).unwrap_or(Host::Name("localhost".into())),
            port: sent_by.port(),
            advertise: None,
            epoch,
            calls: HashMap::new(),
            next_call: 0,
            invites: HashMap::new(),
            clients: HashMap::new(),
            dialogs: HashMap::new(),
            deadlines: BTreeSet::new(),
            deadline_of: HashMap::new(),
            actions: VecDeque::new(),
            draining: false,
        }
    }

    /// Puts `ip` in SDP instead of the relay's own address (`--advertise`).
    pub fn with_advertise(mut self, ip: Option<IpAddr>) -> Self {
        self.advertise = ip;
        self
    }

    /// The address SDP names for the relay bound at `relay`: the advertised one, else the
    /// relay's own, else (bound to every interface) the one our SIP is reached at.
    fn media_address(&self, relay: IpAddr) -> IpAddr {
        match (self.advertise, self.host.ip()) {
            (Some(ip), _) => ip,
            (None, Some(sip)) if relay.is_unspecified() => sip,
            _ => relay,
        }
    }

    /// The live calls, for the HTTP API.
    pub fn live(&self) -> LiveCalls {
        self.live.clone()
    }

    /// Calls alive (in set-up, up, or ending).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when no call is alive.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The next action.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Calls::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// True when `request` belongs to a call: an in-dialog request of one of its legs.
    pub fn owns_dialog(&self, request: &Request) -> bool {
        request.head.to.tag().is_some_and(|tag| {
            self.dialogs
                .contains_key(&(request.head.call_id.clone(), tag.to_owned()))
        })
    }

    /// True when `key` is the INVITE server transaction of a call in set-up (so a CANCEL of
    /// it is ours).
    pub fn owns_invite(&self, key: &TransactionKey) -> bool {
        self.invites.contains_key(key)
    }

    /// A new INVITE (no To tag) from an authenticated caller.
    pub fn handle_invite(&mut self, now: Instant, caller: Caller, inbound: Inbound) {
        let idx = self.next_call;
        self.next_call += 1;
        let id = self.new_call_id();
        let tag = self.token();
        let unix = self.unix(now);
        let inbound_key = inbound.key.clone();
        let mut call = Call::new(idx, id, caller, inbound, tag, unix);
        call.sdp = [
            sdp_glue::LegSdp::new(self.rng.random::<u32>().into()),
            sdp_glue::LegSdp::new(self.rng.random::<u32>().into()),
        ];
        self.dialogs
            .insert((call.a.call_id.clone(), call.a.tag.clone()), (idx, Side::A));
        self.invites.insert(inbound_key, idx);
        self.emit(CallEvent::New(note(&call, unix)));
        let trying = self.to_caller(&call, StatusCode::TRYING, None);
        self.respond_caller(&call, trying);
        let refusal = if self.draining || self.calls.len() >= self.config.max_calls {
            Err((StatusCode::SERVICE_UNAVAILABLE, None))
        } else {
            self.admit(now, &mut call)
        };
        match refusal {
            Ok(()) => {}
            Err((status, extra)) => {
                let mut resp = self.to_caller(&call, status, None);
                if let Some((name, value)) = extra {
                    resp.head.headers.push(name, value);
                }
                self.respond_caller(&call, resp);
                self.end(now, &mut call, status.code(), reason_of(status), "system");
            }
        }
        self.store(idx, call);
    }

    /// Checks a new call and sends its forks; `Err` is the refusal for the caller.
    fn admit(
        &mut self,
        now: Instant,
        call: &mut Call,
    ) -> Result<(), (StatusCode, Option<(HeaderName, String)>)> {
        let req = call.a.invite.clone();
        //= https://www.rfc-editor.org/rfc/rfc3261#section-16.3
        //# the proxy MUST check for a loop [...] 482 (Loop Detected)
        if req.head.via.iter().any(|v| self.is_our_via(v)) {
            return Err((StatusCode::LOOP_DETECTED, None));
        }
        // Session timers (RFC 4028): an interval below our Min-SE gets 422.
        call.timer_supported = req
            .head
            .headers
            .tokens(&HeaderName::Supported)
            .any(|t| t.eq_ignore_ascii_case("timer"));
        if let Some(se) = req.head.get(&HeaderName::SessionExpires) {
            let interval = se
                .split(';')
                .next()
                .and_then(|v| v.trim().parse::<u32>().ok());
            match interval {
                Some(i) if i < self.config.min_se => {
                    return Err((
                        StatusCode::SESSION_INTERVAL_TOO_SMALL,
                        Some((HeaderName::MinSE, self.config.min_se.to_string())),
                    ));
                }
                Some(i) => call.session_expires = Some(i),
                None => return Err((StatusCode::BAD_REQUEST, None)),
            }
        }
        if req.uri.sip().and_then(|u| u.user.as_deref()).is_none() {
            return Err((StatusCode::NOT_FOUND, None));
        }
        let targets = self
            .targets(&call.domain, &call.to)
            .map_err(|s| (s, None))?;
        let Some(a_dialog) = sip::dialog::Dialog::uas(&req, &call.a.tag) else {
            return Err((StatusCode::BAD_REQUEST, None));
        };
        call.legs[Side::A.index()] = Some(call::Leg {
            dialog: a_dialog,
            flow: call.a.flow.clone(),
        });
        let offer = match call::Call::sdp_body(&req.body) {
            Some(body) => Some(sdp_glue::parse(body).map_err(|s| (s, None))?),
            None => None,
        };
        let media = self.open_media(call, &targets).map_err(|s| (s, None))?;
        let mut b_body = None;
        if let Some(offer) = offer {
            self.learn_remote(call, Side::A, &offer);
            b_body = Some(sdp_glue::rewrite(
                &mut call.sdp[Side::B.index()],
                &offer,
                media.address,
                media.b_port,
            ));
            call.offer = Some((Side::A, offer));
        }
        let max_forwards = req.head.max_forwards.unwrap_or(70).saturating_sub(1);
        self.send_forks(call, targets, max_forwards, b_body);
        if call.forks.is_empty() {
            return Err((StatusCode::TEMPORARILY_UNAVAILABLE, None));
        }
        call.no_answer_at = Some(now + self.config.no_answer_timeout);
        Ok(())
    }

    /// The registered contacts of `user`, to call: 404 when there is no such user, 480 when
    /// it has no phone registered.
    fn targets(&self, domain: &str, user: &str) -> Result<Vec<(String, Flow)>, StatusCode> {
        // One lock at a time: the registrar nests the directory inside the location (see
        // ARCHITECTURE.md, "Layer rules"), so nothing may nest them the other way round.
        let known = self.state.read_directory().user(domain, user).is_some();
        if !known {
            return Err(StatusCode::NOT_FOUND);
        }
        let loc = self
            .state
            .location
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let targets: Vec<(String, Flow)> = loc
            .bindings(domain, user)
            .iter()
            .map(|b| (b.contact.to_string(), b.flow.clone()))
            .collect();
        if targets.is_empty() {
            return Err(StatusCode::TEMPORARILY_UNAVAILABLE);
        }
        Ok(targets)
    }

    /// Opens the call's relay session, leg A toward `call.a.flow`, leg B toward the family of
    /// the first of `targets` (forks of mixed families share it); 503 when the relay has none.
    fn open_media(
        &mut self,
        call: &mut Call,
        targets: &[(String, Flow)],
    ) -> Result<MediaPorts, StatusCode> {
        let latching = {
            let dir = self.state.read_directory();
            dir.domain(&call.domain)
                .map_or(Latching::Strict, |d| d.domain.latching)
        };
        let policy = match latching {
            Latching::Strict => media::LatchPolicy::Strict,
            Latching::Any => media::LatchPolicy::Any,
        };
        let b_ip = targets
            .first()
            .map_or(call.a.flow.remote.ip(), |t| t.1.remote.ip());
        let opened = self.media.open(
            media::SessionOptions::new()
                .with_family(
                    media::Leg::A,
                    media::AddressFamily::of(call.a.flow.remote.ip()),
                )
                .with_family(media::Leg::B, media::AddressFamily::of(b_ip))
                .with_policy(media::Leg::A, policy)
                .with_policy(media::Leg::B, policy)
                .with_correlation(call.a.call_id.as_str()),
        );
        let info = match opened {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(error = %e, "no media session for a call");
                return Err(StatusCode::SERVICE_UNAVAILABLE);
            }
        };
        let media = MediaPorts {
            id: info.id,
            address: self.media_address(info.legs[0].rtp.ip()),
            a_port: info.legs[0].rtp.port(),
            b_port: info.legs[1].rtp.port(),
        };
        call.media = Some(media);
        Ok(media)
    }

    /// Sends our INVITE (with `body`, the offer rewritten for leg B, if any) to each of the
    /// callee's contacts.
    fn send_forks(
        &mut self,
        call: &mut Call,
        targets: Vec<(String, Flow)>,
        max_forwards: u8,
        body: Option<bytes::Bytes>,
    ) {
        call.b_call_id = self.token() + &self.token();
        call.b_tag = self.token();
        for (contact, flow) in targets {
            let Some(uri) = Uri::parse(&contact) else {
                continue;
            };
            let request = self.fork_invite(call, uri, &flow, max_forwards, body.clone());
            let Some(key) = TransactionKey::client_for_request(&request) else {
                continue;
            };
            let index = call.forks.len();
            call.forks.push(call::Fork {
                request: request.clone(),
                flow: flow.clone(),
                state: call::ForkState::Calling,
                cancel_pending: false,
                live: true,
            });
            self.clients.insert(key, (call.idx, Purpose::Fork(index)));
            self.actions
                .push_back(Action::Request { request, to: flow });
        }
    }

    /// Our INVITE to one contact of the callee.
    fn fork_invite(
        &mut self,
        call: &Call,
        uri: Uri,
        flow: &Flow,
        max_forwards: u8,
        body: Option<bytes::Bytes>,
    ) -> Request {
        let a = &call.a.invite.head;
        let domain_host = Host::parse(&call.domain).unwrap_or(Host::Name(call.domain.clone()));
        let mut from_uri = SipUri::new(domain_host.clone());
        from_uri.user = Some(call.from.clone());
        let mut from = NameAddr::new(Uri::Sip(from_uri));
        // In a call placed by the PBX, the A leg's INVITE is ours and names the target.
        if call.dial.is_none() {
            from.display = a.from.display.clone();
        }
        from.params.set("tag", Some(call.b_tag.clone()));
        let mut to_uri = SipUri::new(domain_host);
        to_uri.user = Some(call.to.clone());
        let mut headers = sip::Headers::new();
        headers.push(HeaderName::Allow, ALLOW);
        if call.timer_supported {
            headers.push(HeaderName::Supported, "timer");
        }
        if let Some(se) = a.get(&HeaderName::SessionExpires) {
            headers.push(HeaderName::SessionExpires, se);
        }
        if let Some(min_se) = a.get(&HeaderName::MinSE) {
            headers.push(HeaderName::MinSE, min_se);
        }
        headers.push(HeaderName::UserAgent, self.config.agent.clone());
        if body.is_some() {
            headers.push(HeaderName::ContentType, "application/sdp");
        }
        Request {
            method: sip::Method::Invite,
            uri,
            head: sip::Head {
                via: vec![self.via(&flow.transport)],
                route: Vec::new(),
                record_route: Vec::new(),
                max_forwards: Some(max_forwards),
                from,
                to: NameAddr::new(Uri::Sip(to_uri)),
                call_id: call.b_call_id.clone(),
                cseq: sip::CSeq {
                    seq: 1,
                    method: sip::Method::Invite,
                },
                contact: vec![self.contact(&flow.transport)],
                headers,
            },
            body: body.unwrap_or_default(),
        }
    }

    /// A request on one of our dialogs (see [`Calls::owns_dialog`]) or a CANCEL of a call's
    /// INVITE (see [`Calls::owns_invite`]).
    pub fn handle_request(
        &mut self,
        now: Instant,
        inbound: Inbound,
        cancels: Option<TransactionKey>,
    ) {
        let req = &inbound.request;
        if req.method == sip::Method::Cancel {
            let ok = Response::to_request(req, StatusCode::OK);
            self.respond(&inbound.key, with_tag(ok, req));
            if let Some(idx) = cancels.and_then(|k| self.invites.get(&k).copied()) {
                self.with_call(idx, |this, call| this.caller_gave_up(now, call));
            }
            return;
        }
        let Some(tag) = req.head.to.tag() else {
            return;
        };
        let Some(&(idx, side)) = self
            .dialogs
            .get(&(req.head.call_id.clone(), tag.to_owned()))
        else {
            let resp = Response::to_request(req, StatusCode::CALL_DOES_NOT_EXIST);
            self.respond(&inbound.key, resp);
            return;
        };
        self.with_call(idx, |this, call| this.in_dialog(now, call, side, inbound));
    }

    fn in_dialog(&mut self, now: Instant, call: &mut Call, side: Side, inbound: Inbound) {
        let req = &inbound.request;
        let check = call
            .leg_mut(side)
            .map(|leg| leg.dialog.accept_remote_cseq(req));
        if check == Some(sip::dialog::CSeqCheck::OutOfOrder) {
            let resp = Response::to_request(req, StatusCode::SERVER_INTERNAL_ERROR);
            self.respond(&inbound.key, resp);
            return;
        }
        match req.method {
            sip::Method::Bye => {
                let ok = Response::to_request(req, StatusCode::OK);
                self.respond(&inbound.key, ok);
                if call.phase == call::Phase::Setup && side == Side::A {
                    // The caller may end an early dialog with BYE (RFC 3261 section 15).
                    self.caller_gave_up(now, call);
                } else if call.phase != call::Phase::Ended {
                    self.hang_up(now, call, 200, "BYE", side.party(), Some(side));
                }
            }
            _ if call.phase == call::Phase::Ended => {
                let resp = Response::to_request(req, StatusCode::CALL_DOES_NOT_EXIST);
                self.respond(&inbound.key, resp);
            }
            _ if call.leg(side.other()).is_none() => {
                // Before the callee answers there is no other leg to carry it.
                let resp = Response::to_request(req, StatusCode::REQUEST_PENDING);
                self.respond(&inbound.key, resp);
            }
            sip::Method::Invite
                if call.reinvite_pending
                    || call.hold_change.is_some()
                    || call.retransmit.iter().any(Option::is_some) =>
            {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-14.2
                //# A UAS that receives a second INVITE before it sends the final response to
                //# a first INVITE with a lower CSeq sequence number on the same dialog MUST
                //# return a 500 [...] a UAS that receives an INVITE on a dialog while an
                //# INVITE it had sent on that dialog is in progress MUST return a 491
                let resp = Response::to_request(req, StatusCode::REQUEST_PENDING);
                self.respond(&inbound.key, resp);
            }
            //= https://www.rfc-editor.org/rfc/rfc3311#section-5.2
            //# If an UPDATE is received that contains an offer, and the UAS has generated an
            //# offer (in an UPDATE, PRACK or INVITE) to which it has not yet received an
            //# answer, the UAS MUST reject the UPDATE with a 491 response.
            sip::Method::Update if call.hold_change.is_some() && !req.body.is_empty() => {
                let resp = Response::to_request(req, StatusCode::REQUEST_PENDING);
                self.respond(&inbound.key, resp);
            }
            sip::Method::Prack => {
                // We never send reliable provisionals; a PRACK has nothing to acknowledge.
                let ok = Response::to_request(req, StatusCode::OK);
                self.respond(&inbound.key, ok);
            }
            _ => self.relay(now, call, side, inbound),
        }
    }

    /// Relays an in-dialog request from `from` to the other leg, SDP rewritten.
    fn relay(&mut self, now: Instant, call: &mut Call, from: Side, inbound: Inbound) {
        let req = &inbound.request;
        let to = from.other();
        if let Some(leg) = call.leg_mut(from)
            && matches!(req.method, sip::Method::Invite | sip::Method::Update)
        {
            leg.dialog.refresh_target(&req.head.contact);
        }
        let mut body = None;
        if let Some(raw) = call::Call::sdp_body(&req.body) {
            match sdp_glue::parse(raw) {
                Ok(offer) => {
                    self.learn_remote(call, from, &offer);
                    if let Some(media) = call.media {
                        body = Some(sdp_glue::rewrite(
                            &mut call.sdp[to.index()],
                            &offer,
                            media.address,
                            port_of(&media, to),
                        ));
                    }
                    call.offer = Some((from, offer));
                }
                Err(status) => {
                    let resp = Response::to_request(req, status);
                    self.respond(&inbound.key, resp);
                    return;
                }
            }
        } else if req.method == sip::Method::Invite {
            call.offer = None;
        }
        let via = self.via(
            &call
                .leg(to)
                .map_or(Transport::Udp, |l| l.flow.transport.clone()),
        );
        let contact = self.contact(
            &call
                .leg(to)
                .map_or(Transport::Udp, |l| l.flow.transport.clone()),
        );
        let Some(leg) = call.leg_mut(to) else {
            return;
        };
        let mut out = leg.dialog.request(req.method.clone(), via);
        out.head.max_forwards = Some(req.head.max_forwards.unwrap_or(70).saturating_sub(1));
        if matches!(req.method, sip::Method::Invite | sip::Method::Update) {
            out.head.contact = vec![contact];
        }
        for name in RELAYED_HEADERS.iter().map(|n| HeaderName::parse(n)) {
            for value in req.head.headers.get_all(&name) {
                out.head.headers.push(name.clone(), value);
            }
        }
        match body {
            Some(b) => {
                out.head.headers.remove(&HeaderName::ContentType);
                out.head
                    .headers
                    .push(HeaderName::ContentType, "application/sdp");
                out.body = b;
            }
            None if call::Call::sdp_body(&req.body).is_none() => {}
            None => out.body = req.body.clone(),
        }
        let flow = leg.flow.clone();
        if req.method == sip::Method::Invite {
            call.reinvite_pending = true;
        }
        let purpose = Purpose::Relay {
            from,
            server: inbound.key.clone(),
            request: Box::new(inbound.request),
        };
        self.send_request(call.idx, out, flow, purpose);
        let _ = now;
    }

    /// An event of one of our client transactions.
    pub fn handle_client_event(&mut self, now: Instant, key: &TransactionKey, event: ClientEvent) {
        let Some((idx, purpose)) = self.clients.get(key).cloned() else {
            return;
        };
        if event == ClientEvent::Terminated {
            self.clients.remove(key);
        }
        match purpose {
            Purpose::Fork(index) => {
                self.with_call(idx, |this, call| this.fork_event(now, call, index, event));
            }
            Purpose::DialFork(index) => {
                self.with_call(idx, |this, call| {
                    this.dial_fork_event(now, call, index, event);
                });
            }
            Purpose::Relay {
                from,
                server,
                request,
            } => {
                self.with_call(idx, |this, call| {
                    this.relay_event(now, call, from, &server, &request, event);
                });
            }
            Purpose::Hold(side) => {
                self.with_call(idx, |this, call| this.hold_event(now, call, side, event));
            }
            Purpose::Ours => {}
        }
    }

    fn fork_event(&mut self, now: Instant, call: &mut Call, index: usize, event: ClientEvent) {
        match event {
            ClientEvent::Provisional(resp) => {
                let Some(fork) = call.forks.get_mut(index) else {
                    return;
                };
                // A fork cancelled before it answered anything is cancelled now.
                if fork.cancel_pending {
                    fork.cancel_pending = false;
                    let cancel = cancel_for(&fork.request);
                    let flow = fork.flow.clone();
                    self.send_request(call.idx, cancel, flow, Purpose::Ours);
                    return;
                }
                if resp.status.code() == 100
                    || !matches!(
                        fork.state,
                        call::ForkState::Calling | call::ForkState::Early
                    )
                {
                    return;
                }
                fork.state = call::ForkState::Early;
                if call.phase != call::Phase::Setup {
                    return;
                }
                if call.dial.is_some() {
                    // The extension already answered and waits for our ACK: nothing to relay.
                    self.ringing(now, call);
                    return;
                }
                // 180 and 183 reach the caller; early media SDP goes with them when the
                // offer was the caller's.
                let mut body = None;
                if let (Some(raw), Some((Side::A, offer)), Some(media)) = (
                    call::Call::sdp_body(&resp.body),
                    call.offer.clone(),
                    call.media,
                ) && let Ok(answer) = sdp_glue::parse(raw)
                    && let Ok(n) = sdp_glue::negotiate(
                        &offer,
                        &answer,
                        &mut call.sdp[Side::A.index()],
                        media.address,
                        media.a_port,
                    )
                {
                    self.learn_remote(call, Side::B, &answer);
                    self.apply_maps(call, Side::A, &n);
                    body = Some(n.answer.clone());
                }
                let status =
                    if resp.status.code() == 180 || body.is_none() && resp.status.code() != 183 {
                        StatusCode::RINGING
                    } else {
                        resp.status
                    };
                let mut out = self.to_caller(call, status, body);
                out.reason = if status == resp.status {
                    resp.reason.clone()
                } else {
                    reason_of(status)
                };
                self.respond_caller(call, out);
                self.ringing(now, call);
            }
            ClientEvent::Final(resp) | ClientEvent::AdditionalSuccess(resp)
                if resp.status.is_success() =>
            {
                self.fork_answered(now, call, index, resp);
            }
            ClientEvent::Final(resp) => {
                self.fork_failed(now, call, index, resp.status, Some(resp.reason));
            }
            ClientEvent::Timeout => {
                self.fork_failed(now, call, index, StatusCode::REQUEST_TIMEOUT, None)
            }
            ClientEvent::TransportError => {
                self.fork_failed(now, call, index, StatusCode::SERVICE_UNAVAILABLE, None);
            }
            ClientEvent::Terminated => {
                if let Some(fork) = call.forks.get_mut(index) {
                    fork.live = false;
                }
            }
            ClientEvent::AdditionalSuccess(_) => {}
        }
    }

    /// A fork answered 2xx: the first wins the call; a later one (or one that answers after
    /// the call ended) is ACKed and then BYEd.
    fn fork_answered(&mut self, now: Instant, call: &mut Call, index: usize, resp: Response) {
        let Some(fork) = call.forks.get_mut(index) else {
            return;
        };
        let Some(dialog) = sip::dialog::Dialog::uac(&fork.request, &resp) else {
            return;
        };
        let flow = fork.flow.clone();
        if call.winner == Some(index) {
            // A retransmission of the winner's 2xx: ACK again if we already did.
            if let Some(ack) = call.acks[Side::B.index()].clone()
                && call
                    .leg(Side::B)
                    .is_some_and(|l| l.dialog.remote_tag == dialog.remote_tag)
            {
                self.actions.push_back(Action::Send {
                    message: Message::Request(ack),
                    to: flow,
                });
            }
            return;
        }
        if call.winner.is_some() || call.phase != call::Phase::Setup {
            self.ack_and_bye(call, Side::B, index, &resp);
            return;
        }
        fork.state = call::ForkState::Answered;
        call.winner = Some(index);
        call.legs[Side::B.index()] = Some(call::Leg { dialog, flow });
        self.dialogs.insert(
            (call.b_call_id.clone(), call.b_tag.clone()),
            (call.idx, Side::B),
        );
        // The other forks stop ringing.
        self.cancel_forks(call, Some(index));
        if call.dial.is_some() {
            return self.target_answered(now, call, &resp);
        }

        // Offer/answer: the 2xx answers the caller's offer, or makes the offer (late offer).
        let media = call.media;
        let mut body = None;
        let raw = call::Call::sdp_body(&resp.body).cloned();
        match (call.offer.clone(), raw, media) {
            (Some((Side::A, offer)), Some(raw), Some(media)) => {
                let negotiated = sdp_glue::parse(&raw).and_then(|answer| {
                    let n = sdp_glue::negotiate(
                        &offer,
                        &answer,
                        &mut call.sdp[Side::A.index()],
                        media.address,
                        media.a_port,
                    )?;
                    Ok((answer, n))
                });
                match negotiated {
                    Ok((answer, n)) => {
                        self.learn_remote(call, Side::B, &answer);
                        self.apply_maps(call, Side::A, &n);
                        body = Some(n.answer.clone());
                        call.offer = None;
                    }
                    Err(status) => return self.refuse_answer(now, call, status),
                }
            }
            (None, Some(raw), Some(media)) => match sdp_glue::parse(&raw) {
                Ok(offer) => {
                    self.learn_remote(call, Side::B, &offer);
                    body = Some(sdp_glue::rewrite(
                        &mut call.sdp[Side::A.index()],
                        &offer,
                        media.address,
                        media.a_port,
                    ));
                    call.offer = Some((Side::B, offer));
                }
                Err(status) => return self.refuse_answer(now, call, status),
            },
            _ => {}
        }

        let mut ok = self.to_caller(call, StatusCode::OK, body);
        self.session_timer(now, call, &resp, &mut ok);
        let cseq = call.a.invite.head.cseq.seq;
        self.respond_caller(call, ok.clone());
        call.retransmit[Side::A.index()] =
            Some(call::Retransmit::new(ok, cseq, now, self.config.t1));
        call.ack_owed = Some(call::AckOwed {
            to: Side::B,
            cseq: resp.head.cseq.seq,
        });
        call.phase = call::Phase::Answered;
        self.forget_invite(call);
        let unix = self.unix(now);
        call.answer = Some(unix);
        self.emit(CallEvent::Answered(note(call, unix)));
    }

    /// ACKs and then BYEs the 2xx of fork `index`, which did not win the call.
    //= https://www.rfc-editor.org/rfc/rfc3261#section-16.7
    //# [a UAC receiving several 2xx] MUST ACK each and SHOULD then send a BYE
    fn ack_and_bye(&mut self, call: &mut Call, side: Side, index: usize, resp: &Response) {
        let Some(fork) = call.fork_mut(side, index) else {
            return;
        };
        let Some(mut dialog) = sip::dialog::Dialog::uac(&fork.request, resp) else {
            return;
        };
        fork.state = call::ForkState::Answered;
        let flow = fork.flow.clone();
        let ack = dialog.ack(fork.request.head.cseq.seq, self.via(&flow.transport));
        let bye = dialog.request(sip::Method::Bye, self.via(&flow.transport));
        self.actions.push_back(Action::Send {
            message: Message::Request(ack),
            to: flow.clone(),
        });
        self.send_request(call.idx, bye, flow, Purpose::Ours);
    }

    /// The callee's 2xx carried SDP we cannot use: ACK it, refuse the caller, end the call.
    fn refuse_answer(&mut self, now: Instant, call: &mut Call, status: StatusCode) {
        self.ack_winner(call, None);
        let resp = self.to_caller(call, status, None);
        self.respond_caller(call, resp);
        self.hang_up(now, call, status.code(), &reason_of(status), "system", None);
    }

    /// Session timers (RFC 4028) on the 2xx to the caller: the callee's choice relayed, or,
    /// when the callee does not do timers but the caller asked, the caller made refresher.
    /// The PBX itself ends the call if no refresh comes in time.
    fn session_timer(
        &mut self,
        now: Instant,
        call: &mut Call,
        from_b: &Response,
        ok: &mut Response,
    ) {
        let relayed = from_b
            .head
            .get(&HeaderName::SessionExpires)
            .map(str::to_owned);
        let interval = match (&relayed, call.session_expires) {
            (Some(se), _) => {
                // A caller that does not do timers must not be told to (RFC 4028 section
                // 9); the callee refreshes and the PBX relays its refreshes.
                if call.timer_supported {
                    ok.head.headers.push(HeaderName::SessionExpires, se.clone());
                    ok.head.headers.push(HeaderName::Require, "timer");
                }
                se.split(';')
                    .next()
                    .and_then(|v| v.trim().parse::<u32>().ok())
            }
            (None, Some(asked)) if call.timer_supported => {
                //= https://www.rfc-editor.org/rfc/rfc4028#section-9
                //# If the UAC [...] supports the extension, and the response [...] did not
                //# contain a Session-Expires header field, the UAC [...] is the refresher
                ok.head
                    .headers
                    .push(HeaderName::SessionExpires, format!("{asked};refresher=uac"));
                ok.head.headers.push(HeaderName::Require, "timer");
                Some(asked)
            }
            _ => None,
        };
        call.session = interval.map(|interval| call::SessionTimer {
            interval,
            deadline: now + session_grace(interval),
        });
    }

    fn fork_failed(
        &mut self,
        now: Instant,
        call: &mut Call,
        index: usize,
        status: StatusCode,
        reason: Option<String>,
    ) {
        if let Some(fork) = call.forks.get_mut(index) {
            if fork.state == call::ForkState::Answered {
                return;
            }
            fork.state = call::ForkState::Failed(status);
        }
        let _ = reason;
        if call.phase != call::Phase::Setup || call.winner.is_some() {
            return;
        }
        let all_failed = call
            .forks
            .iter()
            .all(|f| matches!(f.state, call::ForkState::Failed(_)));
        if !all_failed {
            return;
        }
        // The best of the forks' answers (RFC 3261 section 16.7): a 6xx, else busy, else the
        // lowest 4xx, else what the rest say; timeouts and transport failures mean nobody
        // could be reached.
        let best = best_failure(&call.forks);
        if call.dial.is_some() {
            return self.dial_abort(now, call, best.code(), reason_of(best), "callee");
        }
        let resp = self.to_caller(call, best, None);
        self.respond_caller(call, resp);
        self.end(now, call, best.code(), reason_of(best), "callee");
    }

    /// The caller cancelled (CANCEL, or BYE on the early dialog) before an answer.
    fn caller_gave_up(&mut self, now: Instant, call: &mut Call) {
        if call.phase != call::Phase::Setup {
            return;
        }
        if call.dial.is_some() {
            // The extension hung up before the target answered: its 2xx is ACKed, not BYEd.
            self.cancel_forks(call, None);
            self.cancel_dial_forks(call, None);
            self.ack_extension(call, None);
            self.end(now, call, 487, "Request Terminated".into(), "caller");
            return;
        }
        let resp = self.to_caller(call, StatusCode::REQUEST_TERMINATED, None);
        self.respond_caller(call, resp);
        self.cancel_forks(call, None);
        self.end(now, call, 487, "Request Terminated".into(), "caller");
    }

    /// CANCELs every fork still ringing except `keep`.
    fn cancel_forks(&mut self, call: &mut Call, keep: Option<usize>) {
        for (cancel, flow) in cancel_list(&mut call.forks, keep) {
            self.send_request(call.idx, cancel, flow, Purpose::Ours);
        }
    }

    /// The response to a relayed in-dialog request came from the other leg.
    fn relay_event(
        &mut self,
        now: Instant,
        call: &mut Call,
        from: Side,
        server: &TransactionKey,
        request: &Request,
        event: ClientEvent,
    ) {
        let to = from.other();
        let resp = match event {
            ClientEvent::Provisional(r) if r.status.code() > 100 => r,
            ClientEvent::Final(r) => r,
            ClientEvent::AdditionalSuccess(r) => {
                // The other leg retransmits its 2xx to our re-INVITE: ACK again.
                if let (Some(ack), Some(leg)) = (call.acks[to.index()].clone(), call.leg(to))
                    && ack.head.cseq.seq == r.head.cseq.seq
                {
                    self.actions.push_back(Action::Send {
                        message: Message::Request(ack),
                        to: leg.flow.clone(),
                    });
                }
                return;
            }
            ClientEvent::Timeout | ClientEvent::TransportError => {
                if request.method == sip::Method::Invite {
                    call.reinvite_pending = false;
                }
                let status = if event == ClientEvent::Timeout {
                    StatusCode::REQUEST_TIMEOUT
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                let resp = Response::to_request(request, status);
                self.respond(server, resp);
                //= https://www.rfc-editor.org/rfc/rfc3261#section-12.2.1.2
                //# If the response for a request within a dialog is a 481 (Call/Transaction
                //# Does Not Exist) or a 408 (Request Timeout), the UAC SHOULD terminate the
                //# dialog.
                self.hang_up(now, call, 408, "Request Timeout", "system", Some(to));
                return;
            }
            _ => return,
        };
        let mut out = Response::to_request(request, resp.status);
        out.reason = resp.reason.clone();
        for name in RELAYED_HEADERS.iter().map(|n| HeaderName::parse(n)) {
            for value in resp.head.headers.get_all(&name) {
                out.head.headers.push(name.clone(), value);
            }
        }
        let is_invite = request.method == sip::Method::Invite;
        let is_offer_answer = is_invite || request.method == sip::Method::Update;
        if resp.status.is_success() && is_offer_answer {
            if let Some(leg) = call.leg_mut(to) {
                leg.dialog.refresh_target(&resp.head.contact);
            }
            let transport = call
                .leg(from)
                .map_or(Transport::Udp, |l| l.flow.transport.clone());
            out.head.contact = vec![self.contact(&transport)];
            out.head.headers.remove(&HeaderName::ContentType);
            match self.answer_across(call, from, &resp) {
                Ok(Some(body)) => {
                    out.head
                        .headers
                        .push(HeaderName::ContentType, "application/sdp");
                    out.body = body;
                }
                Ok(None) => {}
                Err(status) => {
                    // The answer is unusable: the session as it was cannot go on.
                    let refusal = Response::to_request(request, status);
                    self.respond(server, refusal);
                    if is_invite {
                        self.owe_ack(call, to, resp.head.cseq.seq);
                        self.send_owed_ack(call, None);
                        call.reinvite_pending = false;
                    }
                    self.hang_up(now, call, status.code(), &reason_of(status), "system", None);
                    return;
                }
            }
            // A successful refresh restarts the session timer.
            if let Some(timer) = call.session.as_mut() {
                timer.deadline = now + session_grace(timer.interval);
            }
        } else if !resp.status.is_provisional() && is_offer_answer {
            // A refused offer leaves the session as it was.
            if call.offer.as_ref().is_some_and(|(s, _)| *s == from) {
                call.offer = None;
            }
        } else if !resp.body.is_empty() {
            out.body = resp.body.clone();
            if let Some(ct) = resp.head.get(&HeaderName::ContentType) {
                out.head.headers.push(HeaderName::ContentType, ct);
            }
        }
        if is_invite && !resp.status.is_provisional() {
            call.reinvite_pending = false;
        }
        if is_invite && resp.status.is_success() {
            // Our 2xx to the requester is retransmitted until it ACKs; then we ACK the other
            // leg's 2xx (carrying the answer, when its 2xx made an offer).
            call.retransmit[from.index()] = Some(call::Retransmit::new(
                out.clone(),
                request.head.cseq.seq,
                now,
                self.config.t1,
            ));
            self.owe_ack(call, to, resp.head.cseq.seq);
        }
        self.respond(server, out);
        if resp.status.code() == 481 || resp.status.code() == 408 {
            self.hang_up(
                now,
                call,
                resp.status.code(),
                &resp.reason,
                "system",
                Some(to),
            );
        }
    }

    /// The SDP of a 2xx from `answerer`'s side to a relayed offer/answer request from
    /// `requester`: the answer to the requester's offer, or a new offer (an offerless
    /// re-INVITE), rewritten for the requester.
    fn answer_across(
        &mut self,
        call: &mut Call,
        requester: Side,
        resp: &Response,
    ) -> Result<Option<bytes::Bytes>, StatusCode> {
        let Some(media) = call.media else {
            return Ok(None);
        };
        let Some(raw) = call::Call::sdp_body(&resp.body) else {
            return Ok(None);
        };
        let sdp = sdp_glue::parse(raw)?;
        let answerer = requester.other();
        self.learn_remote(call, answerer, &sdp);
        let port = port_of(&media, requester);
        match call.offer.take() {
            Some((offerer, offer)) if offerer == requester => {
                let n = sdp_glue::negotiate(
                    &offer,
                    &sdp,
                    &mut call.sdp[requester.index()],
                    media.address,
                    port,
                )?;
                self.apply_maps(call, requester, &n);
                Ok(Some(n.answer.clone()))
            }
            _ => {
                let body =
                    sdp_glue::rewrite(&mut call.sdp[requester.index()], &sdp, media.address, port);
                call.offer = Some((answerer, sdp));
                Ok(Some(body))
            }
        }
    }

    fn owe_ack(&mut self, call: &mut Call, to: Side, cseq: u32) {
        call.ack_owed = Some(call::AckOwed { to, cseq });
    }

    /// An ACK from a leg for our 2xx.
    pub fn handle_ack(&mut self, now: Instant, ack: &Request) {
        let Some(tag) = ack.head.to.tag() else {
            return;
        };
        let Some(&(idx, side)) = self
            .dialogs
            .get(&(ack.head.call_id.clone(), tag.to_owned()))
        else {
            return;
        };
        self.with_call(idx, |this, call| {
            let waiting = call.retransmit[side.index()]
                .as_ref()
                .is_some_and(|r| r.cseq == ack.head.cseq.seq);
            if !waiting {
                return;
            }
            call.retransmit[side.index()] = None;
            if call.phase == call::Phase::Answered && side == Side::A {
                call.phase = call::Phase::Up;
            }
            // The ACK may carry the answer to an offer the other leg made in its 2xx.
            let answer = call::Call::sdp_body(&ack.body).cloned();
            this.send_owed_ack(call, answer);
            this.publish(call);
            let _ = now;
        });
    }

    /// Sends the ACK we owe, with the answer (rewritten) when the other leg's 2xx made an
    /// offer and `answer` carries it.
    fn send_owed_ack(&mut self, call: &mut Call, answer: Option<bytes::Bytes>) {
        let Some(owed) = call.ack_owed.take() else {
            return;
        };
        let mut body = None;
        if let (Some(raw), Some((offerer, offer)), Some(media)) =
            (answer, call.offer.clone(), call.media)
            && offerer == owed.to
            && let Ok(sdp) = sdp_glue::parse(&raw)
        {
            let answerer = owed.to.other();
            self.learn_remote(call, answerer, &sdp);
            if let Ok(n) = sdp_glue::negotiate(
                &offer,
                &sdp,
                &mut call.sdp[owed.to.index()],
                media.address,
                port_of(&media, owed.to),
            ) {
                self.apply_maps(call, owed.to, &n);
                body = Some(n.answer.clone());
            }
            call.offer = None;
        }
        let Some(leg) = call.leg(owed.to) else {
            return;
        };
        let mut ack = leg.dialog.ack(owed.cseq, self.via(&leg.flow.transport));
        if let Some(b) = body {
            ack.head
                .headers
                .push(HeaderName::ContentType, "application/sdp");
            ack.body = b;
        }
        let flow = leg.flow.clone();
        call.acks[owed.to.index()] = Some(ack.clone());
        self.actions.push_back(Action::Send {
            message: Message::Request(ack),
            to: flow,
        });
    }

    /// ACKs the winning fork's 2xx at once (when the call cannot go on).
    fn ack_winner(&mut self, call: &mut Call, body: Option<bytes::Bytes>) {
        let Some(index) = call.winner else {
            return;
        };
        let Some(fork) = call.forks.get(index) else {
            return;
        };
        call.ack_owed = Some(call::AckOwed {
            to: Side::B,
            cseq: fork.request.head.cseq.seq,
        });
        call.offer = None;
        self.send_owed_ack(call, body);
    }

    /// A response that matched no transaction: a 2xx retransmitted after our INVITE
    /// transaction ended. It is ACKed again, or ACKed and BYEd if it is not the call's.
    pub fn handle_stray_response(&mut self, resp: &Response) {
        if !resp.status.is_success() || resp.head.cseq.method != sip::Method::Invite {
            return;
        }
        let Some(tag) = resp.head.from.tag() else {
            return;
        };
        let Some(&(idx, side)) = self
            .dialogs
            .get(&(resp.head.call_id.clone(), tag.to_owned()))
        else {
            return;
        };
        self.with_call(idx, |this, call| {
            let ours = call
                .leg(side)
                .is_some_and(|l| Some(l.dialog.remote_tag.as_str()) == resp.head.to.tag());
            if ours {
                if let (Some(ack), Some(leg)) = (call.acks[side.index()].clone(), call.leg(side)) {
                    this.actions.push_back(Action::Send {
                        message: Message::Request(ack),
                        to: leg.flow.clone(),
                    });
                }
            } else {
                let (forks, winner) = match (side, call.dial.as_ref()) {
                    (Side::B, _) => (&call.forks, call.winner),
                    (Side::A, Some(dial)) => (&dial.forks, dial.winner),
                    (Side::A, None) => return,
                };
                // The forks share Call-ID, From tag and CSeq: the branch tells them apart.
                let branch = resp.head.top_via().and_then(|v| v.branch());
                if let Some(index) = forks
                    .iter()
                    .position(|f| f.request.head.top_via().and_then(|v| v.branch()) == branch)
                    && winner != Some(index)
                {
                    // A losing fork's 2xx after its transaction ended.
                    this.ack_and_bye(call, side, index, resp);
                }
            }
        });
    }

    /// Timers: no answer, 2xx retransmissions, session expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .deadlines
            .iter()
            .take_while(|&&(at, _)| at <= now)
            .map(|&(_, idx)| idx)
            .collect();
        for idx in due {
            self.with_call(idx, |this, call| this.on_timer(now, call));
        }
    }

    fn on_timer(&mut self, now: Instant, call: &mut Call) {
        if call.phase == call::Phase::Setup && call.no_answer_at.is_some_and(|t| t <= now) {
            call.no_answer_at = None;
            if call.dial.is_some() {
                // Phase 1: the extension's phones rang out. Phase 2: the target did not
                // answer within the extension's 2xx retransmission window.
                self.dial_abort(now, call, 480, "No Answer".into(), "system");
                return;
            }
            let resp = self.to_caller(call, StatusCode::TEMPORARILY_UNAVAILABLE, None);
            self.respond_caller(call, resp);
            self.cancel_forks(call, None);
            self.end(now, call, 480, "No Answer".into(), "system");
            return;
        }
        for side in [Side::A, Side::B] {
            let Some(r) = call.retransmit[side.index()].as_mut() else {
                continue;
            };
            if r.give_up <= now {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-13.3.1.4
                //# If the server retransmits the 2xx response for 64*T1 seconds without
                //# receiving an ACK, the dialog is confirmed, but the session SHOULD be
                //# terminated. This is accomplished with a BYE
                call.retransmit[side.index()] = None;
                self.hang_up(now, call, 408, "No ACK", "system", None);
                return;
            }
            if r.next <= now {
                r.interval = (r.interval * 2).min(self.config.t2);
                r.next = now + r.interval;
                let message = Message::Response(r.response.clone());
                if let Some(leg) = call.leg(side) {
                    self.actions.push_back(Action::Send {
                        message,
                        to: leg.flow.clone(),
                    });
                }
            }
        }
        if matches!(call.phase, call::Phase::Answered | call::Phase::Up)
            && call.session.is_some_and(|s| s.deadline <= now)
        {
            //= https://www.rfc-editor.org/rfc/rfc4028#section-10
            //# If the side not performing refreshes does not receive a session refresh
            //# request before the session expiration, it SHOULD send a BYE to terminate the
            //# session
            call.session = None;
            self.hang_up(now, call, 408, "Session Expired", "system", None);
        }
    }

    /// Ends calls whose media stopped both ways for the configured time (the hold timeout
    /// for a call on hold).
    pub fn check_media(&mut self, now: Instant) {
        let (flowing, held) = (self.config.media_timeout, self.config.media_hold_timeout);
        if flowing.is_none() && held.is_none() {
            return;
        }
        let stale: Vec<u64> = self
            .calls
            .values()
            .filter(|c| c.phase == call::Phase::Up)
            .filter(|c| {
                let on_hold = c.sdp.iter().any(|leg| leg.media_paused());
                let Some(limit) = (if on_hold { held } else { flowing }) else {
                    return false;
                };
                let since = c
                    .media
                    .and_then(|m| self.media.stats(m.id))
                    .and_then(|st| st.legs.iter().filter_map(|l| l.last_activity()).max());
                let answered = c
                    .answer
                    .map(|a| self.epoch.0 + Duration::from_secs(a.saturating_sub(self.epoch.1)));
                let last = since.or(answered);
                last.is_some_and(|t| now.saturating_duration_since(t) >= limit)
            })
            .map(|c| c.idx)
            .collect();
        for idx in stale {
            self.with_call(idx, |this, call| {
                this.hang_up(now, call, 408, "Media Timeout", "system", None);
            });
        }
    }

    /// Hangs up the call `id` (the API's `POST /call/{id}/hangup`). False when there is no
    /// such live call.
    pub fn hangup(&mut self, now: Instant, id: &str, reason: Option<&str>) -> bool {
        let Some(idx) = self
            .calls
            .values()
            .find(|c| c.id == id && c.phase != call::Phase::Ended)
            .map(|c| c.idx)
        else {
            return false;
        };
        let (code, text) = match reason {
            Some("busy") => (486, "Busy Here"),
            _ => (200, "Hangup"),
        };
        self.with_call(idx, |this, call| {
            if call.phase == call::Phase::Setup && call.dial.is_some() {
                let status = if code == 486 {
                    StatusCode::BUSY_HERE
                } else {
                    StatusCode::REQUEST_TERMINATED
                };
                this.dial_abort(now, call, status.code(), reason_of(status), "system");
            } else if call.phase == call::Phase::Setup {
                let status = if code == 486 {
                    StatusCode::BUSY_HERE
                } else {
                    StatusCode::TEMPORARILY_UNAVAILABLE
                };
                let resp = this.to_caller(call, status, None);
                this.respond_caller(call, resp);
                this.cancel_forks(call, None);
                this.end(now, call, status.code(), reason_of(status), "system");
            } else {
                this.hang_up(now, call, code, text, "system", None);
            }
        });
        true
    }

    /// Shutting down: new INVITEs get 503 from now on, and every live call ends (BYE, or a
    /// final answer to the caller in set-up) with its CDR.
    pub fn shutdown(&mut self, now: Instant) {
        self.draining = true;
        let live: Vec<u64> = self
            .calls
            .values()
            .filter(|c| c.phase != call::Phase::Ended)
            .map(|c| c.idx)
            .collect();
        for idx in live {
            self.with_call(idx, |this, call| {
                if call.phase == call::Phase::Setup && call.dial.is_some() {
                    this.dial_abort(now, call, 503, "Service Unavailable".into(), "system");
                } else if call.phase == call::Phase::Setup {
                    let resp = this.to_caller(call, StatusCode::SERVICE_UNAVAILABLE, None);
                    this.respond_caller(call, resp);
                    this.cancel_forks(call, None);
                    this.end(now, call, 503, "Service Unavailable".into(), "system");
                } else {
                    this.hang_up(now, call, 503, "Service Unavailable", "system", None);
                }
            });
        }
    }

    /// Ends an answered call: BYE to each leg except `except` (the one that sent BYE).
    fn hang_up(
        &mut self,
        now: Instant,
        call: &mut Call,
        code: u16,
        reason: &str,
        by: &'static str,
        except: Option<Side>,
    ) {
        if call.phase == call::Phase::Ended {
            return;
        }
        for side in [Side::A, Side::B] {
            if Some(side) == except {
                continue;
            }
            let Some(transport) = call.leg(side).map(|l| l.flow.transport.clone()) else {
                continue;
            };
            let via = self.via(&transport);
            let Some(leg) = call.leg_mut(side) else {
                continue;
            };
            let bye = leg.dialog.request(sip::Method::Bye, via);
            let flow = leg.flow.clone();
            self.send_request(call.idx, bye, flow, Purpose::Ours);
        }
        self.cancel_forks(call, call.winner);
        self.end(now, call, code, reason.to_owned(), by);
    }

    /// The call is over: media closed, CDR out. It lingers while fork transactions finish.
    fn end(&mut self, now: Instant, call: &mut Call, code: u16, reason: String, by: &'static str) {
        if call.phase == call::Phase::Ended {
            return;
        }
        call.phase = call::Phase::Ended;
        call.retransmit = [None, None];
        call.session = None;
        self.forget_invite(call);
        if let Some(media) = call.media.take()
            && let Err(e) = self.media.close(media.id)
        {
            tracing::debug!(error = %e, "media session close");
        }
        let end = self.unix(now);
        let cdr = Cdr {
            id: call.id.clone(),
            domain: call.domain.clone(),
            call_id: call.a.call_id.clone(),
            from: call.from.clone(),
            to: call.to.clone(),
            start: call.start,
            answer: call.answer,
            end,
            duration: end.saturating_sub(call.start),
            billsec: call.answer.map_or(0, |a| end.saturating_sub(a)),
            cause: crate::cdr::Cause { code, reason },
            hangup_by: crate::cdr::HangupBy::parse(by).unwrap_or_else(|| {
                debug_assert!(false, "hang-up party {by:?}");
                crate::cdr::HangupBy::System
            }),
            codecs: call.codecs.clone(),
        };
        self.emit(CallEvent::HungUp(cdr));
    }

    // ---- helpers ------------------------------------------------------------------------

    /// Runs `f` on call `idx` taken out of the table, then puts it back (or forgets it
    /// when it is over), re-arms its timer and republishes it.
    fn with_call(&mut self, idx: u64, f: impl FnOnce(&mut Self, &mut Call)) {
        let Some(mut call) = self.calls.remove(&idx) else {
            return;
        };
        f(self, &mut call);
        self.store(idx, call);
    }

    fn store(&mut self, idx: u64, call: Call) {
        self.publish(&call);
        if let Some(old) = self.deadline_of.remove(&idx) {
            self.deadlines.remove(&(old, idx));
        }
        if call.phase == call::Phase::Ended && call.live_forks() == 0 {
            self.forget(&call);
            return;
        }
        if let Some(at) = call.deadline() {
            self.deadlines.insert((at, idx));
            self.deadline_of.insert(idx, at);
        }
        self.calls.insert(idx, call);
    }

    fn forget(&mut self, call: &Call) {
        self.dialogs
            .remove(&(call.a.call_id.clone(), call.a.tag.clone()));
        self.dialogs
            .remove(&(call.b_call_id.clone(), call.b_tag.clone()));
        self.forget_invite(call);
        self.clients.retain(|_, (idx, _)| *idx != call.idx);
    }

    /// Updates the API's view of the call.
    fn publish(&self, call: &Call) {
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        if call.phase == call::Phase::Ended {
            live.remove(&call.id);
            return;
        }
        let state = match call.phase {
            call::Phase::Setup if call.ringing => "ringing",
            call::Phase::Setup => "trying",
            call::Phase::Answered => "answered",
            _ if call.held() => "held",
            _ => "up",
        };
        live.insert(
            call.id.clone(),
            CallInfo {
                id: call.id.clone(),
                domain: call.domain.clone(),
                from: call.from.clone(),
                to: call.to.clone(),
                state,
                start: call.start,
                answer: call.answer,
                codecs: call.codecs.clone(),
                media: call.media.map(|m| (m.address, m.a_port, m.b_port)),
                media_session: call.media.map(|m| m.id),
                sip_call_ids: std::iter::once(&call.a.call_id)
                    .chain((!call.b_call_id.is_empty()).then_some(&call.b_call_id))
                    .cloned()
                    .collect(),
            },
        );
    }

    fn send_request(&mut self, idx: u64, request: Request, to: Flow, purpose: Purpose) {
        if let Some(key) = TransactionKey::client_for_request(&request) {
            self.clients.insert(key, (idx, purpose));
        }
        self.actions.push_back(Action::Request { request, to });
    }

    /// Answers the caller's INVITE (a call placed by the PBX has none to answer).
    fn respond_caller(&mut self, call: &Call, response: Response) {
        if let Some(key) = &call.a.key {
            self.respond(key, response);
        }
    }

    /// The call's INVITE is no longer one a CANCEL can match.
    fn forget_invite(&mut self, call: &Call) {
        if let Some(key) = &call.a.key {
            self.invites.remove(key);
        }
    }

    fn respond(&mut self, key: &TransactionKey, response: Response) {
        self.actions.push_back(Action::Respond {
            key: key.clone(),
            response,
        });
    }

    fn emit(&mut self, event: CallEvent) {
        self.actions.push_back(Action::Event(event));
    }

    /// A response to the caller's INVITE: our To tag, our Contact on 1xx/2xx, the body.
    fn to_caller(&self, call: &Call, status: StatusCode, body: Option<bytes::Bytes>) -> Response {
        let mut resp = Response::to_request(&call.a.invite, status);
        if status.code() > 100 && resp.head.to.tag().is_none() {
            resp.head.to.params.set("tag", Some(call.a.tag.clone()));
        }
        if status.code() > 100 && status.code() < 300 {
            resp.head.contact = vec![self.contact(&call.a.flow.transport)];
            resp.head.headers.push(HeaderName::Allow, ALLOW);
        }
        resp.head
            .headers
            .push(HeaderName::Server, self.config.agent.clone());
        if let Some(b) = body {
            resp.head
                .headers
                .push(HeaderName::ContentType, "application/sdp");
            resp.body = b;
        }
        resp
    }

    /// Tells the relay where a leg's SDP says its media goes.
    fn learn_remote(&mut self, call: &Call, side: Side, sdp: &sdp_glue::Sdp) {
        let (Some(media), Some((rtp, rtcp)), Some(leg_ip)) = (
            call.media,
            sdp_glue::media_target(sdp),
            self.signalling_ip(call, side),
        ) else {
            return;
        };
        let remote = media::LegRemote {
            signalling: leg_ip,
            rtp: Some(rtp),
            rtcp,
            rtcp_mux: false,
        };
        if let Err(e) = self.media.set_remote(media.id, leg_of(side), remote) {
            tracing::debug!(error = %e, "media remote not set");
        }
    }

    fn signalling_ip(&self, call: &Call, side: Side) -> Option<IpAddr> {
        match side {
            Side::A => Some(call.a.flow.remote.ip()),
            Side::B => call
                .leg(Side::B)
                .map(|l| l.flow.remote.ip())
                .or_else(|| call.forks.first().map(|f| f.flow.remote.ip())),
        }
    }

    /// Installs the payload-type maps of a negotiation whose offer came from `offerer`.
    fn apply_maps(&mut self, call: &mut Call, offerer: Side, n: &sdp_glue::Negotiated) {
        if let Some(media) = call.media {
            let maps = [
                (offerer, n.offerer_to_answerer.clone()),
                (offerer.other(), n.answerer_to_offerer.clone()),
            ];
            for (from, map) in maps {
                let direction = media::Direction::from_leg(leg_of(from));
                if let Err(e) = self.media.set_pt_map(media.id, direction, map) {
                    tracing::debug!(error = %e, "payload-type map not set");
                }
            }
        }
        call.codecs = n.codecs.clone();
    }

    fn via(&mut self, transport: &Transport) -> Via {
        let branch = format!("{BRANCH_PREFIX}{:016x}", self.rng.random::<u64>());
        let mut via = Via::new(
            transport.clone(),
            self.host.clone(),
            Some(self.port),
            &branch,
        );
        via.params.set("rport", None);
        via
    }

    fn is_our_via(&self, via: &Via) -> bool {
        via.host.matches(&self.host)
            && via.port.unwrap_or(5060) == self.port
            && via.branch().is_some_and(|b| b.starts_with(BRANCH_PREFIX))
    }

    fn contact(&self, transport: &Transport) -> Contact {
        let mut uri = SipUri::new(self.host.clone());
        uri.user = Some("switchboard".into());
        uri.port = Some(self.port);
        if *transport != Transport::Udp {
            uri.params
                .set("transport", Some(transport.as_str().to_ascii_lowercase()));
        }
        Contact::Addr(NameAddr::new(Uri::Sip(uri)))
    }

    fn token(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    /// A version 4 UUID from our RNG.
    fn new_call_id(&mut self) -> String {
        crate::CallNote::id_from(self.rng.random())
    }

    fn unix(&self, now: Instant) -> u64 {
        let (at, unix) = self.epoch;
        if now >= at {
            unix + now.duration_since(at).as_secs()
        } else {
            unix.saturating_sub(at.duration_since(now).as_secs())
        }
    }
}

/// Our Via branches start with this, so a request that comes back to us is a loop.
const BRANCH_PREFIX: &str = "z9hG4bK-sb-";

/// The methods the PBX serves in calls.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, REGISTER";

/// Headers copied across the B2BUA on relayed in-dialog requests and their responses.
const RELAYED_HEADERS: &[&str] = &["Session-Expires", "Min-SE", "Event", "Reason"];

/// When the PBX ends a session whose refresh did not come (RFC 4028 section 10): the
/// interval minus the smaller of 32 s and a third of it.
fn session_grace(interval: u32) -> Duration {
    let interval = u64::from(interval);
    Duration::from_secs(interval - (interval / 3).min(32))
}

fn leg_of(side: Side) -> media::Leg {
    match side {
        Side::A => media::Leg::A,
        Side::B => media::Leg::B,
    }
}

fn port_of(media: &MediaPorts, side: Side) -> u16 {
    match side {
        Side::A => media.a_port,
        Side::B => media.b_port,
    }
}

fn reason_of(status: StatusCode) -> String {
    status.canonical_reason().to_owned()
}

fn note(call: &Call, time: u64) -> CallNote {
    CallNote {
        id: call.id.clone(),
        domain: call.domain.clone(),
        from: call.from.clone(),
        to: call.to.clone(),
        call_id: call.a.call_id.clone(),
        time,
    }
}

/// A response with a To tag (a CANCEL's 200 copies the request's To, which has none).
fn with_tag(mut resp: Response, req: &Request) -> Response {
    if resp.head.to.tag().is_none() {
        let tag = format!("{:x}", req.head.cseq.seq);
        resp.head.to.params.set("tag", Some(tag));
    }
    resp
}

/// The best of the final answers of forks that all failed (RFC 3261 section 16.7): a 6xx,
/// else busy, else the lowest 4xx, else 480; timeouts and transport failures mean nobody
/// could be reached.
fn best_failure(forks: &[call::Fork]) -> StatusCode {
    let statuses: Vec<StatusCode> = forks
        .iter()
        .filter_map(|f| match f.state {
            call::ForkState::Failed(s) => Some(s),
            _ => None,
        })
        .collect();
    statuses
        .iter()
        .copied()
        .find(|s| s.code() >= 600)
        .or_else(|| statuses.iter().copied().find(|s| s.code() == 486))
        .or_else(|| {
            statuses
                .iter()
                .copied()
                .filter(|s| {
                    (400..500).contains(&s.code())
                        && s.code() != 408
                        && s.code() != 401
                        && s.code() != 407
                })
                .min_by_key(|s| s.code())
        })
        .unwrap_or(StatusCode::TEMPORARILY_UNAVAILABLE)
}

/// Marks every fork still ringing except `keep` as cancelled, and returns the CANCELs to
/// send now (a fork that has answered nothing yet is cancelled when it first does).
fn cancel_list(forks: &mut [call::Fork], keep: Option<usize>) -> Vec<(Request, Flow)> {
    let mut cancels = Vec::new();
    for (i, fork) in forks.iter_mut().enumerate() {
        if Some(i) == keep {
            continue;
        }
        match fork.state {
            call::ForkState::Early => {
                cancels.push((cancel_for(&fork.request), fork.flow.clone()));
                fork.state = call::ForkState::Failed(StatusCode::REQUEST_TERMINATED);
            }
            //= https://www.rfc-editor.org/rfc/rfc3261#section-9.1
            //# If no provisional response has been received, the CANCEL request MUST
            //# NOT be sent; rather, the client MUST wait for the arrival of a
            //# provisional response before sending the request.
            call::ForkState::Calling => {
                fork.cancel_pending = true;
                fork.state = call::ForkState::Failed(StatusCode::REQUEST_TERMINATED);
            }
            _ => {}
        }
    }
    cancels
}

/// The CANCEL of one of our INVITEs (RFC 3261 section 9.1): the same Request-URI, Call-ID,
/// From, To, CSeq number, and top Via.
fn cancel_for(invite: &Request) -> Request {
    let mut head = invite.head.clone();
    head.via.truncate(1);
    head.cseq.method = sip::Method::Cancel;
    head.contact.clear();
    head.headers = sip::Headers::new();
    head.max_forwards = Some(70);
    Request {
        method: sip::Method::Cancel,
        uri: invite.uri.clone(),
        head,
        body: bytes::Bytes::new(),
    }
}
