//! The 9P2000 multiplexer core, sans-IO: many client sessions carried over one upstream
//! connection, as plan9port's 9pserve does, without its two faults (a partial walk keeps no
//! fid here, and a failed Tauth frees the afid it allocated).
//!
//! ```text
//!  client 1 ─┐                          ┌──────────────┐
//!  client 2 ─┼─ tags, fids remapped ───>│   upstream   │  one connection, versioned once
//!  client N ─┘ <── replies, tags back ──│  (9P server  │
//!                                       │  or peer mux)│
//!  export server <── its T-messages ────│              │  the reverse direction (--export)
//!                ──── our R-messages ──>│              │
//!                                       └──────────────┘
//! ```
//!
//! [`Mux`] holds every mapping and every byte to send; the driver (in the binary) owns the
//! sockets. It cuts each stream into whole messages with [`crate::frame::check`] (at
//! [`Mux::client_msize`] for a client, [`Mux::link_msize`] for the upstream and the export
//! server) and feeds them in; after each input it sends [`Mux::upstream_output`],
//! [`Mux::export_output`] and the output of each client [`Mux::poll_client_ready`] names,
//! and acts on [`Mux::poll_event`]. It never touches a socket or a clock.
//!
//! Both directions share the upstream link: an R-message arriving from upstream answers one of
//! our requests; a T-message (even type byte) is the peer multiplexer's request for our
//! export server, passed through with its own tags and fids (the peer already made them
//! unique on the link).
//!
//! Bounds (STYLE.md section 2): outstanding requests and fids per client
//! ([`Config::max_outstanding`], [`Config::max_fids`]); bytes queued for a client that does not
//! read ([`Config::max_queued`]: beyond it the client is disconnected, so that one stalled
//! reader never holds the others back); outstanding reverse requests
//! ([`Config::max_reverse_outstanding`]). The upstream and export outputs are bounded by those
//! (at most that many requests, each at most msize).

use std::collections::{HashMap, VecDeque};
use std::fmt;

use crate::msg::{Fcall, Fid, Header, IOHDRSZ, Message, NOFID, NOTAG, Tag, mtype};
use crate::server::{MIN_MSIZE, ename as server_ename};

/// The Rerror texts the multiplexer answers itself (the protocol ones are the server's,
/// [`crate::server::ename`]).
pub mod ename {
    /// The upstream connection was lost while the request was outstanding.
    pub const UPSTREAM_LOST: &str = "upstream connection lost";
    /// A Tversion waited too long for an upstream that is not connected
    /// ([`super::Mux::expire_version`]).
    pub const UPSTREAM_DOWN: &str = "upstream not connected";
    /// A request from the peer multiplexer while no export server is connected.
    pub const NO_EXPORT: &str = "no export server";
    /// The export server went away while the peer's request was outstanding.
    pub const EXPORT_LOST: &str = "export server lost";
    /// Every upstream tag is in use.
    pub const NO_TAGS: &str = "multiplexer out of tags";
    /// A reply longer than the client's msize.
    pub const REPLY_TOO_BIG: &str = "reply too big for msize";
}

/// The limits and offer of a multiplexer.
#[derive(Debug, Clone)]
pub struct Config {
    /// The msize offered upstream (and to the export server); clients get at most the
    /// upstream's answer.
    pub msize: u32,
    /// Outstanding requests per client; the next one gets Rerror at once. (A Tflush may go
    /// up to twice this, so that a client at the cap can still flush.)
    pub max_outstanding: usize,
    /// Fids per client.
    pub max_fids: usize,
    /// Bytes of replies queued for a client that does not read; beyond, it is disconnected.
    /// At least one msize is always accepted.
    pub max_queued: usize,
    /// Outstanding requests of the peer multiplexer toward the export server.
    pub max_reverse_outstanding: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            msize: 256 * 1024 + IOHDRSZ,
            max_outstanding: 64,
            max_fids: 4096,
            max_queued: 1024 * 1024,
            max_reverse_outstanding: 1024,
        }
    }
}

/// One client connection of the multiplexer. Never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.0)
    }
}

/// Why the multiplexer wants a client disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// Its unread replies passed [`Config::max_queued`]; its output was dropped.
    SlowReader,
    /// The upstream went away; its output holds an Rerror for each outstanding request.
    UpstreamLost,
}

/// What the driver must do, from [`Mux::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Close this client's connection (after sending what [`Mux::client_output`] still
    /// holds, if it will go), then call [`Mux::client_gone`]. Its upstream state is already
    /// being cleaned up, and its input is ignored from now on.
    Disconnect {
        /// The client.
        client: ClientId,
        /// Why.
        reason: DisconnectReason,
    },
    /// The upstream broke the protocol (a malformed reply, a refused version): close the
    /// connection. [`Mux::upstream_gone`] has already been done.
    CloseUpstream,
    /// There is no upstream any more: dial it again (or accept the peer's next connection)
    /// and call [`Mux::upstream_connected`].
    Redial,
}

/// What the driver can read for its gauges and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Client connections.
    pub clients: usize,
    /// Client sessions, those still being cleaned up upstream included.
    pub sessions: usize,
    /// Upstream tags in use (our requests not answered yet, flushed ones until their Rflush).
    pub outstanding: usize,
    /// Upstream fids in use.
    pub fids: usize,
    /// Requests of the peer multiplexer that the export server has not answered yet.
    pub reverse_outstanding: usize,
}

/// Where one client fid stands upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FidState {
    /// Its Tattach, Tauth or Twalk is outstanding (pipelined use is allowed).
    Creating,
    /// The upstream has it.
    Live,
    /// Its Tclunk or Tremove is outstanding.
    Ending,
}

