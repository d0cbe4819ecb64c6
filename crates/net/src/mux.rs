//! The driver around [`ninep::mux::Mux`] (DESIGN.md section 10): `switchboard mux`, one
//! thread running one `mio` event loop.
//!
//! ```text
//!             ┌───────────────────── one thread, one epoll ─────────────────────┐
//!  clients ───┤ readable: read what is there ─> frame::check ─> Mux::handle_*   │
//!  upstream ──┤   (whole messages straight from the connection's input buffer)  │
//!  export ────┤ after each round: each output that grew, in one write          │
//!             │   (all requests upstream at once, all replies of a client)      │
//!             └─────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Why one thread and no tasks: with a reader, a writer and an owner task per connection,
//! every 9P message crossed several hand-offs, and those wake-ups cost more CPU than the 9P
//! work itself (bench/RESULTS.md, "9P multiplexer"). Here a message costs a read, the core's
//! work and a share of one write, and nothing waits on anything else.
//!
//! Sockets are non-blocking and registered edge-triggered for reading; a connection is
//! registered for writing too only while the socket did not take all of its output (which
//! stays in the [`Mux`], where a client's counts against [`Config::max_queued`]: past it the
//! client is disconnected as a slow reader). One connection's read is bounded per round
//! ([`READ_BUDGET`]) so that a busy client cannot starve the others.
//!
//! A message larger than the connection's msize, or smaller than a header, closes that
//! connection (the stream cannot be resynchronised). After [`Event::Disconnect`] the driver
//! tries once to send what is left, closes, and calls [`Mux::client_gone`]. After
//! [`Event::Redial`] it dials the upstream again with a backoff capped at [`REDIAL_MAX`] (or
//! waits for the peer's next connection on `--accept`); a dial runs on a short-lived thread of
//! its own (name resolution and connect block), which hands the socket back through a channel
//! and the loop's waker. A client whose `Tversion` comes while the upstream is not versioned
//! waits for it, at most [`VERSION_WAIT`]; then the [`Mux`] answers that Tversion with Rerror
//! ([`Mux::expire_version`]) and the client may try again.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use ninep::frame::{self, Frame};
use ninep::msg::mtype;
use ninep::mux::{ClientId, Config, Event, Mux};

/// The longest wait between two dials of a lost upstream.
pub const REDIAL_MAX: Duration = Duration::from_secs(5);
/// How long a client's `Tversion` waits for an upstream that is not connected and versioned
/// before it gets Rerror.
pub const VERSION_WAIT: Duration = Duration::from_secs(10);
/// The first wait before dialling a lost upstream again.
const REDIAL_MIN: Duration = Duration::from_millis(100);
/// An upstream that lived this long resets the backoff.
const REDIAL_RESET: Duration = Duration::from_secs(10);
/// The longest a TCP connect of the upstream or the export server may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause after a failed accept (out of file descriptors, say) before the next.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// The most bytes read from one connection in one round before the others have their turn.
pub const READ_BUDGET: usize = 256 * 1024;
/// A client connection's first input buffer; it grows to hold one message of its msize.
const CLIENT_BUFFER: usize = 16 * 1024;
/// epoll events taken per round.
const EVENTS: usize = 1024;

const LISTENER: Token = Token(0);
const PEER_LISTENER: Token = Token(1);
const WAKER: Token = Token(2);
const UPSTREAM: Token = Token(3);
const EXPORT: Token = Token(4);
/// Client `i` is `Token(FIRST_CLIENT + i)`.
const FIRST_CLIENT: usize = 8;

/// A 9P address in dial-string form: `tcp!HOST!PORT` or `unix!PATH` (DESIGN.md section 15).
/// `tcp!*!PORT` listens on every IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NinepAddr {
    /// `tcp!HOST!PORT`.
    Tcp {
        /// A host name or an address (brackets around IPv6 are optional).
        host: String,
        /// The port.
        port: u16,
    },
    /// `unix!PATH`.
    Unix(PathBuf),
}

/// An address that is not `tcp!HOST!PORT` or `unix!PATH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the address is tcp!HOST!PORT or unix!PATH, not {0}")]
pub struct AddrError(pub String);

