//! The pieces of the 9P benchmark (`bench/ninep.sh`): a blocking 9P2000 connection around
//! switchboard's sans-IO client core ([`ninep::client::Client`]) that logs in with the afid
//! exchange of DESIGN.md section 15 and records the size of every exchange; a plain TCP
//! request/response of given sizes (the "physical limit"), with its server; latency summaries;
//! and the CPU time of a process from `/proc`.
//!
//! Both kinds of connection use the same framing and the same reader: every message starts
//! with its own little-endian `size[4]` (9P's framing), so the two differ only in what the
//! server does with a message.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Range;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::str::FromStr;

use ninep::client::{Client, ClientError};
use ninep::msg::{DirEntries, Fcall, Fid, OREAD};
use sha2::{Digest, Sha256};

/// The largest message either side accepts (switchboard accepts msize up to 256 KiB).
pub const MAX_MESSAGE: usize = 1 << 20;

/// What stops a benchmark run.
#[derive(Debug)]
pub enum BenchError {
    /// The socket failed or closed.
    Io(io::Error),
    /// The 9P client core refused a reply or a request.
    Client(ClientError),
    /// The server answered Rerror.
    Rerror(String),
    /// A reply that is not what the benchmark expects.
    Unexpected(String),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Io(e) => write!(f, "i/o: {e}"),
            BenchError::Client(e) => write!(f, "9P client: {e}"),
            BenchError::Rerror(e) => write!(f, "Rerror: {e}"),
            BenchError::Unexpected(e) => write!(f, "unexpected: {e}"),
        }
    }
}

impl std::error::Error for BenchError {}

impl From<io::Error> for BenchError {
    fn from(e: io::Error) -> Self {
        BenchError::Io(e)
    }
}

impl From<ClientError> for BenchError {
    fn from(e: ClientError) -> Self {
        BenchError::Client(e)
    }
}

/// One request and its response: bytes on the wire each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// Request bytes.
    pub request: u32,
    /// Response bytes.
    pub response: u32,
}

/// Cuts size-prefixed messages (`size[4]`, little-endian, counting itself) out of a stream,
/// usually with one `read` per message.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// An empty reader with room for one message of 64 KiB (it grows up to [`MAX_MESSAGE`]).
    pub fn new() -> Self {
        FrameReader {
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// Reads until one whole message is buffered; returns where it lies in [`Self::bytes`].
    pub fn next(&mut self, stream: &mut impl Read) -> io::Result<Range<usize>> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        loop {
            let have = self.end - self.start;
            if have >= 4 {
                let mut size = [0u8; 4];
                size.copy_from_slice(&self.buf[self.start..self.start + 4]);
                let size = u32::from_le_bytes(size) as usize;
                if !(4..=MAX_MESSAGE).contains(&size) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("message size {size}"),
                    ));
                }
                if have >= size {
                    let range = self.start..self.start + size;
                    self.start += size;
                    return Ok(range);
                }
                // Room for the rest of this message: move it to the front, grow if needed.
                if self.start + size > self.buf.len() {
                    self.buf.copy_within(self.start..self.end, 0);
                    self.end = have;
                    self.start = 0;
                    if size > self.buf.len() {
                        self.buf.resize(size, 0);
                    }
                }
            } else if self.start > 0 && self.start + 4 > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end = have;
                self.start = 0;
            }
            let n = stream.read(&mut self.buf[self.end..])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.end += n;
        }
    }

    /// The buffer that [`Self::next`]'s ranges index.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Lowercase hex SHA-256.
fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where a 9P server (or a multiplexer) listens: `tcp!HOST!PORT` (or plain `HOST:PORT`) or
/// `unix!PATH`, as switchboard writes its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix stream socket.
    Unix(PathBuf),
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix!") {
            return Ok(Target::Unix(path.into()));
        }
        let addr = match s.strip_prefix("tcp!").map(|r| r.rsplit_once('!')) {
            Some(Some((host, port))) => format!("{host}:{port}"),
            Some(None) => return Err(format!("{s}: tcp!HOST!PORT")),
            None => s.to_owned(),
        };
        addr.parse()
            .map(Target::Tcp)
            .map_err(|_| format!("{s}: tcp!HOST!PORT, HOST:PORT or unix!PATH"))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(a) => write!(f, "tcp!{}!{}", a.ip(), a.port()),
            Target::Unix(p) => write!(f, "unix!{}", p.display()),
        }
    }
}

/// A connected blocking stream: TCP (with `TCP_NODELAY`) or Unix.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// A Unix stream socket.
    Unix(UnixStream),
}