#[derive(Debug, Clone, Copy)]
struct FidMap {
    ufid: u32,
    state: FidState,
}

/// What the reply to an upstream request changes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Nothing in the mappings.
    Plain,
    /// A Tauth or Tattach (`walk` None) or a Twalk of `walk` names to a new fid: the fid
    /// exists upstream only on success (a whole walk).
    NewFid {
        cfid: u32,
        ufid: u32,
        walk: Option<u16>,
    },
    /// A Tclunk or Tremove: the fid is gone upstream whatever the answer (clunk(5),
    /// remove(5)).
    EndFid { cfid: u32, ufid: u32 },
    /// A Tflush of upstream tag `old`.
    Flush { old: u16 },
}

/// One upstream tag in use.
#[derive(Debug, Clone, Copy)]
struct Slot {
    session: u64,
    /// The client's tag; None for the multiplexer's own requests, whose replies are
    /// swallowed.
    ctag: Option<u16>,
    kind: Kind,
    /// The reply came while a flush of it was outstanding: the tag stays taken until the
    /// last Rflush (flush(5)).
    answered: bool,
    /// Tflushes of this tag not answered yet.
    flushes: u16,
}

/// One client's 9P session: from its Tversion to its next one, or to its hang-up and then
/// until every request and fid of it is settled upstream.
#[derive(Debug)]
struct Session {
    /// None once orphaned: the client hung up or versioned again.
    client: Option<u64>,
    msize: u32,
    /// Client tag to upstream tag.
    tags: HashMap<u16, u16>,
    /// Client fid to upstream fid.
    fids: HashMap<u32, FidMap>,
}

/// Bytes to send on one connection, with what was sent of them.
#[derive(Debug, Default)]
struct OutBuf {
    buf: Vec<u8>,
    sent: usize,
}

impl OutBuf {
    fn pending(&self) -> &[u8] {
        self.buf.get(self.sent..).unwrap_or(&[])
    }

    fn len(&self) -> usize {
        self.buf.len().saturating_sub(self.sent)
    }

    fn consume(&mut self, n: usize) {
        self.sent = self.sent.saturating_add(n).min(self.buf.len());
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        } else if self.sent > 64 * 1024 && self.sent > self.buf.len() / 2 {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.sent = 0;
    }

    /// Appends an encoded message; only oversized strings fail, and the messages built here
    /// have none.
    fn push(&mut self, msg: &Message<'_>) {
        let _ = msg.encode(&mut self.buf);
    }

    /// Appends `frame` with its tag replaced; returns where it starts.
    fn push_retagged(&mut self, frame: &[u8], tag: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(frame);
        self.patch(start + 5, &tag.to_le_bytes());
        start
    }

    fn patch(&mut self, at: usize, bytes: &[u8]) {
        if let Some(b) = self.buf.get_mut(at..at + bytes.len()) {
            b.copy_from_slice(bytes);
        }
    }
}

#[derive(Debug, Default)]
struct Client {
    /// The current session, once versioned.
    session: Option<u64>,
    /// A Tversion waiting for the upstream's: (tag, msize).
    pending_version: Option<(u16, u32)>,
    out: OutBuf,
    /// In the ready queue already.
    ready: bool,
    /// A Disconnect event was given: input is ignored.
    closing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    Down,
    Versioning,
    Ready { msize: u32 },
}

/// The export server side: the peer's requests, passed through.
#[derive(Debug, Default)]
struct Export {
    out: OutBuf,
    /// The peer's outstanding tags; `Some(old)` for a Tflush of `old`.
    outstanding: HashMap<u16, Option<u16>>,
    /// Rversions of our own Tversions still to come: everything before them is stale.
    swallow: u32,
    /// Rversions owed to the peer.
    peer_versions: u32,
}

/// The multiplexer: one upstream connection, many clients, and an optional export server for
/// the peer's requests.
///
/// Inputs: [`Mux::add_client`], [`Mux::handle_client`], [`Mux::client_gone`];
/// [`Mux::upstream_connected`], [`Mux::handle_upstream`], [`Mux::upstream_gone`];
/// [`Mux::export_connected`], [`Mux::handle_export`], [`Mux::export_gone`]. After each,
/// drain in order: [`Mux::upstream_output`] (then [`Mux::consume_upstream_output`]),
/// [`Mux::export_output`], each client [`Mux::poll_client_ready`] gives
/// ([`Mux::client_output`], [`Mux::consume_client_output`]), and [`Mux::poll_event`].
#[derive(Debug)]
pub struct Mux {
    config: Config,
    upstream: Upstream,
    up_out: OutBuf,
    /// Indexed by upstream tag.
    slots: Vec<Option<Slot>>,
    free_tags: Vec<u16>,
    next_fid: u32,
    free_fids: Vec<u32>,
    live_fids: usize,
    clients: HashMap<u64, Client>,
    next_client: u64,
    sessions: HashMap<u64, Session>,
    next_session: u64,
    ready: VecDeque<u64>,
    events: VecDeque<Event>,
    export: Option<Export>,
}

impl Mux {
    /// A multiplexer with no upstream yet: call [`Mux::upstream_connected`] once dialled.
    pub fn new(config: Config) -> Self {
        let mut config = config;
        config.msize = config.msize.max(MIN_MSIZE);
        Mux {
            config,
            upstream: Upstream::Down,
            up_out: OutBuf::default(),
            slots: Vec::new(),
            free_tags: Vec::new(),
            next_fid: 0,
            free_fids: Vec::new(),
            live_fids: 0,
            clients: HashMap::new(),
            next_client: 0,
            sessions: HashMap::new(),
            next_session: 0,
            ready: VecDeque::new(),
            events: VecDeque::new(),
            export: None,
        }
    }

