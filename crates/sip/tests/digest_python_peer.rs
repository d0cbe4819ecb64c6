//! Digest against an independent peer: `tests/peers/digest_client.py`, a UAC whose arithmetic
//! is Python's hashlib written from the RFCs, sharing nothing with `sip::digest`.
//!
//! Its self-test must pass, its `--compute` mode must agree with [`response`] on every
//! algorithm, and its REGISTER flows must succeed (or fail where they should) against a toy
//! registrar built here from `sip::digest` on a loopback UDP socket: MD5, SHA-256, a wrong
//! password, a replayed nc, an expired nonce.
//!
//! Skipped with a message when python3 is missing, unless `SWITCHBOARD_PEERS=1`.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sip::digest::{Algorithm, Challenge, Credentials, Qop, ha1, response};
use sip::{HeaderName, Message, Request, Response, StatusCode};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/digest_client.py")
}

/// True when python3 runs; otherwise skips (or fails under `SWITCHBOARD_PEERS=1`).
fn have_python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("SWITCHBOARD_PEERS").as_deref() != Ok("1"),
            "python3 is required when SWITCHBOARD_PEERS=1"
        );
        eprintln!("skipping: python3 not found (set SWITCHBOARD_PEERS=1 to make this fail)");
    }
    ok
}

fn peer(args: &[&str]) -> Output {
    Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .expect("python3 runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The raw JSON value of `key` in a one-line object written by Python's `json.dumps`
/// (`"key": value` pairs separated by `, `). Enough for scalars.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\": ");
    let start = line.find(&pat)? + pat.len();
    let rest = line.get(start..)?;
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest.get(..end).map(str::trim)
}

/// The output line of one exchange (`initial`, `authenticated`, `replay`).
fn exchange<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| field(l, "exchange") == Some(&format!("\"{name}\"")))
        .unwrap_or_else(|| panic!("no {name} exchange in:\n{out}"))
}

#[test]
fn python_self_test_passes() {
    if !have_python() {
        return;
    }
    let out = peer(&["--self-test"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out).trim(), r#"{"self_test": "ok"}"#);
}

#[test]
fn python_computes_what_we_compute() {
    if !have_python() {
        return;
    }
    let inputs = [
        (
            "alice",
            "pbx.example",
            "secret",
            "bm9uY2UtMQ==",
            1,
            "0a4f113b",
            "REGISTER",
        ),
        (
            "bob",
            "biloxi.com",
            "zanzibar",
            "84a4cc6f3082121f32b42a2187831a9e",
            0x2a,
            "deadbeef",
            "INVITE",
        ),
        (
            "Jäsøn",
            "réalm",
            "pâss wörd",
            "n:with:colons",
            0xffff_ffff,
            "c/+=",
            "BYE",
        ),
        ("", "", "", "", 0, "", "OPTIONS"),
    ];
    let mut skipped = Vec::new();
    for alg in Algorithm::ALL {
        for &(user, realm, password, nonce, nc, cnonce, method) in &inputs {
            for qop in [Some(Qop::Auth), None] {
                let uri = "sip:pbx.example;transport=udp";
                let stored = ha1(alg, user, realm, password);
                let ours = response(alg, &stored, nonce, nc, cnonce, qop, method, uri)
                    .expect("qop=auth or none");
                let nc_text = format!("{nc:08x}");
                let qop_text = qop.map_or("none", |q| q.as_str());
                let out = peer(&[
                    "--compute",
                    alg.as_str(),
                    user,
                    realm,
                    password,
                    nonce,
                    &nc_text,
                    cnonce,
                    qop_text,
                    method,
                    uri,
                ]);
                if !out.status.success() && alg.as_str().starts_with("SHA-512-256") {
                    // hashlib's SHA-512/256 comes from OpenSSL and may be absent.
                    skipped.push(alg);
                    continue;
                }
                assert!(out.status.success(), "{alg} {out:?}");
                assert_eq!(stdout(&out).trim(), ours, "{alg} {user} {qop_text}");
            }
        }
    }
    if !skipped.is_empty() {
        eprintln!("python3 has no SHA-512/256: skipped {skipped:?}");
    }
}

/// A registrar reduced to the digest exchange: challenges with SHA-256 then MD5 (RFC 8760
/// order of preference), checks answers from stored HA1, refuses a replayed nc with a fresh
/// nonce, and calls a nonce older than `nonce_ttl` stale.
struct ToyRegistrar {
    sock: UdpSocket,
    realm: String,
    password: String,
    nonce_ttl: Duration,
    /// nonce -> (issued, highest nc seen)
    nonces: HashMap<String, (Instant, u32)>,
    issued: u32,
}

impl ToyRegistrar {
    fn start(nonce_ttl: Duration) -> (SocketAddr, Arc<AtomicBool>, thread::JoinHandle<()>) {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = sock.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let mut reg = Self {
            sock,
            realm: "switchboard.test".into(),
            password: "secret".into(),
            nonce_ttl,
            nonces: HashMap::new(),
            issued: 0,
        };
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = reg.sock.recv_from(&mut buf) else {
                    continue;
                };
                let Some(datagram) = buf.get(..n) else {
                    continue;
                };
                if let Ok(Message::Request(req)) = Message::parse(datagram) {
                    let resp = reg.handle(&req);
                    let _ = reg.sock.send_to(&resp.to_bytes(), from);
                }
            }
        });
        (addr, stop, handle)
    }

    fn challenge(&mut self, req: &Request, stale: bool) -> Response {
        self.issued += 1;
        let nonce = format!("toy-nonce-{}", self.issued);
        self.nonces.insert(nonce.clone(), (Instant::now(), 0));
        let mut resp = Response::to_request(req, StatusCode::UNAUTHORIZED);
        for alg in [Algorithm::Sha256, Algorithm::Md5] {
            let mut c = Challenge::new(&self.realm, &nonce, alg);
            c.opaque = Some("toy-opaque".into());
            c.stale = stale;
            resp.head
                .headers
                .push(HeaderName::WwwAuthenticate, c.to_string());
        }
        resp
    }

    fn handle(&mut self, req: &Request) -> Response {
        let Some(value) = req.head.get(&HeaderName::Authorization) else {
            return self.challenge(req, false);
        };
        let creds = match Credentials::parse(value) {
            Ok(c) => c,
            Err(e) if e.status() == StatusCode::UNAUTHORIZED => return self.challenge(req, false),
            Err(e) => return Response::to_request(req, e.status()),
        };
        let stored = ha1(
            creds.algorithm,
            &creds.username,
            &self.realm,
            &self.password,
        );
        let Some(&(issued, last_nc)) = self.nonces.get(&creds.nonce) else {
            return self.challenge(req, false);
        };
        if creds.realm != self.realm || !creds.verify("REGISTER", &stored) {
            return self.challenge(req, false);
        }
        if issued.elapsed() > self.nonce_ttl {
            return self.challenge(req, true);
        }
        let nc = creds.nc.unwrap_or(0);
        if nc <= last_nc {
            return self.challenge(req, false);
        }
        self.nonces.insert(creds.nonce.clone(), (issued, nc));
        Response::to_request(req, StatusCode::OK)
    }
}

