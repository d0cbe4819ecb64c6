//! The 9P2000 listeners (DESIGN.md section 9): TCP (`--ninep`) and the local Unix socket
//! `<data>/switchboard.9p` (mode 0600, trusted: an attach without auth is the operator). The
//! listeners accept on the async runtime; each connection then runs on a thread of its own,
//! which drives a [`ninep::Session`] over the voip [`Tree`]: it waits on one poll for its
//! socket and for the tree's signal that a socket file has data, cuts the input into messages
//! at the session's msize, hands each to the session, writes the replies, and retries blocked
//! reads when signalled. The tree is synchronous, so the thread blocks in it, in the store's
//! requests and in call commands alike, and delays no other connection.
//!
//! Bounds: at most [`NinepConfig::max_connections`] connections (more are closed at once);
//! the input buffer never holds more than one msize plus one socket read; the session answers
//! everything at once but a bounded number of blocked reads; a client that does not read its
//! replies stops being read (the session's [`ninep::Session::wants_input`]). A message larger
//! than the negotiated msize, or smaller than a header, closes the connection: the stream
//! cannot be resynchronised.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mio::{Events, Interest, Poll, Token, Waker};
use ninep::frame::{self, Frame};
use ninep::server::{Config as SessionConfig, Counters, Session};
use pbx::Metrics;
use pbx::tree::{Conn, Tree, TreeFs};
use std::time::Instant;
use tokio::net::{TcpListener, UnixListener};

/// How much one socket read asks for at least.
const READ_SIZE: usize = 64 * 1024;

/// How often blocked reads are retried without a wake-up.
const PENDING_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Where and how to serve 9P.
#[derive(Debug, Clone)]
pub struct NinepConfig {
    /// The TCP listener (`--ninep`); `None`: none.
    pub tcp: Option<SocketAddr>,
    /// The Unix socket's path; `None`: none.
    pub unix: Option<PathBuf>,
    /// Each session's limits (msize, fids, blocked reads).
    pub session: SessionConfig,
    /// Connections at once, TCP and Unix together.
    pub max_connections: usize,
}

impl Default for NinepConfig {
    fn default() -> Self {
        Self {
            tcp: None,
            unix: None,
            session: SessionConfig::default(),
            max_connections: 1024,
        }
    }
}

/// The running listeners.
#[derive(Debug)]
pub struct NinepServer {
    /// The TCP address bound (port 0 resolved).
    pub tcp: Option<SocketAddr>,
    /// The Unix socket's path.
    pub unix: Option<PathBuf>,
}