    /// The msize to cut the upstream and export streams at (both directions of the link stay
    /// within it).
    pub fn link_msize(&self) -> u32 {
        self.config.msize
    }

    /// The msize the upstream agreed to, once it has.
    pub fn upstream_msize(&self) -> Option<u32> {
        match self.upstream {
            Upstream::Ready { msize } => Some(msize),
            _ => None,
        }
    }

    /// The msize to cut this client's stream at: its negotiated one, or the link's before
    /// its Tversion.
    pub fn client_msize(&self, id: ClientId) -> u32 {
        self.clients
            .get(&id.0)
            .and_then(|c| c.session)
            .and_then(|s| self.sessions.get(&s))
            .map_or(self.config.msize, |s| s.msize)
    }

    /// Counts for gauges.
    pub fn counters(&self) -> Counters {
        Counters {
            clients: self.clients.len(),
            sessions: self.sessions.len(),
            outstanding: self.slots.iter().filter(|s| s.is_some()).count(),
            fids: self.live_fids,
            reverse_outstanding: self.export.as_ref().map_or(0, |e| e.outstanding.len()),
        }
    }

    // ---- outputs ----------------------------------------------------------------------------

    /// Bytes to send upstream.
    pub fn upstream_output(&self) -> &[u8] {
        self.up_out.pending()
    }

    /// `n` bytes of [`Mux::upstream_output`] were sent.
    pub fn consume_upstream_output(&mut self, n: usize) {
        self.up_out.consume(n);
    }

    /// Bytes to send to the export server.
    pub fn export_output(&self) -> &[u8] {
        self.export.as_ref().map_or(&[], |e| e.out.pending())
    }

    /// `n` bytes of [`Mux::export_output`] were sent.
    pub fn consume_export_output(&mut self, n: usize) {
        if let Some(e) = self.export.as_mut() {
            e.out.consume(n);
        }
    }

    /// A client whose output grew since it was last given here.
    pub fn poll_client_ready(&mut self) -> Option<ClientId> {
        while let Some(id) = self.ready.pop_front() {
            if let Some(c) = self.clients.get_mut(&id) {
                c.ready = false;
                return Some(ClientId(id));
            }
        }
        None
    }

    /// Bytes to send to a client.
    pub fn client_output(&self, id: ClientId) -> &[u8] {
        self.clients.get(&id.0).map_or(&[], |c| c.out.pending())
    }

    /// `n` bytes of [`Mux::client_output`] were sent.
    pub fn consume_client_output(&mut self, id: ClientId, n: usize) {
        if let Some(c) = self.clients.get_mut(&id.0) {
            c.out.consume(n);
        }
    }

    /// The next thing the driver must do.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- clients ----------------------------------------------------------------------------

    /// A client connected.
    pub fn add_client(&mut self) -> ClientId {
        let id = self.next_client;
        self.next_client += 1;
        self.clients.insert(id, Client::default());
        ClientId(id)
    }

    /// The client's connection is closed: its outstanding requests are flushed and its fids
    /// clunked upstream (the replies swallowed), and it is forgotten.
    pub fn client_gone(&mut self, id: ClientId) {
        if let Some(c) = self.clients.remove(&id.0)
            && let Some(sid) = c.session
        {
            self.orphan(sid);
        }
    }

    /// Whether this client's Tversion waits for the upstream to be (re)connected and
    /// versioned. The driver bounds that wait: see [`Mux::expire_version`].
    pub fn version_pending(&self, id: ClientId) -> bool {
        self.clients
            .get(&id.0)
            .is_some_and(|c| c.pending_version.is_some())
    }

    /// The client waited long enough for the upstream: its pending Tversion (if it still
    /// has one) gets Rerror [`ename::UPSTREAM_DOWN`]. The client stays connected, without a
    /// session, and may send Tversion again.
    pub fn expire_version(&mut self, id: ClientId) {
        let Some(c) = self.clients.get_mut(&id.0) else {
            return;
        };
        if c.closing {
            return;
        }
        if let Some((tag, _)) = c.pending_version.take() {
            self.client_error(id.0, tag, ename::UPSTREAM_DOWN);
        }
    }

    /// One whole message from a client (cut at [`Mux::client_msize`]).
    pub fn handle_client(&mut self, id: ClientId, frame: &[u8]) {
        let cid = id.0;
        let Some(client) = self.clients.get(&cid) else {
            return;
        };
        if client.closing {
            return;
        }
        let Some(header) = Header::peek(frame) else {
            return;
        };
        let tag = header.tag.0;
        if frame.len() > self.client_msize(id) as usize {
            return self.client_error(cid, tag, server_ename::TOO_BIG);
        }
        let msg = match Message::decode(frame) {
            Ok(msg) => msg,
            Err(e) => {
                let text = format!("malformed message: {e}");
                return self.client_error(cid, tag, &text);
            }
        };
        if !msg.body.is_request() {
            return self.client_error(cid, tag, server_ename::NOT_REQUEST);
        }
        if let Fcall::Tversion { msize, version } = msg.body {
            return self.client_version(cid, tag, msize, version);
        }
        let Some(sid) = self.clients.get(&cid).and_then(|c| c.session) else {
            return self.client_error(cid, tag, server_ename::NOT_VERSIONED);
        };
        if tag == NOTAG {
            return self.client_error(cid, tag, server_ename::NOTAG);
        }
        let Some(session) = self.sessions.get(&sid) else {
            return;
        };
        if session.tags.contains_key(&tag) {
            return self.client_error(cid, tag, server_ename::DUPLICATE_TAG);
        }
        if let Fcall::Tflush { oldtag } = msg.body {
            return self.client_flush(cid, sid, tag, oldtag.0);
        }
        if session.tags.len() >= self.config.max_outstanding {
            return self.client_error(cid, tag, server_ename::TOO_MANY_REQUESTS);
        }
        if !matches!(self.upstream, Upstream::Ready { .. }) {
            // Cannot happen: losing the upstream disconnects every versioned client.
            return self.client_error(cid, tag, ename::UPSTREAM_LOST);
        }
        if let Err(e) = self.forward(sid, tag, &msg.body, frame) {
            self.client_error(cid, tag, e);
        }
    }

