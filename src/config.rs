//! The configuration: `switchboard.toml`, every key optional, then environment variables and
//! command-line flags on top (flags win).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use serde::Deserialize;

/// The whole file. An empty file is valid: every key has a safe default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the database, recordings and the local 9P socket.
    pub data: PathBuf,
    /// The address put in Via, Contact and SDP when bound to 0.0.0.0 or behind 1:1 NAT.
    pub advertise: Option<IpAddr>,
    /// The domain used for requests addressed to the PBX's own IP.
    pub default_domain: Option<String>,
    /// SIP signalling.
    pub sip: SipSection,
    /// The HTTP API.
    pub http: Listen,
    /// The 9P2000 file service.
    pub ninep: Listen,
    /// Media.
    pub rtp: RtpSection,
    /// HEP capture to a Homer collector.
    pub hep: HepSection,
    /// Logging.
    pub log: LogSection,
    /// The registrar.
    pub registrar: RegistrarSection,
    /// Brute-force and flood protection.
    pub guard: GuardSection,
    /// Calls between extensions.
    pub calls: CallsSection,
    /// Domains and users to create or update at start-up (upserted into the store).
    #[serde(rename = "domain")]
    pub domains: Vec<DomainSection>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data: PathBuf::from("./data"),
            advertise: None,
            default_domain: None,
            sip: SipSection::default(),
            http: Listen {
                listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            },
            ninep: Listen {
                listen: SocketAddr::from(([127, 0, 0, 1], 5640)),
            },
            rtp: RtpSection::default(),
            hep: HepSection::default(),
            log: LogSection::default(),
            registrar: RegistrarSection::default(),
            guard: GuardSection::default(),
            calls: CallsSection::default(),
            domains: Vec::new(),
        }
    }
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipSection {
    /// UDP and TCP address.
    pub listen: SocketAddr,
    /// Domains served besides the PBX's own addresses.
    pub domains: Vec<String>,
    /// Largest SIP message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Largest number of header lines in one message.
    pub max_headers: usize,
    /// Most TCP connections at once.
    pub max_tcp_connections: usize,
    /// Seconds a silent TCP connection is kept.
    pub tcp_idle_secs: u64,
    /// The Server / User-Agent header value.
    pub server_header: String,
    /// RFC 3261 timer T1 (round-trip estimate), milliseconds.
    pub t1_ms: u64,
    /// RFC 3261 timer T2 (longest retransmit interval), milliseconds.
    pub t2_ms: u64,
    /// RFC 3261 timer T4 (longest time a message lives in the network), milliseconds.
    pub t4_ms: u64,
    /// Most server transactions alive at once; beyond it new requests get 503.
    pub max_transactions: usize,
}

