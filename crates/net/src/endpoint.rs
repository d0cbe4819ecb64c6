//! The SIP endpoint task: the one place where SIP messages from every transport meet the
//! interception pipeline and the applications.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use pbx::calls::{Action, CallEvent, Calls, Command};
use pbx::{
    Answers, AuthResult, Caller, Direction, Flow, Guard, Metrics, Observed, Pipeline, RegEvent,
    Registrar, Verdict,
};
use sip::transaction::{ClientEvent, Event, ServerEvent, TransactionKey, TransactionLayer};
use sip::{Message, ParseError, Request, Response, StatusCode, Transport};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::sip_server::SipConfig;
use crate::tcp::ConnCmd;

/// The applications and interceptors the endpoint drives.
pub struct Apps {
    /// The answers the PBX gives itself.
    pub answers: Answers,
    /// The registrar: REGISTER requests, binding expiry, bindings of closed connections.
    pub registrar: Registrar,
    /// Where registration events go (webhooks). Bounded: when full, events are dropped and
    /// counted, so a slow control server never slows SIP.
    pub events: mpsc::Sender<RegEvent>,
    /// Shared counters.
    pub metrics: Arc<Metrics>,
    /// The brute-force guard; its interceptor is also in `pipeline`, which drops what blocked
    /// addresses send.
    pub guard: Arc<std::sync::Mutex<Guard>>,
    /// The interception pipeline every message passes.
    pub pipeline: Pipeline,
    /// The call manager (B2BUA).
    pub calls: Calls,
    /// Where call events go: the CDR writer, then webhooks. Bounded; what it refuses waits
    /// in the endpoint (see [`CALL_BACKLOG`]) and new calls get 503 while it is full.
    pub call_events: mpsc::Sender<CallEvent>,
    /// Commands from the HTTP API and the 9P tree (hang up a call, place one).
    pub commands: mpsc::Receiver<Command>,
}

/// Call events the endpoint holds when the CDR writer's channel is full. Each ended call
/// leaves one, so while this many wait new calls are refused: CDRs are never dropped and
/// memory stays bounded.
pub const CALL_BACKLOG: usize = 4096;

/// A connection's identity within this process: a TCP connection, or from
/// [`pbx::registrar::VIRTUAL_CONNS`] up a 9P `sip.sock` file (see [`crate::sip_sock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ConnId(pub(crate) u64);

/// What the transports hand the endpoint.
pub(crate) enum Inbound {
    /// A TCP connection opened; `tx` reaches its writer.
    Opened {
        conn: ConnId,
        tx: mpsc::Sender<ConnCmd>,
    },
    /// One framed message from a TCP connection, or the rest of a stream that could not be
    /// framed (`error`), which the endpoint refuses before the connection closes.
    Stream {
        conn: ConnId,
        remote: SocketAddr,
        bytes: Bytes,
        error: Option<ParseError>,
    },
    /// A TCP connection closed, or a `sip.sock` file was clunked.
    Closed { conn: ConnId },
    /// A `sip.sock` file opened: its messages go into `queue`; `caller` is the extension its
    /// 9P attach authenticated, bound at once with `contact`.
    SockOpened {
        conn: ConnId,
        queue: media::PacketQueue,
        caller: Caller,
        contact: String,
        agent: String,
        remote: SocketAddr,
    },
    /// One whole SIP message written to a `sip.sock` file.
    SockWrite { conn: ConnId, bytes: Bytes },
}

/// How the endpoint writes to a connection.
pub(crate) enum Writer {
    /// A TCP connection's task.
    Tcp(mpsc::Sender<ConnCmd>),
    /// A `sip.sock` file's queue: one message per read. A reader that falls behind loses the
    /// oldest messages (counted), as SIP over UDP would.
    Sock(media::PacketQueue),
}

/// A `sip.sock` connection as the endpoint knows it.
struct Virtual {
    /// The extension that opened it.
    caller: Caller,
    /// The 9P client's address.
    remote: SocketAddr,
}

/// How a message reached us, and so how an answer goes back (symmetric response routing,
/// RFC 3581): the same UDP socket to the source address, or the same TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Link {
    Udp,
    Tcp(ConnId),
}

/// A far end as the endpoint knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Peer {
    link: Link,
    remote: SocketAddr,
}

impl Peer {
    fn from_flow(flow: &Flow) -> Self {
        Self {
            link: flow.conn.map_or(Link::Udp, |c| Link::Tcp(ConnId(c))),
            remote: flow.remote,
        }
    }

