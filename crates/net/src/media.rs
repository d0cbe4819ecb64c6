//! The media engine: the sockets and threads behind [`media::MediaControl`].
//!
//! # Threading
//!
//! A few dedicated relay threads (one per core, up to 4, by default: [`MediaConfig::workers`]),
//! each with its own epoll instance (mio) and its own share of the sessions. A session lives on one thread for
//! its whole life: that thread owns its four sockets and its [`media::Session`] core, so the
//! packet path takes no lock, touches no atomic per packet, allocates nothing, and wakes no
//! task. One `epoll_wait` returns up to 1,024 ready sockets; each is drained (up to 32
//! packets, then it waits its turn again) with `recvmmsg` (nix's safe wrapper), up to 8 packets
//! a call into buffers allocated once per thread; the core decides, and `sendto` relays the
//! same bytes. A batch shorter than 8 found the socket empty and ends the drain: with
//! edge-triggered readiness a `recvfrom` loop needs one more read that finds nothing, a third
//! system call for the usual single packet.
//!
//! Why not one tokio task per session: every packet would then pay a task wake-up and a trip
//! through tokio's scheduler on top of the same system calls, on the runtime that also serves
//! SIP. Measured in `bench/media` (`bench/RESULTS.md`, "Media relay") with the same core and
//! sockets at 50,000 packets/s: 1.03 to 1.52 times the CPU per packet of these threads. Both
//! spend over 90 % of their time in the kernel's send and receive. `sendmmsg` would not pay
//! here: each socket sends one packet per 20 ms, so there is nothing to batch per socket.
//!
//! The sockets are not connected. A UDP socket connected to the latched address would let the
//! kernel skip the route lookup of each send, but it would also stop receiving from any other
//! address: a phone whose NAT mapping changes could not re-latch, and the strangers that the
//! RTP-bleed rule drops (and counts) would vanish unseen. Keeping both would take a second,
//! connected socket on the same port (`SO_REUSEPORT`), which lets any process of the same user
//! bind our media ports; `bench/media`'s floor relay measures what connecting would save.
//!
//! The control side ([`MediaControl`] methods, called from the call manager's tasks) binds and
//! closes sockets under one mutex and passes commands to the owning thread over a bounded
//! queue, waking it through mio's waker. `open` fails with `Busy` when the queue is full;
//! later commands for an admitted session wait for room instead of being lost. Statistics are
//! published by each thread every [`MediaConfig::stats_interval`] into a per-session cell that
//! [`MediaControl::stats`] reads; global counters for `/metrics` are atomics added to once per
//! poll round.
//!
//! # Taps and injection
//!
//! A tap ([`MediaControl::tap`]) is a command to the session's thread, which keeps the
//! session's taps in a vector: a session without taps checks that the vector is empty and
//! nothing more. A tapped packet is copied, before the core may rewrite its payload type,
//! into a per-thread scratch buffer, and pushed to the tap's [`PacketQueue`] once the core has
//! accepted it (a stranger's packets are never tapped). RTCP for [`TapKind::RtcpHep`] taps and
//! for the `--hep` export ([`MediaConfig::hep_export`]) becomes Homer's JSON
//! ([`hep::rtcp::to_json`]) in a HEP3 frame of type 5, encoded once per packet into reused
//! buffers. Injection ([`MediaControl::inject`]) copies the packet into the session's
//! per-leg [`PacketQueue`] (reused slots) and wakes the thread, which sends it from the leg's
//! RTP socket to the leg's latched address, or its SDP address before latching.

use std::collections::HashMap;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use media::rtp::demux;
use media::{
    AddressFamily, Component, Direction, DropReason, Leg, LegRemote, LocalLeg, MediaControl,
    MediaError, PacketKind, PacketQueue, PortAllocator, PortPair, PortRange, PtMap, RtpPacket,
    Session, SessionId, SessionInfo, SessionOptions, SessionStats, TapId, TapKind, Verdict,
};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};

