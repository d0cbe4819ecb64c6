//! The 9P afid exchange (DESIGN.md section 15, "9P pins"): a read of the afid gives
//! `digest realm="<domain>" nonce="<nonce>" algorithm=SHA-256\n`, the client writes
//! `response="<hex>"\n` with hex = SHA-256 of `HA1:nonce`, HA1 being the SIP digest HA1 with
//! SHA-256 (`<user>:<domain>:<secret>`, user `admin` for the account admin). Nonces are single
//! use and expire; after a failed write the afid is dead; failures are counted per (address,
//! uname) and block that pair for a while.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sip::digest::Algorithm;

use ninep::FsError;

use super::Principal;
use crate::directory::Directory;
use crate::guard::GuardConfig;

/// How long a nonce may be answered.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(30);

/// The state of one afid.
#[derive(Debug)]
pub struct AuthFile {
    /// The uname of the Tauth, as sent.
    pub uname: String,
    /// Who the uname names.
    pub principal: Principal,
    nonce: String,
    issued: Instant,
    state: AuthState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthState {
    /// Challenge given, no answer yet.
    Open,
    /// Answered correctly: attaches as `principal` may use it.
    Verified,
    /// Answered wrongly, or the nonce expired: every further use fails.
    Dead,
}

impl AuthFile {
    /// The challenge line.
    pub fn challenge(&self) -> String {
        format!(
            "digest realm=\"{}\" nonce=\"{}\" algorithm=SHA-256\n",
            self.principal.domain().unwrap_or_default(),
            self.nonce
        )
    }

    /// True once a correct answer was written.
    pub fn verified(&self) -> bool {
        self.state == AuthState::Verified
    }
}

/// Failures per (address, uname), and blocks.
#[derive(Debug)]
pub struct Throttle {
    config: GuardConfig,
    entries: HashMap<(IpAddr, String), Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

impl Throttle {
    /// A throttle with the SIP guard's thresholds (DESIGN.md section 15: no sooner than 10
    /// failures within 60 s).
    pub fn new(config: GuardConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
        }
    }

    /// True while (ip, uname) is blocked.
    pub fn blocked(&self, now: Instant, ip: IpAddr, uname: &str) -> bool {
        self.config.enabled
            && self
                .entries
                .get(&(ip, uname.to_owned()))
                .and_then(|e| e.blocked_until)
                .is_some_and(|until| now < until)
    }

