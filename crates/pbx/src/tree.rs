//! The voip file tree (DESIGN.md section 9, seed 000): the PBX served as files over 9P2000.
//!
//! ```text
//! /                                   all accounts (the operator)
//! /<domain>/                          the account admin
//!     cdr/<YYYY_MM_DD>/<epoch>_<from>_<to>.cdr
//!     call_recordings/
//!     <user>/                         an extension: nothing above it is reachable
//!         credential ctl presence
//!         cdr/ call_recordings/       only the calls it took part in
//!         ongoing/<from>_<to>/        metadata ctl hep.sock rtp_src.sock rtp_dest.sock
//!         uacs/<registration>/        metadata; sip.sock in directories made with mkdir
//! ```
//!
//! [`Tree`] is shared by every 9P connection; each connection gets a [`TreeFs`], the
//! [`ninep::FileTree`] its session calls. Reads of the directory and of live calls come from
//! the same [`State`] and [`LiveCalls`] the SIP side and the HTTP API use; writes (domains,
//! users, secrets) and CDR queries go through a [`Backend`], the binary's bridge to the store,
//! so that a change made here is seen by the HTTP API at once and the other way round.
//!
//! Who may do what is decided per attach, never per connection: the session keeps each
//! attach's root (an extension's own directory, an admin's domain, the operator's `/`) and
//! walks never leave it; the tree checks the attach's user on every create, remove and write
//! that changes the directory.

mod auth;
mod names;
mod sip_sock;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use media::{Leg, MediaControl, PacketQueue, TapId, TapKind};
use ninep::msg::{DMDIR, QTDIR, QTFILE, Qid, Stat, Tag};
use ninep::{Attached, DirWriter, FileTree, FsError, Read, Wstat};

pub use auth::{AuthFile, NONCE_LIFETIME, Throttle, parse_uname};
pub use sip_sock::{MAX_MADE_UACS, MAX_UAC_NAME, SipSockOpen, SipSockets};

use crate::calls::{CallInfo, Command, LiveCalls};
use crate::capture::{CaptureHub, Subscription};
use crate::cdr::{Cdr, CdrQuery, tree_escape};
use crate::directory::{Domain, Secret, User, check_domain_name, check_user_name};
use crate::guard::GuardConfig;
use crate::registrar::State;
use crate::time::{day_name, parse_day_name};
use names::{CallNames, involves};
use sip_sock::{MadeUac, OpenSock};

/// Who an attach is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// Everything: only on the local Unix socket.
    Operator,
    /// A domain's account admin.
    Admin {
        /// The domain.
        domain: Arc<str>,
    },
    /// One extension.
    Extension {
        /// The domain.
        domain: Arc<str>,
        /// The user.
        user: Arc<str>,
    },
}

impl Principal {
    /// The domain, unless the operator.
    pub fn domain(&self) -> Option<&str> {
        match self {
            Principal::Operator => None,
            Principal::Admin { domain } | Principal::Extension { domain, .. } => Some(domain),
        }
    }

    /// The user name the session checks mode bits for: `<user>@<domain>`, `admin@<domain>`,
    /// or `operator` (no `@`, so no extension can be it).
    pub fn user_name(&self) -> String {
        match self {
            Principal::Operator => OPERATOR.to_owned(),
            Principal::Admin { domain } => format!("admin@{domain}"),
            Principal::Extension { domain, user } => format!("{user}@{domain}"),
        }
    }

    /// The principal a session's user name stands for.
    fn of_user_name(user: &str) -> Option<Principal> {
        if user == OPERATOR {
            Some(Principal::Operator)
        } else {
            parse_uname(user)
        }
    }

    /// Whether this principal is the extension `e` or administers its domain.
    fn may_act_for(&self, e: &ExtRef) -> bool {
        match self {
            Principal::Extension { domain, user } => *domain == e.domain && *user == e.user,
            other => other.administers(&e.domain),
        }
    }

    /// Whether this principal administers `domain` (its admin, or the operator).
    fn administers(&self, domain: &str) -> bool {
        match self {
            Principal::Operator => true,
            Principal::Admin { domain: d } => &**d == domain,
            Principal::Extension { .. } => false,
        }
    }
}

/// The user name of the operator.
const OPERATOR: &str = "operator";

/// What the 9P driver knows of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    /// The peer's address (`None` on the Unix socket).
    pub peer: Option<SocketAddr>,
    /// The local Unix socket (mode 0600): an attach without auth is the operator.
    pub trusted: bool,
}

/// The tree's bridge to the store and the call manager, implemented by the binary. Calls
/// block until done (the binary runs them on the runtime's blocking-aware path).
pub trait Backend: Send + Sync {
    /// Creates a domain with default settings; `Exists` when it is there already.
    fn create_domain(&self, domain: Domain) -> Result<(), FsError>;
    /// Deletes a domain, its users and their bindings; `NotFound` when it is gone.
    fn delete_domain(&self, name: &str) -> Result<(), FsError>;
    /// Creates a user; `Exists` when it is there already, `NotFound` without the domain.
    fn create_user(&self, domain: &str, user: User) -> Result<(), FsError>;
    /// Replaces a user's secret; `NotFound` when the user is gone.
    fn replace_user(&self, domain: &str, user: User) -> Result<(), FsError>;
    /// Deletes a user and its bindings; `NotFound` when it is gone.
    fn delete_user(&self, domain: &str, user: &str) -> Result<(), FsError>;
    /// [`crate::Store::cdr_days`].
    fn cdr_days(&self, domain: &str, user: Option<&str>) -> Result<Vec<u64>, FsError>;
    /// [`crate::Store::query_cdrs`].
    fn cdrs(&self, query: &CdrQuery) -> Result<crate::CdrPage, FsError>;
    /// A command for the call manager.
    fn command(&self, command: Command) -> Result<(), FsError>;
    /// A command whose reply channel's other end is `answer` ([`Command::Dial`],
    /// [`Command::Hold`], [`Command::Unhold`]): returns the call manager's answer (for a dial,
    /// once the call is in the live calls), or why there was none.
    fn request(
        &self,
        command: Command,
        answer: std::sync::mpsc::Receiver<Result<(), String>>,
    ) -> Result<(), String>;
}

/// The clock and randomness the tree is given (it reads neither itself; the binary's
/// implementation is the real clock and a generator seeded from the OS).
pub trait Env: Send + Sync {
    /// Now, monotonic.
    fn now(&self) -> Instant;
    /// Now, Unix seconds.
    fn unix(&self) -> u64;
    /// 16 random bytes (nonces, new users' initial secrets).
    fn random(&self) -> [u8; 16];
}

/// The tree, shared by every connection.
pub struct Tree {
    state: Arc<State>,
    live: LiveCalls,
    backend: Arc<dyn Backend>,
    env: Arc<dyn Env>,
    names: Mutex<CallNames>,
    throttle: Mutex<Throttle>,
    taps: Taps,
    /// The open socket files, per call id, for the counts in `metadata`.
    sockets: Mutex<std::collections::HashMap<Arc<str>, Vec<OpenSocket>>>,
    /// The `uacs/` directories made with mkdir, per (domain, user).
    made: Mutex<MadeUacs>,
    /// Numbers the connections' [`TreeFs`], so that a made directory knows its maker.
    connections: std::sync::atomic::AtomicU64,
    /// Encoded listings of big directories (`/` and the domains), until they change.
    listings: Mutex<ListingCache>,
}

/// The `uacs/` directories made with mkdir, per (domain, user).
type MadeUacs = std::collections::HashMap<(Arc<str>, Arc<str>), Vec<MadeUac>>;

/// Where the socket files' packets come from.
pub struct Taps {
    /// The relay: RTP and RTCP taps, and injection.
    pub media: Arc<dyn MediaControl>,
    /// SIP capture by Call-ID, as HEP3 frames.
    pub capture: Arc<CaptureHub>,
    /// The SIP endpoint, for `sip.sock` files; `None`: opening one fails.
    pub sip: Option<Arc<dyn SipSockets>>,
}

/// Packets each open of a socket file holds before the oldest is dropped.
pub const SOCKET_QUEUE: usize = 256;

/// How long a `hep.sock` still waits for the call's SIP after the call ended before its end
/// of file: the answers to the BYEs that ended it come a round trip later.
const SIP_AFTER_END: std::time::Duration = std::time::Duration::from_secs(2);

