//! The 9P2000 listeners (DESIGN.md section 9): TCP (`--ninep`) and the local Unix socket
//! `<data>/switchboard.9p` (mode 0600, trusted: an attach without auth is the operator). One
//! task per connection drives a [`ninep::Session`] over the voip [`Tree`]: it cuts the input
//! into messages at the session's msize, hands each to the session, writes the replies, and
//! retries blocked reads when the tree signals data.
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

use ninep::frame::{self, Frame};
use ninep::server::{Config as SessionConfig, Counters, Session};
use pbx::Metrics;
use pbx::tree::{Conn, Tree, TreeFs};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Notify;

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
                        Arc::clone(&shared).spawn(stream, conn);
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
                        Arc::clone(&shared).spawn(stream, conn);
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

impl Shared {
    fn spawn<S>(self: Arc<Self>, stream: S, conn: Conn)
    where
        S: Stream + Send + 'static,
    {
        if self.connections.fetch_add(1, Ordering::AcqRel) >= self.max_connections {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(peer = ?conn.peer, "9P connection refused: too many connections");
            return;
        }
        Metrics::inc(&self.metrics.ninep_sessions);
        tokio::spawn(async move {
            let peer = conn.peer;
            if let Err(e) = self.run(stream, conn).await {
                tracing::debug!(?peer, error = %e, "9P connection ended");
            }
            self.metrics.ninep_sessions.fetch_sub(1, Ordering::Relaxed);
            self.connections.fetch_sub(1, Ordering::AcqRel);
        });
    }

    async fn run<S: Stream>(&self, stream: S, conn: Conn) -> io::Result<()> {
        let notify = Arc::new(Notify::new());
        let waker = Arc::clone(&notify);
        let mut fs: TreeFs = self.tree.connection(Arc::new(move || waker.notify_one()));
        let mut session: Session<TreeFs> = Session::new(conn, self.session.clone());
        let mut gauges = Gauges::default();
        let result = self
            .pump(stream, &mut fs, &mut session, &notify, &mut gauges)
            .await;
        session.close(&mut fs);
        gauges.update(&self.metrics, session.counters());
        result
    }

    async fn pump<S>(
        &self,
        stream: S,
        fs: &mut TreeFs,
        session: &mut Session<TreeFs>,
        notify: &Notify,
        gauges: &mut Gauges,
    ) -> io::Result<()>
    where
        S: Stream,
    {
        // One stream, no split: writes happen between the reads, never during one, so the
        // halves would only add a lock per operation. The input is read straight into its
        // buffer (no chunk to copy from).
        let mut stream = stream;
        let mut input: Vec<u8> = Vec::with_capacity(READ_SIZE);
        let mut out: Vec<u8> = Vec::new();
        // Blocked reads are retried when a packet comes (the waker), and once a second
        // besides, so that a read on a call that ended without a last packet gets its end of
        // file.
        let mut tick = tokio::time::interval(PENDING_RETRY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Every whole message in the buffer, as long as the client reads its replies.
            let mut used = 0;
            while session.wants_input() {
                match frame::check(&input[used..], session.msize()) {
                    Frame::Message(n) => {
                        session.handle(fs, &input[used..used + n]);
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
            if used == input.len() {
                input.clear();
            } else {
                input.drain(..used);
            }
            if !session.output().is_empty() {
                session.swap_output(&mut out);
                stream.write_all(&out).await?;
            }
            if used > 0 && frame::check(&input, session.msize()) != Frame::Incomplete {
                // More whole messages are waiting (the output was full): handle them first.
                continue;
            }
            gauges.update(&self.metrics, session.counters());
            // Room for one more socket read: the buffer holds at most one msize (a partial
            // message) plus this.
            input.reserve(READ_SIZE);
            let room = input.capacity() - input.len();
            tokio::select! {
                n = stream.read_buf(&mut input) => {
                    let n = n?;
                    if n == 0 {
                        return Ok(());
                    }
                    if n < room {
                        stream.drained();
                    }
                }
                () = notify.notified(), if session.has_pending() => {
                    session.retry_pending(fs);
                }
                _ = tick.tick(), if session.has_pending() => {
                    session.retry_pending(fs);
                }
            }
        }
    }
}

/// A connection's byte stream: TCP or Unix.
trait Stream: AsyncRead + AsyncWrite + Unpin {
    /// Called after a read that returned less than it had room for: the socket was empty
    /// then (a stream socket's read takes all it holds, up to the room given), so its
    /// readiness is cleared and the next read waits for the next edge, rather than first
    /// making a system call that finds nothing (one `recv` saved per request). Bytes that
    /// came after that read raise a new edge, and tokio clears nothing if an edge came since
    /// it last looked, so nothing is missed.
    fn drained(&self);
}

/// Clears a socket's read readiness (tokio's `try_io` does when its closure would block).
fn would_block() -> io::Result<()> {
    Err(io::ErrorKind::WouldBlock.into())
}

impl Stream for tokio::net::TcpStream {
    fn drained(&self) {
        let _ = self.try_io(tokio::io::Interest::READABLE, would_block);
    }
}

impl Stream for tokio::net::UnixStream {
    fn drained(&self) {
        let _ = self.try_io(tokio::io::Interest::READABLE, would_block);
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