/// Binds the listeners and starts accepting. The Unix socket replaces a stale file of the
/// same path and is made mode 0600 before anyone can connect.
pub async fn serve(
    config: NinepConfig,
    tree: Arc<Tree>,
    metrics: Arc<Metrics>,
) -> io::Result<NinepServer> {
    let shared = Arc::new(Shared {
        tree,
        metrics,
        session: config.session.clone(),
        connections: AtomicUsize::new(0),
        max_connections: config.max_connections,
    });
    let mut server = NinepServer {
        tcp: None,
        unix: None,
    };
    if let Some(addr) = config.tcp {
        let listener = TcpListener::bind(addr).await?;
        server.tcp = Some(listener.local_addr()?);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let conn = Conn {
                            peer: Some(peer),
                            trusted: false,
                        };
                        match stream.into_std() {
                            Ok(s) => {
                                Arc::clone(&shared).spawn(mio::net::TcpStream::from_std(s), conn);
                            }
                            Err(e) => tracing::warn!(error = %e, "9P connection lost"),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "9P accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    if let Some(path) = &config.unix {
        let listener = bind_unix(path)?;
        server.unix = Some(path.clone());
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let conn = Conn {
                            peer: None,
                            trusted: true,
                        };
                        match stream.into_std() {
                            Ok(s) => {
                                Arc::clone(&shared).spawn(mio::net::UnixStream::from_std(s), conn);
                            }
                            Err(e) => tracing::warn!(error = %e, "9P connection lost"),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "9P accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    Ok(server)
}

/// Binds a Unix socket at `path`, mode 0600. The socket is created under a umask-free
/// temporary name and renamed into place only after its mode is set, so that nobody else
/// can connect in between.
pub(crate) fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = std::os::unix::net::UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    listener.set_nonblocking(true)?;
    UnixListener::from_std(listener)
}

struct Shared {
    tree: Arc<Tree>,
    metrics: Arc<Metrics>,
    session: SessionConfig,
    connections: AtomicUsize,
    max_connections: usize,
}

/// The socket's token in a connection's poll.
const SOCKET: Token = Token(0);
/// The tree's wake-up's token (a socket file this connection reads may have a packet).
const WAKE: Token = Token(1);

impl Shared {
    /// Serves one connection on a thread of its own (after Plan 9's file servers, one process
    /// per connection): the scheduler weighs each connection as it weighs each client, a slow
    /// store request or call command stalls only its own connection, and a request costs a
    /// read and a write with no hand-off between threads.
    fn spawn<S: Socket>(self: Arc<Self>, stream: S, conn: Conn) {
        if self.connections.fetch_add(1, Ordering::AcqRel) >= self.max_connections {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(peer = ?conn.peer, "9P connection refused: too many connections");
            return;
        }
        let peer = conn.peer;
        Metrics::inc(&self.metrics.ninep_sessions);
        let shared = Arc::clone(&self);
        let spawned = std::thread::Builder::new()
            .name("9p".to_owned())
            .spawn(move || {
                if let Err(e) = shared.run(stream, conn) {
                    tracing::debug!(?peer, error = %e, "9P connection ended");
                }
                shared
                    .metrics
                    .ninep_sessions
                    .fetch_sub(1, Ordering::Relaxed);
                shared.connections.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            self.metrics.ninep_sessions.fetch_sub(1, Ordering::Relaxed);
            self.connections.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(?peer, error = %e, "9P connection refused: no thread for it");
        }
    }

    fn run<S: Socket>(&self, mut stream: S, conn: Conn) -> io::Result<()> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut stream, SOCKET, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let mut fs: TreeFs = self.tree.connection(Arc::new(move || {
            let _ = waker.wake();
        }));
        let mut session: Session<TreeFs> = Session::new(conn, self.session.clone());
        let mut gauges = Gauges::default();
        let mut io = Io {
            poll,
            events: Events::with_capacity(8),
            stream,
            readable: true,
            woken: false,
        };
        let result = self.pump(&mut io, &mut fs, &mut session, &mut gauges);
        session.close(&mut fs);
        gauges.update(&self.metrics, session.counters());
        result
    }

    fn pump<S: Socket>(
        &self,
        io: &mut Io<S>,
        fs: &mut TreeFs,
        session: &mut Session<TreeFs>,
        gauges: &mut Gauges,
    ) -> io::Result<()> {
        let mut input = Input::default();
        let mut out: Vec<u8> = Vec::new();
        // Blocked reads are retried when a packet comes (the waker), and once a second
        // besides, so that a read on a call that ended without a last packet gets its end of
        // file.
        let mut retried = Instant::now();
        loop {
            // Every whole message in the buffer, as long as the client reads its replies.
            let mut used = 0;
            while session.wants_input() {
                match frame::check(&input.data()[used..], session.msize()) {
                    Frame::Message(n) => {
                        session.handle(fs, &input.data()[used..used + n]);
                        used += n;
                    }
                    Frame::Incomplete => break,
                    Frame::TooBig(size) | Frame::TooSmall(size) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("9P message of {size} bytes (msize {})", session.msize()),
                        ));
                    }
                }
            }
            input.consume(used);
            if !session.output().is_empty() {
                session.swap_output(&mut out);
                io.write_all(&out)?;
            }
            if used > 0 && frame::check(input.data(), session.msize()) != Frame::Incomplete {
                // More whole messages are waiting (the output was full): handle them first.
                continue;
            }
            gauges.update(&self.metrics, session.counters());
            if session.has_pending() && (io.woken || retried.elapsed() >= PENDING_RETRY) {
                io.woken = false;
                retried = Instant::now();
                session.retry_pending(fs);
                continue;
            }
            io.woken = false;
            if io.readable {
                if !io.read(&mut input)? {
                    return Ok(());
                }
                continue;
            }
            let timeout = session
                .has_pending()
                .then(|| PENDING_RETRY.saturating_sub(retried.elapsed()));
            io.wait(timeout)?;
        }
    }
}

