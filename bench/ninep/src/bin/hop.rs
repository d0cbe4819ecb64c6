//! The floor of a userspace hop (bench/mux.sh, `HOP`): the cheapest intermediary between 9P
//! clients and a 9P server that a process can be, with no 9P work at all. It accepts clients
//! (on a Unix socket or TCP, like `switchboard mux`), dials one upstream TCP connection of
//! its own to the server for each client, and copies bytes both ways as they come, in one of
//! three shapes:
//!
//! - `copy`: one thread, one `mio` event loop, `read` into a buffer and `write` out of it
//!   (the multiplexer's shape, minus 9P: sockets edge-triggered, a short read taken as "the
//!   socket is drained", writability watched only while a write was short);
//! - `splice`: the same loop, but each direction goes through a pipe with `splice(2)`
//!   (socket to pipe, pipe to socket), so the payload never enters userspace;
//! - `threads`: two blocking threads per client (one per direction), `read` then `write`:
//!   no event loop at all, each message one read and one write, the reader woken directly.
//!
//! Because each client has its own upstream connection, nothing is batched: with one client
//! this is a true lower bound on what any hop costs; with several it is only an approximate
//! one (a multiplexer that writes many clients' requests upstream in one write may do better).
//!
//! usage: hop --mode copy|splice|threads --listen unix!PATH|tcp!HOST!PORT
//!            --upstream tcp!HOST!PORT|HOST:PORT [--max-seconds S]
//! Prints `listening hop-MODE/unix PATH` or `listening hop-MODE/tcp ADDR`; serves until killed
//! or S seconds (default 3600) have passed.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Registry, Token};
use ninep_bench::Target;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};

const USAGE: &str = "usage: hop --mode copy|splice|threads --listen unix!PATH|tcp!HOST!PORT \
                     --upstream tcp!HOST!PORT [--max-seconds S]";

/// Bytes buffered per direction (`copy`), and asked of the pipe (`splice`): room for two
/// messages of the benchmark's msize (128 KiB).
const ROOM: usize = 256 * 1024;
/// The listener's token; pair `i` is tokens `FIRST + 2i` (client) and `FIRST + 2i + 1`
/// (server).
const LISTENER: Token = Token(0);
const FIRST: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Copy,
    Splice,
    Threads,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Copy => "copy",
            Mode::Splice => "splice",
            Mode::Threads => "threads",
        }
    }
}

fn main() {
    let mut mode = None;
    let mut listen = None;
    let mut upstream = None;
    let mut max_seconds = 3600u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next();
        match (a.as_str(), v) {
            ("--mode", Some(v)) => {
                mode = match v.as_str() {
                    "copy" => Some(Mode::Copy),
                    "splice" => Some(Mode::Splice),
                    "threads" => Some(Mode::Threads),
                    _ => None,
                }
            }
            ("--listen", Some(v)) => listen = v.parse::<Target>().ok(),
            ("--upstream", Some(v)) => match v.parse::<Target>() {
                Ok(Target::Tcp(a)) => upstream = Some(a),
                _ => upstream = None,
            },
            ("--max-seconds", Some(v)) => max_seconds = v.parse().unwrap_or(max_seconds),
            _ => usage(),
        }
    }
    let (Some(mode), Some(listen), Some(upstream)) = (mode, listen, upstream) else {
        usage()
    };
    // Bounded: the benchmark script kills it, and it also ends by itself.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(max_seconds));
        std::process::exit(0);
    });
    let result = match mode {
        Mode::Threads => threads(&listen, upstream),
        Mode::Copy | Mode::Splice => event_loop(mode, &listen, upstream),
    };
    if let Err(e) = result {
        eprintln!("hop: {e}");
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}

fn announce(mode: Mode, listen: &Target, bound: Option<SocketAddr>) {
    match (listen, bound) {
        (_, Some(addr)) => println!("listening hop-{}/tcp {addr}", mode.name()),
        (Target::Unix(p), None) => println!("listening hop-{}/unix {}", mode.name(), p.display()),
        (Target::Tcp(a), None) => println!("listening hop-{}/tcp {a}", mode.name()),
    }
    let _ = io::stdout().flush();
}

fn bind_std(listen: &Target) -> io::Result<Listener> {
    match listen {
        Target::Tcp(a) => std::net::TcpListener::bind(a).map(Listener::Tcp),
        Target::Unix(p) => {
            let _ = std::fs::remove_file(p);
            std::os::unix::net::UnixListener::bind(p).map(Listener::Unix)
        }
    }
}

enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Listener {
    fn local_tcp(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(_) => None,
        }
    }
}