    /// Checks, remaps and sends one request (not Tversion, not Tflush) upstream.
    fn forward(
        &mut self,
        sid: u64,
        ctag: u16,
        body: &Fcall<'_>,
        frame: &[u8],
    ) -> Result<(), &'static str> {
        let session = self.sessions.get(&sid).ok_or(ename::UPSTREAM_LOST)?;
        // What the request names, checked before anything is taken.
        let (fid_at_7, new_fid, afid, kind_of) = match *body {
            Fcall::Tauth { afid, .. } => (None, Some((afid, 7)), None, New::Auth),
            Fcall::Tattach { fid, afid, .. } => {
                let a = if afid.0 == NOFID {
                    None
                } else {
                    Some(self.usable(session, afid)?)
                };
                (None, Some((fid, 7)), a, New::Attach)
            }
            Fcall::Twalk {
                fid,
                newfid,
                wnames,
            } => {
                let uf = self.usable(session, fid)?;
                if newfid == fid {
                    (Some(uf), None, None, New::None)
                } else {
                    let n = u16::try_from(wnames.len()).unwrap_or(u16::MAX);
                    (Some(uf), Some((newfid, 11)), None, New::Walk(n))
                }
            }
            Fcall::Topen { fid, .. }
            | Fcall::Tcreate { fid, .. }
            | Fcall::Tread { fid, .. }
            | Fcall::Twrite { fid, .. }
            | Fcall::Tstat { fid }
            | Fcall::Twstat { fid, .. } => {
                (Some(self.usable(session, fid)?), None, None, New::None)
            }
            Fcall::Tclunk { fid } | Fcall::Tremove { fid } => {
                (Some(self.usable(session, fid)?), None, None, New::End(fid))
            }
            _ => return Err(server_ename::NOT_REQUEST),
        };
        if let Some((fid, _)) = new_fid {
            if fid.0 == NOFID {
                return Err(server_ename::NOFID);
            }
            if session.fids.contains_key(&fid.0) {
                return Err(server_ename::FID_IN_USE);
            }
            if session.fids.len() >= self.config.max_fids {
                return Err(server_ename::TOO_MANY_FIDS);
            }
        }
        let client_msize = session.msize;
        let utag = self.alloc_tag().ok_or(ename::NO_TAGS)?;
        let mut kind = Kind::Plain;
        let start = self.up_out.push_retagged(frame, utag);
        if let Some(uf) = fid_at_7 {
            self.up_out.patch(start + 7, &uf.to_le_bytes());
        }
        if let Some(ua) = afid {
            self.up_out.patch(start + 11, &ua.to_le_bytes());
        }
        if let Fcall::Tread { count, .. } = *body {
            // The upstream may allow more than this client: keep the reply within its msize.
            let max = client_msize.saturating_sub(IOHDRSZ);
            if count > max {
                self.up_out.patch(start + 19, &max.to_le_bytes());
            }
        }
        let session = self.sessions.get_mut(&sid).ok_or(ename::UPSTREAM_LOST)?;
        if let Some((cfid, at)) = new_fid {
            let ufid = match self.free_fids.pop() {
                Some(f) => f,
                None => {
                    let f = self.next_fid;
                    // NOFID is never handed out; 2^32-1 live fids cannot happen (max_fids).
                    self.next_fid = self.next_fid.saturating_add(1).min(NOFID - 1);
                    f
                }
            };
            self.live_fids += 1;
            self.up_out.patch(start + at, &ufid.to_le_bytes());
            session.fids.insert(
                cfid.0,
                FidMap {
                    ufid,
                    state: FidState::Creating,
                },
            );
            kind = Kind::NewFid {
                cfid: cfid.0,
                ufid,
                walk: match kind_of {
                    New::Walk(n) => Some(n),
                    _ => None,
                },
            };
        }
        if let New::End(fid) = kind_of
            && let Some(m) = session.fids.get_mut(&fid.0)
        {
            m.state = FidState::Ending;
            kind = Kind::EndFid {
                cfid: fid.0,
                ufid: m.ufid,
            };
        }
        session.tags.insert(ctag, utag);
        self.set_slot(
            utag,
            Slot {
                session: sid,
                ctag: Some(ctag),
                kind,
                answered: false,
                flushes: 0,
            },
        );
        Ok(())
    }

    /// The upstream fid of a fid the client may use (pipelining on a fid being created is
    /// allowed; one being clunked is gone for the client).
    fn usable(&self, session: &Session, fid: Fid) -> Result<u32, &'static str> {
        match session.fids.get(&fid.0) {
            Some(m) if m.state != FidState::Ending => Ok(m.ufid),
            _ => Err(server_ename::UNKNOWN_FID),
        }
    }

    fn client_version(&mut self, cid: u64, tag: u16, msize: u32, version: &str) {
        if msize < MIN_MSIZE {
            return self.client_error(cid, tag, server_ename::MSIZE_TOO_SMALL);
        }
        // version(5): a Tversion aborts the session's I/O and clunks its fids; the client
        // goes on with a fresh session, the old one is cleaned up upstream.
        let Some(client) = self.clients.get_mut(&cid) else {
            return;
        };
        client.pending_version = None;
        if let Some(old) = client.session.take() {
            self.orphan(old);
        }
        //= version(5)
        //# If the client's version string contains one or more period characters, the
        //# initial substring up to but not including any single period in the version
        //# string defines a version of the protocol.
        if version.split('.').next() != Some("9P2000") {
            let msize = msize.min(self.config.msize);
            let reply = Fcall::Rversion {
                msize,
                version: "unknown",
            };
            return self.send_client(cid, &Message::new(Tag(tag), reply));
        }
        match self.upstream {
            Upstream::Ready { msize: up } => self.open_session(cid, tag, msize.min(up)),
            Upstream::Versioning | Upstream::Down => {
                if let Some(c) = self.clients.get_mut(&cid) {
                    c.pending_version = Some((tag, msize));
                }
            }
        }
    }

    fn open_session(&mut self, cid: u64, tag: u16, msize: u32) {
        let sid = self.next_session;
        self.next_session += 1;
        self.sessions.insert(
            sid,
            Session {
                client: Some(cid),
                msize,
                tags: HashMap::new(),
                fids: HashMap::new(),
            },
        );
        if let Some(c) = self.clients.get_mut(&cid) {
            c.session = Some(sid);
            c.pending_version = None;
        }
        let reply = Fcall::Rversion {
            msize,
            version: "9P2000",
        };
        self.send_client(cid, &Message::new(Tag(tag), reply));
    }

    fn client_flush(&mut self, cid: u64, sid: u64, tag: u16, oldtag: u16) {
        let Some(session) = self.sessions.get(&sid) else {
            return;
        };
        if session.tags.len() >= 2 * self.config.max_outstanding {
            return self.client_error(cid, tag, server_ename::TOO_MANY_REQUESTS);
        }
        let Some(&old) = session.tags.get(&oldtag) else {
            // flush(5): nothing outstanding under oldtag, so nothing to wait for.
            return self.send_client(cid, &Message::new(Tag(tag), Fcall::Rflush));
        };
        let Some(utag) = self.alloc_tag() else {
            return self.client_error(cid, tag, ename::NO_TAGS);
        };
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.tags.insert(tag, utag);
        }
        self.send_flush(sid, Some(tag), utag, old);
    }

    /// Sends Tflush of `old` upstream under `utag` (already taken).
    fn send_flush(&mut self, sid: u64, ctag: Option<u16>, utag: u16, old: u16) {
        if let Some(Some(s)) = self.slots.get_mut(usize::from(old)) {
            s.flushes = s.flushes.saturating_add(1);
        }
        self.set_slot(
            utag,
            Slot {
                session: sid,
                ctag,
                kind: Kind::Flush { old },
                answered: false,
                flushes: 0,
            },
        );
        let body = Fcall::Tflush { oldtag: Tag(old) };
        self.up_out.push(&Message::new(Tag(utag), body));
    }

    /// The session's client is gone (or versioned again): flush what it has outstanding,
    /// clunk its fids; replies are swallowed, and the session is dropped once all is settled.
    fn orphan(&mut self, sid: u64) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.client = None;
        if !matches!(self.upstream, Upstream::Ready { .. }) {
            self.sessions.remove(&sid);
            return;
        }
        let mut to_flush: Vec<u16> = s
            .tags
            .values()
            .copied()
            .filter(|&u| {
                matches!(self.slots.get(usize::from(u)), Some(Some(slot))
                    if !slot.answered && !matches!(slot.kind, Kind::Flush { .. }))
            })
            .collect();
        to_flush.sort_unstable();
        let mut to_clunk: Vec<(u32, u32)> = s
            .fids
            .iter()
            .filter(|(_, m)| m.state == FidState::Live)
            .map(|(&c, m)| (c, m.ufid))
            .collect();
        to_clunk.sort_unstable();
        for &(cfid, _) in &to_clunk {
            if let Some(m) = s.fids.get_mut(&cfid) {
                m.state = FidState::Ending;
            }
        }
        for old in to_flush {
            // Out of tags (65535 in use): the request's own reply settles it instead.
            if let Some(utag) = self.alloc_tag() {
                self.send_flush(sid, None, utag, old);
            }
        }
        for (cfid, ufid) in to_clunk {
            self.send_clunk(sid, cfid, ufid);
        }
        self.maybe_finish(sid);
    }

    /// The multiplexer's own Tclunk of a fid of an orphaned session.
    fn send_clunk(&mut self, sid: u64, cfid: u32, ufid: u32) {
        let Some(utag) = self.alloc_tag() else {
            // Out of tags: the fid stays upstream until the connection ends.
            return;
        };
        if let Some(m) = self
            .sessions
            .get_mut(&sid)
            .and_then(|s| s.fids.get_mut(&cfid))
        {
            m.state = FidState::Ending;
        }
        self.set_slot(
            utag,
            Slot {
                session: sid,
                ctag: None,
                kind: Kind::EndFid { cfid, ufid },
                answered: false,
                flushes: 0,
            },
        );
        let body = Fcall::Tclunk { fid: Fid(ufid) };
        self.up_out.push(&Message::new(Tag(utag), body));
    }

    fn maybe_finish(&mut self, sid: u64) {
        if let Some(s) = self.sessions.get(&sid)
            && s.client.is_none()
            && s.tags.is_empty()
            && s.fids.is_empty()
        {
            self.sessions.remove(&sid);
        }
    }

    fn client_error(&mut self, cid: u64, tag: u16, text: &str) {
        let max = (self.client_msize(ClientId(cid)) as usize)
            .saturating_sub(Header::LEN + 2)
            .min(usize::from(u16::MAX));
        let mut end = text.len().min(max);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let ename = text.get(..end).unwrap_or("");
        self.send_client(cid, &Message::new(Tag(tag), Fcall::Rerror { ename }));
    }

    fn send_client(&mut self, cid: u64, msg: &Message<'_>) {
        if let Some(c) = self.clients.get_mut(&cid) {
            c.out.push(msg);
        }
        self.after_output(cid);
    }

    fn send_client_frame(&mut self, cid: u64, frame: &[u8], ctag: u16) {
        if let Some(c) = self.clients.get_mut(&cid) {
            c.out.push_retagged(frame, ctag);
        }
        self.after_output(cid);
    }

    /// Marks the client ready, or disconnects it when it has stopped reading.
    fn after_output(&mut self, cid: u64) {
        let limit = self.config.max_queued.max(self.config.msize as usize);
        let Some(c) = self.clients.get_mut(&cid) else {
            return;
        };
        if c.out.len() > limit {
            c.out.clear();
            c.closing = true;
            let session = c.session.take();
            c.pending_version = None;
            self.events.push_back(Event::Disconnect {
                client: ClientId(cid),
                reason: DisconnectReason::SlowReader,
            });
            if let Some(sid) = session {
                self.orphan(sid);
            }
            return;
        }
        if !c.ready {
            c.ready = true;
            self.ready.push_back(cid);
        }
    }

    // ---- upstream ---------------------------------------------------------------------------

    /// A new upstream connection: it is versioned (our Tversion is in the output), and the
    /// clients waiting on their Tversion are answered when it answers.
    pub fn upstream_connected(&mut self) {
        self.up_out.clear();
        self.upstream = Upstream::Versioning;
        let body = Fcall::Tversion {
            msize: self.config.msize,
            version: "9P2000",
        };
        self.up_out.push(&Message::new(Tag::NOTAG, body));
    }

    /// The upstream connection is lost: every client gets Rerror for each outstanding
    /// request (Rflush for a Tflush) and is disconnected; the export server's session for the
    /// peer is reset. [`Event::Redial`] follows.
    pub fn upstream_gone(&mut self) {
        if self.upstream == Upstream::Down {
            return;
        }
        self.upstream = Upstream::Down;
        self.up_out.clear();
        let mut ids: Vec<u64> = self.clients.keys().copied().collect();
        ids.sort_unstable();
        for cid in ids {
            let Some(c) = self.clients.get_mut(&cid) else {
                continue;
            };
            if c.closing {
                continue;
            }
            c.closing = true;
            let session = c.session.take();
            let version = c.pending_version.take();
            let mut owed: Vec<(u16, bool)> = Vec::new();
            if let Some(s) = session.and_then(|sid| self.sessions.get(&sid)) {
                for (&ctag, &utag) in &s.tags {
                    match self.slots.get(usize::from(utag)) {
                        Some(Some(slot)) if matches!(slot.kind, Kind::Flush { .. }) => {
                            owed.push((ctag, true));
                        }
                        Some(Some(slot)) if !slot.answered => owed.push((ctag, false)),
                        _ => {}
                    }
                }
            }
            if let Some((tag, _)) = version {
                owed.push((tag, false));
            }
            owed.sort_unstable();
            for (tag, flush) in owed {
                if flush {
                    self.send_client(cid, &Message::new(Tag(tag), Fcall::Rflush));
                } else {
                    self.client_error(cid, tag, ename::UPSTREAM_LOST);
                }
            }
            self.events.push_back(Event::Disconnect {
                client: ClientId(cid),
                reason: DisconnectReason::UpstreamLost,
            });
        }
        self.sessions.clear();
        self.slots.clear();
        self.free_tags.clear();
        self.free_fids.clear();
        self.next_fid = 0;
        self.live_fids = 0;
        // The peer's fids on the export server are dead: a Tversion resets that session, and
        // whatever the export server still says before its Rversion is for the old peer.
        if let Some(e) = self.export.as_mut() {
            e.outstanding.clear();
            e.swallow = e.swallow.saturating_add(e.peer_versions).saturating_add(1);
            e.peer_versions = 0;
            let body = Fcall::Tversion {
                msize: self.config.msize,
                version: "9P2000",
            };
            e.out.push(&Message::new(Tag::NOTAG, body));
        }
        self.events.push_back(Event::Redial);
    }

    /// One whole message from upstream (cut at [`Mux::link_msize`]): a reply to one of our
    /// requests, or a request of the peer multiplexer for the export server.
    pub fn handle_upstream(&mut self, frame: &[u8]) {
        let Some(header) = Header::peek(frame) else {
            return;
        };
        if self.upstream == Upstream::Down {
            return;
        }
        if header.ty.is_multiple_of(2) {
            return self.reverse_request(frame, header.tag.0);
        }
        let Ok(msg) = Message::decode(frame) else {
            return self.upstream_broken();
        };
        if self.upstream == Upstream::Versioning {
            return match msg.body {
                Fcall::Rversion { msize, version }
                    if header.tag == Tag::NOTAG
                        && version == "9P2000"
                        && (MIN_MSIZE..=self.config.msize).contains(&msize) =>
                {
                    self.upstream_ready(msize)
                }
                _ => self.upstream_broken(),
            };
        }
        self.reply(header.tag.0, &msg.body, frame);
    }

    fn upstream_broken(&mut self) {
        self.events.push_back(Event::CloseUpstream);
        self.upstream_gone();
    }

    fn upstream_ready(&mut self, msize: u32) {
        self.upstream = Upstream::Ready { msize };
        let mut waiting: Vec<(u64, u16, u32)> = self
            .clients
            .iter()
            .filter_map(|(&id, c)| c.pending_version.map(|(tag, m)| (id, tag, m)))
            .collect();
        waiting.sort_unstable();
        for (cid, tag, m) in waiting {
            self.open_session(cid, tag, m.min(msize));
        }
    }

    /// A reply from upstream to our tag `utag`.
    fn reply(&mut self, utag: u16, body: &Fcall<'_>, frame: &[u8]) {
        let Some(Some(slot)) = self.slots.get(usize::from(utag)).copied() else {
            // Not ours (or a second answer): a misbehaving server, nothing to do with it.
            return;
        };
        if slot.answered {
            return;
        }
        let sid = slot.session;
        if let Kind::Flush { old } = slot.kind {
            self.free_slot(utag);
            self.flush_done(old);
        } else {
            self.apply(sid, slot.kind, body);
            if slot.flushes == 0 {
                self.free_slot(utag);
            } else if let Some(Some(s)) = self.slots.get_mut(usize::from(utag)) {
                s.answered = true;
            }
        }
        // State first, output last: a client overflowing here is orphaned from a settled
        // state.
        let to = self
            .sessions
            .get(&sid)
            .and_then(|s| s.client.map(|c| (c, s.msize)));
        if let (Some(ctag), Some((cid, msize))) = (slot.ctag, to) {
            if frame.len() > msize as usize {
                self.client_error(cid, ctag, ename::REPLY_TOO_BIG);
            } else {
                self.send_client_frame(cid, frame, ctag);
            }
        }
        self.maybe_finish(sid);
    }

    /// A Tflush of upstream tag `old` is answered: once none is left, the tag is free, and
    /// a request that was not answered was aborted.
    fn flush_done(&mut self, old: u16) {
        let Some(Some(s)) = self.slots.get_mut(usize::from(old)) else {
            return;
        };
        s.flushes = s.flushes.saturating_sub(1);
        if s.flushes > 0 {
            return;
        }
        let s = *s;
        self.free_slot(old);
        if !s.answered {
            self.abort(s.session, s.kind);
        }
        self.maybe_finish(s.session);
    }

    /// What the reply to a request changes in its session's fids.
    fn apply(&mut self, sid: u64, kind: Kind, body: &Fcall<'_>) {
        match kind {
            Kind::Plain | Kind::Flush { .. } => {}
            Kind::NewFid { cfid, ufid, walk } => {
                let ok = match (walk, body) {
                    (_, Fcall::Rerror { .. }) => false,
                    // walk(5): fewer qids than names, and newfid was not created.
                    (Some(n), Fcall::Rwalk { wqids }) => wqids.len() == usize::from(n),
                    (Some(_), _) => false,
                    (None, _) => true,
                };
                let Some(s) = self.sessions.get_mut(&sid) else {
                    return;
                };
                let orphaned = s.client.is_none();
                match s.fids.get_mut(&cfid) {
                    Some(m) if m.ufid == ufid && m.state == FidState::Creating => {
                        if ok {
                            m.state = FidState::Live;
                            if orphaned {
                                self.send_clunk(sid, cfid, ufid);
                            }
                        } else {
                            s.fids.remove(&cfid);
                            self.free_fid(ufid);
                        }
                    }
                    // Clunked while being created: that clunk's reply frees it.
                    _ => {}
                }
            }
            Kind::EndFid { cfid, ufid } => self.end_fid(sid, cfid, ufid),
        }
    }

    /// A request flushed before its reply: it did not happen.
    fn abort(&mut self, sid: u64, kind: Kind) {
        match kind {
            Kind::Plain => {}
            Kind::Flush { old } => self.flush_done(old),
            Kind::NewFid { cfid, ufid, .. } => {
                if let Some(s) = self.sessions.get_mut(&sid)
                    && matches!(s.fids.get(&cfid), Some(m)
                        if m.ufid == ufid && m.state == FidState::Creating)
                {
                    s.fids.remove(&cfid);
                    self.free_fid(ufid);
                }
            }
            Kind::EndFid { cfid, ufid } => {
                let Some(s) = self.sessions.get_mut(&sid) else {
                    return;
                };
                let orphaned = s.client.is_none();
                if let Some(m) = s.fids.get_mut(&cfid)
                    && m.ufid == ufid
                {
                    m.state = FidState::Live;
                    if orphaned {
                        self.send_clunk(sid, cfid, ufid);
                    }
                }
            }
        }
    }

    fn end_fid(&mut self, sid: u64, cfid: u32, ufid: u32) {
        if let Some(s) = self.sessions.get_mut(&sid)
            && s.fids.get(&cfid).is_some_and(|m| m.ufid == ufid)
        {
            s.fids.remove(&cfid);
            self.free_fid(ufid);
        }
    }

    fn alloc_tag(&mut self) -> Option<u16> {
        if let Some(t) = self.free_tags.pop() {
            return Some(t);
        }
        let t = u16::try_from(self.slots.len())
            .ok()
            .filter(|&t| t != NOTAG)?;
        self.slots.push(None);
        Some(t)
    }

    fn set_slot(&mut self, utag: u16, slot: Slot) {
        if let Some(s) = self.slots.get_mut(usize::from(utag)) {
            *s = Some(slot);
        }
    }

    /// Frees an upstream tag and the client tag it stood for.
    fn free_slot(&mut self, utag: u16) {
        let Some(slot) = self.slots.get_mut(usize::from(utag)).and_then(Option::take) else {
            return;
        };
        self.free_tags.push(utag);
        if let Some(ctag) = slot.ctag
            && let Some(s) = self.sessions.get_mut(&slot.session)
            && s.tags.get(&ctag) == Some(&utag)
        {
            s.tags.remove(&ctag);
        }
    }

    fn free_fid(&mut self, ufid: u32) {
        self.free_fids.push(ufid);
        self.live_fids = self.live_fids.saturating_sub(1);
    }

    // ---- export (the reverse direction) -----------------------------------------------------

    /// The export server is connected: it is versioned at [`Mux::link_msize`], and the peer's
    /// requests go to it from now on.
    pub fn export_connected(&mut self) {
        let mut e = Export {
            swallow: 1,
            ..Export::default()
        };
        let body = Fcall::Tversion {
            msize: self.config.msize,
            version: "9P2000",
        };
        e.out.push(&Message::new(Tag::NOTAG, body));
        self.export = Some(e);
    }

    /// The export server's connection is lost: the peer gets Rerror for each of its
    /// outstanding requests (Rflush for a Tflush), and later requests are refused until
    /// [`Mux::export_connected`].
    pub fn export_gone(&mut self) {
        let Some(e) = self.export.take() else {
            return;
        };
        if self.upstream == Upstream::Down {
            return;
        }
        let mut owed: Vec<(u16, bool)> = e
            .outstanding
            .iter()
            .map(|(&t, f)| (t, f.is_some()))
            .collect();
        owed.sort_unstable();
        for (tag, flush) in owed {
            let body = if flush {
                Fcall::Rflush
            } else {
                Fcall::Rerror {
                    ename: ename::EXPORT_LOST,
                }
            };
            self.up_out.push(&Message::new(Tag(tag), body));
        }
        for _ in 0..e.peer_versions {
            let body = Fcall::Rversion {
                msize: self.config.msize,
                version: "9P2000",
            };
            self.up_out.push(&Message::new(Tag::NOTAG, body));
        }
    }

    /// One whole message from the export server (cut at [`Mux::link_msize`]): a reply for
    /// the peer, passed back upstream with its tag.
    pub fn handle_export(&mut self, frame: &[u8]) {
        let Some(header) = Header::peek(frame) else {
            return;
        };
        let up = self.upstream != Upstream::Down;
        let Some(e) = self.export.as_mut() else {
            return;
        };
        if header.ty.is_multiple_of(2) {
            return;
        }
        if e.swallow > 0 {
            if header.ty == mtype::RVERSION {
                e.swallow -= 1;
            }
            return;
        }
        let tag = header.tag.0;
        if header.ty == mtype::RVERSION && tag == NOTAG {
            if e.peer_versions > 0 {
                e.peer_versions -= 1;
                if up {
                    self.up_out.buf.extend_from_slice(frame);
                }
            }
            return;
        }
        match e.outstanding.remove(&tag) {
            None => {}
            Some(flushed) => {
                if let Some(old) = flushed
                    && header.ty == mtype::RFLUSH
                {
                    e.outstanding.remove(&old);
                }
                if up {
                    self.up_out.buf.extend_from_slice(frame);
                }
            }
        }
    }

    /// A request of the peer multiplexer: to the export server as it is (the peer's tags and
    /// fids are already unique on the link), or answered here when there is none.
    fn reverse_request(&mut self, frame: &[u8], tag: u16) {
        let msg = match Message::decode(frame) {
            Ok(m) => m,
            Err(e) => {
                let text = format!("malformed message: {e}");
                return self.reverse_error(tag, &text);
            }
        };
        let cap = self.config.max_reverse_outstanding;
        let Some(e) = self.export.as_mut() else {
            let reply = match msg.body {
                Fcall::Tversion { msize, version } => Fcall::Rversion {
                    msize: msize.min(self.config.msize),
                    version: if version.split('.').next() == Some("9P2000") {
                        "9P2000"
                    } else {
                        "unknown"
                    },
                },
                Fcall::Tflush { .. } => Fcall::Rflush,
                _ => Fcall::Rerror {
                    ename: ename::NO_EXPORT,
                },
            };
            return self.up_out.push(&Message::new(Tag(tag), reply));
        };
        match msg.body {
            Fcall::Tversion { .. } => {
                // It resets the export session: whatever was outstanding is aborted there.
                e.outstanding.clear();
                e.peer_versions = e.peer_versions.saturating_add(1);
            }
            _ if tag == NOTAG => {}
            _ if e.outstanding.contains_key(&tag) => {
                return self.reverse_error(tag, server_ename::DUPLICATE_TAG);
            }
            _ if e.outstanding.len() >= cap => {
                return self.reverse_error(tag, server_ename::TOO_MANY_REQUESTS);
            }
            Fcall::Tflush { oldtag } => {
                e.outstanding.insert(tag, Some(oldtag.0));
            }
            _ => {
                e.outstanding.insert(tag, None);
            }
        }
        e.out.buf.extend_from_slice(frame);
    }

    fn reverse_error(&mut self, tag: u16, text: &str) {
        let max = (self.config.msize as usize).saturating_sub(Header::LEN + 2);
        let mut end = text.len().min(max);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let ename = text.get(..end).unwrap_or("");
        self.up_out
            .push(&Message::new(Tag(tag), Fcall::Rerror { ename }));
    }
}

/// What a request does to the fid table.
#[derive(Debug, Clone, Copy)]
enum New {
    None,
    Auth,
    Attach,
    Walk(u16),
    End(Fid),
}
