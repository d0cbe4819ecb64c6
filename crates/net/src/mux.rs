//! The tokio driver around [`ninep::mux::Mux`] (DESIGN.md section 10): `switchboard mux`.
//!
//! ```text
//!  acceptor ──┐                                  ┌── writer task per connection
//!  dialler ───┼─> bounded channel ─> owner task ─┤   (bounded queue of byte chunks)
//!  readers ───┘   (frames, hang-ups,  owns Mux   └── close, abort
//!  writers ───┘    "writable" wakes)  (no locks)
//! ```
//!
//! One task owns the [`Mux`] and every connection handle; nothing else touches the
//! multiplexer, so there are no locks. Each connection (clients, the upstream, the export
//! server) has a reader task that cuts its stream with [`frame::check`] and sends whole
//! messages into the owner's bounded channel, and a writer task draining a bounded queue of
//! chunks. The owner never waits on a writer: when a queue is full the bytes stay in the
//! [`Mux`], where they count against [`MuxConfig::mux`]'s `max_queued` (a client that stops
//! reading is the multiplexer's slow reader and is disconnected), and the writer wakes the
//! owner once it has written again. That is also why nothing deadlocks: readers wait on the
//! owner, the owner waits on nobody.
//!
//! A message larger than the connection's msize, or smaller than a header, closes that
//! connection (the stream cannot be resynchronised). After [`Event::Disconnect`] the owner
//! sends what is left, closes and calls [`Mux::client_gone`]; after [`Event::Redial`] it dials
//! the upstream again with a backoff capped at [`REDIAL_MAX`] (or waits for the peer's next
//! connection on `--accept`). Clients whose `Tversion` comes before the upstream is up wait
//! for it; the [`Mux`] answers them once it is versioned.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ninep::frame::{self, Frame};
use ninep::mux::{ClientId, Config, Event, Mux};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The longest wait between two dials of a lost upstream.
pub const REDIAL_MAX: Duration = Duration::from_secs(5);
/// The first wait before dialling a lost upstream again.
const REDIAL_MIN: Duration = Duration::from_millis(100);
/// An upstream that lived this long resets the backoff.
const REDIAL_RESET: Duration = Duration::from_secs(10);
/// Inputs waiting for the owner task (frames, hang-ups, wakes, new connections).
const INPUT_QUEUE: usize = 1024;
/// Chunks queued for one connection's writer.
const WRITE_QUEUE: usize = 8;
/// The most bytes handed to a writer at once.
const CHUNK: usize = 64 * 1024;
/// How long a disconnected client's writer may take to send its last replies.
const LINGER: Duration = Duration::from_secs(5);

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
}

/// What the listeners bound (port 0 resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listening {
    /// A TCP listener.
    Tcp(SocketAddr),
    /// A Unix socket.
    Unix(PathBuf),
}

/// A bound multiplexer, ready to [`MuxServer::run`].
#[derive(Debug)]
pub struct MuxServer {
    config: MuxConfig,
    clients: Listener,
    peer: Option<TcpListener>,
    /// Where clients connect.
    pub listening: Listening,
    /// Where the peer multiplexer connects (`--accept`).
    pub accepting: Option<SocketAddr>,
}

#[derive(Debug)]
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Any byte stream of a connection.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}
type BoxStream = Box<dyn Stream>;

impl MuxServer {
    /// Binds the client listener (and the peer listener for `--accept`).
    pub async fn bind(config: MuxConfig) -> io::Result<MuxServer> {
        let (clients, listening) = match &config.listen {
            NinepAddr::Tcp { host, port } => {
                let l = TcpListener::bind((host.as_str(), *port)).await?;
                let addr = l.local_addr()?;
                (Listener::Tcp(l), Listening::Tcp(addr))
            }
            NinepAddr::Unix(path) => (
                Listener::Unix(crate::ninep::bind_unix(path)?),
                Listening::Unix(path.clone()),
            ),
        };
        let (peer, accepting) = match &config.upstream {
            UpstreamSource::Accept(NinepAddr::Tcp { host, port }) => {
                let l = TcpListener::bind((host.as_str(), *port)).await?;
                let addr = l.local_addr()?;
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
            clients,
            peer,
            listening,
            accepting,
        })
    }