/// A connection's socket: TCP or Unix, non-blocking.
trait Socket: io::Read + io::Write + mio::event::Source + Send + 'static {}

impl Socket for mio::net::TcpStream {}

impl Socket for mio::net::UnixStream {}

/// A connection's unhandled input. The buffer is initialised once and reused, so a read
/// needs no zeroing; it holds at most one msize (a partial message) plus one read's room.
#[derive(Default)]
struct Input {
    buf: Vec<u8>,
    len: usize,
}

impl Input {
    fn data(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Drops the first `n` bytes (handled messages).
    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Room for one socket read of at least [`READ_SIZE`] after the data.
    fn room(&mut self) -> &mut [u8] {
        if self.buf.len() - self.len < READ_SIZE {
            self.buf.resize(self.len + READ_SIZE, 0);
        }
        &mut self.buf[self.len..]
    }
}

/// A connection's socket and what its poll has said about it.
struct Io<S> {
    poll: Poll,
    events: Events,
    stream: S,
    /// The socket may have bytes (or end of file) to read: true until a read finds it empty.
    readable: bool,
    /// The tree signalled that a socket file may have a packet.
    woken: bool,
}

impl<S: Socket> Io<S> {
    /// Reads once into `input`'s room. False at end of file.
    fn read(&mut self, input: &mut Input) -> io::Result<bool> {
        let room = input.room();
        let size = room.len();
        match self.stream.read(room) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                input.len += n;
                if n < size {
                    // A stream socket's read takes all it holds, up to the room given: it was
                    // empty then, so the next read waits for the poll's next edge instead of
                    // making a system call that finds nothing (one `recv` saved per request).
                    // Bytes that came after the read raise a new edge.
                    self.readable = false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
            Err(e) => return Err(e),
        }
        Ok(true)
    }

    /// Writes all of `buf`, waiting for room when the socket has none (the client is not
    /// reading): while it waits, this connection reads nothing more, so its input stays
    /// bounded.
    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        let mut watching = false;
        while !buf.is_empty() {
            match self.stream.write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if watching {
                        self.wait(None)?;
                    } else {
                        // Writability is watched only now: watched always, every read the
                        // client makes would wake this thread (a Unix socket signals room
                        // each time its peer reads).
                        self.poll.registry().reregister(
                            &mut self.stream,
                            SOCKET,
                            Interest::READABLE | Interest::WRITABLE,
                        )?;
                        watching = true;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if watching {
            self.poll
                .registry()
                .reregister(&mut self.stream, SOCKET, Interest::READABLE)?;
        }
        Ok(())
    }

    /// Waits for the socket or the tree, at most `timeout`, and notes what came.
    fn wait(&mut self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for event in &self.events {
            match event.token() {
                SOCKET if event.is_readable() || event.is_read_closed() || event.is_error() => {
                    self.readable = true;
                }
                WAKE => self.woken = true,
                _ => {}
            }
        }
        Ok(())
    }
}

/// This connection's share of the global gauges, so that it can add its changes and take
/// itself out at the end.
#[derive(Debug, Default)]
struct Gauges {
    last: Counters,
}

impl Gauges {
    fn update(&mut self, metrics: &Metrics, now: Counters) {
        let apply = |gauge: &std::sync::atomic::AtomicU64, before: usize, after: usize| {
            if after > before {
                gauge.fetch_add((after - before) as u64, Ordering::Relaxed);
            } else if before > after {
                gauge.fetch_sub((before - after) as u64, Ordering::Relaxed);
            }
        };
        apply(&metrics.ninep_open_fids, self.last.fids, now.fids);
        apply(&metrics.ninep_attaches, self.last.attaches, now.attaches);
        apply(
            &metrics.ninep_outstanding_tags,
            self.last.outstanding,
            now.outstanding,
        );
        self.last = now;
    }
}
