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
    /// The 9P TCP listener.
    pub ninep: SocketAddr,
    /// The 9P Unix socket (the operator's).
    pub ninep_unix: PathBuf,
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

    /// Starts again on the same data directory and config, after the process has exited.
    pub fn restart_stopped(mut self, extra: &[&str]) -> Self {
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
            .args(["--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(["--ninep", "127.0.0.1:0", "--data"])
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
        let (mut sip, mut http, mut ninep, mut ninep_unix) = (None, None, None, None);
        while sip.is_none() || http.is_none() || ninep.is_none() || ninep_unix.is_none() {
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
            if let Some(addr) = line.strip_prefix("listening 9p/tcp ") {
                ninep = Some(addr.parse().expect("listening address"));
            }
            if let Some(path) = line.strip_prefix("listening 9p/unix ") {
                ninep_unix = Some(PathBuf::from(path));
            }
        }
        Self {
            child,
            sip: sip.expect("sip address"),
            http: http.expect("http address"),
            ninep: ninep.expect("9p address"),
            ninep_unix: ninep_unix.expect("9p socket"),
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

// ---------------------------------------------------------------------------------------------
// Calls (issue 4): SIPp on both sides of the B2BUA, RTP sockets, SDP and CDR checks.
// ---------------------------------------------------------------------------------------------

/// The config of a call test: users `user0..userN` (passwords `pw0..`) of domain 127.0.0.1,
/// media ports `rtp` (`LO-HI`), no keepalive OPTIONS (a SIPp UAS would take one for an
/// unexpected message and fail), and `extra` TOML (section tables such as `[calls]`).
pub fn call_config(users: usize, rtp: &str, extra: &str) -> String {
    config_with_users(
        "127.0.0.1",
        users,
        &format!("[registrar]\nkeepalive_secs = 0\n[rtp]\nports = \"{rtp}\"\n{extra}"),
    )
}

/// The first of `n` consecutive free UDP ports on 127.0.0.1, all bound at once and then
/// released (SIPp binds a media port and the ones after it: RTCP, video).
pub fn free_udp_ports(n: u16) -> u16 {
    for _ in 0..200 {
        let first = free_udp_port();
        if first % 2 == 1 || first.checked_add(n).is_none() {
            continue;
        }
        let held: Vec<_> = (first..first + n)
            .map_while(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return first;
        }
    }
    panic!("no block of {n} free UDP ports");
}

/// Registers the first user of `csv` (a file in `tests/sipp/`) from SIPp on local port
/// `port`, for an hour. The PBX reaches a contact over the flow its REGISTER came from, so a
/// SIPp UAS started afterwards on the same port gets the calls.
pub fn sipp_register_from(server: SocketAddr, csv: &str, port: u16) {
    let port = port.to_string();
    let run = sipp_with(
        "register.xml",
        server,
        false,
        1,
        &["-inf", csv, "-key", "expires", "3600", "-p", &port],
    );
    assert!(
        run.success,
        "registration from port {port}:\n{}",
        run.output
    );
}

/// True when something holds UDP port `port` on 127.0.0.1.
pub fn udp_port_taken(port: u16) -> bool {
    std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
}

/// Starts SIPp in the background (a UAS waiting for the PBX), on local SIP port `port`, with
/// [`sipp_with`]'s arguments for one call; returns once SIPp holds the port.
pub fn sipp_spawn(
    scenario_file: &str,
    target: SocketAddr,
    port: u16,
    extra: &[&str],
) -> std::thread::JoinHandle<SippRun> {
    let file = scenario_file.to_owned();
    let mut args: Vec<String> = vec!["-p".into(), port.to_string()];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let handle = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sipp_with(&file, target, false, 1, &args)
    });
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !udp_port_taken(port) {
        if handle.is_finished() {
            let run = sipp_join(handle);
            panic!("SIPp ({scenario_file}) ended at once:\n{}", run.output);
        }
        assert!(
            std::time::Instant::now() < end,
            "SIPp ({scenario_file}) did not bind port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    handle
}

/// Waits for a background SIPp and returns its run.
pub fn sipp_join(handle: std::thread::JoinHandle<SippRun>) -> SippRun {
    handle.join().expect("sipp thread")
}

/// One SIP message from a SIPp `-trace_msg` log.
#[derive(Debug, Clone)]
pub struct SippMessage {
    /// Received by SIPp (else sent).
    pub received: bool,
    /// The message, lines joined with `\n`.
    pub text: String,
}

impl SippMessage {
    /// The start line.
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    /// True for a request with this method.
    pub fn is_request(&self, method: &str) -> bool {
        self.first_line().starts_with(&format!("{method} "))
    }

    /// The status code of a response, 0 for a request.
    pub fn status(&self) -> u16 {
        self.first_line()
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// The method of the CSeq header.
    pub fn cseq_method(&self) -> String {
        self.header("CSeq")
            .and_then(|c| c.split_whitespace().nth(1).map(str::to_owned))
            .unwrap_or_default()
    }

    /// The value of the first header named `name` (case-insensitive, long form).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head().lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    fn head(&self) -> &str {
        self.text
            .split_once("\n\n")
            .map_or(self.text.as_str(), |(h, _)| h)
    }

    /// The body (empty when there is none).
    pub fn body(&self) -> &str {
        self.text.split_once("\n\n").map_or("", |(_, b)| b)
    }
}

/// The SIP messages of a SIPp run (it must have run with `-trace_msg`, as [`sipp_with`]
/// does), in order.
pub fn sipp_messages(run: &SippRun) -> Vec<SippMessage> {
    let mut log = String::new();
    let mut in_log = false;
    for line in run.output.lines() {
        if let Some(path) = line.strip_prefix("==> ") {
            in_log = path.ends_with("_messages.log");
            continue;
        }
        if in_log {
            log.push_str(line.trim_end_matches('\r'));
            log.push('\n');
        }
    }
    let mut messages = Vec::new();
    for chunk in log.split("----------------------------------------------- ") {
        let mut lines = chunk.lines();
        let _timestamp = lines.next();
        let Some(kind) = lines.next() else { continue };
        let received = kind.contains("received");
        if !received && !kind.contains("sent") {
            continue;
        }
        let text: Vec<&str> = lines.skip_while(|l| l.is_empty()).collect();
        let text = text.join("\n").trim_end().to_owned();
        if !text.is_empty() {
            messages.push(SippMessage { received, text });
        }
    }
    messages
}

/// What a test checks in an SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpView {
    /// The session or first media `c=` address.
    pub address: Option<std::net::IpAddr>,
    /// The port of the first `m=audio` line.
    pub audio_port: Option<u16>,
    /// The payload types of the first `m=audio` line.
    pub payload_types: Vec<u8>,
    /// The `o=` session version.
    pub origin_version: Option<u64>,
    /// The `o=` session id.
    pub origin_session: Option<String>,
    /// The direction attribute (`sendrecv` when none is written).
    pub direction: String,
}

/// Reads the parts of an SDP body that the call tests check; `None` without `v=0`.
pub fn sdp_view(body: &str) -> Option<SdpView> {
    if !body.lines().any(|l| l.trim() == "v=0") {
        return None;
    }
    let mut view = SdpView {
        address: None,
        audio_port: None,
        payload_types: Vec::new(),
        origin_version: None,
        origin_session: None,
        direction: "sendrecv".into(),
    };
    for line in body.lines().map(str::trim) {
        if let Some(c) = line.strip_prefix("c=IN IP4 ") {
            view.address = view.address.or(c.trim().parse().ok());
        } else if let Some(o) = line.strip_prefix("o=") {
            let fields: Vec<&str> = o.split_whitespace().collect();
            view.origin_session = fields.get(1).map(|s| (*s).to_owned());
            view.origin_version = fields.get(2).and_then(|v| v.parse().ok());
        } else if let Some(m) = line.strip_prefix("m=audio ") {
            if view.audio_port.is_none() {
                let mut fields = m.split_whitespace();
                view.audio_port = fields.next().and_then(|p| p.parse().ok());
                view.payload_types = fields.skip(1).filter_map(|p| p.parse().ok()).collect();
            }
        } else if let Some(a) = line.strip_prefix("a=")
            && ["sendrecv", "sendonly", "recvonly", "inactive"].contains(&a)
        {
            view.direction = a.to_owned();
        }
    }
    Some(view)
}

/// Counts the RTP packets that reach a loopback socket (standing in for a phone's media
/// port), optionally echoing each back to its sender, until [`RtpSocket::finish`].
pub struct RtpSocket {
    /// Its address (127.0.0.1 and a free port).
    pub addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<RtpSeen>,
}

/// What an [`RtpSocket`] received.
#[derive(Debug, Clone, Default)]
pub struct RtpSeen {
    /// RTP packets (version 2, at least a 12-byte header).
    pub packets: usize,
    /// Their senders.
    pub sources: std::collections::BTreeSet<SocketAddr>,
    /// Their payload types.
    pub payload_types: std::collections::BTreeSet<u8>,
    /// Their sequence numbers.
    pub seqs: std::collections::BTreeSet<u16>,
    /// Other datagrams.
    pub other: usize,
}

impl RtpSocket {
    /// Binds a free loopback port and starts counting.
    pub fn start(echo: bool) -> Self {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind rtp");
        Self::start_on(sock, echo)
    }

    /// Counts on `sock`.
    pub fn start_on(sock: std::net::UdpSocket, echo: bool) -> Self {
        let addr = sock.local_addr().expect("rtp addr");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen = RtpSeen::default();
            let mut buf = [0u8; 2048];
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let packet = &buf[..n];
                if n >= 12 && packet[0] >> 6 == 2 {
                    seen.packets += 1;
                    seen.sources.insert(from);
                    seen.payload_types.insert(packet[1] & 0x7f);
                    seen.seqs.insert(u16::from_be_bytes([packet[2], packet[3]]));
                } else {
                    seen.other += 1;
                }
                if echo {
                    let _ = sock.send_to(packet, from);
                }
            }
            seen
        });
        Self { addr, stop, handle }
    }

    /// Stops counting and returns what came.
    pub fn finish(self) -> RtpSeen {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().expect("rtp thread")
    }
}