/// How the media engine binds and runs.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// IPv4 address the sockets bind to; `None` disables IPv4 legs.
    pub bind_v4: Option<Ipv4Addr>,
    /// IPv6 address the sockets bind to (IPv6 only, `IPV6_V6ONLY`); `None` disables IPv6 legs.
    pub bind_v6: Option<Ipv6Addr>,
    /// The IPv4 address put in SDP (`--advertise`), when the bind address is unspecified or
    /// the PBX sits behind a 1:1 NAT.
    pub advertise_v4: Option<Ipv4Addr>,
    /// The IPv6 address put in SDP.
    pub advertise_v6: Option<Ipv6Addr>,
    /// Ports for RTP/RTCP pairs (`--rtp-ports`).
    pub ports: PortRange,
    /// How long a released pair waits before another session gets it.
    pub quarantine: Duration,
    /// Relay threads; each session lives on one, the least loaded when it opens.
    pub workers: usize,
    /// Most sessions open at once (each needs two port pairs); `open` beyond it fails with
    /// `TooManySessions`.
    pub max_sessions: usize,
    /// `SO_RCVBUF`/`SO_SNDBUF` asked for each socket; `None` keeps the kernel's default
    /// (about 208 KiB, some 1,200 G.711 packets: far more than a 20 ms stream can queue).
    pub socket_buffer: Option<usize>,
    /// How often each relay thread publishes per-session statistics for `stats`.
    pub stats_interval: Duration,
    /// Commands queued per relay thread before `open` answers `Busy`.
    pub command_queue: usize,
    /// Who captures, in the HEP frames of RTCP taps and of the export.
    pub hep_agent: hep::Agent,
    /// The `--hep` export: when set, every session's RTCP also goes here as HEP3 frames.
    pub hep_export: Option<PacketQueue>,
    /// Run the relay threads under `SCHED_FIFO` at this priority (1-99), so that a packet
    /// waits for no ordinary process's time slice; `None` (the default) leaves them on the
    /// normal scheduler. Where the OS refuses (no `CAP_SYS_NICE`, an `RLIMIT_RTPRIO` below
    /// it), one warning is logged and the threads run as usual: [`MediaEngine::realtime`].
    ///
    /// The price: a real-time thread wakes for every packet at once instead of finding
    /// several queued, so it spends more CPU per packet (`bench/media`, 2 threads on 2 cores:
    /// 22 µs against 13 at 500 calls, 17-19 against 6.5-6.8 at 1,000), and it takes its
    /// cores before any ordinary process does (at 1,000 calls the load generator beside it
    /// got only 54-60 % of its packets out). For a box that relays and little else.
    pub realtime_priority: Option<u8>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            bind_v4: Some(Ipv4Addr::UNSPECIFIED),
            bind_v6: None,
            advertise_v4: None,
            advertise_v6: None,
            ports: PortRange::default(),
            quarantine: Duration::from_secs(10),
            // One per core, up to 4: on the 2-core bench machine one thread relays 1,000 calls
            // with CPU to spare, but loses packets when another process holds its core;
            // two did not (bench/RESULTS.md, "Media relay").
            workers: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            max_sessions: 2500,
            socket_buffer: None,
            stats_interval: Duration::from_millis(100),
            command_queue: 4096,
            hep_agent: hep::Agent::default(),
            hep_export: None,
            realtime_priority: None,
        }
    }
}

/// What became of [`MediaConfig::realtime_priority`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Realtime {
    /// Not asked for: the threads run on the normal scheduler.
    Off,
    /// Every relay thread runs under `SCHED_FIFO` at this priority.
    Applied {
        /// The priority.
        priority: u8,
    },
    /// Asked for and refused by the OS (or out of range): the threads run on the normal
    /// scheduler.
    Refused {
        /// The priority asked for.
        priority: u8,
        /// Why, as the OS said it.
        reason: String,
    },
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaStartError {
    /// Neither an IPv4 nor an IPv6 bind address.
    #[error("media engine has no bind address")]
    NoAddress,
    /// Zero workers, or a zero session bound.
    #[error("invalid media configuration: {0}")]
    Config(&'static str),
    /// The poller, its waker or a thread could not be created.
    #[error("cannot start media relay thread")]
    Io(#[from] io::Error),
}

/// Global counters for `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    relayed: AtomicU64,
    dropped: AtomicU64,
    active: AtomicU64,
}

/// Packets the relay threads take from one socket before serving the others.
const DRAIN_BUDGET: usize = 32;
/// Ready sockets handled per `epoll_wait`.
const EVENTS: usize = 1024;
/// Port pairs tried per leg when pairs turn out to be held by another process.
const BIND_TRIES: usize = 64;
/// Large enough for any UDP datagram, so nothing is ever truncated.
const RECV_BUFFER: usize = 65536;
/// Injected packets waiting per leg for their relay thread; beyond it the oldest are dropped.
const INJECT_QUEUE: usize = 32;
const WAKER: Token = Token(usize::MAX);

/// The media engine: relay threads, sockets, port allocation. Implements [`MediaControl`].
///
/// Dropping it stops its threads, closes every socket and so releases every port.
pub struct MediaEngine {
    config: MediaConfig,
    control: Mutex<Control>,
    workers: Vec<WorkerHandle>,
    counters: Arc<Counters>,
    next_tap: AtomicU64,
    realtime: Realtime,
}

struct WorkerHandle {
    tx: SyncSender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

struct Control {
    allocator: PortAllocator,
    sessions: HashMap<SessionId, Entry>,
    next_id: u64,
    /// Sessions per worker.
    load: Vec<usize>,
}

struct Entry {
    worker: usize,
    pairs: [PortPair; 2],
    stats: Arc<Mutex<SessionStats>>,
    taps: Vec<TapId>,
    /// Packets to inject toward leg A's and leg B's party.
    inject: [PacketQueue; 2],
}

enum Command {
    Open(Box<NewSession>),
    SetRemote(SessionId, Leg, LegRemote),
    SetPtMap(SessionId, Direction, Box<PtMap>),
    Close(SessionId),
    Tap(SessionId, SlotTap),
    Untap(SessionId, TapId),
    /// Send what waits in the session's inject queue of this leg.
    Inject(SessionId, Leg),
    Shutdown,
}

struct NewSession {
    id: SessionId,
    session: Session,
    sockets: [[UdpSocket; 2]; 2],
    stats: Arc<Mutex<SessionStats>>,
    local: [LocalLeg; 2],
    correlation: Option<Arc<str>>,
    inject: [PacketQueue; 2],
}

/// A tap as its relay thread keeps it.
struct SlotTap {
    id: TapId,
    leg: Leg,
    kind: TapKind,
    queue: PacketQueue,
}

impl std::fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEngine")
            .field("config", &self.config)
            .field("active_sessions", &self.active_sessions())
            .finish_non_exhaustive()
    }
}