/// Runs the client against a fresh toy registrar and returns its stdout.
fn register(nonce_ttl: Duration, extra: &[&str]) -> String {
    let (addr, stop, handle) = ToyRegistrar::start(nonce_ttl);
    let server = addr.to_string();
    let mut args = vec!["--server", server.as_str(), "--timeout", "5"];
    args.extend_from_slice(extra);
    let out = peer(&args);
    stop.store(true, Ordering::Relaxed);
    handle.join().expect("registrar thread");
    assert!(out.status.success(), "{out:?}");
    stdout(&out)
}

#[test]
fn register_md5() {
    if !have_python() {
        return;
    }
    let out = register(Duration::from_secs(30), &[]);
    let initial = exchange(&out, "initial");
    assert_eq!(field(initial, "status"), Some("401"), "{out}");
    assert!(initial.contains(r#""algorithm": "SHA-256""#), "{out}");
    assert!(initial.contains(r#""algorithm": "MD5""#), "{out}");
    let auth = exchange(&out, "authenticated");
    assert_eq!(field(auth, "algorithm"), Some("\"MD5\""), "{out}");
    assert_eq!(field(auth, "status"), Some("200"), "{out}");
}

#[test]
fn register_sha256() {
    if !have_python() {
        return;
    }
    let out = register(Duration::from_secs(30), &["--algorithm", "SHA-256"]);
    let auth = exchange(&out, "authenticated");
    assert_eq!(field(auth, "algorithm"), Some("\"SHA-256\""), "{out}");
    assert_eq!(field(auth, "status"), Some("200"), "{out}");
}

#[test]
fn register_wrong_password_is_challenged_again() {
    if !have_python() {
        return;
    }
    let out = register(Duration::from_secs(30), &["--wrong-password"]);
    let auth = exchange(&out, "authenticated");
    assert_eq!(field(auth, "status"), Some("401"), "{out}");
    assert_eq!(field(auth, "stale"), Some("false"), "{out}");
}

#[test]
fn register_replayed_nc_gets_a_new_nonce() {
    if !have_python() {
        return;
    }
    let out = register(
        Duration::from_secs(30),
        &["--algorithm", "SHA-256", "--replay-nc"],
    );
    assert_eq!(
        field(exchange(&out, "authenticated"), "status"),
        Some("200"),
        "{out}"
    );
    let replay = exchange(&out, "replay");
    assert_eq!(field(replay, "status"), Some("401"), "{out}");
    assert_eq!(field(replay, "new_nonce"), Some("true"), "{out}");
}

#[test]
fn register_after_expiry_is_stale() {
    if !have_python() {
        return;
    }
    let out = register(Duration::from_millis(100), &["--wait-stale", "0.4"]);
    let auth = exchange(&out, "authenticated");
    assert_eq!(field(auth, "status"), Some("401"), "{out}");
    assert_eq!(field(auth, "stale"), Some("true"), "{out}");
    assert_eq!(field(auth, "new_nonce"), Some("true"), "{out}");
}