impl Stream {
    /// Connects to `target`.
    pub fn connect(target: &Target) -> io::Result<Stream> {
        match target {
            Target::Tcp(a) => {
                let s = TcpStream::connect(a)?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Target::Unix(p) => UnixStream::connect(p).map(Stream::Unix),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// One 9P2000 connection over a blocking stream (TCP or Unix), driving
/// [`ninep::client::Client`].
pub struct NinepConn {
    stream: Stream,
    client: Client,
    out: Vec<u8>,
    input: FrameReader,
    log: Option<Vec<Exchange>>,
}

impl NinepConn {
    /// Connects (TCP with `TCP_NODELAY`, or Unix) and sends Tversion asking for `msize`.
    pub fn connect(target: &Target, msize: u32) -> Result<Self, BenchError> {
        let stream = Stream::connect(target)?;
        let mut conn = NinepConn {
            stream,
            client: Client::new(msize),
            out: Vec::with_capacity(64 * 1024),
            input: FrameReader::new(),
            log: None,
        };
        conn.rpc(|c, out| c.version(out), |_| Ok(()))?;
        Ok(conn)
    }

    /// The largest count of one Tread.
    pub fn max_io(&self) -> u32 {
        self.client.max_io()
    }

    /// From now on, keeps the size of every exchange.
    pub fn record(&mut self) {
        self.log = Some(Vec::new());
    }

    /// The exchanges kept since [`Self::record`]; stops recording.
    pub fn take_log(&mut self) -> Vec<Exchange> {
        self.log.take().unwrap_or_default()
    }

    /// Sends what `request` encodes, waits for its reply and hands the body to `reply`.
    fn rpc<T>(
        &mut self,
        request: impl FnOnce(&mut Client, &mut Vec<u8>) -> Result<T, ClientError>,
        reply: impl FnOnce(Fcall<'_>) -> Result<(), BenchError>,
    ) -> Result<T, BenchError> {
        self.out.clear();
        let t = request(&mut self.client, &mut self.out)?;
        self.stream.write_all(&self.out)?;
        let range = self.input.next(&mut self.stream)?;
        let frame = &self.input.bytes()[range];
        if let Some(log) = &mut self.log {
            log.push(Exchange {
                request: self.out.len() as u32,
                response: frame.len() as u32,
            });
        }
        match self.client.handle(frame)?.result() {
            Ok(body) => reply(body).map(|()| t),
            Err(ename) => Err(BenchError::Rerror(ename.to_owned())),
        }
    }

    /// The afid exchange (README "Logging in") as `user` (`<ext>@<domain>` or
    /// `admin@<domain>`), then Tattach; returns the root fid.
    pub fn login(&mut self, user: &str, secret: &str) -> Result<Fid, BenchError> {
        let afid = self.rpc(|c, out| c.auth(user, "", out).map(|(_, f)| f), |_| Ok(()))?;
        let mut challenge = String::new();
        self.rpc(
            |c, out| c.read(afid, 0, 512, out),
            |body| match body {
                Fcall::Rread { data } => {
                    challenge = String::from_utf8_lossy(data).into_owned();
                    Ok(())
                }
                other => Err(BenchError::Unexpected(format!("{other:?}"))),
            },
        )?;
        let field = |name: &str| {
            challenge
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_owned)
        };
        let (realm, nonce) = field("realm")
            .zip(field("nonce"))
            .ok_or_else(|| BenchError::Unexpected(format!("challenge {challenge:?}")))?;
        let name = user.split_once('@').map_or(user, |(u, _)| u);
        let ha1 = sha256_hex(format!("{name}:{realm}:{secret}").as_bytes());
        let line = format!(
            "response=\"{}\"\n",
            sha256_hex(format!("{ha1}:{nonce}").as_bytes())
        );
        self.rpc(|c, out| c.write(afid, 0, line.as_bytes(), out), |_| Ok(()))?;
        let root = self.rpc(
            |c, out| c.attach(Some(afid), user, "", out).map(|(_, f)| f),
            |_| Ok(()),
        )?;
        self.rpc(|c, out| c.clunk(afid, out), |_| Ok(()))?;
        Ok(root)
    }

    /// Twalk from `from` along `names` to a new fid; a partial walk is an error.
    pub fn walk(&mut self, from: Fid, names: &[&str]) -> Result<Fid, BenchError> {
        self.rpc(
            |c, out| c.walk(from, names, out).map(|(_, f)| f),
            |body| match body {
                Fcall::Rwalk { wqids } if wqids.len() == names.len() => Ok(()),
                other => Err(BenchError::Unexpected(format!("walk: {other:?}"))),
            },
        )
    }

    /// Topen for reading.
    pub fn open_read(&mut self, fid: Fid) -> Result<(), BenchError> {
        self.rpc(|c, out| c.open(fid, OREAD, out), |_| Ok(()))
            .map(drop)
    }

    /// One Tread of up to [`Self::max_io`] bytes at `offset`; the data go to `keep` if given.
    /// Returns the count read.
    pub fn read(
        &mut self,
        fid: Fid,
        offset: u64,
        keep: Option<&mut Vec<u8>>,
    ) -> Result<usize, BenchError> {
        let max = self.max_io();
        self.read_count(fid, offset, max, keep)
    }

    /// One Tread of up to `count` bytes (at most [`Self::max_io`]) at `offset`; the data go
    /// to `keep` if given. Returns the count read.
    pub fn read_count(
        &mut self,
        fid: Fid,
        offset: u64,
        count: u32,
        keep: Option<&mut Vec<u8>>,
    ) -> Result<usize, BenchError> {
        let mut got = 0;
        self.rpc(
            |c, out| c.read(fid, offset, count, out),
            |body| match body {
                Fcall::Rread { data } => {
                    got = data.len();
                    if let Some(keep) = keep {
                        keep.extend_from_slice(data);
                    }
                    Ok(())
                }
                other => Err(BenchError::Unexpected(format!("read: {other:?}"))),
            },
        )?;
        Ok(got)
    }

    /// Tclunk.
    pub fn clunk(&mut self, fid: Fid) -> Result<(), BenchError> {
        self.rpc(|c, out| c.clunk(fid, out), |_| Ok(())).map(drop)
    }

    /// Tstat; returns the entry's name.
    pub fn stat(&mut self, fid: Fid) -> Result<String, BenchError> {
        let mut name = String::new();
        self.rpc(
            |c, out| c.stat(fid, out),
            |body| match body {
                Fcall::Rstat { stat } => {
                    name = stat.name.into_owned();
                    Ok(())
                }
                other => Err(BenchError::Unexpected(format!("stat: {other:?}"))),
            },
        )?;
        Ok(name)
    }

    /// walk+open+read+clunk: one Tread of `names` from `root` (four round trips). Returns the
    /// count read.
    pub fn read_file(
        &mut self,
        root: Fid,
        names: &[&str],
        keep: Option<&mut Vec<u8>>,
    ) -> Result<usize, BenchError> {
        let fid = self.walk(root, names)?;
        self.open_read(fid)?;
        let got = self.read(fid, 0, keep)?;
        self.clunk(fid)?;
        Ok(got)
    }

    /// A whole directory read of `dir`: clone it, open, read until a read returns nothing,
    /// clunk. Returns the bytes of stat entries read.
    pub fn read_dir(
        &mut self,
        dir: Fid,
        mut keep: Option<&mut Vec<u8>>,
    ) -> Result<u64, BenchError> {
        let fid = self.walk(dir, &[])?;
        self.open_read(fid)?;
        let mut offset = 0u64;
        loop {
            let got = self.read(fid, offset, keep.as_deref_mut())?;
            if got == 0 {
                break;
            }
            offset += got as u64;
        }
        self.clunk(fid)?;
        Ok(offset)
    }
}

impl NinepConn {
    /// The names in directory `names` under `root` (a whole read of it).
    pub fn list(&mut self, root: Fid, names: &[&str]) -> Result<Vec<String>, BenchError> {
        let dir = self.walk(root, names)?;
        let mut data = Vec::new();
        let listed = self.read_dir(dir, Some(&mut data));
        self.clunk(dir)?;
        listed?;
        DirEntries::new(&data)
            .map(|e| e.map(|s| s.name.into_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BenchError::Unexpected(format!("directory entry: {e}")))
    }
}

/// A request/response connection to [`serve_plain`]: each request says how big its response
/// must be, the server does nothing else.
pub struct PlainConn {
    stream: TcpStream,
    out: Vec<u8>,
    input: FrameReader,
}

impl PlainConn {
    /// Connects with `TCP_NODELAY`.
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(PlainConn {
            stream,
            out: vec![0; MAX_MESSAGE],
            input: FrameReader::new(),
        })
    }

    /// One exchange of exactly those sizes (each at least 8 bytes: `size[4] response[4]`).
    pub fn exchange(&mut self, e: Exchange) -> io::Result<()> {
        let request = (e.request as usize).clamp(8, MAX_MESSAGE);
        self.out[..4].copy_from_slice(&(request as u32).to_le_bytes());
        self.out[4..8].copy_from_slice(&e.response.to_le_bytes());
        self.stream.write_all(&self.out[..request])?;
        let got = self.input.next(&mut self.stream)?;
        if got.len() != e.response as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("response of {} bytes, asked {}", got.len(), e.response),
            ));
        }
        Ok(())
    }

    /// The exchanges of one operation, in order.
    pub fn run(&mut self, script: &[Exchange]) -> io::Result<()> {
        for e in script {
            self.exchange(*e)?;
        }
        Ok(())
    }
}

/// Serves one [`PlainConn`] until it closes: for each request, a response of the size it asks
/// for (its own `size[4]` first, then zeros).
pub fn serve_plain(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut input = FrameReader::new();
    let mut out = vec![0u8; MAX_MESSAGE];
    loop {
        let range = match input.next(&mut stream) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let req = &input.bytes()[range];
        let mut size = [0u8; 4];
        size.copy_from_slice(req.get(4..8).unwrap_or(&[4, 0, 0, 0]));
        let size = (u32::from_le_bytes(size) as usize).clamp(4, MAX_MESSAGE);
        out[..4].copy_from_slice(&(size as u32).to_le_bytes());
        stream.write_all(&out[..size])?;
    }
}

/// Latencies of one run, in nanoseconds, summarised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Operations completed in the window.
    pub ops: u64,
    /// Operations per second.
    pub ops_per_s: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
}