impl FromStr for NinepAddr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AddrError(s.to_owned());
        match s.split_once('!') {
            Some(("tcp", rest)) => {
                let (host, port) = rest.rsplit_once('!').ok_or_else(bad)?;
                let port = port.parse().map_err(|_| bad())?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if host.is_empty() {
                    return Err(bad());
                }
                let host = if host == "*" { "0.0.0.0" } else { host };
                Ok(NinepAddr::Tcp {
                    host: host.to_owned(),
                    port,
                })
            }
            Some(("unix", path)) if !path.is_empty() => Ok(NinepAddr::Unix(PathBuf::from(path))),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for NinepAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NinepAddr::Tcp { host, port } => write!(f, "tcp!{host}!{port}"),
            NinepAddr::Unix(path) => write!(f, "unix!{}", path.display()),
        }
    }
}

/// Where the upstream comes from.
#[derive(Debug, Clone)]
pub enum UpstreamSource {
    /// Dial it (`--upstream`), and again with a backoff when it is lost.
    Dial(NinepAddr),
    /// Wait for the peer multiplexer's connection on this TCP address (`--accept`); one
    /// at a time, the next one after a loss.
    Accept(NinepAddr),
}

/// What `switchboard mux` runs.
#[derive(Debug, Clone)]
pub struct MuxConfig {
    /// Where clients connect (`--listen`); a Unix socket is made mode 0600.
    pub listen: NinepAddr,
    /// The upstream.
    pub upstream: UpstreamSource,
    /// The local 9P server for the peer's requests (`--export`), dialled again when lost.
    pub export: Option<NinepAddr>,
    /// The multiplexer's limits.
    pub mux: Config,
    /// Client connections at once; more are closed at once.
    pub max_clients: usize,
    /// How long the loop keeps polling without sleeping after the last event (yielding the
    /// CPU between polls): zero sleeps at once. A message that arrives within it is taken
    /// without the wake-up of a sleeping thread, which on a latency-bound path (one client,
    /// a request at a time) costs more than the work of a whole 9P message.
    pub spin: Duration,
}

/// What the listeners bound (port 0 resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listening {
    /// A TCP listener.
    Tcp(SocketAddr),
    /// A Unix socket.
    Unix(PathBuf),
}

/// A bound multiplexer, ready to [`MuxServer::run`] on the calling thread.
#[derive(Debug)]
pub struct MuxServer {
    config: MuxConfig,
    poll: Poll,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    clients: Listener,
    peer: Option<TcpListener>,
    /// Where clients connect.
    pub listening: Listening,
    /// Where the peer multiplexer connects (`--accept`).
    pub accepting: Option<SocketAddr>,
}

/// Stops a running [`MuxServer`] from another thread.
#[derive(Debug, Clone)]
pub struct Stopper {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl Stopper {
    /// Asks the loop to end; [`MuxServer::run`] returns soon after.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Err(e) = self.waker.wake() {
            tracing::warn!(error = %e, "9P mux: cannot wake the loop to stop it");
        }
    }
}

#[derive(Debug)]
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn accept(&self) -> io::Result<Sock> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                Sock::Tcp(s)
            }),
            Listener::Unix(l) => l.accept().map(|(s, _)| Sock::Unix(s)),
        }
    }
}