impl MediaEngine {
    /// Starts the relay threads. Sockets are bound per session, by `open`.
    pub fn start(config: MediaConfig) -> Result<Self, MediaStartError> {
        if config.bind_v4.is_none() && config.bind_v6.is_none() {
            return Err(MediaStartError::NoAddress);
        }
        if config.workers == 0 {
            return Err(MediaStartError::Config("workers must be at least 1"));
        }
        if config.max_sessions == 0 || config.command_queue == 0 {
            return Err(MediaStartError::Config(
                "max_sessions and command_queue must be > 0",
            ));
        }
        let counters = Arc::new(Counters::default());
        let guard = LoopGuard::new(&config);
        let mut workers = Vec::with_capacity(config.workers);
        let (applied_tx, applied_rx) = std::sync::mpsc::channel();
        for n in 0..config.workers {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let (tx, rx) = sync_channel(config.command_queue);
            let worker = Worker {
                poll,
                rx,
                slots: Vec::new(),
                free: Vec::new(),
                by_id: HashMap::new(),
                counters: Arc::clone(&counters),
                guard: guard.clone(),
                stats_interval: config.stats_interval,
                agent: config.hep_agent.clone(),
                export: config.hep_export.clone(),
                scratch: Scratch::default(),
            };
            let priority = config.realtime_priority;
            let applied = applied_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("media-relay-{n}"))
                .spawn(move || {
                    if let Some(priority) = priority {
                        let _ = applied.send(set_realtime(priority));
                    }
                    drop(applied);
                    worker.run()
                })?;
            workers.push(WorkerHandle {
                tx,
                waker,
                thread: Some(thread),
            });
        }
        drop(applied_tx);
        let realtime = match config.realtime_priority {
            None => Realtime::Off,
            Some(priority) => {
                // One answer per thread; a thread that died before answering ends the wait.
                let answers: Vec<Result<(), String>> = applied_rx.iter().collect();
                let refused = if answers.len() < workers.len() {
                    Some("a relay thread ended before it answered".to_owned())
                } else {
                    answers.into_iter().find_map(Result::err)
                };
                match refused {
                    None => {
                        tracing::info!(priority, "media relay threads run under SCHED_FIFO");
                        Realtime::Applied { priority }
                    }
                    Some(reason) => {
                        tracing::warn!(
                            priority,
                            %reason,
                            "media relay threads stay on the normal scheduler: SCHED_FIFO refused"
                        );
                        Realtime::Refused { priority, reason }
                    }
                }
            }
        };
        let control = Control {
            allocator: PortAllocator::new(config.ports, config.quarantine),
            sessions: HashMap::new(),
            next_id: 0,
            load: vec![0; config.workers],
        };
        Ok(Self {
            config,
            control: Mutex::new(control),
            workers,
            counters,
            next_tap: AtomicU64::new(0),
            realtime,
        })
    }

    /// Whether the relay threads run under `SCHED_FIFO` ([`MediaConfig::realtime_priority`]).
    pub fn realtime(&self) -> &Realtime {
        &self.realtime
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &MediaConfig {
        &self.config
    }

    /// Packets relayed since start (`switchboard_rtp_packets_relayed_total`).
    pub fn packets_relayed(&self) -> u64 {
        self.counters.relayed.load(Ordering::Relaxed)
    }

    /// Packets dropped since start, for any reason
    /// (`switchboard_rtp_packets_dropped_total`).
    pub fn packets_dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Sessions open now.
    pub fn active_sessions(&self) -> u64 {
        self.counters.active.load(Ordering::Relaxed)
    }

    /// Port pairs in use now.
    pub fn ports_in_use(&self) -> usize {
        self.lock().allocator.in_use()
    }

    /// Port pairs released and still in quarantine.
    pub fn ports_quarantined(&self) -> usize {
        self.lock().allocator.quarantined(Instant::now())
    }

    fn lock(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bind_ip(&self, family: AddressFamily) -> Result<IpAddr, MediaError> {
        match family {
            AddressFamily::V4 => self.config.bind_v4.map(IpAddr::V4),
            AddressFamily::V6 => self.config.bind_v6.map(IpAddr::V6),
        }
        .ok_or(MediaError::FamilyDisabled(family))
    }

    fn local(&self, bound: IpAddr, pair: PortPair) -> LocalLeg {
        let ip = match bound {
            IpAddr::V4(_) => self.config.advertise_v4.map(IpAddr::V4),
            IpAddr::V6(_) => self.config.advertise_v6.map(IpAddr::V6),
        }
        .unwrap_or(bound);
        LocalLeg {
            rtp: SocketAddr::new(ip, pair.rtp()),
            rtcp: SocketAddr::new(ip, pair.rtcp()),
        }
    }

    /// Binds a free pair on `ip`, skipping pairs another process holds.
    fn bind_pair(
        &self,
        allocator: &mut PortAllocator,
        ip: IpAddr,
        now: Instant,
    ) -> Result<(PortPair, [UdpSocket; 2]), MediaError> {
        for _ in 0..BIND_TRIES {
            let pair = allocator.allocate(now).ok_or(MediaError::NoPorts)?;
            let rtp = bind_udp(SocketAddr::new(ip, pair.rtp()), self.config.socket_buffer);
            let rtcp = bind_udp(SocketAddr::new(ip, pair.rtcp()), self.config.socket_buffer);
            match (rtp, rtcp) {
                (Ok(rtp), Ok(rtcp)) => return Ok((pair, [rtp, rtcp])),
                (Err(e), _) | (_, Err(e)) => {
                    allocator.release_unusable(pair, now);
                    if e.kind() != io::ErrorKind::AddrInUse {
                        return Err(MediaError::Bind {
                            addr: SocketAddr::new(ip, pair.rtp()),
                            kind: e.kind(),
                        });
                    }
                    tracing::debug!(?pair, "media port pair taken by another process, skipped");
                }
            }
        }
        Err(MediaError::NoPorts)
    }

    /// Queues a command for an admitted session, waiting for room rather than losing it.
    fn command(&self, id: SessionId, cmd: impl FnOnce() -> Command) -> Result<(), MediaError> {
        let worker = {
            let control = self.lock();
            control
                .sessions
                .get(&id)
                .ok_or(MediaError::UnknownSession(id))?
                .worker
        };
        self.send(worker, cmd())
    }

    fn send(&self, worker: usize, cmd: Command) -> Result<(), MediaError> {
        let handle = self.workers.get(worker).ok_or(MediaError::Stopped)?;
        handle.tx.send(cmd).map_err(|_| MediaError::Stopped)?;
        // A failed wake means the thread is gone; the send above would have failed first.
        let _ = handle.waker.wake();
        Ok(())
    }
}

impl MediaControl for MediaEngine {
    fn open(&self, options: SessionOptions) -> Result<SessionInfo, MediaError> {
        let ips = [
            self.bind_ip(options.family[0])?,
            self.bind_ip(options.family[1])?,
        ];
        let now = Instant::now();
        let mut control = self.lock();
        if control.sessions.len() >= self.config.max_sessions {
            return Err(MediaError::TooManySessions {
                limit: self.config.max_sessions,
            });
        }
        let (pair_a, sockets_a) = self.bind_pair(&mut control.allocator, ips[0], now)?;
        let (pair_b, sockets_b) = match self.bind_pair(&mut control.allocator, ips[1], now) {
            Ok(b) => b,
            Err(e) => {
                control.allocator.release(pair_a, now);
                return Err(e);
            }
        };
        let worker = (0..self.workers.len())
            .min_by_key(|&w| control.load[w])
            .unwrap_or(0);
        control.next_id += 1;
        let id = SessionId(control.next_id);
        let stats = Arc::new(Mutex::new(SessionStats::default()));
        let local = [self.local(ips[0], pair_a), self.local(ips[1], pair_b)];
        let inject = [
            PacketQueue::unwoken(INJECT_QUEUE),
            PacketQueue::unwoken(INJECT_QUEUE),
        ];
        let new = NewSession {
            id,
            session: Session::new(options.core),
            sockets: [sockets_a, sockets_b],
            stats: Arc::clone(&stats),
            local,
            correlation: options.correlation,
            inject: inject.clone(),
        };
        let handle = &self.workers[worker];
        if let Err(e) = handle.tx.try_send(Command::Open(Box::new(new))) {
            control.allocator.release(pair_a, now);
            control.allocator.release(pair_b, now);
            return Err(match e {
                TrySendError::Full(_) => MediaError::Busy,
                TrySendError::Disconnected(_) => MediaError::Stopped,
            });
        }
        let _ = handle.waker.wake();
        control.sessions.insert(
            id,
            Entry {
                worker,
                pairs: [pair_a, pair_b],
                stats,
                taps: Vec::new(),
                inject,
            },
        );
        control.load[worker] += 1;
        self.counters
            .active
            .store(control.sessions.len() as u64, Ordering::Relaxed);
        let info = SessionInfo { id, legs: local };
        tracing::debug!(%id, a = %info.legs[0].rtp, b = %info.legs[1].rtp, "media session open");
        Ok(info)
    }

    fn set_remote(&self, id: SessionId, leg: Leg, remote: LegRemote) -> Result<(), MediaError> {
        self.command(id, || Command::SetRemote(id, leg, remote))
    }

    fn set_pt_map(
        &self,
        id: SessionId,
        direction: Direction,
        map: PtMap,
    ) -> Result<(), MediaError> {
        self.command(id, || Command::SetPtMap(id, direction, Box::new(map)))
    }

    fn stats(&self, id: SessionId) -> Option<SessionStats> {
        let cell = Arc::clone(&self.lock().sessions.get(&id)?.stats);
        let stats = *cell.lock().unwrap_or_else(|e| e.into_inner());
        Some(stats)
    }

    fn close(&self, id: SessionId) -> Result<(), MediaError> {
        let now = Instant::now();
        let worker = {
            let mut control = self.lock();
            let entry = control
                .sessions
                .remove(&id)
                .ok_or(MediaError::UnknownSession(id))?;
            for pair in entry.pairs {
                control.allocator.release(pair, now);
            }
            control.load[entry.worker] = control.load[entry.worker].saturating_sub(1);
            self.counters
                .active
                .store(control.sessions.len() as u64, Ordering::Relaxed);
            entry.worker
        };
        tracing::debug!(%id, "media session closed");
        self.send(worker, Command::Close(id))
    }

    fn tap(
        &self,
        id: SessionId,
        leg: Leg,
        kind: TapKind,
        queue: PacketQueue,
    ) -> Result<TapId, MediaError> {
        let tap = TapId(self.next_tap.fetch_add(1, Ordering::Relaxed) + 1);
        let worker = {
            let mut control = self.lock();
            let entry = control
                .sessions
                .get_mut(&id)
                .ok_or(MediaError::UnknownSession(id))?;
            entry.taps.push(tap);
            entry.worker
        };
        let slot_tap = SlotTap {
            id: tap,
            leg,
            kind,
            queue,
        };
        self.send(worker, Command::Tap(id, slot_tap))?;
        tracing::debug!(%id, ?tap, ?leg, ?kind, "media tap");
        Ok(tap)
    }

    fn untap(&self, id: SessionId, tap: TapId) -> Result<(), MediaError> {
        let worker = {
            let mut control = self.lock();
            let entry = control
                .sessions
                .get_mut(&id)
                .ok_or(MediaError::UnknownSession(id))?;
            let at = entry
                .taps
                .iter()
                .position(|t| *t == tap)
                .ok_or(MediaError::UnknownTap(tap))?;
            entry.taps.swap_remove(at);
            entry.worker
        };
        self.send(worker, Command::Untap(id, tap))
    }

    fn inject(&self, id: SessionId, leg: Leg, packet: &[u8]) -> Result<(), MediaError> {
        if RtpPacket::parse(packet).is_err() {
            return Err(MediaError::NotRtp);
        }
        let (worker, queue) = {
            let control = self.lock();
            let entry = control
                .sessions
                .get(&id)
                .ok_or(MediaError::UnknownSession(id))?;
            (entry.worker, entry.inject[leg.index()].clone())
        };
        queue.push(packet);
        self.send(worker, Command::Inject(id, leg))
    }
}

impl Drop for MediaEngine {
    fn drop(&mut self) {
        for handle in &self.workers {
            let _ = handle.tx.send(Command::Shutdown);
            let _ = handle.waker.wake();
        }
        for handle in &mut self.workers {
            if let Some(thread) = handle.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Puts the calling thread under `SCHED_FIFO` at `priority`.
fn set_realtime(priority: u8) -> Result<(), String> {
    use thread_priority::{
        RealtimeThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let value = ThreadPriority::try_from(priority).map_err(str::to_owned)?;
    set_thread_priority_and_policy(
        thread_native_id(),
        value,
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    )
    .map_err(|e| match e {
        thread_priority::Error::OS(errno) => io::Error::from_raw_os_error(errno).to_string(),
        other => other.to_string(),
    })
}

/// Binds one non-blocking UDP socket (IPv6 only for IPv6 addresses).
fn bind_udp(addr: SocketAddr, buffer: Option<usize>) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if let Some(size) = buffer {
        // Best effort: the kernel caps these at rmem_max/wmem_max.
        let _ = socket.set_recv_buffer_size(size);
        let _ = socket.set_send_buffer_size(size);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(UdpSocket::from_std(socket.into()))
}

/// Destinations that are the relay itself: an SDP naming our own ports must not make a
/// packet loop between our sockets.
#[derive(Debug, Clone)]
struct LoopGuard {
    ports: PortRange,
    ips: Vec<IpAddr>,
    any_local: bool,
}

impl LoopGuard {
    fn new(config: &MediaConfig) -> Self {
        let mut ips = Vec::new();
        let mut any_local = false;
        for ip in [
            config.bind_v4.map(IpAddr::V4),
            config.bind_v6.map(IpAddr::V6),
            config.advertise_v4.map(IpAddr::V4),
            config.advertise_v6.map(IpAddr::V6),
        ]
        .into_iter()
        .flatten()
        {
            any_local |= ip.is_unspecified();
            ips.push(ip);
        }
        Self {
            ports: config.ports,
            ips,
            any_local,
        }
    }

    fn is_own(&self, to: SocketAddr) -> bool {
        if !self.ports.contains(to.port()) {
            return false;
        }
        let ip = to.ip().to_canonical();
        self.ips.contains(&ip) || (self.any_local && (ip.is_loopback() || ip.is_unspecified()))
    }
}

/// One relay thread: its poller, its sessions, its command queue.
struct Worker {
    poll: Poll,
    rx: Receiver<Command>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<SessionId, usize>,
    counters: Arc<Counters>,
    guard: LoopGuard,
    stats_interval: Duration,
    agent: hep::Agent,
    export: Option<PacketQueue>,
    scratch: Scratch,
}

struct Slot {
    session: Session,
    sockets: [[UdpSocket; 2]; 2],
    stats: Arc<Mutex<SessionStats>>,
    /// The PBX's side of each leg: the destination in HEP frames of what arrives there.
    local: [LocalLeg; 2],
    correlation: Option<Arc<str>>,
    inject: [PacketQueue; 2],
    /// Empty for nearly every session: then tapping costs one length check per packet.
    taps: Vec<SlotTap>,
}

/// Buffers a relay thread reuses for taps: the packet as it arrived, its RTCP as JSON, the
/// HEP frame. They grow to the largest packet once and are never freed.
#[derive(Default)]
struct Scratch {
    packet: Vec<u8>,
    json: Vec<u8>,
    frame: Vec<u8>,
}

/// What one tapped packet needs: its kind, and whether anything wants it.
fn tap_wanted(
    taps: &[SlotTap],
    export: bool,
    leg: Leg,
    component: Component,
    packet: &[u8],
) -> Option<PacketKind> {
    let kind = match component {
        Component::Rtcp => PacketKind::Rtcp,
        Component::Rtp => demux(packet)?,
    };
    let wanted = match kind {
        PacketKind::Rtp => taps.iter().any(|t| t.leg == leg && t.kind == TapKind::Rtp),
        PacketKind::Rtcp => {
            export
                || taps
                    .iter()
                    .any(|t| t.leg == leg && t.kind == TapKind::RtcpHep)
        }
    };
    wanted.then_some(kind)
}

/// Packets one `recvmmsg` takes from a socket. A stream sends one packet per 20 ms, so a
/// socket nearly always holds one: the batch is for a socket that queued while its thread
/// waited for a core.
const BATCH: usize = 8;

/// A relay thread's receive buffers and `recvmmsg` headers, allocated once.
struct RecvBatch {
    headers: MultiHeaders<SockaddrStorage>,
    bufs: Box<[[u8; RECV_BUFFER]; BATCH]>,
    /// Length and source of each packet of the last batch.
    got: [(usize, Option<SocketAddr>); BATCH],
}

impl RecvBatch {
    fn new() -> Self {
        Self {
            headers: MultiHeaders::preallocate(BATCH, None),
            bufs: Box::new([[0; RECV_BUFFER]; BATCH]),
            got: [(0, None); BATCH],
        }
    }

    /// Receives up to [`BATCH`] packets from `socket` into `bufs` and `got`: how many.
    fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let mut iovs = self.bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
        let results = recvmmsg(
            socket.as_raw_fd(),
            &mut self.headers,
            iovs.iter_mut(),
            MsgFlags::empty(),
            None,
        )
        .map_err(io::Error::from)?;
        let mut n = 0;
        for (slot, message) in self.got.iter_mut().zip(results) {
            let source = message.address.and_then(|a| socket_addr(&a));
            *slot = (message.bytes, source);
            n += 1;
        }
        Ok(n)
    }
}

/// The standard form of a received packet's source.
fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

/// Counts of one poll round, added to the global atomics once per round.
#[derive(Default)]
struct Round {
    relayed: u64,
    dropped: u64,
}

fn token(slot: usize, leg: usize, component: usize) -> Token {
    Token(slot << 2 | leg << 1 | component)
}

const LEGS: [Leg; 2] = [Leg::A, Leg::B];
const COMPONENTS: [Component; 2] = [Component::Rtp, Component::Rtcp];

impl Worker {
    fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        let mut batch = RecvBatch::new();
        // Sockets that still had packets when their budget ran out; served next round.
        let mut again: Vec<Token> = Vec::with_capacity(EVENTS);
        let mut serving: Vec<Token> = Vec::with_capacity(EVENTS);
        let mut next_publish = Instant::now() + self.stats_interval;
        loop {
            let timeout = if again.is_empty() {
                next_publish.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                tracing::error!(error = %e, "media relay poll failed; relay thread stops");
                return;
            }
            let now = Instant::now();
            let mut round = Round::default();
            serving.clear();
            serving.extend(events.iter().map(|e| e.token()));
            if !again.is_empty() {
                // A socket both left over and ready again is served once, so that `again`
                // never holds a token twice and stays bounded by the number of sockets.
                serving.append(&mut again);
                serving.sort_unstable_by_key(|t| t.0);
                serving.dedup();
            }
            for &token in &serving {
                if token == WAKER {
                    if !self.commands() {
                        return;
                    }
                } else if self.drain(token, now, &mut batch, &mut round) {
                    again.push(token);
                }
            }
            if round.relayed > 0 {
                self.counters
                    .relayed
                    .fetch_add(round.relayed, Ordering::Relaxed);
            }
            if round.dropped > 0 {
                self.counters
                    .dropped
                    .fetch_add(round.dropped, Ordering::Relaxed);
            }
            if now >= next_publish {
                self.publish();
                next_publish = now + self.stats_interval;
            }
        }
    }

    /// Relays what is queued on one socket, up to the budget. True: budget spent, more may
    /// be waiting.
    ///
    /// Packets come in batches of up to [`BATCH`] (`recvmmsg`); a batch shorter than that
    /// found the socket empty, which ends the drain without the extra read that would only
    /// say so (edge-triggered readiness fires again for whatever arrives after it).
    fn drain(
        &mut self,
        token: Token,
        now: Instant,
        batch: &mut RecvBatch,
        round: &mut Round,
    ) -> bool {
        let (index, leg, component) = (
            token.0 >> 2,
            LEGS[token.0 >> 1 & 1],
            COMPONENTS[token.0 & 1],
        );
        let Some(Some(slot)) = self.slots.get_mut(index) else {
            return false;
        };
        let mut taken = 0;
        while taken < DRAIN_BUDGET {
            let got = match batch.receive(&slot.sockets[leg.index()][component.index()]) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                // An ICMP error reported on the socket, or an interrupted call: try again.
                Err(_) => {
                    taken += 1;
                    continue;
                }
            };
            taken += got;
            for (buf, &(len, source)) in batch.bufs.iter_mut().zip(&batch.got[..got]) {
                let Some(source) = source else {
                    continue;
                };
                let Some(packet) = buf.get_mut(..len) else {
                    continue;
                };
                // Taps get the packet as it arrived: copy it before the core rewrites it.
                let tapped = if slot.taps.is_empty() && self.export.is_none() {
                    None
                } else {
                    tap_wanted(&slot.taps, self.export.is_some(), leg, component, packet)
                };
                if tapped.is_some() {
                    self.scratch.packet.clear();
                    self.scratch.packet.extend_from_slice(packet);
                }
                let verdict = slot.session.on_packet(leg, component, source, now, packet);
                // Accepted from the leg's party, whether or not it could be relayed.
                if let Some(kind) = tapped
                    && matches!(
                        verdict,
                        Verdict::Forward { .. } | Verdict::Drop(DropReason::NoDestination)
                    )
                {
                    let to = match component {
                        Component::Rtp => slot.local[leg.index()].rtp,
                        Component::Rtcp => slot.local[leg.index()].rtcp,
                    };
                    deliver(
                        kind,
                        leg,
                        source,
                        to,
                        slot,
                        &mut self.scratch,
                        &self.agent,
                        self.export.as_ref(),
                    );
                }
                match verdict {
                    Verdict::Forward {
                        kind,
                        via,
                        component: out,
                        to,
                    } => {
                        let reason = if self.guard.is_own(to) {
                            Some(DropReason::Loop)
                        } else {
                            match slot.sockets[via.index()][out.index()].send_to(packet, to) {
                                Ok(_) => None,
                                Err(_) => Some(DropReason::SendFailed),
                            }
                        };
                        match reason {
                            None => round.relayed += 1,
                            Some(reason) => {
                                slot.session.record_drop(leg, kind, len, reason);
                                round.dropped += 1;
                            }
                        }
                    }
                    Verdict::Drop(_) => round.dropped += 1,
                }
            }
            if got < BATCH {
                return false;
            }
        }
        true
    }

    /// Applies queued commands. False: shut down.
    fn commands(&mut self) -> bool {
        loop {
            let cmd = match self.rx.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            };
            match cmd {
                Command::Open(new) => self.open(*new),
                Command::SetRemote(id, leg, remote) => {
                    if let Some(slot) = self.slot(id) {
                        slot.session.set_remote(leg, remote);
                    }
                }
                Command::SetPtMap(id, direction, map) => {
                    if let Some(slot) = self.slot(id) {
                        slot.session.set_pt_map(direction, *map);
                    }
                }
                Command::Close(id) => {
                    if let Some(index) = self.by_id.remove(&id) {
                        // Dropping the sockets closes them, which also removes them from epoll.
                        if let Some(slot) = self.slots.get_mut(index).and_then(Option::take) {
                            *slot.stats.lock().unwrap_or_else(|e| e.into_inner()) =
                                slot.session.stats();
                        }
                        self.free.push(index);
                    }
                }
                Command::Tap(id, tap) => {
                    if let Some(slot) = self.slot(id) {
                        slot.taps.push(tap);
                    }
                }
                Command::Untap(id, tap) => {
                    if let Some(slot) = self.slot(id) {
                        slot.taps.retain(|t| t.id != tap);
                    }
                }
                Command::Inject(id, leg) => self.inject(id, leg),
                Command::Shutdown => return false,
            }
        }
    }

    /// Sends what waits to be injected toward `leg`'s party, from its RTP socket.
    fn inject(&mut self, id: SessionId, leg: Leg) {
        let Some(&index) = self.by_id.get(&id) else {
            return;
        };
        let Some(Some(slot)) = self.slots.get_mut(index) else {
            return;
        };
        let packet = &mut self.scratch.packet;
        while slot.inject[leg.index()].pop_into(packet) {
            // Where the relay sends this leg's media: the latched source, else the SDP's.
            let to = slot.session.stats().leg(leg).latched_rtp.or_else(|| {
                slot.session
                    .remote(leg)
                    .and_then(|r| r.rtp)
                    .filter(|a| !a.ip().is_unspecified() && a.port() != 0)
            });
            let Some(to) = to.filter(|to| !self.guard.is_own(*to)) else {
                tracing::trace!(%id, ?leg, "injected packet has no destination, dropped");
                continue;
            };
            if let Err(e) = slot.sockets[leg.index()][Component::Rtp.index()].send_to(packet, to) {
                tracing::trace!(%id, ?leg, error = %e, "injected packet not sent");
            }
        }
    }

    fn slot(&mut self, id: SessionId) -> Option<&mut Slot> {
        let index = *self.by_id.get(&id)?;
        self.slots.get_mut(index)?.as_mut()
    }

    fn open(&mut self, new: NewSession) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let NewSession {
            id,
            session,
            mut sockets,
            stats,
            local,
            correlation,
            inject,
        } = new;
        for (l, pair) in sockets.iter_mut().enumerate() {
            for (c, socket) in pair.iter_mut().enumerate() {
                if let Err(e) =
                    self.poll
                        .registry()
                        .register(socket, token(index, l, c), Interest::READABLE)
                {
                    // The session stays open but deaf; its ports are released on close.
                    tracing::error!(%id, error = %e, "cannot register media socket");
                }
            }
        }
        self.slots[index] = Some(Slot {
            session,
            sockets,
            stats,
            local,
            correlation,
            inject,
            taps: Vec::new(),
        });
        self.by_id.insert(id, index);
    }

    fn publish(&self) {
        for slot in self.slots.iter().flatten() {
            *slot.stats.lock().unwrap_or_else(|e| e.into_inner()) = slot.session.stats();
        }
    }
}