impl Summary {
    /// Summarises `latencies_ns` (sorted here) over a window of `secs`.
    pub fn of(latencies_ns: &mut [u32], secs: f64) -> Summary {
        latencies_ns.sort_unstable();
        let pct = |p: f64| -> f64 {
            if latencies_ns.is_empty() {
                return f64::NAN;
            }
            let rank = ((p * latencies_ns.len() as f64).ceil() as usize).max(1);
            f64::from(latencies_ns[rank.min(latencies_ns.len()) - 1]) / 1000.0
        };
        Summary {
            ops: latencies_ns.len() as u64,
            ops_per_s: latencies_ns.len() as f64 / secs,
            p50_us: pct(0.50),
            p99_us: pct(0.99),
        }
    }
}

/// utime + stime of process `pid` (all its threads), in clock ticks, from `/proc/<pid>/stat`.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cut_across_reads_and_together() {
        let mut wire = Vec::new();
        for size in [7u32, 12, 100_000, 9] {
            wire.extend_from_slice(&size.to_le_bytes());
            wire.extend(std::iter::repeat_n(size as u8, size as usize - 4));
        }
        // A reader that hands out at most 5,000 bytes per read.
        struct Chunks<'a>(&'a [u8]);
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(5000);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut src = Chunks(&wire);
        let mut r = FrameReader::new();
        let mut sizes = Vec::new();
        for _ in 0..4 {
            let range = r.next(&mut src).expect("frame");
            let frame = &r.bytes()[range];
            assert!(frame[4..].iter().all(|b| *b == frame.len() as u8));
            sizes.push(frame.len());
        }
        assert_eq!(sizes, [7, 12, 100_000, 9]);
        assert_eq!(
            r.next(&mut src).map_err(|e| e.kind()),
            Err(io::ErrorKind::UnexpectedEof)
        );
    }

    #[test]
    fn targets_in_switchboards_notation() {
        let tcp = Target::Tcp(([127, 0, 0, 1], 5640).into());
        assert_eq!("tcp!127.0.0.1!5640".parse(), Ok(tcp.clone()));
        assert_eq!("127.0.0.1:5640".parse(), Ok(tcp.clone()));
        assert_eq!(tcp.to_string(), "tcp!127.0.0.1!5640");
        let unix = Target::Unix("/tmp/x.9p".into());
        assert_eq!("unix!/tmp/x.9p".parse(), Ok(unix.clone()));
        assert_eq!(unix.to_string(), "unix!/tmp/x.9p");
        assert!("tcp!nohost".parse::<Target>().is_err());
        assert!("nonsense".parse::<Target>().is_err());
    }

    #[test]
    fn percentiles_by_rank() {
        let mut l: Vec<u32> = (1..=100).rev().map(|v| v * 1000).collect();
        let s = Summary::of(&mut l, 2.0);
        assert_eq!(s.ops, 100);
        assert_eq!(s.ops_per_s, 50.0);
        assert_eq!(s.p50_us, 50.0);
        assert_eq!(s.p99_us, 99.0);
    }

    #[test]
    fn this_process_has_cpu_time() {
        assert!(cpu_ticks(std::process::id()).is_some());
    }
}