/// One open socket file, as `metadata` counts it.
#[derive(Debug, Clone)]
struct OpenSocket {
    file: CallFile,
    queue: PacketQueue,
    too_big: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree").finish_non_exhaustive()
    }
}

impl Tree {
    /// A tree over the PBX's state and live calls. `guard` sets the thresholds of the auth
    /// throttle.
    pub fn new(
        state: Arc<State>,
        live: LiveCalls,
        backend: Arc<dyn Backend>,
        env: Arc<dyn Env>,
        taps: Taps,
        guard: GuardConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            state,
            live,
            backend,
            env,
            names: Mutex::new(CallNames::default()),
            throttle: Mutex::new(Throttle::new(guard)),
            taps,
            sockets: Mutex::new(std::collections::HashMap::new()),
            made: Mutex::new(std::collections::HashMap::new()),
            connections: std::sync::atomic::AtomicU64::new(0),
            listings: Mutex::new(ListingCache::default()),
        })
    }

    /// The file tree one connection's session uses. `waker` is called when a socket file
    /// this connection reads may have a packet: the driver then retries its pending reads.
    pub fn connection(self: &Arc<Self>, waker: media::tap::Waker) -> TreeFs {
        TreeFs {
            tree: Arc::clone(self),
            waker,
            id: self
                .connections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            peer: None,
        }
    }

    /// (address, uname) pairs blocked now for failed authentications.
    pub fn blocked(&self) -> usize {
        lock(&self.throttle).blocked_count(self.env.now())
    }

    fn domain_ref(&self, name: &str) -> Option<DomainRef> {
        let directory = self.state.read_directory();
        let entry = directory.domain(name)?;
        Some(DomainRef {
            name: entry.domain.name.as_str().into(),
            serial: entry.serial,
        })
    }

    fn ext_ref(&self, domain: &str, user: &str) -> Option<ExtRef> {
        let directory = self.state.read_directory();
        let entry = directory.domain(domain)?;
        Some(ExtRef {
            domain: entry.domain.name.as_str().into(),
            user: user.into(),
            serial: entry.user_serial(user)?,
        })
    }

    fn exists(&self, node: &Node) -> bool {
        match node {
            Node::Root => true,
            Node::Domain(d) => self.domain_alive(d),
            Node::Cdrs(s) | Node::CdrDay(s, _) | Node::CdrFile(s, ..) | Node::Recordings(s) => {
                match s {
                    Scope::Domain(d) => self.domain_alive(d),
                    Scope::Ext(e) => self.ext_alive(e),
                }
            }
            Node::Ext(e) | Node::ExtFile(e, _) | Node::Ongoing(e) | Node::Uacs(e) => {
                self.ext_alive(e)
            }
            Node::Uac(e, name, key) | Node::UacMeta(e, name, key) | Node::UacSock(e, name, key) => {
                self.ext_alive(e)
                    && self
                        .uacs_of(e)
                        .iter()
                        .any(|u| *u.name == **name && u.key == *key && u.fits(node))
            }
            Node::Call(e, call, _) | Node::CallFile(e, call, _) => {
                self.ext_alive(e)
                    && self
                        .with_call(call, |c| involves(c, &e.domain, &e.user))
                        .unwrap_or(false)
            }
        }
    }

    /// Whether the domain `d` names is there, and is still the same domain. (No copy of
    /// anything: every walk, open and stat asks.)
    fn domain_alive(&self, d: &DomainRef) -> bool {
        let directory = self.state.read_directory();
        directory
            .domain(&d.name)
            .is_some_and(|entry| entry.serial == d.serial)
    }

    /// Whether the extension `e` names is there, and is still the same extension.
    fn ext_alive(&self, e: &ExtRef) -> bool {
        let directory = self.state.read_directory();
        directory
            .domain(&e.domain)
            .and_then(|entry| entry.user_serial(&e.user))
            == Some(e.serial)
    }

    fn call(&self, id: &str) -> Option<CallInfo> {
        self.with_call(id, CallInfo::clone)
    }

    /// `f` of the live call `id`, under the live calls' lock (nothing cloned).
    fn with_call<T>(&self, id: &str, f: impl FnOnce(&CallInfo) -> T) -> Option<T> {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .map(f)
    }

    /// The live calls of an extension with their names, oldest first.
    fn calls_of(&self, e: &ExtRef) -> Vec<names::Named> {
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        lock(&self.names).sync(&e.domain, &e.user, live.values())
    }

    /// Every CDR of a scope on one day, in (start, id) order, with its file name.
    fn cdrs_of_day(&self, scope: &Scope, day: u64) -> Result<Vec<(String, Cdr)>, FsError> {
        let mut query = CdrQuery::new(scope.domain());
        query.since = Some(day * DAY);
        query.until = Some((day + 1) * DAY);
        query.user = scope.user().map(str::to_owned);
        query.limit = crate::cdr::CDR_PAGE_MAX;
        let mut all = Vec::new();
        loop {
            let page = self.backend.cdrs(&query)?;
            all.extend(page.cdrs);
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        Ok(cdr_names(all))
    }

    fn presence(&self, domain: &str) -> String {
        let users: Vec<String> = {
            let directory = self.state.read_directory();
            let mut users: Vec<String> = directory
                .domain(domain)
                .map(|d| d.users.keys().cloned().collect())
                .unwrap_or_default();
            users.sort();
            users
        };
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for user in users {
            let mut state = "idle";
            for call in live.values().filter(|c| involves(c, domain, &user)) {
                let ringing = call.to == user && matches!(call.state, "trying" | "ringing");
                state = if ringing && state != "busy" {
                    "ringing"
                } else {
                    "busy"
                };
            }
            out.push_str(&user);
            out.push(' ');
            out.push_str(state);
            out.push('\n');
        }
        out
    }

    /// The entries of an extension's `uacs/`: the directories made with mkdir first (with
    /// their binding once `sip.sock` is open), then the other bindings, named by contact.
    fn uacs_of(&self, e: &ExtRef) -> Vec<UacEntry> {
        let made: Vec<MadeUac> = lock(&self.made)
            .get(&(Arc::clone(&e.domain), Arc::clone(&e.user)))
            .cloned()
            .unwrap_or_default();
        let location = self
            .state
            .location
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let now = self.env.unix();
        let bindings = location.bindings(&e.domain, &e.user);
        let meta_of = |b: &crate::location::Binding| {
            serde_json::json!({
                "contact": &*b.contact,
                "transport": if crate::registrar::is_virtual(&b.flow) {
                    "9P".to_owned()
                } else {
                    b.flow.transport.to_string()
                },
                "host": b.flow.remote.ip().to_string(),
                "port": b.flow.remote.port(),
                "agent": &*b.agent,
                "registered": b.registered_at,
                "expires": b.expires_at.saturating_sub(now),
                "outstandingping": b.outstanding_pings,
            })
        };
        let mut out: Vec<UacEntry> = Vec::with_capacity(made.len() + bindings.len());
        for m in &made {
            let conn = m.open.as_ref().map(|o| o.conn);
            let meta = bindings
                .iter()
                .find(|b| conn.is_some() && b.flow.conn == conn)
                .map(|b| {
                    use std::sync::atomic::Ordering::Relaxed;
                    let mut meta = meta_of(b);
                    if let Some(open) = &m.open {
                        meta["sip.sock"] = serde_json::json!({
                            "queued": open.queue.len(),
                            "dropped": open.queue.dropped(),
                            "too_big": open.too_big.load(Relaxed),
                        });
                    }
                    meta
                });
            out.push(UacEntry {
                name: m.name.to_string(),
                key: m.key,
                meta,
                made: true,
            });
        }
        for b in bindings {
            if b.flow.conn.is_some()
                && made
                    .iter()
                    .any(|m| m.open.as_ref().map(|o| o.conn) == b.flow.conn)
            {
                continue;
            }
            let base = tree_escape(b.contact.strip_prefix("sip:").unwrap_or(&b.contact));
            let mut name = base.clone();
            let mut k = 2;
            while out.iter().any(|u| u.name == name) {
                name = format!("{base}_{k}");
                k += 1;
            }
            let key = hash56(&[
                &e.serial.to_be_bytes(),
                b.contact.as_bytes(),
                &b.registered_at.to_be_bytes(),
            ]);
            out.push(UacEntry {
                name,
                key,
                meta: Some(meta_of(b)),
                made: false,
            });
        }
        out
    }

    /// The entries of `dir`, encoded.
    fn encode_listing(&self, dir: &Node, out: &mut DirWriter<'_>) -> Result<(), FsError> {
        // The children exist: they were just listed (one that goes meanwhile is in the
        // listing, as it would be had the read come a moment earlier).
        for child in self.children(dir)? {
            out.push(&self.describe(&child)).map_err(|_| FsError::Io)?;
        }
        Ok(())
    }

    /// The encoded listing of `/` or of a domain with at least [`LISTING_CACHE_MIN`] entries,
    /// from the cache when the directory has not changed since it was built; `None` for any
    /// other directory (listed afresh each time).
    ///
    /// Such a listing depends only on the set of domains (`/`) or of the domain's users, and
    /// that set changes exactly when its size or [`crate::Directory::last_serial`] does
    /// (serials grow with every creation and are never reused): the key is read before the
    /// listing is built, so a cached listing is never older than its key.
    fn big_listing(&self, dir: &Node) -> Result<Option<Arc<[u8]>>, FsError> {
        let (slot, key) = {
            let directory = self.state.read_directory();
            let last_serial = directory.last_serial();
            match dir {
                Node::Root => (ListingSlot::Root, (directory.domain_count(), last_serial)),
                Node::Domain(d) => {
                    let entry = directory
                        .domain(&d.name)
                        .filter(|entry| entry.serial == d.serial)
                        .ok_or(FsError::NotFound)?;
                    (
                        ListingSlot::Domain(d.serial),
                        (entry.users.len(), last_serial),
                    )
                }
                _ => return Ok(None),
            }
        };
        if key.0 < LISTING_CACHE_MIN {
            return Ok(None);
        }
        if let Some(hit) = lock(&self.listings).get(slot, key) {
            return Ok(Some(hit));
        }
        let mut bytes = Vec::new();
        self.encode_listing(dir, &mut DirWriter::new(&mut bytes))?;
        let bytes: Arc<[u8]> = bytes.into();
        lock(&self.listings).put(slot, key, Arc::clone(&bytes));
        Ok(Some(bytes))
    }

    fn stat_of(&self, node: &Node) -> Result<Stat<'static>, FsError> {
        if !self.exists(node) {
            return Err(FsError::NotFound);
        }
        Ok(self.describe(node))
    }

    /// The directory entry of a node known to exist (just listed, or checked).
    fn describe(&self, node: &Node) -> Stat<'static> {
        let (name, mode, mtime, uid): (Cow<'static, str>, u32, u64, String) = match node {
            Node::Root => ("/".into(), DMDIR | 0o777, 0, OPERATOR.into()),
            Node::Domain(d) => (
                d.name.to_string().into(),
                DMDIR | 0o777,
                0,
                admin_of(&d.name),
            ),
            Node::Cdrs(s) => ("cdr".into(), DMDIR | 0o555, 0, s.owner()),
            Node::CdrDay(s, day) => (day_name(*day).into(), DMDIR | 0o555, day * DAY, s.owner()),
            Node::CdrFile(s, day, _, name) => {
                (name.to_string().into(), 0o444, day * DAY, s.owner())
            }
            Node::Recordings(s) => ("call_recordings".into(), DMDIR | 0o555, 0, s.owner()),
            Node::Ext(e) => (e.user.to_string().into(), DMDIR | 0o555, 0, e.owner()),
            Node::ExtFile(e, f) => (f.name().into(), f.mode(), 0, e.owner()),
            Node::Ongoing(e) => ("ongoing".into(), DMDIR | 0o555, 0, e.owner()),
            Node::Call(e, call, name) => {
                let start = self.with_call(call, |c| c.start).unwrap_or(0);
                (name.to_string().into(), DMDIR | 0o555, start, e.owner())
            }
            Node::CallFile(e, call, f) => {
                let start = self.with_call(call, |c| c.start).unwrap_or(0);
                (f.name().into(), f.mode(), start, e.owner())
            }
            // Writable: the extension (and its admins) make directories for sip.sock here;
            // the tree checks who on create.
            Node::Uacs(e) => ("uacs".into(), DMDIR | 0o777, 0, e.owner()),
            Node::Uac(e, name, _) => (name.to_string().into(), DMDIR | 0o555, 0, e.owner()),
            Node::UacMeta(e, ..) => ("metadata".into(), 0o444, 0, e.owner()),
            Node::UacSock(e, ..) => ("sip.sock".into(), 0o666, 0, e.owner()),
        };
        let gid = node
            .domain()
            .map_or_else(|| OPERATOR.to_owned(), str::to_owned);
        Stat {
            qid: node.qid(),
            mode,
            atime: clamp32(mtime),
            mtime: clamp32(mtime),
            length: 0,
            name,
            muid: uid.clone().into(),
            uid: uid.into(),
            gid: gid.into(),
            ..Stat::default()
        }
    }

    fn walk(&self, dir: &Node, name: &str) -> Result<Node, FsError> {
        if !self.exists(dir) {
            return Err(FsError::NotFound);
        }
        let found = match dir {
            Node::Root => self.domain_ref(name).map(Node::Domain),
            Node::Domain(d) => match name {
                "cdr" => Some(Node::Cdrs(Scope::Domain(d.clone()))),
                "call_recordings" => Some(Node::Recordings(Scope::Domain(d.clone()))),
                user => self.ext_ref(&d.name, user).map(Node::Ext),
            },
            Node::Cdrs(s) => parse_day_name(name)
                .filter(|day| {
                    self.backend
                        .cdr_days(s.domain(), s.user())
                        .is_ok_and(|days| days.contains(day))
                })
                .map(|day| Node::CdrDay(s.clone(), day)),
            Node::CdrDay(s, day) => self
                .cdrs_of_day(s, *day)?
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(n, c)| Node::CdrFile(s.clone(), *day, c.id.into(), n.into())),
            Node::Ext(e) => match name {
                "cdr" => Some(Node::Cdrs(Scope::Ext(e.clone()))),
                "call_recordings" => Some(Node::Recordings(Scope::Ext(e.clone()))),
                "ongoing" => Some(Node::Ongoing(e.clone())),
                "uacs" => Some(Node::Uacs(e.clone())),
                other => ExtFile::ALL
                    .into_iter()
                    .find(|f| f.name() == other)
                    .map(|f| Node::ExtFile(e.clone(), f)),
            },
            Node::Ongoing(e) => self
                .calls_of(e)
                .into_iter()
                .find(|(_, n)| &**n == name)
                .map(|(id, n)| Node::Call(e.clone(), id, n)),
            Node::Call(e, call, _) => CallFile::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .map(|f| Node::CallFile(e.clone(), Arc::clone(call), f)),
            Node::Uacs(e) => self
                .uacs_of(e)
                .into_iter()
                .find(|u| u.name == name)
                .map(|u| Node::Uac(e.clone(), u.name.into(), u.key)),
            Node::Uac(..) => self.uac_files(dir).into_iter().find(|f| {
                matches!(
                    (f, name),
                    (Node::UacMeta(..), "metadata") | (Node::UacSock(..), "sip.sock")
                )
            }),
            Node::Recordings(_)
            | Node::CdrFile(..)
            | Node::ExtFile(..)
            | Node::CallFile(..)
            | Node::UacMeta(..)
            | Node::UacSock(..) => return Err(FsError::NotDir),
        };
        found.ok_or(FsError::NotFound)
    }

    fn children(&self, dir: &Node) -> Result<Vec<Node>, FsError> {
        if !self.exists(dir) {
            return Err(FsError::NotFound);
        }
        Ok(match dir {
            Node::Root => {
                let mut names: Vec<String> = {
                    let directory = self.state.read_directory();
                    directory.domain_names().map(str::to_owned).collect()
                };
                names.sort();
                names
                    .iter()
                    .filter_map(|n| self.domain_ref(n).map(Node::Domain))
                    .collect()
            }
            Node::Domain(d) => {
                // One look at the directory for all the users (a domain may have thousands).
                let mut users: Vec<ExtRef> = {
                    let directory = self.state.read_directory();
                    directory
                        .domain(&d.name)
                        .map(|entry| {
                            entry
                                .users
                                .keys()
                                .filter_map(|u| {
                                    Some(ExtRef {
                                        domain: Arc::clone(&d.name),
                                        user: u.as_str().into(),
                                        serial: entry.user_serial(u)?,
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                };
                users.sort_unstable_by(|a, b| a.user.cmp(&b.user));
                let mut out = vec![
                    Node::Cdrs(Scope::Domain(d.clone())),
                    Node::Recordings(Scope::Domain(d.clone())),
                ];
                out.extend(users.into_iter().map(Node::Ext));
                out
            }
            Node::Cdrs(s) => self
                .backend
                .cdr_days(s.domain(), s.user())?
                .into_iter()
                .map(|day| Node::CdrDay(s.clone(), day))
                .collect(),
            Node::CdrDay(s, day) => self
                .cdrs_of_day(s, *day)?
                .into_iter()
                .map(|(n, c)| Node::CdrFile(s.clone(), *day, c.id.into(), n.into()))
                .collect(),
            Node::Recordings(_) => Vec::new(),
            Node::Ext(e) => {
                let mut out: Vec<Node> = ExtFile::ALL
                    .into_iter()
                    .map(|f| Node::ExtFile(e.clone(), f))
                    .collect();
                out.extend([
                    Node::Cdrs(Scope::Ext(e.clone())),
                    Node::Recordings(Scope::Ext(e.clone())),
                    Node::Ongoing(e.clone()),
                    Node::Uacs(e.clone()),
                ]);
                out
            }
            Node::Ongoing(e) => self
                .calls_of(e)
                .into_iter()
                .map(|(id, n)| Node::Call(e.clone(), id, n))
                .collect(),
            Node::Call(e, call, _) => CallFile::ALL
                .into_iter()
                .map(|f| Node::CallFile(e.clone(), Arc::clone(call), f))
                .collect(),
            Node::Uacs(e) => self
                .uacs_of(e)
                .into_iter()
                .map(|u| Node::Uac(e.clone(), u.name.into(), u.key))
                .collect(),
            Node::Uac(..) => self.uac_files(dir),
            Node::CdrFile(..)
            | Node::ExtFile(..)
            | Node::CallFile(..)
            | Node::UacMeta(..)
            | Node::UacSock(..) => {
                return Err(FsError::NotDir);
            }
        })
    }

    /// The files of a `uacs/<name>/` directory: `metadata` once bound, `sip.sock` when
    /// made with mkdir.
    fn uac_files(&self, dir: &Node) -> Vec<Node> {
        let Node::Uac(e, name, key) = dir else {
            return Vec::new();
        };
        let Some(entry) = self
            .uacs_of(e)
            .into_iter()
            .find(|u| *u.name == **name && u.key == *key)
        else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(2);
        if entry.meta.is_some() {
            out.push(Node::UacMeta(e.clone(), Arc::clone(name), *key));
        }
        if entry.made {
            out.push(Node::UacSock(e.clone(), Arc::clone(name), *key));
        }
        out
    }

    /// mkdir `uacs/<name>/` for a `sip.sock`, by the connection `owner`.
    fn make_uac(&self, e: &ExtRef, name: &str, owner: u64) -> Result<Node, FsError> {
        if !sip_sock::valid_uac_name(name) {
            return Err(FsError::other(format!(
                "bad name {name:?}: use [A-Za-z0-9+._-], at most {MAX_UAC_NAME} characters"
            )));
        }
        if self.uacs_of(e).iter().any(|u| u.name == name) {
            return Err(FsError::Exists);
        }
        let key = hash56(&[&e.serial.to_be_bytes(), b"9p", &self.env.random()]);
        let mut made = lock(&self.made);
        let list = made
            .entry((Arc::clone(&e.domain), Arc::clone(&e.user)))
            .or_default();
        if list.len() >= MAX_MADE_UACS {
            return Err(FsError::other(format!(
                "at most {MAX_MADE_UACS} uacs made per extension"
            )));
        }
        if list.iter().any(|m| &*m.name == name) {
            return Err(FsError::Exists);
        }
        let name: Arc<str> = name.into();
        list.push(MadeUac {
            name: Arc::clone(&name),
            key,
            owner,
            open: None,
        });
        Ok(Node::Uac(e.clone(), name, key))
    }

    /// remove of a made `uacs/<name>/`: refused while its `sip.sock` is open.
    fn remove_uac(&self, e: &ExtRef, key: u64) -> Result<(), FsError> {
        let mut made = lock(&self.made);
        let k = (Arc::clone(&e.domain), Arc::clone(&e.user));
        let list = made.get_mut(&k).ok_or(FsError::PermissionDenied)?;
        let i = list
            .iter()
            .position(|m| m.key == key)
            .ok_or(FsError::PermissionDenied)?;
        if list[i].open.is_some() {
            return Err(FsError::Busy);
        }
        list.remove(i);
        if list.is_empty() {
            made.remove(&k);
        }
        Ok(())
    }

    /// Opens `sip.sock` of a made directory: a virtual connection of the SIP endpoint, which
    /// binds the extension at once.
    fn open_sip_sock(
        &self,
        e: &ExtRef,
        name: &str,
        key: u64,
        remote: SocketAddr,
        waker: &media::tap::Waker,
    ) -> Result<SipSock, FsError> {
        let sip = self
            .taps
            .sip
            .as_ref()
            .ok_or_else(|| FsError::other("no SIP endpoint"))?;
        let k = (Arc::clone(&e.domain), Arc::clone(&e.user));
        // Held across the endpoint's open (which never blocks), so that two opens of the
        // same file cannot both succeed.
        let mut made = lock(&self.made);
        let entry = made
            .get_mut(&k)
            .and_then(|l| l.iter_mut().find(|m| m.key == key))
            .ok_or(FsError::NotFound)?;
        if entry.open.is_some() {
            return Err(FsError::Busy);
        }
        let queue = PacketQueue::new(SOCKET_QUEUE, Arc::clone(waker));
        let conn = sip.open(SipSockOpen {
            domain: Arc::clone(&e.domain),
            user: Arc::clone(&e.user),
            contact: sip_sock::contact(&e.user, name),
            agent: format!("9P {name}"),
            remote,
            queue: queue.clone(),
        })?;
        let too_big = Arc::new(std::sync::atomic::AtomicU64::new(0));
        entry.open = Some(OpenSock {
            conn,
            queue: queue.clone(),
            too_big: Arc::clone(&too_big),
        });
        tracing::info!(domain = %e.domain, user = %e.user, uac = name, conn, "sip.sock opened");
        Ok(SipSock {
            domain: Arc::clone(&e.domain),
            user: Arc::clone(&e.user),
            key,
            conn,
            queue,
            too_big,
        })
    }

    /// A `sip.sock` fid ends: the endpoint drops the connection and its bindings.
    fn close_sip_sock(&self, sock: &SipSock) {
        if let Some(sip) = &self.taps.sip {
            sip.close(sock.conn);
        }
        sock.queue.close();
        let mut made = lock(&self.made);
        if let Some(entry) = made
            .get_mut(&(Arc::clone(&sock.domain), Arc::clone(&sock.user)))
            .and_then(|l| l.iter_mut().find(|m| m.key == sock.key))
            && entry.open.as_ref().is_some_and(|o| o.conn == sock.conn)
        {
            entry.open = None;
        }
    }

    /// A 9P connection ended (its fids are clunked already): the directories it made go.
    fn forget_connection(&self, owner: u64) {
        let mut made = lock(&self.made);
        made.retain(|_, list| {
            list.retain(|m| m.owner != owner || m.open.is_some());
            !list.is_empty()
        });
    }

    /// The content of a file read whole at open.
    fn snapshot(&self, node: &Node) -> Result<Vec<u8>, FsError> {
        match node {
            Node::CdrFile(s, day, id, _) => {
                let cdr = self
                    .cdrs_of_day(s, *day)?
                    .into_iter()
                    .find(|(_, c)| *c.id == **id)
                    .ok_or(FsError::NotFound)?
                    .1;
                json_file(&cdr)
            }
            Node::ExtFile(e, ExtFile::Presence) => Ok(self.presence(&e.domain).into_bytes()),
            Node::CallFile(_, call, CallFile::Metadata) => {
                let mut meta = self
                    .with_call(call, call_metadata)
                    .ok_or(FsError::NotFound)?;
                meta["sockets"] = self.socket_counts(call);
                json_file(&meta)
            }
            Node::CallFile(_, call, CallFile::Ctl) => Ok(format!("{call}\n").into_bytes()),
            Node::UacMeta(e, reg, key) => {
                let meta = self
                    .uacs_of(e)
                    .into_iter()
                    .find(|u| *u.name == **reg && u.key == *key)
                    .and_then(|u| u.meta)
                    .ok_or(FsError::NotFound)?;
                json_file(&meta)
            }
            _ => Err(FsError::NotSupported),
        }
    }

    /// The open socket files of a call: per open, its file, packets queued, dropped (the queue
    /// was full) and discarded (larger than the read asked for).
    fn socket_counts(&self, call: &str) -> serde_json::Value {
        use std::sync::atomic::Ordering::Relaxed;
        let sockets = lock(&self.sockets);
        let list: Vec<serde_json::Value> = sockets
            .get(call)
            .into_iter()
            .flatten()
            .map(|s| {
                serde_json::json!({
                    "file": s.file.name(),
                    "queued": s.queue.len(),
                    "dropped": s.queue.dropped(),
                    "too_big": s.too_big.load(Relaxed),
                })
            })
            .collect();
        serde_json::Value::Array(list)
    }

    /// Opens a socket file of a live call: a queue of its own, fed by the relay's taps (RTP of
    /// one leg; RTCP of both as HEP) and, for `hep.sock`, by SIP capture of each of the call's
    /// Call-IDs.
    fn open_socket(
        &self,
        call: &Arc<str>,
        file: CallFile,
        waker: &media::tap::Waker,
    ) -> Result<Socket, FsError> {
        let info = self.call(call).ok_or(FsError::NotFound)?;
        let session = info
            .media_session
            .ok_or_else(|| FsError::other("the call has no media yet"))?;
        let queue = PacketQueue::new(SOCKET_QUEUE, Arc::clone(waker));
        let media = &self.taps.media;
        let mut taps = Vec::new();
        let mut sip = Vec::new();
        let tapped = match file {
            CallFile::RtpSrc | CallFile::RtpDest => file
                .leg()
                .ok_or(FsError::Io)
                .and_then(|leg| tap(media, session, leg, TapKind::Rtp, &queue))
                .map(|id| taps.push(id)),
            _ => {
                for call_id in &info.sip_call_ids {
                    sip.push(self.taps.capture.subscribe(call_id, queue.clone()));
                }
                [Leg::A, Leg::B].into_iter().try_for_each(|leg| {
                    tap(media, session, leg, TapKind::RtcpHep, &queue).map(|id| taps.push(id))
                })
            }
        };
        if let Err(e) = tapped {
            for id in taps {
                let _ = media.untap(session, id);
            }
            return Err(e);
        }
        let too_big = Arc::new(std::sync::atomic::AtomicU64::new(0));
        lock(&self.sockets)
            .entry(Arc::clone(call))
            .or_default()
            .push(OpenSocket {
                file,
                queue: queue.clone(),
                too_big: Arc::clone(&too_big),
            });
        Ok(Socket {
            call: Arc::clone(call),
            session,
            leg: file.leg(),
            queue,
            too_big,
            taps,
            _sip: sip,
            ended: None,
        })
    }

    /// A socket file's fid ends: its taps end and it leaves the counts.
    fn close_socket(&self, socket: Socket) {
        for id in &socket.taps {
            // The session may have ended with the call: its taps went with it.
            let _ = self.taps.media.untap(socket.session, *id);
        }
        let mut sockets = lock(&self.sockets);
        if let Some(open) = sockets.get_mut(&socket.call) {
            open.retain(|s| !s.queue.same_queue(&socket.queue));
            if open.is_empty() {
                sockets.remove(&socket.call);
            }
        }
    }

    /// One packet from a socket file's queue into `buf`; packets larger than `buf` are
    /// discarded and counted. End of file once the call is over and the queue drained (for
    /// `hep.sock`, [`SIP_AFTER_END`] after the call ended, so that the answers to its BYEs
    /// are read too).
    fn read_socket(&self, socket: &mut Socket, buf: &mut [u8]) -> Read {
        if let Some(n) = pop_packet(&socket.queue, &socket.too_big, buf) {
            return Read::Ready(n);
        }
        let closed = socket.queue.is_closed();
        if !closed && self.call(&socket.call).is_some() {
            return Read::Pending;
        }
        if socket.leg.is_none() && !closed {
            let now = self.env.now();
            let ended = *socket.ended.get_or_insert(now);
            if now.saturating_duration_since(ended) < SIP_AFTER_END {
                // Read again by the connection's retry tick, or by a frame.
                return Read::Pending;
            }
        }
        Read::Ready(0)
    }

    /// A write to a plain file: a new secret, or a ctl command. `Some(content)`: what reads
    /// of the same fid return from now on (the call's `ongoing/` name after `dial`).
    fn write_file(
        &self,
        node: &Node,
        who: &Principal,
        data: &[u8],
    ) -> Result<Option<Vec<u8>>, FsError> {
        match node {
            Node::ExtFile(e, ExtFile::Credential) => {
                let text = std::str::from_utf8(data).map_err(|_| FsError::BadArg)?;
                let password = text.strip_suffix('\n').unwrap_or(text);
                let secret = Secret::from_password(&e.user, &e.domain, password)
                    .ok_or_else(|| FsError::other("empty secret"))?;
                self.backend.replace_user(
                    &e.domain,
                    User {
                        name: e.user.to_string(),
                        secret,
                    },
                )?;
                tracing::info!(domain = %e.domain, user = %e.user, by = %who.user_name(), "credential set over 9P");
                Ok(None)
            }
            Node::ExtFile(e, ExtFile::Ctl) => {
                let text = ctl_text(data)?;
                let mut words = text.split_whitespace();
                let (Some("dial"), Some(target), None) = (words.next(), words.next(), words.next())
                else {
                    return Err(FsError::other(format!("unknown ctl message: {text}")));
                };
                let id = crate::CallNote::id_from(self.env.random());
                let (reply, answer) = std::sync::mpsc::sync_channel(1);
                let command = Command::Dial {
                    id: id.clone(),
                    domain: e.domain.to_string(),
                    user: e.user.to_string(),
                    target: target.to_owned(),
                    reply,
                };
                self.backend
                    .request(command, answer)
                    .map_err(|e| FsError::other(format!("dial: {e}")))?;
                tracing::info!(domain = %e.domain, user = %e.user, %target, call = %id, by = %who.user_name(), "dial over 9P");
                // The call is live: its name under this extension's ongoing/.
                let name = self
                    .calls_of(e)
                    .into_iter()
                    .find(|(call, _)| **call == *id)
                    .map(|(_, name)| name)
                    .ok_or_else(|| FsError::other("the call ended at once"))?;
                Ok(Some(format!("{name}\n").into_bytes()))
            }
            Node::CallFile(_, call, CallFile::Ctl) => {
                let text = ctl_text(data)?;
                let mut words = text.split_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some("hangup"), reason, None) => self
                        .backend
                        .command(Command::Hangup {
                            id: call.to_string(),
                            reason: reason.map(str::to_owned),
                        })
                        .map(|()| None),
                    (Some(word @ ("hold" | "unhold")), None, None) => {
                        // The call manager says whether it could: the write fails with its
                        // reason (not up, already held, a re-INVITE pending...).
                        let (reply, answer) = std::sync::mpsc::sync_channel(1);
                        let id = call.to_string();
                        let reply = Some(reply);
                        let command = if word == "hold" {
                            Command::Hold { id, reply }
                        } else {
                            Command::Unhold { id, reply }
                        };
                        self.backend
                            .request(command, answer)
                            .map_err(|e| FsError::other(format!("{word}: {e}")))
                            .map(|()| None)
                    }
                    _ => Err(FsError::other(format!("unknown ctl message: {text}"))),
                }
            }
            _ => Err(FsError::PermissionDenied),
        }
    }
}

/// One SIP message from a `sip.sock` queue into `buf`; a message larger than `buf` is
/// discarded and counted. End of file once the endpoint closed the connection and the queue
/// is drained.
fn read_sip_sock(sock: &SipSock, buf: &mut [u8]) -> Read {
    match pop_packet(&sock.queue, &sock.too_big, buf) {
        Some(n) => Read::Ready(n),
        None if sock.queue.is_closed() => Read::Ready(0),
        None => Read::Pending,
    }
}

/// The oldest packet of `queue` that fits `buf`, copied into it: its length, or `None` once
/// the queue is empty. Packets too big for `buf` are discarded and counted in `too_big`.
fn pop_packet(
    queue: &PacketQueue,
    too_big: &std::sync::atomic::AtomicU64,
    buf: &mut [u8],
) -> Option<usize> {
    loop {
        let popped = queue.pop_with(|packet| {
            let fits = packet.len() <= buf.len();
            if fits {
                buf[..packet.len()].copy_from_slice(packet);
            }
            fits.then_some(packet.len())
        })?;
        match popped {
            Some(n) => return Some(n),
            None => {
                too_big.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

fn tap(
    media: &Arc<dyn MediaControl>,
    session: media::SessionId,
    leg: Leg,
    kind: TapKind,
    queue: &PacketQueue,
) -> Result<TapId, FsError> {
    media
        .tap(session, leg, kind, queue.clone())
        .map_err(|e| FsError::other(format!("tap: {e}")))
}

/// A JSON file's content: the value, pretty, and a final newline.
fn json_file(value: &impl serde::Serialize) -> Result<Vec<u8>, FsError> {
    let mut json = serde_json::to_vec_pretty(value).map_err(|_| FsError::Io)?;
    json.push(b'\n');
    Ok(json)
}

/// One UTC day in seconds.
const DAY: u64 = 86_400;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn clamp32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn admin_of(domain: &str) -> String {
    format!("admin@{domain}")
}

/// A ctl message: UTF-8, one trailing newline dropped, not empty.
fn ctl_text(data: &[u8]) -> Result<&str, FsError> {
    let text = std::str::from_utf8(data).map_err(|_| FsError::BadArg)?;
    let text = text.trim_end_matches('\n').trim();
    if text.is_empty() {
        return Err(FsError::BadArg);
    }
    Ok(text)
}

/// FNV-1a over the parts, cut to 56 bits (the low bits of a qid path; the high byte says
/// which kind of file).
fn hash56(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h & LOW56
}

const LOW56: u64 = (1 << 56) - 1;

/// The names of a day's CDR files: `<epoch>_<from>_<to>.cdr`, with `_2`, `_3`... before the
/// extension for records that would share a name, in (start, id) order.
fn cdr_names(cdrs: Vec<Cdr>) -> Vec<(String, Cdr)> {
    let mut out: Vec<(String, Cdr)> = Vec::with_capacity(cdrs.len());
    for cdr in cdrs {
        let path = cdr.tree_path();
        let file = path.rsplit_once('/').map_or(path.as_str(), |(_, f)| f);
        let stem = file.strip_suffix(".cdr").unwrap_or(file).to_owned();
        let mut name = format!("{stem}.cdr");
        let mut k = 2;
        // Records sharing a name share a start second: look back only that far.
        while out
            .iter()
            .rev()
            .take_while(|(_, c)| c.start == cdr.start)
            .any(|(n, _)| *n == name)
        {
            name = format!("{stem}_{k}.cdr");
            k += 1;
        }
        out.push((name, cdr));
    }
    out
}

/// The JSON of a call's `metadata` file.
fn call_metadata(info: &CallInfo) -> serde_json::Value {
    serde_json::json!({
        "id": info.id,
        "domain": info.domain,
        "from": info.from,
        "to": info.to,
        "state": info.state,
        "start": info.start,
        "answer": info.answer,
        "codecs": info.codecs,
        "media": info.media.map(|(address, caller_port, callee_port)| serde_json::json!({
            "address": address.to_string(),
            "caller_port": caller_port,
            "callee_port": callee_port,
        })),
        "sip_call_ids": info.sip_call_ids,
    })
}

/// Directories with fewer entries than this are listed afresh on every read.
const LISTING_CACHE_MIN: usize = 64;

/// Listings kept at most (one per directory; the least recently used goes first).
const LISTING_CACHE_DIRS: usize = 8;

/// Which directory a cached listing is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListingSlot {
    /// `/`.
    Root,
    /// A domain, by serial.
    Domain(u64),
}

/// What a cached listing was built from: the number of entries (domains or users) and the
/// directory's last serial at that moment.
type ListingKey = (usize, u64);

/// The encoded listings of the biggest directories (`/` and domains), so that reading one
/// again copies bytes instead of sorting and encoding thousands of entries. Bounded: at most
/// [`LISTING_CACHE_DIRS`] listings, each of a directory the PBX holds in memory anyway.
#[derive(Debug, Default)]
struct ListingCache {
    /// Least recently used first.
    lru: Vec<(ListingSlot, ListingKey, Arc<[u8]>)>,
}

impl ListingCache {
    /// The listing of `slot` if it was built under `key`; a stale one is dropped.
    fn get(&mut self, slot: ListingSlot, key: ListingKey) -> Option<Arc<[u8]>> {
        let i = self.lru.iter().position(|(s, ..)| *s == slot)?;
        let entry = self.lru.remove(i);
        if entry.1 != key {
            return None;
        }
        let bytes = Arc::clone(&entry.2);
        self.lru.push(entry);
        Some(bytes)
    }

    fn put(&mut self, slot: ListingSlot, key: ListingKey, bytes: Arc<[u8]>) {
        self.lru.retain(|(s, ..)| *s != slot);
        if self.lru.len() >= LISTING_CACHE_DIRS {
            self.lru.remove(0);
        }
        self.lru.push((slot, key, bytes));
    }
}

/// A domain as a node holds it: its name and serial, so that a domain deleted and created
/// again is another file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRef {
    name: Arc<str>,
    serial: u64,
}

/// An extension as a node holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtRef {
    domain: Arc<str>,
    user: Arc<str>,
    serial: u64,
}

impl ExtRef {
    fn owner(&self) -> String {
        format!("{}@{}", self.user, self.domain)
    }
}

/// Whose `cdr/` or `call_recordings/`: the domain's, or one extension's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole domain (admins).
    Domain(DomainRef),
    /// The calls one extension took part in.
    Ext(ExtRef),
}

impl Scope {
    fn domain(&self) -> &str {
        match self {
            Scope::Domain(d) => &d.name,
            Scope::Ext(e) => &e.domain,
        }
    }

    fn user(&self) -> Option<&str> {
        match self {
            Scope::Domain(_) => None,
            Scope::Ext(e) => Some(&e.user),
        }
    }

    fn serial(&self) -> u64 {
        match self {
            Scope::Domain(d) => d.serial,
            Scope::Ext(e) => e.serial,
        }
    }

    fn owner(&self) -> String {
        match self {
            Scope::Domain(d) => admin_of(&d.name),
            Scope::Ext(e) => e.owner(),
        }
    }
}

/// The files of an extension's directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtFile {
    /// Write-only: sets the secret.
    Credential,
    /// `dial <target>`.
    Ctl,
    /// `<user> <idle|ringing|busy>` per extension of the domain.
    Presence,
}

impl ExtFile {
    const ALL: [ExtFile; 3] = [ExtFile::Credential, ExtFile::Ctl, ExtFile::Presence];

    fn name(self) -> &'static str {
        match self {
            ExtFile::Credential => "credential",
            ExtFile::Ctl => "ctl",
            ExtFile::Presence => "presence",
        }
    }

    fn mode(self) -> u32 {
        match self {
            ExtFile::Credential => 0o222,
            ExtFile::Ctl => 0o666,
            ExtFile::Presence => 0o444,
        }
    }
}

/// The files of a live call's directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFile {
    /// JSON: parties, state, times, codecs, media addresses, socket counts.
    Metadata,
    /// `hangup [cause]`.
    Ctl,
    /// Read: one HEP3 frame per read, the call's SIP (both legs) and RTCP.
    Hep,
    /// Read: the caller's RTP as it arrived, one packet per read; write: one packet to it.
    RtpSrc,
    /// The same for the callee.
    RtpDest,
}

