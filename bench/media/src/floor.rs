//! The floor: the least a userspace relay can do per packet on this kernel.
//!
//! Two sockets per call, one per leg; a packet that arrives on leg A's socket leaves leg B's
//! socket for phone B, and the other way round. No core, no latching, no checks, no counters:
//! per packet one receive and one send, plus the `epoll_wait` that finds the socket (shared by
//! every socket ready at the same time). Whatever a real relay spends beyond this is its own
//! cost; what this spends is the kernel's.
//!
//! Modes (`relay --engine MODE`):
//!
//! | mode | readiness | receive | send |
//! | --- | --- | --- | --- |
//! | `floor` | level-triggered epoll, one receive per event | `recvfrom` | `sendto` the phone |
//! | `floor-conn` | level-triggered | `recv` on a socket connected to its phone | `send` on the other leg's connected socket |
//! | `floor-et` | edge-triggered (as mio, the engine): drain until `EAGAIN` | `recvfrom` | `sendto` |
//! | `floor-mmsg` | edge-triggered; a batch shorter than the vector ends the drain | `recvmmsg` (8) | `sendmmsg` of the batch to the phone |
//! | `floor-mmsg-conn` | edge-triggered, as `floor-mmsg` | `recvmmsg` on connected sockets | `sendmmsg` on connected sockets |
//!
//! `floor` and `floor-conn` make exactly two system calls per packet when each socket has one
//! packet queued (the case at 20 ms per stream); `floor-et` makes three (the empty read that
//! edge-triggered readiness needs); the `mmsg` modes two, or fewer per packet when packets
//! queue up.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrIn, SockaddrStorage, recvmmsg, sendmmsg,
};

/// How the floor relay receives and sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Level-triggered, `recvfrom` + `sendto`.
    Plain,
    /// Level-triggered, connected sockets: `recv` + `send`.
    Connected,
    /// Edge-triggered, `recvfrom` until `EAGAIN` + `sendto`.
    EdgeTriggered,
    /// Edge-triggered, `recvmmsg` + `sendmmsg`, unconnected.
    Mmsg,
    /// Edge-triggered, `recvmmsg` + `sendmmsg`, connected sockets.
    MmsgConnected,
}

impl Mode {
    /// The mode named by `relay --engine`.
    pub fn from_engine(name: &str) -> Option<Self> {
        Some(match name {
            "floor" => Self::Plain,
            "floor-conn" => Self::Connected,
            "floor-et" => Self::EdgeTriggered,
            "floor-mmsg" => Self::Mmsg,
            "floor-mmsg-conn" => Self::MmsgConnected,
            _ => return None,
        })
    }

    fn connected(self) -> bool {
        matches!(self, Self::Connected | Self::MmsgConnected)
    }

    fn edge(self) -> bool {
        matches!(self, Self::EdgeTriggered | Self::Mmsg | Self::MmsgConnected)
    }
}

/// Packets received in one `recvmmsg`.
const BATCH: usize = 8;
/// Packets a socket may take in a row before the others are served (edge-triggered modes).
const BUDGET: usize = 32;
const BUF: usize = 2048;

/// A running floor relay: its sockets' addresses and its threads.
pub struct Floor {
    /// Per call: (leg A's address, leg B's address), where phone A and phone B send.
    pub ports: Vec<(SocketAddr, SocketAddr)>,
    stop: Arc<AtomicBool>,
    relayed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Floor {
    /// Binds two sockets per call of `phones` on `bind` and starts `workers` threads, the
    /// calls dealt out among them.
    pub fn start(
        mode: Mode,
        phones: &[(SocketAddr, SocketAddr)],
        bind: IpAddr,
        workers: usize,
    ) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let mut per_thread: Vec<Vec<Call>> = (0..workers).map(|_| Vec::new()).collect();
        let mut ports = Vec::with_capacity(phones.len());
        for (i, &(a, b)) in phones.iter().enumerate() {
            let sa = UdpSocket::bind(SocketAddr::new(bind, 0))?;
            let sb = UdpSocket::bind(SocketAddr::new(bind, 0))?;
            sa.set_nonblocking(true)?;
            sb.set_nonblocking(true)?;
            if mode.connected() {
                sa.connect(a)?;
                sb.connect(b)?;
            }
            ports.push((sa.local_addr()?, sb.local_addr()?));
            per_thread[i % workers].push(Call {
                sockets: [sa, sb],
                phones: [a, b],
            });
        }
        let stop = Arc::new(AtomicBool::new(false));
        let relayed = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::with_capacity(workers);
        for (n, calls) in per_thread.into_iter().enumerate() {
            let (stop, relayed) = (Arc::clone(&stop), Arc::clone(&relayed));
            threads.push(
                std::thread::Builder::new()
                    .name(format!("floor-{n}"))
                    .spawn(move || run(mode, &calls, &stop, &relayed))?,
            );
        }
        Ok(Self {
            ports,
            stop,
            relayed,
            threads,
        })
    }