    fn flow(&self) -> Flow {
        Flow {
            transport: self.transport(),
            remote: self.remote,
            conn: match self.link {
                Link::Udp => None,
                Link::Tcp(conn) => Some(conn.0),
            },
        }
    }

    fn transport(&self) -> Transport {
        match self.link {
            Link::Udp => Transport::Udp,
            Link::Tcp(_) => Transport::Tcp,
        }
    }
}

pub(crate) struct Endpoint {
    udp: Arc<UdpSocket>,
    local: SocketAddr,
    apps: Apps,
    config: SipConfig,
    conns: HashMap<ConnId, Writer>,
    /// The open `sip.sock` files.
    virtuals: HashMap<ConnId, Virtual>,
    transactions: TransactionLayer<Peer>,
    /// Keepalives in flight: which binding each client transaction pings.
    pings: HashMap<TransactionKey, (String, String, String)>,
    /// Host and port for the Via of requests we send.
    sent_by: String,
    /// Our address as capture shows it: the listening address, its IP replaced by the
    /// advertised one when it is unspecified.
    seen_local: SocketAddr,
    /// Call events the CDR writer could not take yet, oldest first.
    backlog: std::collections::VecDeque<CallEvent>,
}

impl Endpoint {
    pub(crate) fn new(
        udp: Arc<UdpSocket>,
        local: SocketAddr,
        apps: Apps,
        config: SipConfig,
    ) -> Self {
        let transactions = TransactionLayer::new(config.transactions);
        let ip = match (config.advertise, local.ip()) {
            (Some(ip), _) => ip,
            // Unspecified: the phone's transport adds `received` with our real address.
            (None, ip) => ip,
        };
        let sent_by = std::net::SocketAddr::new(ip, local.port()).to_string();
        let seen_local = match (config.advertise, local.ip().is_unspecified()) {
            (Some(ip), true) => SocketAddr::new(ip, local.port()),
            _ => local,
        };
        Self {
            udp,
            local,
            apps,
            config,
            conns: HashMap::new(),
            virtuals: HashMap::new(),
            transactions,
            pings: HashMap::new(),
            seen_local,
            sent_by,
            backlog: std::collections::VecDeque::new(),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Inbound>,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        tracing::debug!(local = %self.local, "sip endpoint running");
        // One datagram: UDP cannot carry more.
        let mut buf = vec![0u8; 65_536];
        // Binding expiry is checked once a second.
        let mut housekeeping = tokio::time::interval(std::time::Duration::from_secs(1));
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (_, closed) = mpsc::channel(1);
        let mut commands = std::mem::replace(&mut self.apps.commands, closed);
        // After the shutdown signal: live calls get BYE, and the endpoint keeps running until
        // they are gone or this moment passes.
        let mut stopping: Option<Instant> = None;
        loop {
            if let Some(until) = stopping
                && (self.apps.calls.is_empty() || Instant::now() >= until)
            {
                break;
            }
            let deadline = match (
                self.transactions.poll_timeout(),
                self.apps.calls.poll_timeout(),
            ) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                biased;
                _ = shutdown.changed(), if stopping.is_none() => {
                    let now = Instant::now();
                    stopping = Some(now + SHUTDOWN_GRACE);
                    self.apps.calls.shutdown(now);
                    self.drain().await;
                }
                _ = sleep_until(stopping.filter(|_| !self.apps.calls.is_empty())) => {}
                _ = housekeeping.tick() => {
                    let events = self.apps.registrar.expire(unix_now());
                    self.report(events);
                    self.send_keepalives().await;
                    self.apps.calls.check_media(Instant::now());
                    self.apps.metrics.calls_active.store(
                        self.apps.calls.len() as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    self.flush_backlog();
                    self.drain().await;
                }
                _ = sleep_until(deadline) => {
                    let now = Instant::now();
                    self.transactions.handle_timeout(now);
                    self.apps.calls.handle_timeout(now);
                    self.drain().await;
                }
                Some(cmd) = commands.recv() => match cmd {
                    Command::Hangup { id, reason } => {
                        self.apps.calls.hangup(Instant::now(), &id, reason.as_deref());
                        self.drain().await;
                    }
                    Command::Dial { id, domain, user, target, reply } => {
                        // Like a new INVITE: refused while the CDR writer is this far behind.
                        let outcome = if self.backlog.len() >= CALL_BACKLOG {
                            Err("busy: try again".to_owned())
                        } else {
                            self.apps.calls.dial(Instant::now(), &id, &domain, &user, &target)
                        };
                        // Answered once; the asker may have given up (never blocks).
                        let _ = reply.try_send(outcome);
                        self.drain().await;
                    }
                    // A refusal is logged by the call manager; the tree checked the state first.
                    Command::Hold { id, reply } => {
                        let outcome = self.apps.calls.hold(Instant::now(), &id);
                        if let Some(reply) = reply {
                            // Answered once; the asker may have given up (never blocks).
                            let _ = reply.try_send(outcome.map_err(|e| e.to_string()));
                        }
                        self.drain().await;
                    }
                    Command::Unhold { id, reply } => {
                        let outcome = self.apps.calls.unhold(Instant::now(), &id);
                        if let Some(reply) = reply {
                            let _ = reply.try_send(outcome.map_err(|e| e.to_string()));
                        }
                        self.drain().await;
                    }
                },
                r = self.udp.recv_from(&mut buf) => match r {
                    Ok((n, remote)) => {
                        let peer = Peer { link: Link::Udp, remote };
                        let raw = buf.get(..n).unwrap_or(&[]);
                        self.on_bytes(peer, raw, None).await;
                    }
                    // ICMP errors surface here on Linux (ECONNREFUSED from an earlier send).
                    Err(e) => tracing::trace!(error = %e, "sip udp receive error"),
                },
                Some(ev) = rx.recv() => match ev {
                    Inbound::Opened { conn, tx, .. } => {
                        self.conns.insert(conn, Writer::Tcp(tx));
                    }
                    Inbound::SockOpened { conn, queue, caller, contact, agent, remote } => {
                        self.conns.insert(conn, Writer::Sock(queue));
                        let flow = Flow {
                            transport: Transport::Tcp,
                            remote,
                            conn: Some(conn.0),
                        };
                        let events = self.apps.registrar.bind_trusted(
                            unix_now(),
                            &caller,
                            &contact,
                            &agent,
                            flow,
                        );
                        self.report(events);
                        self.virtuals.insert(conn, Virtual { caller, remote });
                    }
                    Inbound::SockWrite { conn, bytes } => {
                        if let Some(remote) = self.virtuals.get(&conn).map(|v| v.remote) {
                            let peer = Peer { link: Link::Tcp(conn), remote };
                            self.on_bytes(peer, &bytes, None).await;
                        }
                    }
                    Inbound::Stream { conn, remote, bytes, error } => {
                        let peer = Peer { link: Link::Tcp(conn), remote };
                        self.on_bytes(peer, &bytes, error).await;
                    }
                    Inbound::Closed { conn } => {
                        if let Some(Writer::Sock(queue)) = self.conns.remove(&conn) {
                            queue.close();
                        }
                        self.virtuals.remove(&conn);
                        //= https://www.rfc-editor.org/rfc/rfc5626#section-5.3
                        //# a binding made over a connection ends when the connection closes
                        let events = self.apps.registrar.connection_closed(conn.0);
                        self.report(events);
                    }
                },
            }
        }
        // CDRs the writer could not take yet: wait for it now (it runs until we are gone).
        while let Some(event) = self.backlog.pop_front() {
            if self.apps.call_events.send(event).await.is_err() {
                tracing::error!("call event writer gone; CDRs not written");
                break;
            }
        }
        tracing::debug!("sip endpoint stopped");
    }

    async fn on_bytes(&mut self, peer: Peer, raw: &[u8], framing: Option<ParseError>) {
        //= https://www.rfc-editor.org/rfc/rfc5626#section-4.4.1
        //# keepalives on UDP use STUN; a bare CRLF datagram carries nothing: drop it.
        if peer.link == Link::Udp && raw.iter().all(|&b| b == b'\r' || b == b'\n') {
            return;
        }
        let fatal = framing.is_some();
        let parsed = match framing {
            Some(e) => Err(e),
            None => Message::parse_with(raw, &self.config.limits),
        };
        let seen = Observed {
            direction: Direction::Inbound,
            transport: peer.transport(),
            remote: peer.remote,
            local: self.seen_local,
            raw,
            parsed: Some(parsed.as_ref()),
            now: Instant::now(),
        };
        if self.apps.pipeline.inspect(&seen) == Verdict::Drop {
            return;
        }
        match parsed {
            Err(e) => {
                tracing::debug!(remote = %peer.remote, error = %e, "refused malformed sip");
                let tag = self.apps.answers.tag();
                match sip::reject(raw, &e, &tag) {
                    Some(answer) => {
                        self.send(peer, answer.into(), fatal).await;
                    }
                    None if fatal => self.close(peer),
                    None => {}
                }
            }
            Ok(Message::Request(mut req)) => {
                stamp_received(&mut req, peer.remote);
                if let Some(resp) = self.apps.answers.stateless(&req) {
                    self.send(peer, resp.to_bytes().into(), false).await;
                    return;
                }
                // REGISTER is answered without transaction state too: challenges are the case
                // RFC 3261 section 8.2.7 names for stateless answers, and the registrar tells
                // a retransmitted REGISTER from a replay (same nonce, nc and request) and
                // answers it again with the bindings it made. Thirty-two seconds of Timer J
                // per registration would otherwise cost more than the registration itself.
                if req.method == sip::Method::Register {
                    let resp = self.register(&req, peer);
                    self.send(peer, resp.to_bytes().into(), false).await;
                    return;
                }
                self.transactions
                    .handle_request(Instant::now(), req, peer, peer.transport());
                self.drain().await;
            }
            Ok(Message::Response(resp)) => {
                self.transactions
                    .handle_response(Instant::now(), resp, peer);
                self.drain().await;
            }
        }
    }

    /// Sends what the transaction layer and the call manager have queued and serves their
    /// events, until all are empty (answering an event can queue more).
    async fn drain(&mut self) {
        loop {
            while let Some(t) = self.transactions.poll_transmit() {
                if !self.send(t.destination, t.payload, false).await {
                    self.transactions
                        .handle_transport_error(Instant::now(), &t.key);
                }
            }
            if let Some(action) = self.apps.calls.poll_action() {
                self.act(action).await;
                continue;
            }
            let Some(event) = self.transactions.poll_event() else {
                return;
            };
            let now = Instant::now();
            match event {
                Event::Request {
                    key,
                    request,
                    source,
                    cancels,
                    ..
                } => self.on_request(now, key, request, source, cancels),
                // Over the transaction limit: refuse without keeping state.
                Event::Refused {
                    request, source, ..
                } => {
                    let mut resp = Response::to_request(&request, StatusCode::SERVICE_UNAVAILABLE);
                    let tag = self.apps.answers.tag();
                    resp.head.to.params.set("tag", Some(tag));
                    resp.head.headers.push(sip::HeaderName::RetryAfter, "5");
                    self.send(source, resp.to_bytes().into(), false).await;
                }
                // The ACK for a 2xx has its own branch: it belongs to the call's dialog.
                Event::StrayAck { request, .. } => self.apps.calls.handle_ack(now, &request),
                Event::Server {
                    event: ServerEvent::Ack(request),
                    ..
                } => self.apps.calls.handle_ack(now, &request),
                Event::StrayResponse { response, .. } => {
                    self.apps.calls.handle_stray_response(&response);
                }
                Event::Client { key, event } => {
                    if self.pings.contains_key(&key) {
                        self.keepalive_event(&key, &event);
                    } else {
                        self.apps.calls.handle_client_event(now, &key, event);
                    }
                }
                Event::Server { key, event } => tracing::trace!(?key, ?event, "server transaction"),
            }
        }
    }

    /// A new request in a server transaction: the call manager's (a new INVITE, a request in
    /// one of its dialogs, the CANCEL of its INVITE), or the PBX's own answers.
    fn on_request(
        &mut self,
        now: Instant,
        key: TransactionKey,
        request: Request,
        source: Peer,
        cancels: Option<TransactionKey>,
    ) {
        // REGISTER never reaches the transaction layer (see on_bytes).
        let flow = source.flow();
        let inbound = |request| pbx::calls::Inbound {
            key: key.clone(),
            request,
            flow: flow.clone(),
        };
        if request.method == sip::Method::Cancel {
            if cancels
                .as_ref()
                .is_some_and(|k| self.apps.calls.owns_invite(k))
            {
                self.apps
                    .calls
                    .handle_request(now, inbound(request), cancels);
                return;
            }
        } else if self.apps.calls.owns_dialog(&request) {
            self.apps.calls.handle_request(now, inbound(request), None);
            return;
        } else if request.method == sip::Method::Invite && request.head.to.tag().is_none() {
            if let Some(refusal) = self.apps.answers.precheck(&request) {
                self.respond(&key, refusal);
                return;
            }
            if self.backlog.len() >= CALL_BACKLOG {
                let mut resp = Response::to_request(&request, StatusCode::SERVICE_UNAVAILABLE);
                resp.head
                    .to
                    .params
                    .set("tag", Some(self.apps.answers.tag()));
                self.respond(&key, resp);
                return;
            }
            let outcome = match self.trusted(source) {
                Some(caller) => self.apps.registrar.trusted_caller(&request, &caller),
                None => self
                    .apps
                    .registrar
                    .authenticate_caller(unix_now(), &request),
            };
            let auth = match &outcome {
                Ok(_) => AuthResult::Succeeded,
                Err(o) => o.auth,
            };
            self.record_auth(&request, source, auth);
            match outcome {
                Ok(caller) => self.apps.calls.handle_invite(now, caller, inbound(request)),
                Err(o) => self.respond(&key, o.response),
            }
            return;
        } else if request.head.to.tag().is_some() && request.method != sip::Method::Ack {
            //= https://www.rfc-editor.org/rfc/rfc3261#section-12.2.2
            //# If the UAS wishes to reject the request because it does not wish to
            //# recreate the dialog, it MUST respond to the request with a 481
            let mut resp = Response::to_request(&request, StatusCode::CALL_DOES_NOT_EXIST);
            resp.reason = "Call/Transaction Does Not Exist".into();
            self.respond(&key, resp);
            return;
        }
        let answer = match cancels {
            Some(_) => Some(self.apps.answers.cancel_matched(&request)),
            None => self.apps.answers.handle_request(&request),
        };
        if let Some(resp) = answer {
            self.respond(&key, resp);
        }
    }

    fn respond(&mut self, key: &TransactionKey, response: Response) {
        if let Err(e) = self.transactions.respond(Instant::now(), key, response) {
            tracing::debug!(error = %e, "answer not sent");
        }
    }

    /// Carries out one action of the call manager.
    async fn act(&mut self, action: Action) {
        match action {
            Action::Respond { key, response } => self.respond(&key, response),
            Action::Request { request, to } => {
                let peer = Peer::from_flow(&to);
                let key = TransactionKey::client_for_request(&request);
                if let Err(e) =
                    self.transactions
                        .send_request(Instant::now(), request, peer, peer.transport())
                {
                    tracing::debug!(error = %e, "call request not sent");
                    if let Some(key) = key {
                        self.apps.calls.handle_client_event(
                            Instant::now(),
                            &key,
                            ClientEvent::TransportError,
                        );
                    }
                }
            }
            Action::Send { message, to } => {
                let peer = Peer::from_flow(&to);
                self.send(peer, message.to_bytes().into(), false).await;
            }
            Action::Event(event) => {
                if matches!(event, CallEvent::HungUp(_)) {
                    Metrics::inc(&self.apps.metrics.calls_total);
                }
                self.backlog.push_back(event);
                self.flush_backlog();
            }
        }
    }

    /// Hands waiting call events to the CDR writer, oldest first, as far as it takes them.
    fn flush_backlog(&mut self) {
        while let Some(event) = self.backlog.pop_front() {
            match self.apps.call_events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.backlog.push_front(event);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    tracing::error!("call event writer gone; CDR not written");
                }
            }
        }
    }

    /// Tells the brute-force guard how a request's authentication went.
    fn record_auth(&mut self, request: &Request, source: Peer, auth: AuthResult) {
        if auth == AuthResult::Failed {
            Metrics::inc(&self.apps.metrics.auth_failures);
        }
        let had_credentials = request.head.get(&sip::HeaderName::Authorization).is_some();
        self.apps
            .guard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record_auth(source.remote.ip(), Instant::now(), auth, had_credentials);
    }

    /// Runs a REGISTER through the registrar, with the flow it arrived on.
    fn register(&mut self, request: &Request, source: Peer) -> Response {
        let flow = source.flow();
        let outcome = match self.trusted(source) {
            // A sip.sock: its 9P attach authenticated the extension.
            Some(caller) => {
                self.apps
                    .registrar
                    .handle_register_trusted(unix_now(), request, flow, &caller)
            }
            None => self
                .apps
                .registrar
                .handle_register(unix_now(), request, flow),
        };
        self.record_auth(request, source, outcome.auth);
        self.report(outcome.events);
        outcome.response
    }

    /// The extension a `sip.sock` connection speaks for; `None` for UDP and TCP.
    fn trusted(&self, source: Peer) -> Option<Caller> {
        match source.link {
            Link::Tcp(conn) => self.virtuals.get(&conn).map(|v| v.caller.clone()),
            Link::Udp => None,
        }
    }

    /// Sends the OPTIONS keepalives that are due, each in its own client transaction.
    async fn send_keepalives(&mut self) {
        let (pings, events) = self.apps.registrar.due_pings(unix_now(), &self.sent_by);
        self.report(events);
        if pings.is_empty() {
            return;
        }
        let now = Instant::now();
        for ping in pings {
            let link = match ping.flow.conn {
                Some(conn) => Link::Tcp(ConnId(conn)),
                None => Link::Udp,
            };
            let peer = Peer {
                link,
                remote: ping.flow.remote,
            };
            match self
                .transactions
                .send_request(now, ping.request, peer, peer.transport())
            {
                Ok(key) => {
                    self.pings
                        .insert(key, (ping.domain, ping.user, ping.contact));
                }
                Err(e) => tracing::debug!(error = %e, "keepalive not sent"),
            }
        }
        self.drain().await;
    }

    /// A keepalive's transaction moved: any response means the phone is there.
    fn keepalive_event(&mut self, key: &TransactionKey, event: &ClientEvent) {
        match event {
            ClientEvent::Provisional(_) | ClientEvent::Final(_) => {
                if let Some((domain, user, contact)) = self.pings.get(key) {
                    self.apps.registrar.ping_answered(domain, user, contact);
                }
            }
            ClientEvent::Terminated => {
                self.pings.remove(key);
            }
            _ => {}
        }
    }

    /// Hands registration events to the webhook sender without waiting.
    fn report(&self, events: Vec<RegEvent>) {
        for event in events {
            if self.apps.events.try_send(event).is_err() {
                Metrics::inc(&self.apps.metrics.webhook_dropped);
            }
        }
    }

    /// Sends through the pipeline; false when the transport could not take it.
    async fn send(&mut self, peer: Peer, bytes: Bytes, then_close: bool) -> bool {
        let seen = Observed {
            direction: Direction::Outbound,
            transport: peer.transport(),
            remote: peer.remote,
            local: self.seen_local,
            raw: &bytes,
            parsed: None,
            now: Instant::now(),
        };
        if self.apps.pipeline.inspect(&seen) == Verdict::Drop {
            return true;
        }
        match peer.link {
            Link::Udp => match self.udp.send_to(&bytes, peer.remote).await {
                Ok(_) => true,
                Err(e) => {
                    tracing::debug!(remote = %peer.remote, error = %e, "sip udp send failed");
                    false
                }
            },
            Link::Tcp(conn) => {
                let tx = match self.conns.get(&conn) {
                    Some(Writer::Tcp(tx)) => tx,
                    Some(Writer::Sock(queue)) => {
                        queue.push(&bytes);
                        return true;
                    }
                    None => {
                        tracing::debug!(remote = %peer.remote, "sip connection gone, dropped");
                        return false;
                    }
                };
                let cmd = if then_close {
                    ConnCmd::SendAndClose(bytes)
                } else {
                    ConnCmd::Send(bytes)
                };
                let sent = tx.try_send(cmd).is_ok();
                if !sent {
                    tracing::debug!(remote = %peer.remote, "sip tcp writer full, dropped");
                }
                sent
            }
        }
    }

    fn close(&mut self, peer: Peer) {
        if let Link::Tcp(conn) = peer.link
            && !self.virtuals.contains_key(&conn)
        {
            // Dropping the writer's sender ends the connection task.
            self.conns.remove(&conn);
        }
    }
}

/// How long the endpoint waits for live calls to end after the shutdown signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Wall-clock time as Unix seconds, for binding expiry and nonce ages.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Adds `received` and `rport` to the top Via (RFC 3261 section 18.2.1, RFC 3581 section 4),
/// so that responses echo where the request really came from.
fn stamp_received(req: &mut Request, remote: SocketAddr) {
    if let Some(via) = req.head.via.first_mut() {
        via.params.set("received", Some(remote.ip().to_string()));
        via.params.set("rport", Some(remote.port().to_string()));
    }
}