impl CallFile {
    const ALL: [CallFile; 5] = [
        CallFile::Metadata,
        CallFile::Ctl,
        CallFile::Hep,
        CallFile::RtpSrc,
        CallFile::RtpDest,
    ];

    fn name(self) -> &'static str {
        match self {
            CallFile::Metadata => "metadata",
            CallFile::Ctl => "ctl",
            CallFile::Hep => "hep.sock",
            CallFile::RtpSrc => "rtp_src.sock",
            CallFile::RtpDest => "rtp_dest.sock",
        }
    }

    fn mode(self) -> u32 {
        match self {
            CallFile::Metadata | CallFile::Hep => 0o444,
            CallFile::Ctl | CallFile::RtpSrc | CallFile::RtpDest => 0o666,
        }
    }

    /// The relay leg of an RTP socket file.
    fn leg(self) -> Option<Leg> {
        match self {
            CallFile::RtpSrc => Some(Leg::A),
            CallFile::RtpDest => Some(Leg::B),
            _ => None,
        }
    }
}

/// A file of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// `/`.
    Root,
    /// `/<domain>/`.
    Domain(DomainRef),
    /// `cdr/`.
    Cdrs(Scope),
    /// `cdr/<YYYY_MM_DD>/` (a Unix day number).
    CdrDay(Scope, u64),
    /// `cdr/<YYYY_MM_DD>/<name>.cdr`: its day, CDR id and name.
    CdrFile(Scope, u64, Arc<str>, Arc<str>),
    /// `call_recordings/`.
    Recordings(Scope),
    /// `/<domain>/<user>/`.
    Ext(ExtRef),
    /// `credential`, `ctl`, `presence`.
    ExtFile(ExtRef, ExtFile),
    /// `ongoing/`.
    Ongoing(ExtRef),
    /// `ongoing/<name>/`: the call id and the name.
    Call(ExtRef, Arc<str>, Arc<str>),
    /// A file of a call's directory.
    CallFile(ExtRef, Arc<str>, CallFile),
    /// `uacs/`.
    Uacs(ExtRef),
    /// `uacs/<registration>/`: its name and identity.
    Uac(ExtRef, Arc<str>, u64),
    /// `uacs/<registration>/metadata`.
    UacMeta(ExtRef, Arc<str>, u64),
    /// `uacs/<name>/sip.sock`, in a directory made with mkdir.
    UacSock(ExtRef, Arc<str>, u64),
}