impl Default for SipSection {
    fn default() -> Self {
        let net = net::SipConfig::default();
        Self {
            listen: net.listen,
            domains: Vec::new(),
            max_message_bytes: net.limits.max_message,
            max_headers: net.limits.max_headers,
            max_tcp_connections: net.max_connections,
            tcp_idle_secs: net.tcp_idle.as_secs(),
            server_header: concat!("switchboard/", env!("CARGO_PKG_VERSION")).to_owned(),
            t1_ms: millis(net.transactions.timers.t1),
            t2_ms: millis(net.transactions.timers.t2),
            t4_ms: millis(net.transactions.timers.t4),
            max_transactions: net.transactions.max_server_transactions,
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl SipSection {
    /// The transaction layer's settings.
    pub fn transactions(&self) -> anyhow::Result<sip::transaction::LayerConfig> {
        use std::time::Duration;
        if self.t1_ms == 0 || self.t2_ms < self.t1_ms || self.t4_ms == 0 {
            anyhow::bail!("invalid [sip] timers: need t1_ms > 0, t2_ms >= t1_ms, t4_ms > 0");
        }
        let mut c = sip::transaction::LayerConfig::default();
        c.timers.t1 = Duration::from_millis(self.t1_ms);
        c.timers.t2 = Duration::from_millis(self.t2_ms);
        c.timers.t4 = Duration::from_millis(self.t4_ms);
        c.max_server_transactions = self.max_transactions;
        Ok(c)
    }
}

/// A section with just a listening address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Where to listen.
    pub listen: SocketAddr,
}

/// `[registrar]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrarSection {
    /// Shortest registration accepted, seconds (423 below).
    pub min_expires: u32,
    /// Longest registration granted, seconds.
    pub max_expires: u32,
    /// Registration length when the phone names none, seconds.
    pub default_expires: u32,
    /// Most contacts per user; the oldest give way beyond it.
    pub max_contacts: usize,
    /// Seconds a digest nonce lives before answers with it get `stale=true`.
    pub nonce_lifetime_secs: u64,
    /// Seconds between OPTIONS keepalives to each registered contact (0: none).
    pub keepalive_secs: u64,
    /// Unanswered keepalives after which a contact is dropped.
    pub keepalive_failures: u32,
}

impl Default for RegistrarSection {
    fn default() -> Self {
        let r = pbx::RegistrarConfig::default();
        Self {
            min_expires: r.min_expires,
            max_expires: r.max_expires,
            default_expires: r.default_expires,
            max_contacts: r.max_contacts,
            nonce_lifetime_secs: r.nonce_lifetime,
            keepalive_secs: r.keepalive_interval,
            keepalive_failures: r.keepalive_failures,
        }
    }
}

impl RegistrarSection {
    /// The registrar's settings.
    pub fn config(&self) -> anyhow::Result<pbx::RegistrarConfig> {
        if self.min_expires > self.default_expires || self.default_expires > self.max_expires {
            anyhow::bail!(
                "invalid [registrar]: need min_expires <= default_expires <= max_expires"
            );
        }
        if self.max_contacts == 0 || self.nonce_lifetime_secs == 0 {
            anyhow::bail!("invalid [registrar]: max_contacts and nonce_lifetime_secs must be > 0");
        }
        Ok(pbx::RegistrarConfig {
            min_expires: self.min_expires,
            max_expires: self.max_expires,
            default_expires: self.default_expires,
            max_contacts: self.max_contacts,
            nonce_lifetime: self.nonce_lifetime_secs,
            keepalive_interval: self.keepalive_secs,
            keepalive_failures: self.keepalive_failures.max(1),
            ..pbx::RegistrarConfig::default()
        })
    }
}

/// `[guard]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardSection {
    /// Off: nothing is counted or blocked.
    pub enabled: bool,
    /// Failures from one address within `window_secs` that block it.
    pub failures: u32,
    /// The counting window, seconds.
    pub window_secs: u64,
    /// How long a block lasts, seconds.
    pub ban_secs: u64,
}

impl Default for GuardSection {
    fn default() -> Self {
        let g = pbx::GuardConfig::default();
        Self {
            enabled: g.enabled,
            failures: g.failures,
            window_secs: g.window.as_secs(),
            ban_secs: g.ban.as_secs(),
        }
    }
}

impl GuardSection {
    /// The guard's settings.
    pub fn config(&self) -> anyhow::Result<pbx::GuardConfig> {
        if self.failures == 0 || self.window_secs == 0 || self.ban_secs == 0 {
            anyhow::bail!("invalid [guard]: failures, window_secs and ban_secs must be > 0");
        }
        Ok(pbx::GuardConfig {
            enabled: self.enabled,
            failures: self.failures,
            window: std::time::Duration::from_secs(self.window_secs),
            ban: std::time::Duration::from_secs(self.ban_secs),
            ..pbx::GuardConfig::default()
        })
    }
}

/// `[calls]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallsSection {
    /// Seconds the callee's phones ring before the caller gets 480.
    pub no_answer_secs: u64,
    /// Seconds without media both ways before a call is ended; 0: never.
    pub media_timeout_secs: u64,
    /// The same for a call on hold; 0: never.
    pub media_hold_timeout_secs: u64,
    /// The smallest session-timer interval accepted (RFC 4028 Min-SE, at least 90).
    pub min_se: u32,
    /// Calls at once; more get 503.
    pub max_calls: usize,
}

impl Default for CallsSection {
    fn default() -> Self {
        let d = pbx::calls::CallConfig::default();
        Self {
            no_answer_secs: d.no_answer_timeout.as_secs(),
            media_timeout_secs: d.media_timeout.map_or(0, |t| t.as_secs()),
            media_hold_timeout_secs: d.media_hold_timeout.map_or(0, |t| t.as_secs()),
            min_se: d.min_se,
            max_calls: d.max_calls,
        }
    }
}