/// `threads`: per client, two blocking threads, each `read` then `write_all`.
fn threads(listen: &Target, upstream: SocketAddr) -> io::Result<()> {
    let listener = bind_std(listen)?;
    announce(Mode::Threads, listen, listener.local_tcp());
    loop {
        let (client_r, client_w): (Box<dyn Read + Send>, Box<dyn Write + Send>) = match &listener {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                (Box::new(s.try_clone()?), Box::new(s))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept()?;
                (Box::new(s.try_clone()?), Box::new(s))
            }
        };
        let server = std::net::TcpStream::connect(upstream)?;
        server.set_nodelay(true)?;
        let server_r = server.try_clone()?;
        std::thread::spawn(move || pump_blocking(client_r, server));
        std::thread::spawn(move || pump_blocking(Box::new(server_r), client_w));
    }
}

/// Copies until end of stream or an error, then shuts both down (dropping them).
fn pump_blocking(mut from: Box<dyn Read + Send>, mut to: impl Write) {
    let mut buf = vec![0u8; ROOM];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// A non-blocking stream socket.
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

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Sock::Tcp(s) => s.as_fd(),
            Sock::Unix(s) => s.as_fd(),
        }
    }

    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => r.register(s, t, i),
            Sock::Unix(s) => r.register(s, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => r.reregister(s, t, i),
            Sock::Unix(s) => r.reregister(s, t, i),
        }
    }

    fn close(&mut self, r: &Registry) {
        let _ = match self {
            Sock::Tcp(s) => {
                let _ = r.deregister(s);
                s.shutdown(Shutdown::Both)
            }
            Sock::Unix(s) => {
                let _ = r.deregister(s);
                s.shutdown(Shutdown::Both)
            }
        };
    }
}

/// What is in flight in one direction.
enum Carry {
    /// `buf[start..end]` read, not yet written.
    Copy {
        buf: Vec<u8>,
        start: usize,
        end: usize,
    },
    /// `held` bytes in the pipe (read end, write end).
    Splice {
        read: OwnedFd,
        write: OwnedFd,
        held: usize,
    },
}

/// One direction of a pair.
struct Half {
    carry: Carry,
    /// The source may hold more (an edge came and it was not drained since).
    readable: bool,
    /// The destination did not take everything: wait for its writability.
    blocked: bool,
}

impl Half {
    fn new(mode: Mode) -> io::Result<Half> {
        let carry = match mode {
            Mode::Splice => {
                let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
                    .map_err(io::Error::from)?;
                // As big as the copy buffer; the default (64 KiB) would cut each 64 KiB Rread
                // in two.
                let _ = fcntl(&write, FcntlArg::F_SETPIPE_SZ(ROOM as i32));
                Carry::Splice {
                    read,
                    write,
                    held: 0,
                }
            }
            _ => Carry::Copy {
                buf: vec![0; ROOM],
                start: 0,
                end: 0,
            },
        };
        Ok(Half {
            carry,
            readable: false,
            blocked: false,
        })
    }