impl Node {
    fn domain(&self) -> Option<&str> {
        match self {
            Node::Root => None,
            Node::Domain(d) => Some(&d.name),
            Node::Cdrs(s) | Node::CdrDay(s, _) | Node::CdrFile(s, ..) | Node::Recordings(s) => {
                Some(s.domain())
            }
            Node::Ext(e)
            | Node::ExtFile(e, _)
            | Node::Ongoing(e)
            | Node::Call(e, ..)
            | Node::CallFile(e, ..)
            | Node::Uacs(e)
            | Node::Uac(e, ..)
            | Node::UacMeta(e, ..)
            | Node::UacSock(e, ..) => Some(&e.domain),
        }
    }

    fn is_dir(&self) -> bool {
        !matches!(
            self,
            Node::CdrFile(..)
                | Node::ExtFile(..)
                | Node::CallFile(..)
                | Node::UacMeta(..)
                | Node::UacSock(..)
        )
    }

    /// The qid: the high byte of the path says which kind of file, the low 56 bits which
    /// one (a serial of the directory, a hash of a CDR or call id). Never reused: serials
    /// are never reused and ids are UUIDs.
    fn qid(&self) -> Qid {
        let (kind, low): (u64, u64) = match self {
            Node::Root => (1, 0),
            Node::Domain(d) => (2, d.serial),
            Node::Cdrs(s) => (
                if matches!(s, Scope::Domain(_)) { 3 } else { 4 },
                s.serial(),
            ),
            Node::CdrDay(s, day) => (
                if matches!(s, Scope::Domain(_)) { 5 } else { 6 },
                (s.serial() << 20) | (day & 0xf_ffff),
            ),
            Node::CdrFile(_, _, id, _) => (7, hash56(&[id.as_bytes()])),
            Node::Recordings(s) => (
                if matches!(s, Scope::Domain(_)) { 8 } else { 9 },
                s.serial(),
            ),
            Node::Ext(e) => (10, e.serial),
            Node::ExtFile(e, f) => (11 + *f as u64, e.serial),
            Node::Ongoing(e) => (15, e.serial),
            Node::Call(_, call, _) => (16, hash56(&[call.as_bytes()])),
            Node::CallFile(_, call, f) => (17 + *f as u64, hash56(&[call.as_bytes()])),
            Node::Uacs(e) => (25, e.serial),
            Node::Uac(_, _, key) => (26, *key),
            Node::UacMeta(_, _, key) => (27, *key),
            Node::UacSock(_, _, key) => (28, *key),
        };
        Qid {
            ty: if self.is_dir() { QTDIR } else { QTFILE },
            version: 0,
            path: (kind << 56) | (low & LOW56),
        }
    }
}