/// One CDR as the call tests check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrView {
    /// The caller's SIP Call-ID.
    pub call_id: String,
    /// The caller.
    pub from: String,
    /// The dialled user.
    pub to: String,
    /// Unix seconds.
    pub answer: Option<u64>,
    /// Unix seconds.
    pub end: Option<u64>,
    /// Seconds from start to end.
    pub duration: u64,
    /// Seconds from answer to end.
    pub billsec: u64,
    /// The hang-up cause's SIP code.
    pub code: u16,
    /// The hang-up cause's reason.
    pub reason: String,
    /// `caller`, `callee` or `system`.
    pub hangup_by: String,
}

/// SWITCH: while `GET /cdr/{domain}` is not served yet (it answers 404 for the route), the
/// CDRs are read from the server's `call event event=HungUp(Cdr { .. })` log lines instead.
/// Once the CDR writer and its API are wired, set this to `false`: then [`wait_cdrs`] reads
/// only the API, and a missing API fails the call tests.
pub const CDRS_FROM_LOG_UNTIL_API: bool = false;

/// Waits up to `within` for at least `count` CDRs of `domain`, then a little longer so that a
/// superfluous one shows too, and returns them all. Reads `GET /cdr/{domain}`, or (see
/// [`CDRS_FROM_LOG_UNTIL_API`]) the server's log; the log reading consumes the server's
/// stderr, so call this once per server.
pub fn wait_cdrs(server: &Server, domain: &str, count: usize, within: Duration) -> Vec<CdrView> {
    let end = std::time::Instant::now() + within;
    let mut log: Vec<String> = Vec::new();
    let mut settled: Option<std::time::Instant> = None;
    loop {
        let (code, body) = http(server.http, "GET", &format!("/cdr/{domain}"), None);
        let cdrs = if code == 200 {
            cdrs_from_json(&body)
        } else {
            assert!(
                CDRS_FROM_LOG_UNTIL_API && code == 404,
                "GET /cdr/{domain}: {code} {body}"
            );
            log.extend(server.stderr());
            log.iter().filter_map(|l| cdr_from_log(l)).collect()
        };
        let now = std::time::Instant::now();
        if cdrs.len() >= count {
            // Half a second more, for a duplicate that would follow.
            match settled {
                Some(t) if now >= t => return cdrs,
                None => settled = Some(now + Duration::from_millis(500)),
                _ => {}
            }
        }
        if now >= end {
            return cdrs;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads `Cdr { field: value, .. }` from a `call event event=HungUp(...)` log line.
fn cdr_from_log(line: &str) -> Option<CdrView> {
    let rest = line.split_once("event=HungUp(Cdr {")?.1;
    let field = |name: &str| -> Option<String> {
        let after = rest.split_once(&format!(" {name}: "))?.1;
        let value = if let Some(s) = after.strip_prefix('"') {
            s.split_once('"')?.0
        } else {
            after.split([',', ' ']).next()?
        };
        Some(value.to_owned())
    };
    let number = |name: &str| field(name)?.parse::<u64>().ok();
    let optional = |name: &str| {
        field(name).and_then(|v| {
            v.strip_prefix("Some(")
                .and_then(|n| n.trim_end_matches(')').parse().ok())
        })
    };
    Some(CdrView {
        call_id: field("call_id")?,
        from: field("from")?,
        to: field("to")?,
        answer: optional("answer"),
        end: optional("end"),
        duration: number("duration")?,
        billsec: number("billsec")?,
        code: u16::try_from(number("code")?).ok()?,
        reason: field("reason")?,
        hangup_by: field("hangup_by")?,
    })
}

/// Reads the `cdrs` of a `GET /cdr/{domain}` answer (DESIGN.md section 15).
fn cdrs_from_json(body: &str) -> Vec<CdrView> {
    let Some(Json::Object(top)) = Json::parse(body) else {
        panic!("GET /cdr: not a JSON object: {body}");
    };
    let Some(Json::Array(list)) = top.iter().find(|(k, _)| k == "cdrs").map(|(_, v)| v) else {
        panic!("GET /cdr: no cdrs array: {body}");
    };
    list.iter()
        .map(|cdr| {
            let text = |k: &str| cdr.get(k).and_then(Json::as_str).unwrap_or_default();
            let num = |k: &str| cdr.get(k).and_then(Json::as_u64);
            let cause = cdr.get("cause");
            CdrView {
                call_id: text("call_id"),
                from: text("from"),
                to: text("to"),
                answer: num("answer"),
                end: num("end"),
                duration: num("duration").unwrap_or(u64::MAX),
                billsec: num("billsec").unwrap_or(u64::MAX),
                code: cause
                    .and_then(|c| c.get("code"))
                    .and_then(Json::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(0),
                reason: cause
                    .and_then(|c| c.get("reason"))
                    .and_then(Json::as_str)
                    .unwrap_or_default(),
                hangup_by: text("hangup_by"),
            }
        })
        .collect()
}

/// Just enough JSON for reading API answers in tests (no serde_json among the root package's
/// dependencies).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses a whole document; `None` when it is not JSON.
    pub fn parse(text: &str) -> Option<Json> {
        let mut chars = text.chars().peekable();
        let value = Self::value(&mut chars)?;
        Self::space(&mut chars);
        chars.peek().is_none().then_some(value)
    }

    /// A member of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A string's text.
    pub fn as_str(&self) -> Option<String> {
        match self {
            Json::String(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// A non-negative whole number.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) if *n >= 0.0 && n.fract() == 0.0 => Some(*n as u64),
            _ => None,
        }
    }

    fn space(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
    }

    fn value(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Json> {
        Self::space(chars);
        match *chars.peek()? {
            '{' => {
                chars.next();
                let mut members = Vec::new();
                loop {
                    Self::space(chars);
                    match chars.next()? {
                        '}' => return Some(Json::Object(members)),
                        ',' => continue,
                        '"' => {
                            let key = Self::string(chars)?;
                            Self::space(chars);
                            (chars.next()? == ':').then_some(())?;
                            members.push((key, Self::value(chars)?));
                        }
                        _ => return None,
                    }
                }
            }
            '[' => {
                chars.next();
                let mut items = Vec::new();
                loop {
                    Self::space(chars);
                    match chars.peek()? {
                        ']' => {
                            chars.next();
                            return Some(Json::Array(items));
                        }
                        ',' => {
                            chars.next();
                        }
                        _ => items.push(Self::value(chars)?),
                    }
                }
            }
            '"' => {
                chars.next();
                Self::string(chars).map(Json::String)
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || "+-.".contains(c) {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                match word.as_str() {
                    "null" => Some(Json::Null),
                    "true" => Some(Json::Bool(true)),
                    "false" => Some(Json::Bool(false)),
                    n => n.parse().ok().map(Json::Number),
                }
            }
        }
    }

    /// The rest of a string whose opening quote was read.
    fn string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
        let mut s = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(s),
                '\\' => match chars.next()? {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'r' => s.push('\r'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        s.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    c => s.push(c),
                },
                c => s.push(c),
            }
        }
    }
}

/// The two SIPp runs of one call.
pub struct SippCall {
    /// The caller (user1).
    pub uac: SippRun,
    /// The callee (user0).
    pub uas: SippRun,
}

/// One call through the PBX between SIPp peers: user0 registers from a free port, a SIPp UAS
/// runs `uas_scenario` on that port, and a SIPp UAC (user1, `-s user0`) runs `uac_scenario`;
/// each gets its own media ports. `uas_extra` and `uac_extra` are further SIPp arguments.
pub fn sipp_call(
    server: SocketAddr,
    uas_scenario: &str,
    uas_extra: &[&str],
    uac_scenario: &str,
    uac_extra: &[&str],
) -> SippCall {
    let callee_port = free_udp_port();
    sipp_register_from(server, "users.csv", callee_port);
    let uas_media = free_udp_ports(4).to_string();
    let uas_args = [&["-mp", uas_media.as_str()][..], uas_extra].concat();
    let uas = sipp_spawn(uas_scenario, server, callee_port, &uas_args);
    let uac_media = free_udp_ports(4).to_string();
    let uac_args = [
        &[
            "-inf",
            "call_user1.csv",
            "-s",
            "user0",
            "-mp",
            uac_media.as_str(),
        ][..],
        uac_extra,
    ]
    .concat();
    let uac = sipp_with(uac_scenario, server, false, 1, &uac_args);
    let uas = sipp_join(uas);
    SippCall { uac, uas }
}

/// The first message of `run` received (or sent) that `pick` accepts.
pub fn sipp_find(
    run: &SippRun,
    received: bool,
    pick: impl Fn(&SippMessage) -> bool,
) -> Option<SippMessage> {
    sipp_messages(run)
        .into_iter()
        .find(|m| m.received == received && pick(m))
}

/// Whether py9p (p9fs 0.0.4 from PyPI, the independent 9P client) is installed where
/// `scripts/test` puts it; like [`peer`], a missing one fails under `SWITCHBOARD_PEERS=1`.
pub fn py9p() -> bool {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/py/py9p");
    if dir.is_dir() {
        return peer("python3").is_some();
    }
    if std::env::var("SWITCHBOARD_PEERS").is_ok_and(|v| v == "1") {
        panic!("test peer py9p is missing (SWITCHBOARD_PEERS=1); run scripts/test");
    }
    eprintln!("skipped: py9p not installed (scripts/test installs it)");
    false
}

/// Runs `tests/peers/ninep_client.py` (py9p) against `addr` (`tcp!HOST!PORT` or
/// `unix!PATH`), as `user` with `secret` (or the operator with `None`), with `ops`; returns
/// its JSON lines: the attach first, then one per operation.
pub fn ninep_py(addr: &str, user: Option<(&str, &str)>, ops: &[&str]) -> Vec<Json> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ninep_client.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(["--addr", addr]);
    if let Some((user, secret)) = user {
        cmd.args(["--user", user]).env("SWITCHBOARD_SECRET", secret);
    }
    let out = cmd.args(ops).output().expect("run ninep_client.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ninep_client.py failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| Json::parse(l).unwrap_or_else(|| panic!("not JSON: {l}")))
        .collect()
}

/// `tcp!HOST!PORT` for a 9P TCP address.
pub fn ninep_tcp(addr: SocketAddr) -> String {
    format!("tcp!{}!{}", addr.ip(), addr.port())
}

impl Json {
    /// True for `true`.
    pub fn is_true(&self) -> bool {
        *self == Json::Bool(true)
    }

    /// The names of an `ls` result's entries.
    pub fn entry_names(&self) -> Vec<String> {
        match self.get("entries") {
            Some(Json::Array(items)) => items
                .iter()
                .filter_map(|e| e.get("name").and_then(Json::as_str))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The HEP decoder script (`tests/peers/hep_decode.js`, driving the npm package hep-js that
/// `scripts/test` installs), or `None` (skip) when it is missing outside `scripts/test`.
pub fn hep_js() -> Option<PathBuf> {
    peer("node")?;
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
    if !peers.join("hep/node_modules/hep-js").is_dir() {
        if std::env::var("SWITCHBOARD_PEERS").is_ok_and(|v| v == "1") {
            panic!("hep-js is not installed in tests/peers/hep; run scripts/test");
        }
        eprintln!("skipped: hep-js not installed (scripts/test installs it)");
        return None;
    }
    Some(peers.join("hep_decode.js"))
}

/// Decodes HEP3 frames with hep-js: one JSON object per frame,
/// `{"ok", "rcinfo": {...}, "payload"}`.
pub fn hep_js_decode(script: &Path, frames: &[Vec<u8>]) -> Vec<Json> {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("frames.hex");
    let hex: String = frames
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    std::fs::write(&input, hex).expect("write frames");
    let out = Command::new("node")
        .arg(script)
        .arg(&input)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "hep_decode.js failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| Json::parse(l).unwrap_or_else(|| panic!("not JSON: {l}")))
        .collect()
}
