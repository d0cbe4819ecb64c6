//! Brute-force and flood protection (DESIGN.md section 13): failures from one source address
//! (wrong credentials, forged or replayed nonces, malformed requests, and challenges that are
//! never answered) are counted in a sliding window; past a threshold the address is blocked for
//! a while and everything it sends is dropped. Traffic that authenticates is never counted:
//! many phones share one NAT address, and a load of correct registrations from one address runs
//! at full rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::intercept::{Direction, Interceptor, Observed, Verdict};
use crate::metrics::Metrics;
use crate::registrar::AuthResult;

/// How long challenges may wait for their answers before they count as never answered.
const UNANSWERED_GRACE: Duration = Duration::from_secs(5);

/// The guard's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// Off: nothing is counted or blocked.
    pub enabled: bool,
    /// Failures within `window` that block an address (at least 10, DESIGN.md section 15).
    pub failures: u32,
    /// The counting window.
    pub window: Duration,
    /// How long a block lasts.
    pub ban: Duration,
    /// Most addresses tracked; beyond it the stalest entry is forgotten.
    pub max_tracked: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failures: 10,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(300),
            max_tracked: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    /// Challenges sent to requests without credentials, less requests with credentials.
    unanswered: u32,
    /// When an authentication from this address last succeeded. An address that authenticates
    /// is a phone (or a NAT full of them): its unanswered challenges (a retransmitted REGISTER
    /// gets a challenge of its own) are not held against it.
    last_success: Option<Instant>,
    /// Since when challenges have been waiting for an answer (the balance went above zero).
    /// A burst of phones registering at once has many challenges in flight for a moment; only
    /// challenges left unanswered for longer than [`UNANSWERED_GRACE`] count.
    unanswered_since: Option<Instant>,
    blocked_until: Option<Instant>,
    last_seen: Instant,
}

/// The per-address counters. Sans-IO: time is passed in.
#[derive(Debug)]
pub struct Guard {
    config: GuardConfig,
    entries: HashMap<IpAddr, Entry>,
    metrics: Arc<Metrics>,
}