/// One open file: what it is, who opened it, and its state.
#[derive(Debug)]
pub struct Handle {
    node: Node,
    who: Principal,
    open: Open,
}

#[derive(Debug)]
enum Open {
    /// A directory (the session reads it).
    Dir,
    /// Content taken at open; reads are served from it by offset; no writes.
    Snapshot(Vec<u8>),
    /// Writes only (`credential`).
    WriteOnly,
    /// A ctl file: writes are commands; a read gives the snapshot taken at open.
    Ctl(Vec<u8>),
    /// A socket file: its own queue, fed by taps and capture subscriptions until clunked.
    Socket(Socket),
    /// `sip.sock`: a virtual connection of the SIP endpoint.
    SipSock(SipSock),
}

/// An open `sip.sock`.
#[derive(Debug)]
struct SipSock {
    domain: Arc<str>,
    user: Arc<str>,
    key: u64,
    conn: u64,
    queue: PacketQueue,
    too_big: Arc<std::sync::atomic::AtomicU64>,
}

/// One entry of `uacs/`.
#[derive(Debug)]
struct UacEntry {
    name: String,
    key: u64,
    /// The binding's metadata; `None` for a made directory not bound (yet).
    meta: Option<serde_json::Value>,
    /// Made with mkdir: it has a `sip.sock`.
    made: bool,
}