impl CallsSection {
    /// The call manager's settings.
    pub fn config(&self) -> pbx::calls::CallConfig {
        pbx::calls::CallConfig {
            no_answer_timeout: std::time::Duration::from_secs(self.no_answer_secs.max(1)),
            media_timeout: (self.media_timeout_secs > 0)
                .then(|| std::time::Duration::from_secs(self.media_timeout_secs)),
            media_hold_timeout: (self.media_hold_timeout_secs > 0)
                .then(|| std::time::Duration::from_secs(self.media_hold_timeout_secs)),
            min_se: self.min_se.max(90),
            max_calls: self.max_calls.max(1),
            ..pbx::calls::CallConfig::default()
        }
    }
}

/// `[[domain]]`: a domain (account) with its users, upserted at start-up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainSection {
    /// The domain name.
    pub name: String,
    /// Webhook URL for its registration events.
    #[serde(default)]
    pub control: Option<String>,
    /// Digest algorithms offered, preferred first (default `["MD5"]`).
    #[serde(default)]
    pub digest: Option<Vec<String>>,
    /// Where the media relay accepts its phones' media from: `"strict"` (the default: their
    /// signalling or SDP address only) or `"any"`.
    #[serde(default)]
    pub latching: Option<String>,
    /// Its users.
    #[serde(default)]
    pub users: Vec<UserSection>,
}

/// A user of a `[[domain]]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    /// The user (extension) name.
    pub username: String,
    /// The password; only its digest HA1 values are stored.
    pub secret: String,
}

impl std::fmt::Debug for UserSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSection")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `[rtp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtpSection {
    /// The UDP port range for media, `LO-HI`.
    pub ports: PortRange,
    /// Run the media relay threads under `SCHED_FIFO` at this priority (1-99); unset: the
    /// normal scheduler. Needs `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` at least this high; when
    /// the OS refuses, one warning and the relay runs as usual.
    #[serde(deserialize_with = "realtime_priority")]
    pub realtime_priority: Option<u8>,
    /// Media relay threads; unset: one per core, up to 4. With `realtime_priority`, fewer
    /// than the cores leaves the others to ordinary processes.
    pub relay_threads: Option<std::num::NonZeroUsize>,
}

impl Default for RtpSection {
    fn default() -> Self {
        Self {
            ports: PortRange {
                lo: 10_000,
                hi: 20_000,
            },
            realtime_priority: None,
            relay_threads: None,
        }
    }
}

/// `realtime_priority`: SCHED_FIFO's range, 1-99.
fn realtime_priority<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let n = u8::deserialize(d)?;
    if (1..=99).contains(&n) {
        Ok(Some(n))
    } else {
        Err(serde::de::Error::custom(format!(
            "realtime_priority {n} out of range: 1-99"
        )))
    }
}

/// `[hep]`, or `hep = "ADDR:PORT"` for just the collector.
#[derive(Debug, Clone)]
pub struct HepSection {
    /// Where to send HEP3 frames, if anywhere.
    pub collector: Option<SocketAddr>,
    /// The capture agent id in every frame (Homer's "capture id" of this PBX).
    pub capture_id: u32,
    /// The collector's password (HEP auth key, sent in clear), if it wants one.
    pub password: Option<String>,
}

impl Default for HepSection {
    fn default() -> Self {
        Self {
            collector: None,
            // Kamailio's default `hep_capture_id`.
            capture_id: 1,
            password: None,
        }
    }
}

impl HepSection {
    /// The capture agent fields of every frame.
    pub fn agent(&self) -> hep::Agent {
        hep::Agent {
            capture_id: self.capture_id,
            auth_key: self
                .password
                .as_deref()
                .map(|p| std::sync::Arc::from(p.as_bytes())),
        }
    }
}

/// The keys of the `[hep]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HepTable {
    collector: Option<SocketAddr>,
    capture_id: Option<u32>,
    password: Option<String>,
}