impl Guard {
    /// A guard that reports blocked addresses in `metrics`.
    pub fn new(config: GuardConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            config,
            entries: HashMap::new(),
            metrics,
        }
    }

    /// True while `ip` is blocked.
    pub fn is_blocked(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.config.enabled {
            return false;
        }
        let Some(e) = self.entries.get_mut(&ip) else {
            return false;
        };
        match e.blocked_until {
            Some(until) if now < until => true,
            Some(_) => {
                // The block ran out: start afresh.
                self.entries.remove(&ip);
                self.update_gauge(now);
                false
            }
            None => false,
        }
    }

    /// Records how a request from `ip` fared against authentication. `had_credentials`: it
    /// carried an Authorization header.
    pub fn record_auth(
        &mut self,
        ip: IpAddr,
        now: Instant,
        result: AuthResult,
        had_credentials: bool,
    ) {
        if !self.config.enabled {
            return;
        }
        // Credentials answer a challenge, right or wrong: one challenge fewer unanswered.
        if had_credentials && let Some(e) = self.entries.get_mut(&ip) {
            e.unanswered = e.unanswered.saturating_sub(1);
            if e.unanswered == 0 {
                e.unanswered_since = None;
            }
        }
        match result {
            AuthResult::Succeeded => {
                if let Some(e) = self.entries.get_mut(&ip) {
                    e.last_success = Some(now);
                } else if self.entries.len() < self.config.max_tracked {
                    self.entries.insert(
                        ip,
                        Entry {
                            window_start: now,
                            failures: 0,
                            unanswered: 0,
                            last_success: Some(now),
                            unanswered_since: None,
                            blocked_until: None,
                            last_seen: now,
                        },
                    );
                }
            }
            AuthResult::Failed => self.fail(ip, now, |e| e.failures += 1),
            AuthResult::Challenged if !had_credentials => {
                self.fail(ip, now, |e| {
                    e.unanswered += 1;
                    e.unanswered_since.get_or_insert(now);
                });
            }
            _ => {}
        }
    }

    /// Records a malformed request from `ip`.
    pub fn record_malformed(&mut self, ip: IpAddr, now: Instant) {
        if self.config.enabled {
            self.fail(ip, now, |e| e.failures += 1);
        }
    }

    fn fail(&mut self, ip: IpAddr, now: Instant, count: impl FnOnce(&mut Entry)) {
        if !self.entries.contains_key(&ip) && self.entries.len() >= self.config.max_tracked {
            self.evict(now);
            if self.entries.len() >= self.config.max_tracked {
                // Every slot holds a live block: the table stays bounded, this one goes
                // uncounted.
                return;
            }
        }
        let cfg = self.config;
        let e = self.entries.entry(ip).or_insert(Entry {
            window_start: now,
            failures: 0,
            unanswered: 0,
            last_success: None,
            unanswered_since: None,
            blocked_until: None,
            last_seen: now,
        });
        if e.blocked_until.is_some() {
            return;
        }
        if now.duration_since(e.window_start) > cfg.window {
            e.window_start = now;
            e.failures = 0;
            e.unanswered = 0;
            e.unanswered_since = None;
        }
        e.last_seen = now;
        count(e);
        // Unanswered challenges count against an address that has not authenticated within the
        // window, and only once they have waited past the grace period.
        let authenticates = e
            .last_success
            .is_some_and(|t| now.duration_since(t) <= cfg.window);
        let overdue = e
            .unanswered_since
            .is_some_and(|t| now.duration_since(t) >= UNANSWERED_GRACE);
        let unanswered = if authenticates || !overdue {
            0
        } else {
            e.unanswered
        };
        if e.failures.saturating_add(unanswered) >= cfg.failures {
            e.blocked_until = Some(now + cfg.ban);
            tracing::warn!(%ip, failures = e.failures, unanswered = e.unanswered,
                ban_secs = cfg.ban.as_secs(), "source blocked");
            self.update_gauge(now);
        }
    }

    /// Makes room when the table is full, in one sweep so that a flood of new addresses
    /// costs amortised constant time: entries outside their window go first, then (if still
    /// full) a quarter of the unblocked ones. Blocked addresses stay blocked.
    fn evict(&mut self, now: Instant) {
        let window = self.config.window;
        let active = |e: &Entry| e.blocked_until.is_some_and(|u| u > now);
        self.entries
            .retain(|_, e| active(e) || now.duration_since(e.last_seen) <= window);
        let target = self.config.max_tracked - self.config.max_tracked / 4;
        if self.entries.len() >= target {
            let mut excess = self.entries.len() - target;
            self.entries.retain(|_, e| {
                if excess > 0 && !active(e) {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }

    fn update_gauge(&self, now: Instant) {
        let blocked = self
            .entries
            .values()
            .filter(|e| e.blocked_until.is_some_and(|u| u > now));
        self.metrics
            .blocked_sources
            .store(blocked.count() as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The guard as the first stage of the pipeline: drops everything from blocked addresses, and
/// counts malformed requests.
#[derive(Debug, Clone)]
pub struct GuardInterceptor(pub Arc<Mutex<Guard>>);

impl Interceptor for GuardInterceptor {
    fn inspect(&mut self, m: &Observed<'_>) -> Verdict {
        if m.direction == Direction::Outbound {
            return Verdict::Continue;
        }
        let now = m.now;
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let ip = m.remote.ip();
        if guard.is_blocked(ip, now) {
            return Verdict::Drop;
        }
        if let Some(Err(_)) = m.parsed {
            guard.record_malformed(ip, now);
        }
        Verdict::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(GuardConfig::default(), Arc::new(Metrics::default()))
    }

    #[test]
    fn failures_block_then_the_block_ends() {
        let mut g = guard();
        let ip: IpAddr = "127.0.0.5".parse().expect("ip");
        let t0 = Instant::now();
        for i in 0..9 {
            g.record_auth(ip, t0 + Duration::from_secs(i), AuthResult::Failed, true);
            assert!(!g.is_blocked(ip, t0 + Duration::from_secs(i)));
        }
        g.record_auth(ip, t0 + Duration::from_secs(9), AuthResult::Failed, true);
        assert!(g.is_blocked(ip, t0 + Duration::from_secs(10)));
        assert_eq!(
            g.metrics
                .blocked_sources
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        // Another address is untouched.
        assert!(!g.is_blocked("127.0.0.6".parse().expect("ip"), t0));
        assert!(!g.is_blocked(ip, t0 + Duration::from_secs(9 + 301)));
    }

    #[test]
    fn slow_failures_never_block() {
        let mut g = guard();
        let ip: IpAddr = "127.0.0.5".parse().expect("ip");
        let t0 = Instant::now();
        for i in 0..100 {
            g.record_auth(
                ip,
                t0 + Duration::from_secs(i * 7),
                AuthResult::Failed,
                true,
            );
        }
        assert!(!g.is_blocked(ip, t0 + Duration::from_secs(700)));
    }

    #[test]
    fn answered_challenges_and_successes_never_count() {
        let mut g = guard();
        let ip: IpAddr = "127.0.0.5".parse().expect("ip");
        let t0 = Instant::now();
        for _ in 0..10_000 {
            g.record_auth(ip, t0, AuthResult::Challenged, false);
            g.record_auth(ip, t0, AuthResult::Succeeded, true);
        }
        // Retransmitted REGISTERs of an address that authenticates get challenges that are
        // never answered: not counted.
        for _ in 0..100 {
            g.record_auth(ip, t0, AuthResult::Challenged, false);
        }
        assert!(!g.is_blocked(ip, t0));
        // From an address that never authenticates (an enumerator) they are, once they have
        // waited past the grace period: a burst of phones starting at once is not blocked.
        let other: IpAddr = "127.0.0.7".parse().expect("ip");
        for _ in 0..50 {
            g.record_auth(other, t0, AuthResult::Challenged, false);
        }
        assert!(!g.is_blocked(other, t0));
        let later = t0 + UNANSWERED_GRACE;
        g.record_auth(other, later, AuthResult::Challenged, false);
        assert!(g.is_blocked(other, later));
        // A new window does not forget that an address authenticates: a success late in one
        // window covers challenges early in the next.
        g.record_auth(
            ip,
            t0 + Duration::from_secs(55),
            AuthResult::Succeeded,
            true,
        );
        let t1 = t0 + Duration::from_secs(61);
        for i in 0..100 {
            g.record_auth(
                ip,
                t1 + Duration::from_millis(i * 100),
                AuthResult::Challenged,
                false,
            );
        }
        assert!(!g.is_blocked(ip, t1 + Duration::from_secs(10)));
    }

    #[test]
    fn a_wrong_answer_counts_once_not_twice() {
        let mut g = guard();
        let ip: IpAddr = "127.0.0.5".parse().expect("ip");
        let t0 = Instant::now();
        // Challenge, then wrong credentials: one failure, the challenge was answered.
        for _ in 0..9 {
            g.record_auth(ip, t0, AuthResult::Challenged, false);
            g.record_auth(ip, t0, AuthResult::Failed, true);
        }
        assert!(!g.is_blocked(ip, t0));
        g.record_auth(ip, t0, AuthResult::Challenged, false);
        g.record_auth(ip, t0, AuthResult::Failed, true);
        assert!(g.is_blocked(ip, t0));
    }

    #[test]
    fn disabled_guard_blocks_nothing() {
        let mut g = Guard::new(
            GuardConfig {
                enabled: false,
                ..GuardConfig::default()
            },
            Arc::new(Metrics::default()),
        );
        let ip: IpAddr = "127.0.0.5".parse().expect("ip");
        let t0 = Instant::now();
        for _ in 0..100 {
            g.record_auth(ip, t0, AuthResult::Failed, true);
        }
        assert!(!g.is_blocked(ip, t0));
    }

    #[test]
    fn tracking_is_bounded() {
        let mut g = Guard::new(
            GuardConfig {
                max_tracked: 100,
                ..GuardConfig::default()
            },
            Arc::new(Metrics::default()),
        );
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            g.record_malformed(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(g.entries.len() <= 100);
    }
}
