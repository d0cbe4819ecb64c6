//! Shared by the `mux_*` tests: start `switchboard mux`, and a small blocking 9P client (our
//! sans-IO `ninep::client::Client` over a socket) that logs in with the afid exchange.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ninep::client::Client;
use ninep::frame::{self, Frame};
use ninep::msg::{DirEntries, Fcall, Fid, OREAD};
use sip::digest::Algorithm;

/// A running `switchboard mux`, killed when dropped.
pub struct MuxProc {
    pub child: Child,
    /// The `listening 9p-mux/...` address, in dial-string form.
    pub addr: String,
    /// The `listening 9p-mux-peer/tcp` address, for `--accept`.
    pub peer: Option<SocketAddr>,
    _dir: tempfile::TempDir,
}

impl MuxProc {
    /// `switchboard mux --listen unix!<tmp>/mux.sock` with `args`; waits for its listening
    /// line(s).
    pub fn start(args: &[&str]) -> MuxProc {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("mux.sock");
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("mux")
            .arg("--listen")
            .arg(format!("unix!{}", sock.display()))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn switchboard mux");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let accept = args.contains(&"--accept");
        let (mut addr, mut peer) = (None, None);
        while addr.is_none() || (accept && peer.is_none()) {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("switchboard mux did not report listening");
            if let Some(p) = line.strip_prefix("listening 9p-mux/unix ") {
                addr = Some(format!("unix!{p}"));
            }
            if let Some(a) = line.strip_prefix("listening 9p-mux-peer/tcp ") {
                peer = Some(a.parse().expect("peer address"));
            }
        }
        MuxProc {
            child,
            addr: addr.expect("address"),
            peer,
            _dir: dir,
        }
    }

    /// The Unix socket's path.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.addr.strip_prefix("unix!").expect("unix address"))
    }
}

impl Drop for MuxProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `switchboard serve` with its 9P TCP listener on a port of our choosing (so that a new
/// one can take the place of one that died), killed when dropped.
pub struct ServeOnPort {
    pub child: Child,
    /// Its HTTP listener.
    pub http: SocketAddr,
    _dir: tempfile::TempDir,
}

impl ServeOnPort {
    /// `switchboard serve` with `config` and `--ninep 127.0.0.1:<ninep_port>`; waits for its
    /// listening lines.
    pub fn start(config: &str, ninep_port: u16) -> ServeOnPort {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("switchboard.toml");
        std::fs::write(&path, config).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .args(["--sip", "127.0.0.1:0", "--http", "127.0.0.1:0", "--ninep"])
            .arg(format!("127.0.0.1:{ninep_port}"))
            .arg("--data")
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn switchboard serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut ninep, mut http) = (false, None);
        while !ninep || http.is_none() {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("switchboard serve did not report listening");
            ninep |= line.starts_with("listening 9p/tcp ");
            if let Some(a) = line.strip_prefix("listening http ") {
                http = Some(a.parse().expect("http address"));
            }
        }
        ServeOnPort {
            child,
            http: http.expect("http"),
            _dir: dir,
        }
    }
}

impl Drop for ServeOnPort {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback TCP port free a moment ago.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A blocking 9P client on one connection.
pub struct Conn {
    pub stream: std::os::unix::net::UnixStream,
    pub client: Client,
    input: Vec<u8>,
}

impl Conn {
    pub fn dial(path: &std::path::Path) -> Conn {
        let stream = std::os::unix::net::UnixStream::connect(path).expect("connect to the mux");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        Conn {
            stream,
            client: Client::new(64 * 1024),
            input: Vec::new(),
        }
    }

    /// Sends what `request` encodes and returns the reply's body (owned, as Debug text for
    /// errors) through `reply`; an Rerror is `Err(ename)`.
    pub fn rpc<T>(
        &mut self,
        request: impl FnOnce(&mut Client, &mut Vec<u8>) -> Result<T, ninep::client::ClientError>,
        reply: impl FnOnce(Fcall<'_>),
    ) -> Result<T, String> {
        let mut out = Vec::new();
        let t = request(&mut self.client, &mut out).map_err(|e| e.to_string())?;
        self.stream.write_all(&out).map_err(|e| e.to_string())?;
        loop {
            match frame::check(&self.input, self.client.msize().max(8192)) {
                Frame::Message(n) => {
                    let frame: Vec<u8> = self.input.drain(..n).collect();
                    let r = self.client.handle(&frame).map_err(|e| e.to_string())?;
                    return match r.result() {
                        Ok(body) => {
                            reply(body);
                            Ok(t)
                        }
                        Err(ename) => Err(ename.to_owned()),
                    };
                }
                Frame::Incomplete => {
                    let mut chunk = [0u8; 8192];
                    let n = self.stream.read(&mut chunk).map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err("connection closed".into());
                    }
                    self.input.extend_from_slice(&chunk[..n]);
                }
                other => return Err(format!("bad framing {other:?}")),
            }
        }
    }