impl UacEntry {
    /// Whether `node`, a node of this entry, is there now.
    fn fits(&self, node: &Node) -> bool {
        match node {
            Node::UacMeta(..) => self.meta.is_some(),
            Node::UacSock(..) => self.made,
            _ => true,
        }
    }
}

#[derive(Debug)]
struct Socket {
    call: Arc<str>,
    session: media::SessionId,
    leg: Option<Leg>,
    queue: PacketQueue,
    too_big: Arc<std::sync::atomic::AtomicU64>,
    taps: Vec<TapId>,
    /// Dropping them unsubscribes.
    _sip: Vec<Subscription>,
    /// When a read first found the call over.
    ended: Option<Instant>,
}

/// One connection's view of the [`Tree`], for its [`ninep::Session`].
pub struct TreeFs {
    tree: Arc<Tree>,
    waker: media::tap::Waker,
    /// This connection's number, for the directories it makes.
    id: u64,
    /// The client's address, known at attach (the address a `sip.sock` binding shows).
    peer: Option<SocketAddr>,
}

impl Drop for TreeFs {
    fn drop(&mut self) {
        self.tree.forget_connection(self.id);
    }
}

impl std::fmt::Debug for TreeFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeFs").finish_non_exhaustive()
    }
}

impl TreeFs {
    fn who(user: &str) -> Result<Principal, FsError> {
        Principal::of_user_name(user).ok_or(FsError::PermissionDenied)
    }