impl MuxServer {
    /// Binds the client listener (and the peer listener for `--accept`).
    pub fn bind(config: MuxConfig) -> io::Result<MuxServer> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (mut clients, listening) = match &config.listen {
            NinepAddr::Tcp { host, port } => {
                let l = bind_tcp(host, *port)?;
                let addr = l.local_addr()?;
                (Listener::Tcp(l), Listening::Tcp(addr))
            }
            NinepAddr::Unix(path) => (
                Listener::Unix(bind_unix(path)?),
                Listening::Unix(path.clone()),
            ),
        };
        match &mut clients {
            Listener::Tcp(l) => poll.registry().register(l, LISTENER, Interest::READABLE)?,
            Listener::Unix(l) => poll.registry().register(l, LISTENER, Interest::READABLE)?,
        }
        let (peer, accepting) = match &config.upstream {
            UpstreamSource::Accept(NinepAddr::Tcp { host, port }) => {
                let mut l = bind_tcp(host, *port)?;
                let addr = l.local_addr()?;
                poll.registry()
                    .register(&mut l, PEER_LISTENER, Interest::READABLE)?;
                (Some(l), Some(addr))
            }
            UpstreamSource::Accept(other) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("--accept takes tcp!ADDR!PORT, not {other}"),
                ));
            }
            UpstreamSource::Dial(_) => (None, None),
        };
        Ok(MuxServer {
            config,
            poll,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            clients,
            peer,
            listening,
            accepting,
        })
    }

    /// What stops [`MuxServer::run`] from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            waker: Arc::clone(&self.waker),
            stop: Arc::clone(&self.stop),
        }
    }

    /// Runs the loop on this thread until [`Stopper::stop`]; then closes everything (and
    /// removes the Unix socket). Fails only when polling itself fails.
    pub fn run(self) -> io::Result<()> {
        let unix = match &self.listening {
            Listening::Unix(path) => Some(path.clone()),
            Listening::Tcp(_) => None,
        };
        let (dial_tx, dial_rx) = mpsc::channel();
        let export_tried = self.config.export.is_none();
        let mut driver = Driver {
            mux: Mux::new(self.config.mux.clone()),
            poll: self.poll,
            waker: self.waker,
            stop: self.stop,
            listener: self.clients,
            peer: self.peer,
            clients: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            upstream: None,
            export: None,
            source: self.config.upstream,
            export_addr: self.config.export,
            max_clients: self.config.max_clients,
            dial_tx,
            dial_rx,
            upstream_dial: DialState::Idle,
            export_dial: DialState::Idle,
            redial_delay: Duration::ZERO,
            upstream_since: None,
            export_tried,
            versions: BTreeSet::new(),
            spin: self.config.spin,
            accept_paused: None,
            again: Vec::new(),
        };
        let now = Instant::now();
        driver.schedule_upstream(now, Duration::ZERO);
        driver.schedule_export(now, Duration::ZERO);
        let result = driver.run();
        if let Some(path) = unix {
            let _ = std::fs::remove_file(path);
        }
        result
    }
}

fn bind_tcp(host: &str, port: u16) -> io::Result<TcpListener> {
    let l = std::net::TcpListener::bind((host, port))?;
    l.set_nonblocking(true)?;
    Ok(TcpListener::from_std(l))
}

/// A Unix socket made mode 0600 before anyone can connect to it: bound under a temporary
/// name, restricted, then renamed into place.
fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let l = std::os::unix::net::UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    l.set_nonblocking(true)?;
    Ok(UnixListener::from_std(l))
}

/// A blocking dial (on a dial thread), handed back non-blocking.
fn dial(addr: &NinepAddr) -> io::Result<Sock> {
    match addr {
        NinepAddr::Tcp { host, port } => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address for the host");
            for a in (host.as_str(), *port).to_socket_addrs()? {
                match std::net::TcpStream::connect_timeout(&a, DIAL_TIMEOUT) {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        s.set_nonblocking(true)?;
                        return Ok(Sock::Tcp(TcpStream::from_std(s)));
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        NinepAddr::Unix(path) => {
            let s = std::os::unix::net::UnixStream::connect(path)?;
            s.set_nonblocking(true)?;
            Ok(Sock::Unix(UnixStream::from_std(s)))
        }
    }
}

/// A connected stream socket.
#[derive(Debug)]
enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Unix(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write(buf),
            Sock::Unix(s) => s.write(buf),
        }
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Sock::Tcp(s) => s.shutdown(Shutdown::Write),
            Sock::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }

    fn register(&mut self, r: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => r.register(s, token, interest),
            Sock::Unix(s) => r.register(s, token, interest),
        }
    }

    fn reregister(&mut self, r: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => r.reregister(s, token, interest),
            Sock::Unix(s) => r.reregister(s, token, interest),
        }
    }

    fn deregister(&mut self, r: &Registry) {
        let _ = match self {
            Sock::Tcp(s) => r.deregister(s),
            Sock::Unix(s) => r.deregister(s),
        };
    }
}

/// Where the whole messages read from a connection go.
trait Sink {
    /// What the stream is cut at.
    fn msize(&self) -> u32;
    /// One whole message.
    fn message(&mut self, frame: &[u8]);
}

struct ClientSink<'a> {
    mux: &'a mut Mux,
    id: ClientId,
    msize: u32,
    /// A Tversion was handed over.
    versioned: bool,
}

impl Sink for ClientSink<'_> {
    fn msize(&self) -> u32 {
        self.msize
    }

    fn message(&mut self, frame: &[u8]) {
        self.mux.handle_client(self.id, frame);
        if frame.get(4) == Some(&mtype::TVERSION) {
            // Only a Tversion changes what the client's stream is cut at.
            self.msize = self.mux.client_msize(self.id);
            self.versioned = true;
        }
    }
}