    /// Moves what it can from `from` to `to`, until the source is drained or the
    /// destination full (`self.blocked`); `Err`: end of stream or an error, the pair ends.
    fn pump(&mut self, from: &mut Sock, to: &mut Sock) -> io::Result<()> {
        let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
        loop {
            match &mut self.carry {
                Carry::Copy { buf, start, end } => {
                    if *start < *end {
                        if self.blocked {
                            return Ok(());
                        }
                        match to.write(&buf[*start..*end]) {
                            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                            Ok(n) => *start += n,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                self.blocked = true;
                                return Ok(());
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                        continue;
                    }
                    *start = 0;
                    *end = 0;
                    if !self.readable {
                        return Ok(());
                    }
                    match from.read(buf) {
                        Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                        Ok(n) => {
                            *end = n;
                            // A stream socket that filled less than the room had nothing
                            // more; what comes later raises a new edge.
                            if n < buf.len() {
                                self.readable = false;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.readable = false;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Carry::Splice { read, write, held } => {
                    if *held > 0 {
                        if self.blocked {
                            return Ok(());
                        }
                        match splice(&*read, None, to.fd(), None, *held, flags) {
                            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                            Ok(n) => *held -= n,
                            Err(Errno::EAGAIN) => {
                                self.blocked = true;
                                return Ok(());
                            }
                            Err(Errno::EINTR) => {}
                            Err(e) => return Err(e.into()),
                        }
                        continue;
                    }
                    if !self.readable {
                        return Ok(());
                    }
                    // The pipe is empty here, so EAGAIN means the socket is.
                    match splice(from.fd(), None, &*write, None, ROOM, flags) {
                        Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                        Ok(n) => *held = n,
                        Err(Errno::EAGAIN) => self.readable = false,
                        Err(Errno::EINTR) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }
}

/// One client and its own upstream connection.
struct Pair {
    client: Sock,
    server: Sock,
    /// Client to server.
    up: Half,
    /// Server to client.
    down: Half,
}

/// `copy` and `splice`: one thread, one edge-triggered event loop.
fn event_loop(mode: Mode, listen: &Target, upstream: SocketAddr) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let std_listener = bind_std(listen)?;
    announce(mode, listen, std_listener.local_tcp());
    let mut listener = match std_listener {
        Listener::Tcp(l) => {
            l.set_nonblocking(true)?;
            MioListener::Tcp(TcpListener::from_std(l))
        }
        Listener::Unix(l) => {
            l.set_nonblocking(true)?;
            MioListener::Unix(UnixListener::from_std(l))
        }
    };
    match &mut listener {
        MioListener::Tcp(l) => poll.registry().register(l, LISTENER, Interest::READABLE)?,
        MioListener::Unix(l) => poll.registry().register(l, LISTENER, Interest::READABLE)?,
    }
    let mut pairs: Vec<Option<Pair>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter() {
            let token = ev.token();
            if token == LISTENER {
                accept_all(
                    mode,
                    &listener,
                    upstream,
                    poll.registry(),
                    &mut pairs,
                    &mut free,
                );
                continue;
            }
            let Some(t) = token.0.checked_sub(FIRST) else {
                continue;
            };
            let (slot, is_server) = (t / 2, t % 2 == 1);
            let Some(Some(pair)) = pairs.get_mut(slot) else {
                continue;
            };
            let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
            // The half whose source this socket is, and the one whose destination it is.
            let (src_half, dst_half) = if is_server {
                (&mut pair.down, &mut pair.up)
            } else {
                (&mut pair.up, &mut pair.down)
            };
            src_half.readable |= readable;
            if ev.is_writable() {
                dst_half.blocked = false;
            }
            if service(pair, slot, poll.registry()).is_err()
                && let Some(mut p) = pairs.get_mut(slot).and_then(Option::take)
            {
                p.client.close(poll.registry());
                p.server.close(poll.registry());
                free.push(slot);
            }
        }
    }
}

/// Pumps both directions of a pair and watches writability where a write was short.
fn service(pair: &mut Pair, slot: usize, registry: &Registry) -> Result<(), ()> {
    let (was_up, was_down) = (pair.up.blocked, pair.down.blocked);
    pair.up
        .pump(&mut pair.client, &mut pair.server)
        .map_err(|_| ())?;
    pair.down
        .pump(&mut pair.server, &mut pair.client)
        .map_err(|_| ())?;
    let interest = |blocked| {
        if blocked {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    };
    if pair.up.blocked != was_up {
        let t = Token(FIRST + 2 * slot + 1);
        pair.server
            .reregister(registry, t, interest(pair.up.blocked))
            .map_err(|_| ())?;
    }
    if pair.down.blocked != was_down {
        let t = Token(FIRST + 2 * slot);
        pair.client
            .reregister(registry, t, interest(pair.down.blocked))
            .map_err(|_| ())?;
    }
    Ok(())
}

enum MioListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Accepts every waiting client and dials its upstream (a blocking connect: the floor does
/// not time connecting).
fn accept_all(
    mode: Mode,
    listener: &MioListener,
    upstream: SocketAddr,
    registry: &Registry,
    pairs: &mut Vec<Option<Pair>>,
    free: &mut Vec<usize>,
) {
    loop {
        let client = match listener {
            MioListener::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                Sock::Tcp(s)
            }),
            MioListener::Unix(l) => l.accept().map(|(s, _)| Sock::Unix(s)),
        };
        let client = match client {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("hop: accept: {e}");
                return;
            }
        };
        let slot = free.pop().unwrap_or(pairs.len());
        match new_pair(mode, client, upstream, registry, slot) {
            Ok(p) => {
                if slot == pairs.len() {
                    pairs.push(Some(p));
                } else if let Some(s) = pairs.get_mut(slot) {
                    *s = Some(p);
                }
            }
            Err(e) => {
                eprintln!("hop: a client's upstream: {e}");
                free.push(slot);
            }
        }
    }
}

fn new_pair(
    mode: Mode,
    mut client: Sock,
    upstream: SocketAddr,
    registry: &Registry,
    slot: usize,
) -> io::Result<Pair> {
    let s = std::net::TcpStream::connect(upstream)?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    let mut server = Sock::Tcp(TcpStream::from_std(s));
    client.register(registry, Token(FIRST + 2 * slot), Interest::READABLE)?;
    server.register(registry, Token(FIRST + 2 * slot + 1), Interest::READABLE)?;
    Ok(Pair {
        client,
        server,
        up: Half::new(mode)?,
        down: Half::new(mode)?,
    })
}