    fn dir_handle(node: Node, who: Principal) -> (Node, Handle) {
        let handle = Handle {
            node: node.clone(),
            who,
            open: Open::Dir,
        };
        (node, handle)
    }
}

fn serve_bytes(content: &[u8], offset: u64, buf: &mut [u8]) -> usize {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(content.len());
    let n = (content.len() - start).min(buf.len());
    buf[..n].copy_from_slice(&content[start..start + n]);
    n
}

impl FileTree for TreeFs {
    type Node = Node;
    type Handle = Handle;
    type Auth = AuthFile;
    type Conn = Conn;

    fn auth(&mut self, conn: &Conn, uname: &str, aname: &str) -> Result<(AuthFile, Qid), FsError> {
        let now = self.tree.env.now();
        if let Some(peer) = conn.peer
            && lock(&self.tree.throttle).blocked(now, peer.ip(), uname)
        {
            return Err(FsError::other("too many authentication failures"));
        }
        let file = auth::begin(uname, aname, now, self.tree.env.random())?;
        let qid = Qid {
            ty: ninep::msg::QTAUTH,
            version: 0,
            path: (40 << 56) | hash56(&[&self.tree.env.random()]),
        };
        Ok((file, qid))
    }

    fn auth_read(
        &mut self,
        auth: &mut AuthFile,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, FsError> {
        Ok(serve_bytes(auth.challenge().as_bytes(), offset, buf))
    }

    fn auth_write(
        &mut self,
        auth: &mut AuthFile,
        _offset: u64,
        data: &[u8],
    ) -> Result<u32, FsError> {
        let now = self.tree.env.now();
        let result = {
            let directory = self.tree.state.read_directory();
            auth::answer(auth, &directory, data, now)
        };
        match result {
            Ok(()) => Ok(u32::try_from(data.len()).unwrap_or(u32::MAX)),
            Err(e) => {
                tracing::info!(uname = %auth.uname, "9P authentication failed");
                Err(e)
            }
        }
    }

    fn attach(
        &mut self,
        conn: &Conn,
        auth: Option<&mut AuthFile>,
        uname: &str,
        aname: &str,
    ) -> Result<Attached<Node>, FsError> {
        if !aname.is_empty() {
            return Err(FsError::BadAname);
        }
        self.peer = conn.peer;
        let principal = match auth {
            None if conn.trusted => Principal::Operator,
            None => return Err(FsError::AuthRequired),
            Some(file) if file.verified() && file.uname == uname => file.principal.clone(),
            Some(_) => return Err(FsError::AuthFailed),
        };
        let root = match &principal {
            Principal::Operator => Node::Root,
            Principal::Admin { domain } => {
                Node::Domain(self.tree.domain_ref(domain).ok_or(FsError::NotFound)?)
            }
            Principal::Extension { domain, user } => {
                Node::Ext(self.tree.ext_ref(domain, user).ok_or(FsError::NotFound)?)
            }
        };
        Ok(Attached {
            root,
            user: principal.user_name(),
        })
    }

    fn qid(&mut self, node: &Node) -> Qid {
        node.qid()
    }

    fn stat(&mut self, node: &Node) -> Result<Stat<'_>, FsError> {
        self.tree.stat_of(node)
    }