    /// Stops the threads; the packets relayed.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        self.relayed.load(Ordering::Relaxed)
    }
}

struct Call {
    /// Leg A's socket (phone A sends to it), leg B's.
    sockets: [UdpSocket; 2],
    /// Phone A, phone B.
    phones: [SocketAddr; 2],
}

fn run(mode: Mode, calls: &[Call], stop: &AtomicBool, relayed: &AtomicU64) {
    let epoll = Epoll::new(EpollCreateFlags::empty()).expect("epoll");
    let flags = if mode.edge() {
        EpollFlags::EPOLLIN | EpollFlags::EPOLLET
    } else {
        EpollFlags::EPOLLIN
    };
    for (c, call) in calls.iter().enumerate() {
        for (leg, socket) in call.sockets.iter().enumerate() {
            epoll
                .add(socket, EpollEvent::new(flags, (c * 2 + leg) as u64))
                .expect("epoll add");
        }
    }
    let mut events = vec![EpollEvent::empty(); 1024];
    let mut buf = [0u8; BUF];
    let mut bufs = [[0u8; BUF]; BATCH];
    let mut lens = [0usize; BATCH];
    let mut rx: MultiHeaders<SockaddrStorage> = MultiHeaders::preallocate(BATCH, None);
    let mut tx: MultiHeaders<SockaddrIn> = MultiHeaders::preallocate(BATCH, None);
    let mut count = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = match epoll.wait(&mut events, EpollTimeout::from(100u16)) {
            Ok(n) => n,
            Err(_) => continue,
        };
        for e in &events[..n] {
            let token = e.data() as usize;
            let (call, leg) = (&calls[token / 2], token % 2);
            let (from, to) = (&call.sockets[leg], &call.sockets[leg ^ 1]);
            let peer = call.phones[leg ^ 1];
            match mode {
                Mode::Plain => {
                    if let Ok((len, _)) = from.recv_from(&mut buf)
                        && to.send_to(&buf[..len], peer).is_ok()
                    {
                        count += 1;
                    }
                }
                Mode::Connected => {
                    if let Ok(len) = from.recv(&mut buf)
                        && to.send(&buf[..len]).is_ok()
                    {
                        count += 1;
                    }
                }
                Mode::EdgeTriggered => {
                    for _ in 0..BUDGET {
                        match from.recv_from(&mut buf) {
                            Ok((len, _)) => {
                                if to.send_to(&buf[..len], peer).is_ok() {
                                    count += 1;
                                }
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(_) => {}
                        }
                    }
                }
                Mode::Mmsg | Mode::MmsgConnected => {
                    let dest = match (mode, peer) {
                        (Mode::Mmsg, SocketAddr::V4(v4)) => Some(SockaddrIn::from(v4)),
                        _ => None,
                    };
                    let addrs = [dest; BATCH];
                    for _ in 0..BUDGET / BATCH {
                        let got = {
                            let mut iovs: [[IoSliceMut; 1]; BATCH] =
                                bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
                            match recvmmsg(
                                from.as_raw_fd(),
                                &mut rx,
                                iovs.iter_mut(),
                                MsgFlags::empty(),
                                None,
                            ) {
                                Ok(results) => {
                                    let mut got = 0;
                                    for (i, r) in results.enumerate() {
                                        lens[i] = r.bytes;
                                        got = i + 1;
                                    }
                                    got
                                }
                                Err(_) => 0,
                            }
                        };
                        if got == 0 {
                            break;
                        }
                        let iovs: [[IoSlice; 1]; BATCH] =
                            std::array::from_fn(|i| [IoSlice::new(&bufs[i][..lens[i]])]);
                        let cmsgs: [ControlMessage; 0] = [];
                        if sendmmsg(
                            to.as_raw_fd(),
                            &mut tx,
                            iovs[..got].iter(),
                            &addrs[..got],
                            cmsgs,
                            MsgFlags::empty(),
                        )
                        .is_ok()
                        {
                            count += got as u64;
                        }
                        if got < BATCH {
                            break;
                        }
                    }
                }
            }
        }
        relayed.store(count, Ordering::Relaxed);
    }
}