    /// Runs until `stop` resolves; then closes everything (and removes the Unix socket).
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let (tx, rx) = mpsc::channel(INPUT_QUEUE);
        let mut tasks = Vec::new();
        tasks.push(spawn_client_acceptor(self.clients, tx.clone()));
        if let Some(l) = self.peer {
            tasks.push(spawn_peer_acceptor(l, tx.clone()));
        }
        let mut owner = Owner {
            mux: Mux::new(self.config.mux.clone()),
            tx,
            clients: HashMap::new(),
            upstream: None,
            export: None,
            next_gen: 0,
            source: self.config.upstream.clone(),
            export_addr: self.config.export.clone(),
            max_clients: self.config.max_clients,
            redial_delay: Duration::ZERO,
            upstream_since: None,
            dialling: false,
        };
        owner.dial_upstream(Duration::ZERO);
        owner.dial_export(Duration::ZERO);
        tokio::select! {
            () = owner.run(rx) => {}
            () = stop => {}
        }
        for t in tasks {
            t.abort();
        }
        if let Listening::Unix(path) = &self.listening {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn spawn_client_acceptor(listener: Listener, tx: mpsc::Sender<Input>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let stream: io::Result<BoxStream> = match &listener {
                Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    Box::new(s) as BoxStream
                }),
                Listener::Unix(l) => l.accept().await.map(|(s, _)| Box::new(s) as BoxStream),
            };
            match stream {
                Ok(s) => {
                    if tx.send(Input::Client(s)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "9P mux accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

fn spawn_peer_acceptor(listener: TcpListener, tx: mpsc::Sender<Input>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((s, peer)) => {
                    let _ = s.set_nodelay(true);
                    tracing::info!(%peer, "9P mux peer connected");
                    if tx.send(Input::Upstream(Box::new(s))).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "9P mux peer accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

async fn dial(addr: &NinepAddr) -> io::Result<BoxStream> {
    match addr {
        NinepAddr::Tcp { host, port } => {
            let s = TcpStream::connect((host.as_str(), *port)).await?;
            let _ = s.set_nodelay(true);
            Ok(Box::new(s))
        }
        NinepAddr::Unix(path) => Ok(Box::new(UnixStream::connect(path).await?)),
    }
}

/// Which connection an input is about. Upstream and export connections carry a generation,
/// so that the last words of a lost one are not taken for the next one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Client(ClientId),
    Upstream(u64),
    Export(u64),
}

enum Input {
    /// A new client connection.
    Client(BoxStream),
    /// A new upstream connection (dialled or accepted).
    Upstream(BoxStream),
    /// A dial of the upstream failed.
    UpstreamFailed,
    /// A new export server connection.
    Export(BoxStream),
    /// A dial of the export server failed.
    ExportFailed,
    /// One whole message.
    Frame(Key, Bytes),
    /// The connection ended (hang-up, error, or framing that cannot be resynchronised).
    Closed(Key),
    /// The writer has room again.
    Writable(Key),
}

/// The owner's handle on one connection.
struct Conn {
    tx: mpsc::Sender<Bytes>,
    /// Set by the owner when the queue was full: the writer then sends [`Input::Writable`]
    /// after its next write.
    wake: Arc<AtomicBool>,
    /// What the reader cuts the stream at.
    msize: Arc<AtomicU32>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Conn {
    fn spawn(stream: BoxStream, key: Key, msize: u32, input: mpsc::Sender<Input>) -> Conn {
        let (rd, wr) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let wake = Arc::new(AtomicBool::new(false));
        let msize = Arc::new(AtomicU32::new(msize));
        let reader = tokio::spawn(read_loop(rd, key, Arc::clone(&msize), input.clone()));
        let writer = tokio::spawn(write_loop(wr, rx, key, Arc::clone(&wake), input));
        Conn {
            tx,
            wake,
            msize,
            reader,
            writer,
        }
    }

    /// Hands `out` to the writer, as much as its queue takes; returns the bytes taken.
    fn send(&self, out: &[u8]) -> usize {
        let mut taken = 0;
        while taken < out.len() {
            let end = out.len().min(taken + CHUNK);
            let Some(chunk) = out.get(taken..end) else {
                break;
            };
            let bytes = Bytes::copy_from_slice(chunk);
            let bytes = match self.tx.try_send(bytes) {
                Ok(()) => {
                    taken = end;
                    continue;
                }
                Err(mpsc::error::TrySendError::Full(b)) => b,
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            };
            // Full: ask for a wake, then try once more. Either this succeeds, or the queue is
            // still full after the flag was set and the writer sees the flag after its next
            // write; a wake cannot be lost in between.
            self.wake.store(true, Ordering::Release);
            match self.tx.try_send(bytes) {
                Ok(()) => taken = end,
                Err(_) => break,
            }
        }
        taken
    }

    /// Stops reading; the writer sends what it holds (for at most [`LINGER`] when `linger`)
    /// and closes.
    fn close(self, linger: bool) {
        self.reader.abort();
        drop(self.tx);
        if linger {
            let writer = self.writer;
            tokio::spawn(async move {
                tokio::time::sleep(LINGER).await;
                writer.abort();
            });
        } else {
            self.writer.abort();
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: R,
    key: Key,
    msize: Arc<AtomicU32>,
    input: mpsc::Sender<Input>,
) {
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        loop {
            match frame::check(&buf, msize.load(Ordering::Acquire)) {
                Frame::Message(n) => {
                    let msg = buf.split_to(n).freeze();
                    if input.send(Input::Frame(key, msg)).await.is_err() {
                        return;
                    }
                }
                Frame::Incomplete => break,
                Frame::TooBig(size) | Frame::TooSmall(size) => {
                    tracing::debug!(?key, size, "9P mux: bad message size, closing");
                    let _ = input.send(Input::Closed(key)).await;
                    return;
                }
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(CHUNK);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = input.send(Input::Closed(key)).await;
                return;
            }
            Ok(_) => {}
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<Bytes>,
    key: Key,
    wake: Arc<AtomicBool>,
    input: mpsc::Sender<Input>,
) {
    while let Some(chunk) = rx.recv().await {
        if wr.write_all(&chunk).await.is_err() {
            // The reader sees the same end and reports it.
            return;
        }
        if wake.swap(false, Ordering::AcqRel) && input.send(Input::Writable(key)).await.is_err() {
            return;
        }
    }
    let _ = wr.shutdown().await;
}

/// The task that owns the [`Mux`] and every connection.
struct Owner {
    mux: Mux,
    tx: mpsc::Sender<Input>,
    clients: HashMap<ClientId, Conn>,
    upstream: Option<(u64, Conn)>,
    export: Option<(u64, Conn)>,
    next_gen: u64,
    source: UpstreamSource,
    export_addr: Option<NinepAddr>,
    max_clients: usize,
    redial_delay: Duration,
    upstream_since: Option<tokio::time::Instant>,
    /// A dial of the upstream is under way.
    dialling: bool,
}

impl Owner {
    async fn run(&mut self, mut rx: mpsc::Receiver<Input>) {
        // `self.tx` keeps the channel open, so recv never ends.
        while let Some(input) = rx.recv().await {
            self.handle(input);
            self.drain();
        }
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Client(stream) => {
                if self.clients.len() >= self.max_clients {
                    tracing::warn!("9P mux client refused: too many clients");
                    return;
                }
                let id = self.mux.add_client();
                let msize = self.mux.client_msize(id);
                let conn = Conn::spawn(stream, Key::Client(id), msize, self.tx.clone());
                self.clients.insert(id, conn);
            }
            Input::Upstream(stream) => {
                self.dialling = false;
                if self.upstream.is_some() {
                    tracing::info!("9P mux: a second peer connection refused");
                    return;
                }
                let generation = self.next_gen();
                let msize = self.mux.link_msize();
                let conn = Conn::spawn(stream, Key::Upstream(generation), msize, self.tx.clone());
                self.upstream = Some((generation, conn));
                self.upstream_since = Some(tokio::time::Instant::now());
                self.mux.upstream_connected();
                tracing::info!("9P mux upstream connected");
            }
            Input::UpstreamFailed => {
                self.dialling = false;
                let delay = self.backoff();
                self.dial_upstream(delay);
            }
            Input::Export(stream) => {
                if self.export.is_some() {
                    return;
                }
                let generation = self.next_gen();
                let msize = self.mux.link_msize();
                let conn = Conn::spawn(stream, Key::Export(generation), msize, self.tx.clone());
                self.export = Some((generation, conn));
                self.mux.export_connected();
                tracing::info!("9P mux export server connected");
            }
            Input::ExportFailed => self.dial_export(REDIAL_MAX),
            Input::Frame(key, frame) => match key {
                Key::Client(id) => {
                    self.mux.handle_client(id, &frame);
                    if let Some(c) = self.clients.get(&id) {
                        c.msize.store(self.mux.client_msize(id), Ordering::Release);
                    }
                }
                Key::Upstream(g) if self.upstream.as_ref().is_some_and(|u| u.0 == g) => {
                    self.mux.handle_upstream(&frame);
                }
                Key::Export(g) if self.export.as_ref().is_some_and(|e| e.0 == g) => {
                    self.mux.handle_export(&frame);
                }
                _ => {}
            },
            Input::Closed(key) => match key {
                Key::Client(id) => {
                    if let Some(c) = self.clients.remove(&id) {
                        c.close(false);
                        self.mux.client_gone(id);
                    }
                }
                Key::Upstream(g) if self.upstream.as_ref().is_some_and(|u| u.0 == g) => {
                    tracing::info!("9P mux upstream lost");
                    self.close_upstream();
                    self.mux.upstream_gone();
                }
                Key::Export(g) if self.export.as_ref().is_some_and(|e| e.0 == g) => {
                    tracing::info!("9P mux export server lost");
                    if let Some((_, c)) = self.export.take() {
                        c.close(false);
                    }
                    self.mux.export_gone();
                    self.dial_export(REDIAL_MIN);
                }
                _ => {}
            },
            Input::Writable(key) => match key {
                Key::Client(id) => self.flush_client(id),
                // The drain after every input sends the link outputs.
                Key::Upstream(_) | Key::Export(_) => {}
            },
        }
    }

    /// Sends what the multiplexer holds and acts on its events, until neither is left.
    fn drain(&mut self) {
        loop {
            if let Some((_, c)) = &self.upstream {
                let n = c.send(self.mux.upstream_output());
                self.mux.consume_upstream_output(n);
            }
            if let Some((_, c)) = &self.export {
                let n = c.send(self.mux.export_output());
                self.mux.consume_export_output(n);
            }
            while let Some(id) = self.mux.poll_client_ready() {
                self.flush_client(id);
            }
            let Some(event) = self.mux.poll_event() else {
                return;
            };
            match event {
                Event::Disconnect { client, reason } => {
                    tracing::debug!(?client, ?reason, "9P mux disconnects a client");
                    self.flush_client(client);
                    if let Some(c) = self.clients.remove(&client) {
                        c.close(true);
                    }
                    self.mux.client_gone(client);
                }
                Event::CloseUpstream => {
                    tracing::warn!("9P mux: the upstream broke the protocol, closing it");
                    self.close_upstream();
                }
                Event::Redial => {
                    let delay = self.backoff();
                    self.dial_upstream(delay);
                }
                _ => {}
            }
        }
    }

    fn flush_client(&mut self, id: ClientId) {
        if let Some(c) = self.clients.get(&id) {
            let n = c.send(self.mux.client_output(id));
            self.mux.consume_client_output(id, n);
        }
    }

    fn close_upstream(&mut self) {
        if let Some((_, c)) = self.upstream.take() {
            c.close(false);
        }
    }

    fn next_gen(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
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

    /// Dials the upstream after `delay` (nothing to do on `--accept`: the acceptor hands over
    /// the peer's next connection).
    fn dial_upstream(&mut self, delay: Duration) {
        let UpstreamSource::Dial(addr) = &self.source else {
            return;
        };
        if self.dialling || self.upstream.is_some() {
            return;
        }
        self.dialling = true;
        let addr = addr.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let input = match dial(&addr).await {
                Ok(s) => Input::Upstream(s),
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "9P mux cannot dial the upstream");
                    Input::UpstreamFailed
                }
            };
            let _ = tx.send(input).await;
        });
    }

    fn dial_export(&mut self, delay: Duration) {
        let Some(addr) = self.export_addr.clone() else {
            return;
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let input = match dial(&addr).await {
                Ok(s) => Input::Export(s),
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "9P mux cannot dial the export server");
                    Input::ExportFailed
                }
            };
            let _ = tx.send(input).await;
        });
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