    fn walk1(&mut self, dir: &Node, name: &str) -> Result<Node, FsError> {
        self.tree.walk(dir, name)
    }

    fn list(&mut self, dir: &Node, out: &mut DirWriter<'_>) -> Result<(), FsError> {
        if let Some(listing) = self.tree.big_listing(dir)? {
            out.push_encoded(&listing);
            return Ok(());
        }
        self.tree.encode_listing(dir, out)
    }

    fn open(&mut self, node: &Node, mode: u8, user: &str) -> Result<Handle, FsError> {
        let who = Self::who(user)?;
        if !self.tree.exists(node) {
            return Err(FsError::NotFound);
        }
        let writes = matches!(mode & 3, ninep::msg::OWRITE | ninep::msg::ORDWR);
        let open = match node {
            _ if node.is_dir() => Open::Dir,
            Node::ExtFile(_, ExtFile::Credential) => Open::WriteOnly,
            Node::ExtFile(_, ExtFile::Ctl) => Open::Ctl(Vec::new()),
            Node::CallFile(_, _, CallFile::Ctl) => Open::Ctl(self.tree.snapshot(node)?),
            Node::CallFile(_, call, f @ (CallFile::Hep | CallFile::RtpSrc | CallFile::RtpDest)) => {
                Open::Socket(self.tree.open_socket(call, *f, &self.waker)?)
            }
            Node::UacSock(e, name, key) => {
                let remote = self
                    .peer
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
                Open::SipSock(
                    self.tree
                        .open_sip_sock(e, name, *key, remote, &self.waker)?,
                )
            }
            _ if writes => return Err(FsError::PermissionDenied),
            _ => Open::Snapshot(self.tree.snapshot(node)?),
        };
        Ok(Handle {
            node: node.clone(),
            who,
            open,
        })
    }

    fn create(
        &mut self,
        dir: &Node,
        name: &str,
        perm: u32,
        _mode: u8,
        user: &str,
    ) -> Result<(Node, Handle), FsError> {
        let who = Self::who(user)?;
        if !self.tree.exists(dir) {
            return Err(FsError::NotFound);
        }
        if perm & DMDIR == 0 {
            return Err(FsError::PermissionDenied);
        }
        match dir {
            Node::Root => {
                if who != Principal::Operator {
                    return Err(FsError::PermissionDenied);
                }
                let name = check_domain_name(name).map_err(|e| FsError::other(e.to_string()))?;
                self.tree.backend.create_domain(Domain::new(&name))?;
                let node = self.tree.domain_ref(&name).map(Node::Domain);
                node.map(|n| Self::dir_handle(n, who)).ok_or(FsError::Io)
            }
            Node::Domain(d) => {
                if !who.administers(&d.name) {
                    return Err(FsError::PermissionDenied);
                }
                check_user_name(name).map_err(|e| FsError::other(e.to_string()))?;
                if self.tree.ext_ref(&d.name, name).is_some() {
                    return Err(FsError::Exists);
                }
                // Nobody can register until `credential` is written: the first secret is
                // random and never shown.
                let random = sip::digest::hex(&self.tree.env.random());
                let secret = Secret::from_password(name, &d.name, &random).ok_or(FsError::Io)?;
                self.tree.backend.create_user(
                    &d.name,
                    User {
                        name: name.to_owned(),
                        secret,
                    },
                )?;
                let node = self.tree.ext_ref(&d.name, name).map(Node::Ext);
                node.map(|n| Self::dir_handle(n, who)).ok_or(FsError::Io)
            }
            Node::Uacs(e) => {
                if !who.may_act_for(e) {
                    return Err(FsError::PermissionDenied);
                }
                let node = self.tree.make_uac(e, name, self.id)?;
                Ok(Self::dir_handle(node, who))
            }
            _ => Err(FsError::PermissionDenied),
        }
    }

    fn read(
        &mut self,
        handle: &mut Handle,
        _tag: Tag,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<Read, FsError> {
        match &mut handle.open {
            Open::Snapshot(content) | Open::Ctl(content) => {
                Ok(Read::Ready(serve_bytes(content, offset, buf)))
            }
            Open::Socket(socket) => Ok(self.tree.read_socket(socket, buf)),
            Open::SipSock(sock) => Ok(read_sip_sock(sock, buf)),
            Open::WriteOnly => Err(FsError::PermissionDenied),
            Open::Dir => Err(FsError::IsDir),
        }
    }

    fn write(&mut self, handle: &mut Handle, _offset: u64, data: &[u8]) -> Result<u32, FsError> {
        match handle.open {
            Open::WriteOnly | Open::Ctl(_) => {
                if let Some(content) = self.tree.write_file(&handle.node, &handle.who, data)? {
                    handle.open = Open::Ctl(content);
                }
                Ok(u32::try_from(data.len()).unwrap_or(u32::MAX))
            }
            Open::Socket(ref socket) => {
                let leg = socket.leg.ok_or(FsError::PermissionDenied)?;
                self.tree
                    .taps
                    .media
                    .inject(socket.session, leg, data)
                    .map_err(|e| match e {
                        media::MediaError::NotRtp => FsError::other("not an RTP packet"),
                        other => FsError::other(format!("inject: {other}")),
                    })?;
                Ok(u32::try_from(data.len()).unwrap_or(u32::MAX))
            }
            Open::SipSock(ref sock) => {
                let sip = self
                    .tree
                    .taps
                    .sip
                    .as_ref()
                    .ok_or_else(|| FsError::other("no SIP endpoint"))?;
                sip.write(sock.conn, data)?;
                Ok(u32::try_from(data.len()).unwrap_or(u32::MAX))
            }
            Open::Snapshot(_) | Open::Dir => Err(FsError::PermissionDenied),
        }
    }

    fn clunk(&mut self, _node: Node, handle: Option<Handle>) {
        match handle {
            Some(Handle {
                open: Open::Socket(socket),
                ..
            }) => self.tree.close_socket(socket),
            Some(Handle {
                open: Open::SipSock(sock),
                ..
            }) => self.tree.close_sip_sock(&sock),
            _ => {}
        }
    }

    fn remove(&mut self, node: &Node, user: &str) -> Result<(), FsError> {
        let who = Self::who(user)?;
        if !self.tree.exists(node) {
            return Err(FsError::NotFound);
        }
        match node {
            Node::Domain(d) if who == Principal::Operator => {
                self.tree.backend.delete_domain(&d.name)
            }
            Node::Ext(e) if who.administers(&e.domain) => {
                if !self.tree.calls_of(e).is_empty() {
                    return Err(FsError::Busy);
                }
                self.tree.backend.delete_user(&e.domain, &e.user)
            }
            Node::Uac(e, _, key) if who.may_act_for(e) => self.tree.remove_uac(e, *key),
            _ => Err(FsError::PermissionDenied),
        }
    }

    fn wstat(&mut self, node: &Node, changes: &Wstat<'_>, _user: &str) -> Result<(), FsError> {
        let _ = node;
        if changes.is_empty() {
            // A request to commit the file: everything is committed already.
            Ok(())
        } else {
            Err(FsError::PermissionDenied)
        }
    }
}

#[cfg(test)]
mod tests;
