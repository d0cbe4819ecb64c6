//! The SIP endpoint task: the one place where SIP messages from every transport meet the
//! interception pipeline and the applications.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use pbx::{
    Answers, AuthResult, Direction, Flow, Guard, Metrics, Observed, Pipeline, RegEvent, Registrar,
    Verdict,
};
use sip::transaction::{ClientEvent, Event, TransactionKey, TransactionLayer};
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
}

/// A TCP connection's identity within this process.
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
    /// A TCP connection closed.
    Closed { conn: ConnId },
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
    conns: HashMap<ConnId, mpsc::Sender<ConnCmd>>,
    transactions: TransactionLayer<Peer>,
    /// Keepalives in flight: which binding each client transaction pings.
    pings: HashMap<TransactionKey, (String, String, String)>,
    /// Host and port for the Via of requests we send.
    sent_by: String,
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
        Self {
            udp,
            local,
            apps,
            config,
            conns: HashMap::new(),
            transactions,
            pings: HashMap::new(),
            sent_by,
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
        loop {
            let deadline = self.transactions.poll_timeout();
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = housekeeping.tick() => {
                    let events = self.apps.registrar.expire(unix_now());
                    self.report(events);
                    self.send_keepalives().await;
                }
                _ = sleep_until(deadline) => {
                    self.transactions.handle_timeout(Instant::now());
                    self.drain().await;
                }
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
                        self.conns.insert(conn, tx);
                    }
                    Inbound::Stream { conn, remote, bytes, error } => {
                        let peer = Peer { link: Link::Tcp(conn), remote };
                        self.on_bytes(peer, &bytes, error).await;
                    }
                    Inbound::Closed { conn } => {
                        self.conns.remove(&conn);
                        //= https://www.rfc-editor.org/rfc/rfc5626#section-5.3
                        //# a binding made over a connection ends when the connection closes
                        let events = self.apps.registrar.connection_closed(conn.0);
                        self.report(events);
                    }
                },
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

    /// Sends what the transaction layer has queued and serves its events, until both are
    /// empty (answering an event can queue more).
    async fn drain(&mut self) {
        loop {
            while let Some(t) = self.transactions.poll_transmit() {
                if !self.send(t.destination, t.payload, false).await {
                    self.transactions
                        .handle_transport_error(Instant::now(), &t.key);
                }
            }
            let Some(event) = self.transactions.poll_event() else {
                return;
            };
            match event {
                Event::Request {
                    key,
                    request,
                    cancels,
                    ..
                } => {
                    // REGISTER never reaches the transaction layer (see on_bytes).
                    let answer = match cancels {
                        Some(_) => Some(self.apps.answers.cancel_matched(&request)),
                        None => self.apps.answers.handle_request(&request),
                    };
                    if let Some(resp) = answer
                        && let Err(e) = self.transactions.respond(Instant::now(), &key, resp)
                    {
                        tracing::debug!(error = %e, "answer not sent");
                    }
                }
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
                // No dialogs and no client transactions of our own yet: ACKs for 2xx and
                // responses that match nothing have nowhere to go (RFC 3261 section 18.1.2).
                Event::StrayAck { .. } | Event::StrayResponse { .. } => {}
                Event::Client { key, event } => self.keepalive_event(&key, &event),

                Event::Server { key, event } => tracing::trace!(?key, ?event, "server transaction"),
            }
        }
    }

    /// Runs a REGISTER through the registrar, with the flow it arrived on.
    fn register(&mut self, request: &Request, source: Peer) -> Response {
        let flow = Flow {
            transport: source.transport(),
            remote: source.remote,
            conn: match source.link {
                Link::Udp => None,
                Link::Tcp(conn) => Some(conn.0),
            },
        };
        let outcome = self
            .apps
            .registrar
            .handle_register(unix_now(), request, flow);
        if outcome.auth == AuthResult::Failed {
            Metrics::inc(&self.apps.metrics.auth_failures);
        }
        let had_credentials = request.head.get(&sip::HeaderName::Authorization).is_some();
        self.apps
            .guard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record_auth(
                source.remote.ip(),
                Instant::now(),
                outcome.auth,
                had_credentials,
            );
        self.report(outcome.events);
        outcome.response
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
                let Some(tx) = self.conns.get(&conn) else {
                    tracing::debug!(remote = %peer.remote, "sip tcp connection gone, dropped");
                    return false;
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
        if let Link::Tcp(conn) = peer.link {
            // Dropping the writer's sender ends the connection task.
            self.conns.remove(&conn);
        }
    }
}

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