struct UpstreamSink<'a>(&'a mut Mux);

impl Sink for UpstreamSink<'_> {
    fn msize(&self) -> u32 {
        self.0.link_msize()
    }

    fn message(&mut self, frame: &[u8]) {
        self.0.handle_upstream(frame);
    }
}

struct ExportSink<'a>(&'a mut Mux);

impl Sink for ExportSink<'_> {
    fn msize(&self) -> u32 {
        self.0.link_msize()
    }

    fn message(&mut self, frame: &[u8]) {
        self.0.handle_export(frame);
    }
}

/// What a read of a connection came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadOutcome {
    /// Everything the socket had was read.
    Drained,
    /// The read budget ran out first: read again next round.
    More,
    /// End of stream, an error, or a message size that cannot be resynchronised.
    Closed,
}

/// One connection: its socket and the bytes read but not yet handed over.
#[derive(Debug)]
struct Conn {
    sock: Sock,
    token: Token,
    /// `buf[start..end]`: read, not handed over (the start of a message).
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The socket did not take all of the output: registered for writability, and no
    /// write is tried until it comes.
    blocked: bool,
    /// The peer closed its side (or the socket failed): read to the end, do not stop at a
    /// short read.
    hup: bool,
}

impl Conn {
    fn new(mut sock: Sock, token: Token, registry: &Registry, buffer: usize) -> io::Result<Conn> {
        sock.register(registry, token, Interest::READABLE)?;
        Ok(Conn {
            sock,
            token,
            buf: vec![0; buffer],
            start: 0,
            end: 0,
            blocked: false,
            hup: false,
        })
    }