/// Hands one accepted packet (its copy as it arrived is in `scratch.packet`) to the taps of
/// its leg and kind, and RTCP to the export.
#[allow(clippy::too_many_arguments)]
fn deliver(
    kind: PacketKind,
    leg: Leg,
    source: SocketAddr,
    to: SocketAddr,
    slot: &Slot,
    scratch: &mut Scratch,
    agent: &hep::Agent,
    export: Option<&PacketQueue>,
) {
    let Scratch {
        packet,
        json,
        frame,
    } = scratch;
    if kind == PacketKind::Rtp {
        for tap in slot
            .taps
            .iter()
            .filter(|t| t.leg == leg && t.kind == TapKind::Rtp)
        {
            tap.queue.push(packet);
        }
        return;
    }
    json.clear();
    if let Err(e) = hep::rtcp::to_json(packet, json) {
        tracing::trace!(error = %e, "rtcp not captured");
        return;
    }
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let hep = hep::Frame {
        src: source,
        dst: to,
        ip_proto: hep::IpProto::UDP,
        time: hep::Timestamp::from_unix(since_epoch),
        proto: hep::ProtoType::RTCP,
        capture_id: agent.capture_id,
        auth_key: agent.auth_key.as_deref(),
        correlation_id: slot.correlation.as_deref().map(str::as_bytes),
        payload: json,
    };
    frame.clear();
    if hep.encode(frame).is_err() {
        return;
    }
    for tap in slot
        .taps
        .iter()
        .filter(|t| t.leg == leg && t.kind == TapKind::RtcpHep)
    {
        tap.queue.push(frame);
    }
    if let Some(export) = export {
        export.push(frame);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn loop_guard_knows_our_own_addresses() {
        let config = MediaConfig {
            bind_v4: Some(Ipv4Addr::UNSPECIFIED),
            advertise_v4: Some(Ipv4Addr::new(192, 0, 2, 10)),
            ports: PortRange::new(20000, 20099).unwrap(),
            ..MediaConfig::default()
        };
        let guard = LoopGuard::new(&config);
        assert!(guard.is_own("192.0.2.10:20000".parse().unwrap()));
        assert!(guard.is_own("127.0.0.1:20001".parse().unwrap()));
        assert!(guard.is_own("[::ffff:127.0.0.1]:20001".parse().unwrap()));
        assert!(!guard.is_own("127.0.0.1:40000".parse().unwrap()));
        assert!(!guard.is_own("192.0.2.11:20000".parse().unwrap()));
        let config = MediaConfig {
            bind_v4: Some(Ipv4Addr::LOCALHOST),
            ..config
        };
        let guard = LoopGuard::new(&config);
        assert!(!guard.is_own("127.0.0.2:20000".parse().unwrap()));
        assert!(guard.is_own("127.0.0.1:20000".parse().unwrap()));
    }

    #[test]
    fn recv_batch_takes_what_is_queued_and_says_when_empty() {
        let socket = bind_udp("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let to = socket.local_addr().unwrap();
        let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for n in 0..BATCH + 2 {
            phone.send_to(&vec![n as u8; 10 + n], to).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut batch = RecvBatch::new();
        assert_eq!(batch.receive(&socket).unwrap(), BATCH);
        for (n, &(len, source)) in batch.got.iter().enumerate() {
            assert_eq!(len, 10 + n);
            assert_eq!(source, Some(phone.local_addr().unwrap()));
            assert!(batch.bufs[n][..len].iter().all(|&b| b == n as u8));
        }
        // The rest: a short batch, which is how the drain knows the socket is empty.
        assert_eq!(batch.receive(&socket).unwrap(), 2);
        assert_eq!(batch.got[1].0, 10 + BATCH + 1);
        assert_eq!(
            batch.receive(&socket).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn start_refuses_bad_config() {
        let none = MediaConfig {
            bind_v4: None,
            ..MediaConfig::default()
        };
        assert!(matches!(
            MediaEngine::start(none),
            Err(MediaStartError::NoAddress)
        ));
        let zero = MediaConfig {
            workers: 0,
            ..MediaConfig::default()
        };
        assert!(matches!(
            MediaEngine::start(zero),
            Err(MediaStartError::Config(_))
        ));
    }

    #[test]
    fn disabled_family_and_unknown_session() {
        let engine = MediaEngine::start(MediaConfig {
            bind_v4: Some(Ipv4Addr::LOCALHOST),
            ports: PortRange::new(21000, 21099).unwrap(),
            ..MediaConfig::default()
        })
        .unwrap();
        let v6 = SessionOptions::new().with_family(Leg::B, AddressFamily::V6);
        assert_eq!(
            engine.open(v6).unwrap_err(),
            MediaError::FamilyDisabled(AddressFamily::V6)
        );
        assert_eq!(engine.ports_in_use(), 0);
        let id = SessionId(42);
        assert_eq!(
            engine.close(id).unwrap_err(),
            MediaError::UnknownSession(id)
        );
        assert_eq!(engine.stats(id), None);
        assert_eq!(
            engine
                .set_remote(
                    id,
                    Leg::A,
                    LegRemote::signalling(Ipv4Addr::LOCALHOST.into())
                )
                .unwrap_err(),
            MediaError::UnknownSession(id)
        );
    }

    #[test]
    fn sessions_bounded_and_ports_released() {
        let engine = MediaEngine::start(MediaConfig {
            bind_v4: Some(Ipv4Addr::LOCALHOST),
            ports: PortRange::new(21100, 21199).unwrap(),
            max_sessions: 2,
            workers: 2,
            ..MediaConfig::default()
        })
        .unwrap();
        let a = engine.open(SessionOptions::new()).unwrap();
        let b = engine.open(SessionOptions::new()).unwrap();
        assert_eq!(
            engine.open(SessionOptions::new()).unwrap_err(),
            MediaError::TooManySessions { limit: 2 }
        );
        assert_eq!(engine.active_sessions(), 2);
        assert_eq!(engine.ports_in_use(), 4);
        assert_ne!(a.leg(Leg::A).rtp, b.leg(Leg::A).rtp);
        assert_eq!(a.leg(Leg::A).rtcp.port(), a.leg(Leg::A).rtp.port() + 1);
        assert!(engine.stats(a.id).is_some());
        engine.close(a.id).unwrap();
        assert_eq!(engine.active_sessions(), 1);
        assert_eq!(engine.ports_in_use(), 2);
        assert_eq!(engine.ports_quarantined(), 2);
        drop(engine);
        // Every socket is closed once the engine is gone: the ports bind again.
        let again = std::net::UdpSocket::bind(b.leg(Leg::B).rtp).unwrap();
        drop(again);
    }
}