    /// Counts one failure; true when it starts a block.
    pub fn fail(&mut self, now: Instant, ip: IpAddr, uname: &str) -> bool {
        if !self.config.enabled {
            return false;
        }
        if self.entries.len() >= self.config.max_tracked {
            self.forget_stale(now);
        }
        let window = self.config.window;
        let entry = self.entries.entry((ip, uname.to_owned())).or_insert(Entry {
            window_start: now,
            failures: 0,
            blocked_until: None,
        });
        if now.saturating_duration_since(entry.window_start) > window {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures += 1;
        if entry.failures >= self.config.failures && entry.blocked_until.is_none_or(|u| now >= u) {
            entry.blocked_until = Some(now + self.config.ban);
            entry.failures = 0;
            entry.window_start = now;
            return true;
        }
        false
    }

    /// Pairs blocked now.
    pub fn blocked_count(&self, now: Instant) -> usize {
        self.entries
            .values()
            .filter(|e| e.blocked_until.is_some_and(|u| now < u))
            .count()
    }

    fn forget_stale(&mut self, now: Instant) {
        let window = self.config.window;
        self.entries.retain(|_, e| {
            e.blocked_until.is_some_and(|u| now < u)
                || now.saturating_duration_since(e.window_start) <= window
        });
        if self.entries.len() >= self.config.max_tracked {
            // Still full of live entries: forget the oldest window.
            if let Some(oldest) = self
                .entries
                .iter()
                .filter(|(_, e)| e.blocked_until.is_none())
                .min_by_key(|(_, e)| e.window_start)
                .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
    }
}

/// Parses a uname: `<user>@<domain>` (an extension) or `admin@<domain>`.
pub fn parse_uname(uname: &str) -> Option<Principal> {
    let (user, domain) = uname.rsplit_once('@')?;
    if user.is_empty() || domain.is_empty() {
        return None;
    }
    let domain = domain.to_ascii_lowercase();
    Some(if user == "admin" {
        Principal::Admin {
            domain: domain.into(),
        }
    } else {
        Principal::Extension {
            domain: domain.into(),
            user: user.into(),
        }
    })
}

/// Starts an exchange: the afid's state with a fresh nonce (32 hex digits from `random`).
pub fn begin(
    uname: &str,
    aname: &str,
    now: Instant,
    random: [u8; 16],
) -> Result<AuthFile, FsError> {
    if !aname.is_empty() {
        return Err(FsError::other("aname must be empty"));
    }
    let principal = parse_uname(uname).ok_or(FsError::other("uname is not user@domain"))?;
    Ok(AuthFile {
        uname: uname.to_owned(),
        principal,
        nonce: sip::digest::hex(&random),
        issued: now,
        state: AuthState::Open,
    })
}

/// Checks a written answer. The file is verified or dead afterwards; the nonce is never
/// accepted twice. An unknown user and a wrong secret fail alike.
pub fn answer(
    file: &mut AuthFile,
    directory: &Directory,
    data: &[u8],
    now: Instant,
) -> Result<(), FsError> {
    if file.state != AuthState::Open {
        file.state = AuthState::Dead;
        return Err(FsError::other("authentication already used"));
    }
    file.state = AuthState::Dead;
    if now.saturating_duration_since(file.issued) > NONCE_LIFETIME {
        return Err(FsError::other("nonce expired"));
    }
    let Some(hex) = parse_response(data) else {
        return Err(FsError::other("expected response=\"<hex>\""));
    };
    let ha1 = match &file.principal {
        Principal::Admin { domain } => directory
            .domain(domain)
            .and_then(|d| d.domain.admin.as_ref())
            .map(|s| s.sha256.clone()),
        Principal::Extension { domain, user } => directory
            .user(domain, user)
            .map(|(_, u)| u.secret.sha256.clone()),
        Principal::Operator => None,
    };
    // Compute the expected answer even for an unknown user, so that both take the same path.
    let ha1 = ha1.unwrap_or_else(|| "0".repeat(64));
    let mut joined = ha1.into_bytes();
    joined.push(b':');
    joined.extend_from_slice(file.nonce.as_bytes());
    let expected = Algorithm::Sha256.hash_hex(&joined);
    if same(expected.as_bytes(), hex.as_bytes()) && known(directory, &file.principal) {
        file.state = AuthState::Verified;
        Ok(())
    } else {
        Err(FsError::AuthFailed)
    }
}

fn known(directory: &Directory, principal: &Principal) -> bool {
    match principal {
        Principal::Admin { domain } => directory
            .domain(domain)
            .is_some_and(|d| d.domain.admin.is_some()),
        Principal::Extension { domain, user } => directory.user(domain, user).is_some(),
        Principal::Operator => false,
    }
}

/// `response="<hex>"` with an optional trailing newline; the hex lowercased.
fn parse_response(data: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(data).ok()?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let hex = text.strip_prefix("response=\"")?.strip_suffix('"')?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Domain, Secret, User};

    fn directory() -> Directory {
        let mut d = Directory::new();
        let mut domain = Domain::new("d.example");
        domain.admin = Secret::from_password("admin", "d.example", "adminpw");
        d.put_domain(
            domain,
            Some(vec![User {
                name: "alice".into(),
                secret: Secret::from_password("alice", "d.example", "alicepw").expect("secret"),
            }]),
        );
        d
    }

    fn respond(file: &AuthFile, user: &str, secret: &str) -> Vec<u8> {
        let ha1 = sip::digest::ha1(Algorithm::Sha256, user, "d.example", secret);
        let hex = Algorithm::Sha256.hash_hex(format!("{ha1}:{}", file.nonce).as_bytes());
        format!("response=\"{hex}\"\n").into_bytes()
    }

    #[test]
    fn extension_and_admin_answers() {
        let dir = directory();
        let t = Instant::now();
        let mut f = begin("alice@D.example", "", t, [7; 16]).expect("begin");
        assert_eq!(
            f.challenge(),
            format!(
                "digest realm=\"d.example\" nonce=\"{}\" algorithm=SHA-256\n",
                "07".repeat(16)
            )
        );
        let answer_bytes = respond(&f, "alice", "alicepw");
        answer(&mut f, &dir, &answer_bytes, t).expect("right answer");
        assert!(f.verified());
        // Single use: the same answer again kills it.
        assert!(answer(&mut f, &dir, &answer_bytes, t).is_err());
        assert!(!f.verified());

        let mut a = begin("admin@d.example", "", t, [8; 16]).expect("begin");
        let bytes = respond(&a, "admin", "adminpw");
        answer(&mut a, &dir, &bytes, t + Duration::from_secs(29)).expect("admin");
        assert_eq!(
            a.principal,
            Principal::Admin {
                domain: "d.example".into()
            }
        );
    }

    #[test]
    fn wrong_unknown_expired_and_malformed_fail() {
        let dir = directory();
        let t = Instant::now();
        type Answer = Box<dyn Fn(&AuthFile) -> Vec<u8>>;
        let cases: Vec<(&str, Answer, Duration)> = vec![
            (
                "alice@d.example",
                Box::new(|f| respond(f, "alice", "nope")),
                Duration::ZERO,
            ),
            (
                "bob@d.example",
                Box::new(|f| respond(f, "bob", "x")),
                Duration::ZERO,
            ),
            (
                "alice@d.example",
                Box::new(|f| respond(f, "alice", "alicepw")),
                NONCE_LIFETIME + Duration::from_secs(1),
            ),
            (
                "alice@d.example",
                Box::new(|_| b"response=\"abc\"\n".to_vec()),
                Duration::ZERO,
            ),
            (
                "alice@d.example",
                Box::new(|_| b"hello".to_vec()),
                Duration::ZERO,
            ),
            (
                "admin@other.example",
                Box::new(|f| respond(f, "admin", "adminpw")),
                Duration::ZERO,
            ),
        ];
        for (uname, make, later) in cases {
            let mut f = begin(uname, "", t, [1; 16]).expect("begin");
            let bytes = make(&f);
            assert!(answer(&mut f, &dir, &bytes, t + later).is_err(), "{uname}");
            assert!(!f.verified());
            // Dead: even the right answer fails now.
            let right = respond(&f, "alice", "alicepw");
            assert!(answer(&mut f, &dir, &right, t).is_err());
        }
        assert!(
            begin("alice@d.example", "tree", t, [1; 16]).is_err(),
            "aname"
        );
        assert!(begin("alice", "", t, [1; 16]).is_err());
        assert!(begin("@d.example", "", t, [1; 16]).is_err());
    }

    #[test]
    fn throttle_blocks_the_pair_only() {
        let mut th = Throttle::new(GuardConfig::default());
        let t = Instant::now();
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        for i in 0..9 {
            assert!(!th.fail(t, ip, "alice@d"), "{i}");
        }
        assert!(!th.blocked(t, ip, "alice@d"));
        assert!(th.fail(t, ip, "alice@d"));
        assert!(th.blocked(t, ip, "alice@d"));
        assert!(
            !th.blocked(t, ip, "bob@d"),
            "another uname from the same address"
        );
        assert_eq!(th.blocked_count(t), 1);
        assert!(!th.blocked(t + Duration::from_secs(301), ip, "alice@d"));
        // Failures spread beyond the window never block.
        let mut th = Throttle::new(GuardConfig::default());
        for i in 0..30u64 {
            assert!(!th.fail(t + Duration::from_secs(i * 7), ip, "carol@d"));
        }
    }
}