    /// Reads what the socket holds (up to [`READ_BUDGET`]) and hands every whole message
    /// to `sink`, in place.
    fn read(&mut self, sink: &mut impl Sink) -> ReadOutcome {
        let mut budget = READ_BUDGET;
        loop {
            if self.end >= self.buf.len() {
                if self.start > 0 {
                    self.buf.copy_within(self.start..self.end, 0);
                    self.end -= self.start;
                    self.start = 0;
                }
                if self.end >= self.buf.len() {
                    // One message longer than the buffer (but within msize, or `check`
                    // would have said so): the buffer grows to at most twice msize.
                    let len = self.buf.len().max(4096) * 2;
                    self.buf.resize(len, 0);
                }
            }
            let Some(room) = self.buf.get_mut(self.end..) else {
                return ReadOutcome::Closed;
            };
            let space = room.len();
            let n = match self.sock.read(room) {
                Ok(0) => return ReadOutcome::Closed,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return ReadOutcome::Closed,
            };
            self.end += n;
            loop {
                let Some(pending) = self.buf.get(self.start..self.end) else {
                    return ReadOutcome::Closed;
                };
                match frame::check(pending, sink.msize()) {
                    Frame::Message(len) => {
                        if let Some(msg) = pending.get(..len) {
                            sink.message(msg);
                        }
                        self.start += len;
                    }
                    Frame::Incomplete => break,
                    Frame::TooBig(size) | Frame::TooSmall(size) => {
                        tracing::debug!(token = ?self.token, size, "9P mux: bad message size");
                        return ReadOutcome::Closed;
                    }
                }
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
            // A stream socket that filled less than the room had nothing more; anything
            // that arrives later raises a new edge. Not so for an end of stream that came
            // with this edge: that one is read now.
            if n < space && !self.hup {
                return ReadOutcome::Drained;
            }
            budget = budget.saturating_sub(n);
            if budget == 0 {
                return ReadOutcome::More;
            }
        }
    }

    /// Writes as much of `out` as the socket takes; on a short write the connection waits
    /// for writability. Returns the bytes written, or the error that ends the connection.
    fn write(&mut self, registry: &Registry, out: &[u8]) -> io::Result<usize> {
        let mut sent = 0;
        while let Some(rest) = out.get(sent..).filter(|r| !r.is_empty()) {
            match self.sock.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let blocked = sent < out.len();
        if blocked != self.blocked {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            self.sock.reregister(registry, self.token, interest)?;
            self.blocked = blocked;
        }
        Ok(sent)
    }

    fn close(mut self, registry: &Registry) {
        self.sock.deregister(registry);
        self.sock.shutdown_write();
    }
}

struct Client {
    id: ClientId,
    conn: Conn,
    /// What its stream is cut at (its session's msize, or the link's before its Tversion).
    msize: u32,
    /// When its pending Tversion expires (also in [`Driver::versions`]).
    version_deadline: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialState {
    Idle,
    At(Instant),
    Running,
}

/// A dial thread's result.
struct Dialled {
    export: bool,
    result: io::Result<Sock>,
}

/// The loop's state: the [`Mux`] and every connection.
struct Driver {
    mux: Mux,
    poll: Poll,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    listener: Listener,
    peer: Option<TcpListener>,
    /// Indexed by token minus [`FIRST_CLIENT`].
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    by_id: HashMap<ClientId, usize>,
    upstream: Option<Conn>,
    export: Option<Conn>,
    source: UpstreamSource,
    export_addr: Option<NinepAddr>,
    max_clients: usize,
    dial_tx: mpsc::Sender<Dialled>,
    dial_rx: mpsc::Receiver<Dialled>,
    upstream_dial: DialState,
    export_dial: DialState,
    redial_delay: Duration,
    upstream_since: Option<Instant>,
    /// The first dial of the export server has ended (or there is none). Until then the
    /// upstream is neither dialled nor accepted, so that the peer's first requests do not
    /// find the export server missing only because its dial was slower.
    export_tried: bool,
    /// Pending Tversions by deadline.
    versions: BTreeSet<(Instant, ClientId)>,
    /// [`MuxConfig::spin`].
    spin: Duration,
    accept_paused: Option<Instant>,
    /// Connections whose read stopped at the budget.
    again: Vec<Token>,
}

impl Driver {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS);
        let mut last_event = Instant::now();
        loop {
            let now = Instant::now();
            let spinning = now.saturating_duration_since(last_event) < self.spin;
            let timeout = if !self.again.is_empty() || spinning {
                Some(Duration::ZERO)
            } else {
                self.next_deadline()
                    .map(|t| t.saturating_duration_since(now))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if self.stop.load(Ordering::Acquire) {
                return Ok(());
            }
            if events.is_empty() {
                if spinning && self.again.is_empty() {
                    std::thread::yield_now();
                    // Timers are still due while spinning.
                    self.timers(Instant::now());
                    self.flush();
                    continue;
                }
            } else {
                last_event = Instant::now();
            }
            for token in std::mem::take(&mut self.again) {
                self.readable(token, false);
            }
            for ev in events.iter() {
                let token = ev.token();
                if ev.is_writable() {
                    self.writable(token);
                }
                let hup = ev.is_read_closed() || ev.is_error();
                if ev.is_readable() || hup {
                    self.readable(token, hup);
                }
            }
            self.timers(Instant::now());
            self.flush();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let dial = |d: DialState| match d {
            DialState::At(t) => Some(t),
            _ => None,
        };
        [
            self.versions.first().map(|(t, _)| *t),
            dial(self.upstream_dial).filter(|_| self.export_tried),
            dial(self.export_dial),
            self.accept_paused,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// `hup`: the event says the peer closed its side.
    fn readable(&mut self, token: Token, hup: bool) {
        match token {
            LISTENER => self.accept_clients(),
            PEER_LISTENER => self.accept_peer(),
            WAKER => self.dialled(),
            UPSTREAM => {
                let Some(conn) = self.upstream.as_mut() else {
                    return;
                };
                conn.hup |= hup;
                match conn.read(&mut UpstreamSink(&mut self.mux)) {
                    ReadOutcome::Drained => {}
                    ReadOutcome::More => self.again.push(token),
                    ReadOutcome::Closed => self.upstream_lost(),
                }
            }
            EXPORT => {
                let Some(conn) = self.export.as_mut() else {
                    return;
                };
                conn.hup |= hup;
                match conn.read(&mut ExportSink(&mut self.mux)) {
                    ReadOutcome::Drained => {}
                    ReadOutcome::More => self.again.push(token),
                    ReadOutcome::Closed => self.export_lost(),
                }
            }
            Token(t) => {
                let Some(slot) = t.checked_sub(FIRST_CLIENT) else {
                    return;
                };
                let Some(Some(client)) = self.clients.get_mut(slot) else {
                    return;
                };
                client.conn.hup |= hup;
                let mut sink = ClientSink {
                    mux: &mut self.mux,
                    id: client.id,
                    msize: client.msize,
                    versioned: false,
                };
                let outcome = client.conn.read(&mut sink);
                client.msize = sink.msize;
                if sink.versioned {
                    let id = client.id;
                    if let Some(old) = client.version_deadline.take() {
                        self.versions.remove(&(old, id));
                    }
                    if self.mux.version_pending(id) {
                        let deadline = Instant::now() + VERSION_WAIT;
                        client.version_deadline = Some(deadline);
                        self.versions.insert((deadline, id));
                    }
                }
                match outcome {
                    ReadOutcome::Drained => {}
                    ReadOutcome::More => self.again.push(token),
                    ReadOutcome::Closed => {
                        let id = client.id;
                        self.remove_client(slot);
                        self.mux.client_gone(id);
                    }
                }
            }
        }
    }

    /// The socket has room again: send what waits for it.
    fn writable(&mut self, token: Token) {
        let registry = self.poll.registry();
        match token {
            UPSTREAM => {
                if let Some(conn) = self.upstream.as_mut() {
                    match conn.write(registry, self.mux.upstream_output()) {
                        Ok(n) => self.mux.consume_upstream_output(n),
                        Err(_) => self.upstream_lost(),
                    }
                }
            }
            EXPORT => {
                if let Some(conn) = self.export.as_mut() {
                    match conn.write(registry, self.mux.export_output()) {
                        Ok(n) => self.mux.consume_export_output(n),
                        Err(_) => self.export_lost(),
                    }
                }
            }
            Token(t) => {
                if let Some(slot) = t.checked_sub(FIRST_CLIENT) {
                    self.write_client(slot);
                }
            }
        }
    }

    /// Writes a client's output; a dead socket ends the client. `blocked` clients wait for
    /// their writability event (which calls this with the flag cleared).
    fn write_client(&mut self, slot: usize) {
        let registry = self.poll.registry();
        let Some(Some(client)) = self.clients.get_mut(slot) else {
            return;
        };
        let id = client.id;
        let out = self.mux.client_output(id);
        if out.is_empty() && !client.conn.blocked {
            return;
        }
        match client.conn.write(registry, out) {
            Ok(n) => self.mux.consume_client_output(id, n),
            Err(_) => {
                self.remove_client(slot);
                self.mux.client_gone(id);
            }
        }
    }

    /// After a round: every output that grew goes out, and the core's events are acted on,
    /// until neither is left.
    fn flush(&mut self) {
        loop {
            let registry = self.poll.registry();
            if let Some(conn) = self.upstream.as_mut().filter(|c| !c.blocked) {
                let out = self.mux.upstream_output();
                if !out.is_empty() {
                    match conn.write(registry, out) {
                        Ok(n) => self.mux.consume_upstream_output(n),
                        Err(_) => self.upstream_lost(),
                    }
                }
            }
            let registry = self.poll.registry();
            if let Some(conn) = self.export.as_mut().filter(|c| !c.blocked) {
                let out = self.mux.export_output();
                if !out.is_empty() {
                    match conn.write(registry, out) {
                        Ok(n) => self.mux.consume_export_output(n),
                        Err(_) => self.export_lost(),
                    }
                }
            }
            while let Some(id) = self.mux.poll_client_ready() {
                if let Some(&slot) = self.by_id.get(&id)
                    && self
                        .clients
                        .get(slot)
                        .is_some_and(|c| c.as_ref().is_some_and(|c| !c.conn.blocked))
                {
                    self.write_client(slot);
                }
            }
            let Some(event) = self.mux.poll_event() else {
                return;
            };
            match event {
                Event::Disconnect { client, reason } => {
                    tracing::debug!(?client, ?reason, "9P mux disconnects a client");
                    if let Some(&slot) = self.by_id.get(&client) {
                        self.write_client(slot);
                        self.remove_client(slot);
                    }
                    self.mux.client_gone(client);
                }
                Event::CloseUpstream => {
                    tracing::warn!("9P mux: the upstream broke the protocol, closing it");
                    if let Some(c) = self.upstream.take() {
                        c.close(self.poll.registry());
                    }
                }
                Event::Redial => {
                    let delay = self.backoff();
                    self.schedule_upstream(Instant::now(), delay);
                }
                _ => {}
            }
        }
    }

    fn timers(&mut self, now: Instant) {
        while let Some(&(deadline, id)) = self.versions.first() {
            if deadline > now {
                break;
            }
            self.versions.remove(&(deadline, id));
            if let Some(&slot) = self.by_id.get(&id)
                && let Some(Some(client)) = self.clients.get_mut(slot)
            {
                client.version_deadline = None;
                if self.mux.version_pending(id) {
                    tracing::info!(?id, "9P mux: no upstream for a client's Tversion");
                    self.mux.expire_version(id);
                }
            }
        }
        if let DialState::At(t) = self.upstream_dial
            && t <= now
            && self.export_tried
        {
            self.upstream_dial = DialState::Running;
            if let UpstreamSource::Dial(addr) = &self.source {
                let addr = addr.clone();
                self.start_dial(addr, false);
            }
        }
        if let DialState::At(t) = self.export_dial
            && t <= now
        {
            self.export_dial = DialState::Running;
            if let Some(addr) = self.export_addr.clone() {
                self.start_dial(addr, true);
            }
        }
        if self.accept_paused.is_some_and(|t| t <= now) {
            self.accept_paused = None;
            self.accept_clients();
        }
    }

    fn accept_clients(&mut self) {
        if self.accept_paused.is_some() {
            return;
        }
        loop {
            let sock = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "9P mux accept failed");
                    self.accept_paused = Some(Instant::now() + ACCEPT_RETRY);
                    return;
                }
            };
            if self.by_id.len() >= self.max_clients {
                tracing::warn!("9P mux client refused: too many clients");
                continue;
            }
            let slot = self.free.pop().unwrap_or(self.clients.len());
            let token = Token(FIRST_CLIENT + slot);
            let conn = match Conn::new(sock, token, self.poll.registry(), CLIENT_BUFFER) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "9P mux cannot watch a client");
                    self.free.push(slot);
                    continue;
                }
            };
            let id = self.mux.add_client();
            let client = Client {
                id,
                conn,
                msize: self.mux.client_msize(id),
                version_deadline: None,
            };
            if slot == self.clients.len() {
                self.clients.push(Some(client));
            } else if let Some(s) = self.clients.get_mut(slot) {
                *s = Some(client);
            }
            self.by_id.insert(id, slot);
        }
    }

    /// Closes a client's connection (the caller tells the [`Mux`]).
    fn remove_client(&mut self, slot: usize) {
        let Some(client) = self.clients.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.by_id.remove(&client.id);
        if let Some(t) = client.version_deadline {
            self.versions.remove(&(t, client.id));
        }
        client.conn.close(self.poll.registry());
        self.free.push(slot);
    }

    fn accept_peer(&mut self) {
        if !self.export_tried {
            // Left in the backlog; taken once the export server's first dial has ended.
            return;
        }
        loop {
            let Some(l) = self.peer.as_ref() else {
                return;
            };
            let (s, peer) = match l.accept() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // The next connection raises a new edge.
                    tracing::warn!(error = %e, "9P mux peer accept failed");
                    return;
                }
            };
            let _ = s.set_nodelay(true);
            if self.upstream.is_some() {
                tracing::info!(%peer, "9P mux: a second peer connection refused");
                continue;
            }
            tracing::info!(%peer, "9P mux peer connected");
            self.upstream_up(Sock::Tcp(s));
        }
    }

    fn upstream_up(&mut self, sock: Sock) {
        let buffer = 2 * self.mux.link_msize() as usize;
        match Conn::new(sock, UPSTREAM, self.poll.registry(), buffer) {
            Ok(conn) => {
                self.upstream = Some(conn);
                self.upstream_since = Some(Instant::now());
                self.mux.upstream_connected();
                tracing::info!("9P mux upstream connected");
            }
            Err(e) => {
                tracing::warn!(error = %e, "9P mux cannot watch the upstream");
                let delay = self.backoff();
                self.schedule_upstream(Instant::now(), delay);
            }
        }
    }

    fn upstream_lost(&mut self) {
        if let Some(c) = self.upstream.take() {
            tracing::info!("9P mux upstream lost");
            c.close(self.poll.registry());
            self.mux.upstream_gone();
        }
    }

    fn export_lost(&mut self) {
        if let Some(c) = self.export.take() {
            tracing::info!("9P mux export server lost");
            c.close(self.poll.registry());
            self.mux.export_gone();
            self.schedule_export(Instant::now(), REDIAL_MIN);
        }
    }

    /// Results of the dial threads (their wake).
    fn dialled(&mut self) {
        while let Ok(d) = self.dial_rx.try_recv() {
            let now = Instant::now();
            let first_export = d.export && !self.export_tried;
            match (d.export, d.result) {
                (false, Ok(sock)) => {
                    self.upstream_dial = DialState::Idle;
                    if self.upstream.is_none() {
                        self.upstream_up(sock);
                    }
                }
                (false, Err(_)) => {
                    self.upstream_dial = DialState::Idle;
                    let delay = self.backoff();
                    self.schedule_upstream(now, delay);
                }
                (true, Ok(_)) if self.export.is_some() => self.export_dial = DialState::Idle,
                (true, Ok(sock)) => {
                    self.export_dial = DialState::Idle;
                    let buffer = 2 * self.mux.link_msize() as usize;
                    match Conn::new(sock, EXPORT, self.poll.registry(), buffer) {
                        Ok(conn) => {
                            self.export = Some(conn);
                            self.mux.export_connected();
                            tracing::info!("9P mux export server connected");
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "9P mux cannot watch the export server");
                            self.schedule_export(now, REDIAL_MAX);
                        }
                    }
                }
                (true, Err(_)) => {
                    self.export_dial = DialState::Idle;
                    self.schedule_export(now, REDIAL_MAX);
                }
            }
            if first_export {
                self.export_tried = true;
                // The peer may have connected meanwhile (its edge is gone); the upstream
                // dial, if due, starts in this round's timers.
                self.accept_peer();
            }
        }
    }

    /// The wait before the next dial: doubling up to [`REDIAL_MAX`], back to nothing after
    /// an upstream that lived [`REDIAL_RESET`].
    fn backoff(&mut self) -> Duration {
        if self
            .upstream_since
            .take()
            .is_some_and(|t| t.elapsed() >= REDIAL_RESET)
        {
            self.redial_delay = Duration::ZERO;
        }
        let delay = self.redial_delay;
        self.redial_delay = (delay * 2).clamp(REDIAL_MIN, REDIAL_MAX);
        delay
    }

    /// Dials the upstream after `delay` (nothing to do on `--accept`: the peer listener
    /// takes the peer's next connection).
    fn schedule_upstream(&mut self, now: Instant, delay: Duration) {
        if matches!(self.source, UpstreamSource::Dial(_))
            && self.upstream.is_none()
            && self.upstream_dial == DialState::Idle
        {
            self.upstream_dial = DialState::At(now + delay);
        }
    }

    fn schedule_export(&mut self, now: Instant, delay: Duration) {
        if self.export_addr.is_some()
            && self.export.is_none()
            && self.export_dial == DialState::Idle
        {
            self.export_dial = DialState::At(now + delay);
        }
    }

    /// Dials on a thread of its own, which hands the socket back and wakes the loop.
    fn start_dial(&mut self, addr: NinepAddr, export: bool) {
        let tx = self.dial_tx.clone();
        let waker = Arc::clone(&self.waker);
        let spawned = std::thread::Builder::new()
            .name("9p-mux-dial".into())
            .spawn(move || {
                let result = dial(&addr);
                if let Err(e) = &result {
                    let what = if export { "export server" } else { "upstream" };
                    tracing::warn!(%addr, error = %e, "9P mux cannot dial the {what}");
                }
                if tx.send(Dialled { export, result }).is_ok() {
                    let _ = waker.wake();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "9P mux cannot start a dial");
            let result = Err(e);
            // Handled as a failed dial on the next wake.
            if self.dial_tx.send(Dialled { export, result }).is_ok() {
                let _ = self.waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_in_dial_string_form() {
        assert_eq!(
            "tcp!127.0.0.1!564".parse(),
            Ok(NinepAddr::Tcp {
                host: "127.0.0.1".into(),
                port: 564
            })
        );
        assert_eq!(
            "tcp![::1]!0".parse(),
            Ok(NinepAddr::Tcp {
                host: "::1".into(),
                port: 0
            })
        );
        assert_eq!(
            "tcp!*!5640".parse(),
            Ok(NinepAddr::Tcp {
                host: "0.0.0.0".into(),
                port: 5640
            })
        );
        assert_eq!(
            "unix!/tmp/a!b".parse(),
            Ok(NinepAddr::Unix(PathBuf::from("/tmp/a!b")))
        );
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "tcp!host",
            "tcp!host!port",
            "tcp!!1",
            "unix!",
            "udp!h!1",
            "/tmp/x",
        ] {
            assert!(bad.parse::<NinepAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_address_prints_as_it_parses() {
        for s in ["tcp!example.com!564", "unix!/run/x.9p"] {
            assert_eq!(s.parse::<NinepAddr>().map(|a| a.to_string()), Ok(s.into()));
        }
    }
}
