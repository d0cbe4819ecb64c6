//! The transaction layer: every live transaction of an endpoint, matched and timed together.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use bytes::Bytes;

use super::{
    ClientEvent, ClientInvite, ClientNonInvite, Role, ServerEvent, ServerInvite, ServerNonInvite,
    State, TimerConfig, TransactionError, TransactionKey,
};
use crate::addr::Transport;
use crate::message::{Request, Response};
use crate::method::Method;

/// Configuration of a [`TransactionLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerConfig {
    /// T1, T2, T4 and the derived timers.
    pub timers: TimerConfig,
    /// The most server transactions alive at once. A new request beyond it is refused with
    /// [`Event::Refused`] (the driver answers 503 statelessly or drops it), so that a flood
    /// of requests cannot grow the table without bound. Client transactions are opened by
    /// our own TU and are not counted.
    pub max_server_transactions: usize,
}

impl Default for LayerConfig {
    fn default() -> Self {
        Self {
            timers: TimerConfig::default(),
            max_server_transactions: 10_000,
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit<A> {
    /// The transaction that sends it; report a failed send with
    /// [`TransactionLayer::handle_transport_error`].
    pub key: TransactionKey,
    /// Where to: the address the request was sent to (client transactions) or came from
    /// (server transactions, the latest source of the request or its retransmissions).
    pub destination: A,
    /// The transport to use.
    pub transport: Transport,
    /// The serialized message.
    pub payload: Bytes,
}

/// What the transaction layer tells the TU (and the driver).
#[derive(Debug, Clone, PartialEq, Eq)]
// Messages are moved through once, from the network to the TU; boxing them would cost an
// allocation per message for no saving.
#[allow(clippy::large_enum_variant)]
pub enum Event<A> {
    /// A new request opened the server transaction `key`; the TU answers it with
    /// [`TransactionLayer::respond`]. Retransmissions never produce this event.
    Request {
        /// The new server transaction.
        key: TransactionKey,
        /// The request.
        request: Request,
        /// Where it came from.
        source: A,
        /// The transport it came over.
        transport: Transport,
        /// For a CANCEL: the live INVITE server transaction it cancels (RFC 3261 section
        /// 9.2), or `None` when there is none, in which case the TU answers the CANCEL 481.
        /// Always `None` for other methods.
        cancels: Option<TransactionKey>,
    },
    /// An event of the client transaction `key`.
    Client {
        /// The transaction.
        key: TransactionKey,
        /// What happened.
        event: ClientEvent,
    },
    /// An event of the server transaction `key`.
    Server {
        /// The transaction.
        key: TransactionKey,
        /// What happened.
        event: ServerEvent,
    },
    /// An ACK that matched no server transaction: in RFC 3261 the ACK to a 2xx has its own
    /// branch, so this is the normal way the TU (the dialog) receives it.
    StrayAck {
        /// The ACK.
        request: Request,
        /// Where it came from.
        source: A,
        /// The transport it came over.
        transport: Transport,
    },
    /// A response that matched no client transaction: a 2xx retransmission after Timer M,
    /// or anything a peer sends unasked. RFC 6026 lets a UA core drop it.
    StrayResponse {
        /// The response.
        response: Response,
        /// Where it came from.
        source: A,
    },
    /// A new request refused because [`LayerConfig::max_server_transactions`] are alive. No
    /// transaction holds it; the driver may answer 503 statelessly.
    Refused {
        /// The request.
        request: Request,
        /// Where it came from.
        source: A,
        /// The transport it came over.
        transport: Transport,
    },
}

#[derive(Debug, Clone)]
enum Machine {
    InviteClient(ClientInvite),
    NonInviteClient(ClientNonInvite),
    InviteServer(ServerInvite),
    NonInviteServer(ServerNonInvite),
}

#[derive(Debug, Clone)]
struct Entry<A> {
    key: TransactionKey,
    peer: A,
    transport: Transport,
    machine: Machine,
    /// The deadline this entry has in `deadlines`.
    deadline: Option<Instant>,
}

/// Every live transaction of an endpoint (RFC 3261 section 17), generic over the driver's
/// address type `A`, which the layer stores and hands back but never interprets.
///
/// Inputs: [`handle_request`](Self::handle_request) and
/// [`handle_response`](Self::handle_response) for parsed messages from the network,
/// [`send_request`](Self::send_request) and [`respond`](Self::respond) for the TU,
/// [`handle_timeout`](Self::handle_timeout) when the timer from
/// [`poll_timeout`](Self::poll_timeout) expires, and
/// [`handle_transport_error`](Self::handle_transport_error) when a send fails. After each
/// input drain, in order, [`poll_transmit`](Self::poll_transmit) until `None`,
/// [`poll_timeout`](Self::poll_timeout) to re-arm the one timer, and
/// [`poll_event`](Self::poll_event) until `None`.
///
/// Terminated transactions are forgotten at once. Deadlines live in an ordered set, so
/// `poll_timeout` and `handle_timeout` cost O(log n) per due transaction, not a scan. No
/// input makes it panic.
#[derive(Debug, Clone)]
pub struct TransactionLayer<A> {
    config: LayerConfig,
    next_id: u64,
    ids: HashMap<TransactionKey, u64>,
    entries: HashMap<u64, Entry<A>>,
    deadlines: BTreeSet<(Instant, u64)>,
    servers: usize,
    transmits: VecDeque<Transmit<A>>,
    events: VecDeque<Event<A>>,
}

impl<A: Clone + Eq + Hash + Debug> TransactionLayer<A> {
    /// An empty layer.
    pub fn new(config: LayerConfig) -> Self {
        Self {
            config,
            next_id: 0,
            ids: HashMap::new(),
            entries: HashMap::new(),
            deadlines: BTreeSet::new(),
            servers: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LayerConfig {
        &self.config
    }

    /// The number of live transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of live server transactions.
    pub fn server_len(&self) -> usize {
        self.servers
    }

    /// The state of the transaction `key`, when it is alive.
    pub fn state(&self, key: &TransactionKey) -> Option<State> {
        let entry = self.ids.get(key).and_then(|id| self.entries.get(id))?;
        Some(match &entry.machine {
            Machine::InviteClient(m) => m.state(),
            Machine::NonInviteClient(m) => m.state(),
            Machine::InviteServer(m) => m.state(),
            Machine::NonInviteServer(m) => m.state(),
        })
    }

    /// A request from the network. A new one opens a server transaction and reaches the TU
    /// as [`Event::Request`]; a retransmission is absorbed (the last response, if any, is
    /// queued again); an ACK goes to its INVITE transaction or out as [`Event::StrayAck`].
    /// A request without a Via is dropped: no response could be routed.
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: Request,
        source: A,
        transport: Transport,
    ) {
        let Some(key) = TransactionKey::server_for_request(&request) else {
            return;
        };
        if let Some(&id) = self.ids.get(&key) {
            if let Some(entry) = self.entries.get_mut(&id) {
                // Answer where the retransmission came from: a TCP client may have
                // reconnected, a NAT may have rebound.
                entry.peer = source;
                match &mut entry.machine {
                    Machine::InviteServer(m) => m.handle_request(now, request),
                    Machine::NonInviteServer(m) => m.handle_request(now, request),
                    // Server keys never name client transactions.
                    Machine::InviteClient(_) | Machine::NonInviteClient(_) => {}
                }
            }
            self.pump(id);
            return;
        }
        if request.method == Method::Ack {
            self.events.push_back(Event::StrayAck {
                request,
                source,
                transport,
            });
            return;
        }
        if self.servers >= self.config.max_server_transactions {
            self.events.push_back(Event::Refused {
                request,
                source,
                transport,
            });
            return;
        }
        let cancels = match request.method {
            Method::Cancel => {
                TransactionKey::server_cancelled_by(&request).filter(|k| self.ids.contains_key(k))
            }
            _ => None,
        };
        let timers = self.config.timers;
        let machine = match request.method {
            Method::Invite => {
                Machine::InviteServer(ServerInvite::new(now, &request, &transport, timers))
            }
            _ => Machine::NonInviteServer(ServerNonInvite::new(now, &request, &transport, timers)),
        };
        let id = self.insert(key.clone(), source.clone(), transport.clone(), machine);
        self.servers += 1;
        self.events.push_back(Event::Request {
            key,
            request,
            source,
            transport,
            cancels,
        });
        self.pump(id);
    }

    /// A response from the network: delivered to its client transaction (RFC 3261 section
    /// 17.1.3) or reported as [`Event::StrayResponse`].
    pub fn handle_response(&mut self, now: Instant, response: Response, source: A) {
        let id = TransactionKey::client_for_response(&response)
            .and_then(|key| self.ids.get(&key))
            .copied();
        let Some(entry) = id.and_then(|id| self.entries.get_mut(&id)) else {
            self.events
                .push_back(Event::StrayResponse { response, source });
            return;
        };
        match &mut entry.machine {
            Machine::InviteClient(m) => m.handle_response(now, response),
            Machine::NonInviteClient(m) => m.handle_response(now, response),
            Machine::InviteServer(_) | Machine::NonInviteServer(_) => {}
        }
        if let Some(id) = id {
            self.pump(id);
        }
    }

    /// Starts a client transaction for `request` to `destination` over `transport`, and
    /// queues the request. The request must carry a top Via whose branch starts with the
    /// magic cookie; ACK is refused (the INVITE transaction sends the ACK to a non-2xx, the
    /// TU sends the ACK to a 2xx outside any transaction).
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        destination: A,
        transport: Transport,
    ) -> Result<TransactionKey, TransactionError> {
        if request.method == Method::Ack {
            return Err(TransactionError::Ack);
        }
        let key = TransactionKey::client_for_request(&request).ok_or(TransactionError::NoBranch)?;
        if self.ids.contains_key(&key) {
            return Err(TransactionError::Exists);
        }
        let timers = self.config.timers;
        let machine = match request.method {
            Method::Invite => {
                Machine::InviteClient(ClientInvite::new(now, request, &transport, timers))
            }
            _ => Machine::NonInviteClient(ClientNonInvite::new(now, request, &transport, timers)),
        };
        let id = self.insert(key.clone(), destination, transport, machine);
        self.pump(id);
        Ok(key)
    }

    /// The TU's response on the server transaction `key`.
    pub fn respond(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: Response,
    ) -> Result<(), TransactionError> {
        let id = *self.ids.get(key).ok_or(TransactionError::Unknown)?;
        let entry = self.entries.get_mut(&id).ok_or(TransactionError::Unknown)?;
        let result = match &mut entry.machine {
            Machine::InviteServer(m) => m.respond(now, response),
            Machine::NonInviteServer(m) => m.respond(now, response),
            Machine::InviteClient(_) | Machine::NonInviteClient(_) => {
                Err(TransactionError::Unknown)
            }
        };
        self.pump(id);
        result
    }

    /// Fires the timers of every transaction due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Collect first: a machine always re-arms past `now`, but this bounds the work even
        // if one did not.
        let due: Vec<u64> = self
            .deadlines
            .iter()
            .take_while(|&&(at, _)| at <= now)
            .map(|&(_, id)| id)
            .collect();
        for id in due {
            if let Some(entry) = self.entries.get_mut(&id) {
                match &mut entry.machine {
                    Machine::InviteClient(m) => m.handle_timeout(now),
                    Machine::NonInviteClient(m) => m.handle_timeout(now),
                    Machine::InviteServer(m) => m.handle_timeout(now),
                    Machine::NonInviteServer(m) => m.handle_timeout(now),
                }
                self.pump(id);
            }
        }
    }

    /// The driver failed to send a message of transaction `key` (a refused TCP connection,
    /// an ICMP error): the transaction informs the TU and terminates. Unknown keys are
    /// ignored.
    pub fn handle_transport_error(&mut self, now: Instant, key: &TransactionKey) {
        let Some(&id) = self.ids.get(key) else {
            return;
        };
        if let Some(entry) = self.entries.get_mut(&id) {
            match &mut entry.machine {
                Machine::InviteClient(m) => m.handle_transport_error(now),
                Machine::NonInviteClient(m) => m.handle_transport_error(now),
                Machine::InviteServer(m) => m.handle_transport_error(now),
                Machine::NonInviteServer(m) => m.handle_transport_error(now),
            }
        }
        self.pump(id);
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit<A>> {
        self.transmits.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due: the earliest deadline of
    /// all transactions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event<A>> {
        self.events.pop_front()
    }

    fn insert(
        &mut self,
        key: TransactionKey,
        peer: A,
        transport: Transport,
        machine: Machine,
    ) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.ids.insert(key.clone(), id);
        self.entries.insert(
            id,
            Entry {
                key,
                peer,
                transport,
                machine,
                deadline: None,
            },
        );
        id
    }

    /// Moves a machine's output into the layer's queues, re-files its deadline, and forgets
    /// it once terminated.
    fn pump(&mut self, id: u64) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let key = &entry.key;
        // The four machines share the output interface; only the event wrapper differs.
        macro_rules! drain {
            ($m:expr, $wrap:ident) => {{
                while let Some(payload) = $m.poll_transmit() {
                    self.transmits.push_back(Transmit {
                        key: key.clone(),
                        destination: entry.peer.clone(),
                        transport: entry.transport.clone(),
                        payload,
                    });
                }
                while let Some(event) = $m.poll_event() {
                    self.events.push_back(Event::$wrap {
                        key: key.clone(),
                        event,
                    });
                }
                ($m.poll_timeout(), $m.is_terminated())
            }};
        }
        let (deadline, terminated) = match &mut entry.machine {
            Machine::InviteClient(m) => drain!(m, Client),
            Machine::NonInviteClient(m) => drain!(m, Client),
            Machine::InviteServer(m) => drain!(m, Server),
            Machine::NonInviteServer(m) => drain!(m, Server),
        };
        if entry.deadline != deadline {
            if let Some(old) = entry.deadline {
                self.deadlines.remove(&(old, id));
            }
            if let Some(new) = deadline {
                self.deadlines.insert((new, id));
            }
            entry.deadline = deadline;
        }
        if terminated {
            if let Some(old) = entry.deadline.take() {
                self.deadlines.remove(&(old, id));
            }
            if entry.key.role() == Role::Server {
                self.servers = self.servers.saturating_sub(1);
            }
            let key = entry.key.clone();
            self.entries.remove(&id);
            self.ids.remove(&key);
        }
    }
}