    /// Tversion, then Tauth, the digest exchange on the afid and Tattach as `user`.
    pub fn login(&mut self, user: &str, secret: &str) -> Result<Fid, String> {
        self.rpc(|c, out| c.version(out), |_| ())?;
        let afid = self.rpc(|c, out| c.auth(user, "", out).map(|(_, f)| f), |_| ())?;
        let mut challenge = String::new();
        self.rpc(
            |c, out| c.read(afid, 0, 512, out),
            |body| {
                if let Fcall::Rread { data } = body {
                    challenge = String::from_utf8_lossy(data).into_owned();
                }
            },
        )?;
        let field = |name: &str| {
            challenge
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let (realm, nonce) = (field("realm"), field("nonce"));
        let name = user.split_once('@').map_or(user, |(u, _)| u);
        let ha1 = Algorithm::Sha256.hash_hex(format!("{name}:{realm}:{secret}").as_bytes());
        let response = Algorithm::Sha256.hash_hex(format!("{ha1}:{nonce}").as_bytes());
        let line = format!("response=\"{response}\"\n");
        self.rpc(|c, out| c.write(afid, 0, line.as_bytes(), out), |_| ())?;
        let root = self.rpc(
            |c, out| c.attach(Some(afid), user, "", out).map(|(_, f)| f),
            |_| (),
        )?;
        self.rpc(|c, out| c.clunk(afid, out), |_| ())?;
        Ok(root)
    }

    /// Makes directory `name` in `dir` (walked from `root`).
    pub fn mkdir(&mut self, root: Fid, dir: &str, name: &str) -> Result<(), String> {
        let fid = self.walk(root, dir)?;
        let made = self.rpc(
            |c, out| c.create(fid, name, ninep::msg::DMDIR | 0o755, OREAD, out),
            |_| (),
        );
        let _ = self.rpc(|c, out| c.clunk(fid, out), |_| ());
        made.map(|_| ())
    }

    /// Walks from `root` to `path` (a new fid).
    pub fn walk(&mut self, root: Fid, path: &str) -> Result<Fid, String> {
        let names: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let want = names.len();
        let mut got = 0;
        let fid = self.rpc(
            |c, out| c.walk(root, &names, out).map(|(_, f)| f),
            |body| {
                if let Fcall::Rwalk { wqids } = body {
                    got = wqids.len();
                }
            },
        )?;
        if got != want {
            return Err(format!("{path}: not found"));
        }
        Ok(fid)
    }

    /// Opens `fid` for reading and reads it to the end.
    pub fn read_all(&mut self, fid: Fid) -> Result<Vec<u8>, String> {
        self.rpc(|c, out| c.open(fid, OREAD, out), |_| ())?;
        let mut all = Vec::new();
        loop {
            let offset = all.len() as u64;
            let mut got = 0;
            self.rpc(
                |c, out| c.read(fid, offset, 8192, out),
                |body| {
                    if let Fcall::Rread { data } = body {
                        got = data.len();
                        all.extend_from_slice(data);
                    }
                },
            )?;
            if got == 0 {
                return Ok(all);
            }
        }
    }

    /// The names and uids of a directory's entries.
    pub fn ls(&mut self, root: Fid, path: &str) -> Result<Vec<(String, String)>, String> {
        let fid = self.walk(root, path)?;
        let data = self.read_all(fid)?;
        self.rpc(|c, out| c.clunk(fid, out), |_| ())?;
        DirEntries::new(&data)
            .map(|e| {
                e.map(|s| (s.name.into_owned(), s.uid.into_owned()))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    /// (name, uid) of `path`'s stat.
    pub fn stat(&mut self, root: Fid, path: &str) -> Result<(String, String), String> {
        let fid = self.walk(root, path)?;
        let mut got = (String::new(), String::new());
        self.rpc(
            |c, out| c.stat(fid, out),
            |body| {
                if let Fcall::Rstat { stat } = body {
                    got = (stat.name.to_string(), stat.uid.to_string());
                }
            },
        )?;
        self.rpc(|c, out| c.clunk(fid, out), |_| ())?;
        Ok(got)
    }
}

/// The value of a gauge on the server's `/metrics`.
pub fn gauge(http: SocketAddr, name: &str) -> u64 {
    let mut s = std::net::TcpStream::connect(http).expect("connect http");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics: {text}"))
}
