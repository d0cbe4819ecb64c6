//! Shared by the end-to-end tests: start `switchboard serve` on free loopback ports, find
//! the test peers, and clean up.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `switchboard serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub data: tempfile::TempDir,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts the server on 127.0.0.1 with port 0 for SIP, its own data directory, an empty
    /// config, and `extra` flags; waits for its `listening` lines.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with_config("", extra)
    }

    /// Like [`Server::start`] with `config` as the config file's text.
    pub fn start_with_config(config_text: &str, extra: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        std::fs::write(data.path().join("switchboard.toml"), config_text).expect("config");
        Self::start_in(data, extra)
    }

    /// Stops the server with SIGTERM (which must exit 0) and starts it again on the same data
    /// directory and config, with SIP on a new free port.
    pub fn restart(mut self, extra: &[&str]) -> Self {
        assert_eq!(
            self.signal_and_wait(15),
            Some(0),
            "clean exit before restart"
        );
        let data = std::mem::replace(&mut self.data, tempfile::tempdir().expect("tempdir"));
        drop(self);
        Self::start_in(data, extra)
    }

    /// Starts on `data`, whose `switchboard.toml` is the config.
    fn start_in(data: tempfile::TempDir, extra: &[&str]) -> Self {
        let config = data.path().join("switchboard.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--sip", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchboard");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (etx, erx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        let (mut sip, mut http) = (None, None);
        while sip.is_none() || http.is_none() {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| {
                    let err: Vec<String> = erx.try_iter().collect();
                    panic!("switchboard did not report listening; stderr: {err:?}")
                });
            if let Some(addr) = line.strip_prefix("listening sip/udp ") {
                sip = Some(addr.parse().expect("listening address"));
            }
            if let Some(addr) = line.strip_prefix("listening http ") {
                http = Some(addr.parse().expect("listening address"));
            }
        }
        Self {
            child,
            sip: sip.expect("sip address"),
            http: http.expect("http address"),
            data,
            stderr: erx,
        }
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` and waits for the exit code.
    pub fn signal_and_wait(&mut self, signal: i32) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(&pid)
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of an external test peer, or `None` (the test then skips) when it is missing and
/// `SWITCHBOARD_PEERS` is not set. Under `SWITCHBOARD_PEERS=1` (as `scripts/test` runs) a
/// missing peer fails the test.
pub fn peer(program: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("SWITCHBOARD_PEERS").is_ok_and(|v| v == "1") {
            panic!("test peer {program} is missing (SWITCHBOARD_PEERS=1); run scripts/test");
        }
        eprintln!("skipped: test peer {program} not installed (scripts/test installs it)");
    }
    found
}

/// A config with one domain named `domain` whose users are `user0..userN` with passwords
/// `pw0..pwN` (the users of `tests/sipp/users.csv`), plus `extra` TOML.
pub fn config_with_users(domain: &str, users: usize, extra: &str) -> String {
    let mut c = format!("{extra}\n[[domain]]\nname = \"{domain}\"\nusers = [\n");
    for i in 0..users {
        c.push_str(&format!(
            "  {{ username = \"user{i}\", secret = \"pw{i}\" }},\n"
        ));
    }
    c.push_str("]\n");
    c
}

/// The tests' SIPp scenarios.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// The outcome of one SIPp run.
pub struct SippRun {
    pub success: bool,
    pub output: String,
}

/// Runs SIPp with `scenario` against `target` for `calls` calls, bounded in time.
pub fn sipp(scenario_file: &str, target: SocketAddr, transport_tcp: bool, calls: u32) -> SippRun {
    sipp_with(scenario_file, target, transport_tcp, calls, &[])
}

/// [`sipp`] with extra SIPp arguments (`-inf users.csv`, `-key expires 0`...); relative file
/// arguments name files in `tests/sipp/`.
pub fn sipp_with(
    scenario_file: &str,
    target: SocketAddr,
    transport_tcp: bool,
    calls: u32,
    extra: &[&str],
) -> SippRun {
    let sipp = peer("sipp").expect("sipp");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(sipp);
    cmd.current_dir(dir.path())
        .arg("-sf")
        .arg(scenario(scenario_file))
        .arg(target.to_string())
        .args(["-i", "127.0.0.1", "-m", &calls.to_string(), "-r", "50"])
        .args([
            "-timeout",
            "30",
            "-timeout_error",
            "-recv_timeout",
            "10000",
            "-nostdin",
        ])
        .args(["-trace_err", "-trace_msg"]);
    if transport_tcp {
        cmd.args(["-t", "t1"]);
    }
    for arg in extra {
        let in_sipp_dir = scenario(arg);
        if arg.ends_with(".csv") && in_sipp_dir.is_file() {
            cmd.arg(in_sipp_dir);
        } else {
            cmd.arg(arg);
        }
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run sipp");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    // SIPp writes the exchanged messages and errors to files in its working directory.
    for entry in std::fs::read_dir(dir.path())
        .into_iter()
        .flatten()
        .flatten()
    {
        let mut text = String::new();
        if std::fs::File::open(entry.path())
            .and_then(|mut f| f.read_to_string(&mut text))
            .is_ok()
        {
            output.push_str(&format!("\n==> {}\n{text}", entry.path().display()));
        }
    }
    SippRun {
        success: out.status.success(),
        output,
    }
}

/// An OPTIONS to the server itself, with `vias` as its Via lines (top first) and `extra`
/// header lines.
pub fn options(server: SocketAddr, vias: &[&str], extra: &str) -> Vec<u8> {
    let mut m = format!("OPTIONS sip:{server} SIP/2.0\r\n");
    for v in vias {
        m.push_str(&format!("Via: {v}\r\n"));
    }
    m.push_str(&format!(
        "From: <sip:t@127.0.0.1>;tag=f1\r\nTo: <sip:{server}>\r\nCall-ID: {}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n",
        vias.first().copied().unwrap_or("none").len()
    ));
    m.into_bytes()
}

/// Sends one datagram from a fresh loopback socket and returns the first answer, if one
/// comes within `wait`.
pub fn udp_exchange(server: SocketAddr, msg: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(wait)).expect("timeout");
    sock.send_to(msg, server).expect("send");
    let mut buf = vec![0u8; 65_536];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// The status code of a response.
pub fn status(resp: &[u8]) -> u16 {
    String::from_utf8_lossy(resp.get(8..11).unwrap_or(b"000"))
        .parse()
        .unwrap_or(0)
}

/// The header lines named `name` (case-sensitive, long form) of a message.
pub fn header_lines(msg: &[u8], name: &str) -> Vec<String> {
    let prefix = format!("{name}: ");
    String::from_utf8_lossy(msg)
        .split("\r\n")
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

/// A free UDP port on 127.0.0.1 (bound, read, released: a peer binds it right after).
pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// One HTTP request over a fresh connection; returns (status, body). For the API tests, which
/// only need HTTP/1.1 with Content-Length.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A control server for webhooks: records every request line and body it gets, answers 200.
pub struct ControlServer {
    pub addr: SocketAddr,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl ControlServer {
    /// Listens on a free loopback port, in a thread that lives as long as the test.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || serve_one(stream, &seen));
            }
        });
        Self { addr, requests }
    }

    /// The requests so far, as (request line, body).
    pub fn seen(&self) -> Vec<(String, String)> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits up to `within` for a request whose line starts with `prefix`.
    pub fn wait_for(&self, prefix: &str, within: Duration) -> Option<(String, String)> {
        let end = std::time::Instant::now() + within;
        while std::time::Instant::now() < end {
            if let Some(r) = self.seen().into_iter().find(|(l, _)| l.starts_with(prefix)) {
                return Some(r);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

fn serve_one(mut stream: std::net::TcpStream, seen: &std::sync::Mutex<Vec<(String, String)>>) {
    use std::io::Write;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read the head, then Content-Length bytes of body.
    loop {
        let Ok(n) = stream.read(&mut chunk) else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0usize);
        if body.len() < len {
            continue;
        }
        let line = head.lines().next().unwrap_or("").to_owned();
        if let Ok(mut s) = seen.lock() {
            s.push((line, body.to_owned()));
        }
        let _ =
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
}

/// A REGISTER a test phone sends over UDP, answering the digest challenge (MD5) it gets.
pub struct Register<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub call_id: &'a str,
    /// CSeq of the first REGISTER; the authenticated one uses the next.
    pub cseq: u32,
    /// `None`: a query (no Contact header).
    pub contact: Option<&'a str>,
    /// The Via sent-by; `None`: the socket's own address.
    pub via: Option<&'a str>,
    /// Further header lines, each ending in CRLF.
    pub extra: &'a str,
}

/// Sends `r` from `sock` to `server`, answers the challenge, and returns the challenge and the
/// final answer. Requests the PBX sends meanwhile (keepalives) are skipped. `None` when an
/// answer does not come within the socket's read timeout or holds no usable challenge.
pub fn register_udp(
    server: SocketAddr,
    sock: &std::net::UdpSocket,
    r: &Register<'_>,
) -> Option<(String, String)> {
    use sip::digest::{Algorithm, Challenge, Credentials, ha1};
    let local = sock.local_addr().ok()?.to_string();
    let via = r.via.unwrap_or(&local);
    let send = |cseq: u32, auth: &str| -> Option<String> {
        let contact = r
            .contact
            .map(|c| format!("Contact: <{c}>\r\n"))
            .unwrap_or_default();
        let msg = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK-{}-{cseq}\r\n\
             From: <sip:{user}@127.0.0.1>;tag=t{cseq}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
             Call-ID: {}\r\nCSeq: {cseq} REGISTER\r\n{contact}{}{auth}Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            r.call_id,
            r.call_id,
            r.extra,
            user = r.user
        );
        sock.send_to(msg.as_bytes(), server).ok()?;
        let mut buf = [0u8; 8192];
        loop {
            let (n, _) = sock.recv_from(&mut buf).ok()?;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("SIP/2.0 ") {
                return Some(text);
            }
        }
    };
    let challenge = send(r.cseq, "")?;
    let header = header_lines(challenge.as_bytes(), "WWW-Authenticate")
        .into_iter()
        .next()?;
    let ch = Challenge::parse(&header).ok()?;
    let key = ha1(Algorithm::Md5, r.user, &ch.realm, r.password);
    let creds =
        Credentials::answer(&ch, r.user, &key, "REGISTER", "sip:127.0.0.1", "c0ffee", 1).ok()?;
    let answer = send(r.cseq + 1, &format!("Authorization: {creds}\r\n"))?;
    Some((challenge, answer))
}