impl<'de> Deserialize<'de> for HepSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Form;
        impl<'de> serde::de::Visitor<'de> for Form {
            type Value = HepSection;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a collector \"ADDR:PORT\" or a [hep] table")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HepSection, E> {
                let collector = v.parse().map_err(|_| {
                    E::custom(format!("invalid HEP collector {v:?}: expected ADDR:PORT"))
                })?;
                Ok(HepSection {
                    collector: Some(collector),
                    ..HepSection::default()
                })
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<HepSection, A::Error> {
                let t = HepTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                let default = HepSection::default();
                Ok(HepSection {
                    collector: t.collector,
                    capture_id: t.capture_id.unwrap_or(default.capture_id),
                    password: t.password,
                })
            }
        }
        d.deserialize_any(Form)
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter: `info`, `debug`, `sip=debug,info`... `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

/// An inclusive UDP port range, `LO-HI`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid port range {s:?}: expected LO-HI, e.g. 10000-20000");
        let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
        let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
        //= https://www.rfc-editor.org/rfc/rfc3550#section-11
        //# RTP uses an even port and RTCP the next odd one: a range needs room for a pair.
        if lo == 0 || hi <= lo {
            return Err(bad());
        }
        Ok(Self { lo, hi })
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.lo, self.hi)
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            // toml's own rendering spans several lines; a start-up error is one line.
            let at = e.span().map(|span| {
                let before = text.get(..span.start).unwrap_or("");
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" at line {line}, column {col}")
            });
            anyhow::anyhow!(
                "invalid config {}{}: {}",
                path.display(),
                at.unwrap_or_default(),
                e.message().trim()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let c: Config = toml::from_str("").expect("empty");
        assert_eq!(c.sip.listen, SocketAddr::from(([0, 0, 0, 0], 5060)));
        assert_eq!(c.http.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(
            c.rtp.ports,
            PortRange {
                lo: 10_000,
                hi: 20_000
            }
        );
    }

    #[test]
    fn realtime_priority_off_unless_set_and_in_range() {
        let c: Config = toml::from_str("").expect("empty");
        assert_eq!(c.rtp.realtime_priority, None);
        let c: Config = toml::from_str("[rtp]\nrealtime_priority = 10").expect("10");
        assert_eq!(c.rtp.realtime_priority, Some(10));
        assert!(toml::from_str::<Config>("[rtp]\nrealtime_priority = 0").is_err());
        assert!(toml::from_str::<Config>("[rtp]\nrealtime_priority = 100").is_err());
        let c: Config = toml::from_str("[rtp]\nrelay_threads = 1").expect("1 thread");
        assert_eq!(c.rtp.relay_threads.map(|n| n.get()), Some(1));
        assert!(toml::from_str::<Config>("[rtp]\nrelay_threads = 0").is_err());
    }

    #[test]
    fn sample_config_parses() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("switchboard.toml");
        Config::load(&path).expect("sample config");
    }

    #[test]
    fn hep_as_a_collector_or_a_table() {
        let c: Config = toml::from_str("hep = \"127.0.0.1:9060\"").expect("shorthand");
        assert_eq!(
            c.hep.collector,
            Some(SocketAddr::from(([127, 0, 0, 1], 9060)))
        );
        assert_eq!(c.hep.capture_id, 1);
        let c: Config =
            toml::from_str("[hep]\ncollector = \"[::1]:9060\"\ncapture_id = 7\npassword = \"pw\"")
                .expect("table");
        assert_eq!(c.hep.collector, Some("[::1]:9060".parse().expect("addr")));
        let agent = c.hep.agent();
        assert_eq!(agent.capture_id, 7);
        assert_eq!(agent.auth_key.as_deref(), Some(&b"pw"[..]));
        let c: Config = toml::from_str("[hep]").expect("empty table");
        assert_eq!(c.hep.collector, None);
        assert_eq!(Config::default().hep.collector, None);
        assert!(toml::from_str::<Config>("hep = \"nowhere\"").is_err());
        assert!(toml::from_str::<Config>("[hep]\ncolector = \"127.0.0.1:1\"").is_err());
        assert!(toml::from_str::<Config>("hep = 5").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_ranges_are_refused() {
        assert!(toml::from_str::<Config>("[sip]\nlisten_typo = 1").is_err());
        assert!("20000-10000".parse::<PortRange>().is_err());
        assert!("0-10".parse::<PortRange>().is_err());
        assert!("abc".parse::<PortRange>().is_err());
    }
}
