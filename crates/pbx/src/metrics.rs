//! Counters the PBX exports at `/metrics` (Prometheus text format, DESIGN.md section 15 names).
//! Atomics, so the endpoint task, the webhook sender and the HTTP API share them without locks.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters and gauges that the running parts update.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Digest authentications that failed (wrong credentials, forged or replayed nonces).
    pub auth_failures: AtomicU64,
    /// Source addresses blocked right now by the brute-force guard.
    pub blocked_sources: AtomicU64,
    /// Webhook deliveries dropped (queue full, or every retry failed).
    pub webhook_dropped: AtomicU64,
    /// Calls alive now.
    pub calls_active: AtomicU64,
    /// Call attempts that ended (one per CDR).
    pub calls_total: AtomicU64,
    /// RTP and RTCP packets the relay forwarded (copied from the relay every second).
    pub rtp_relayed: AtomicU64,
    /// Packets the relay dropped (strangers, malformed, no destination yet).
    pub rtp_dropped: AtomicU64,
    /// 9P connections open now.
    pub ninep_sessions: AtomicU64,
    /// 9P attaches with a live fid, over all connections.
    pub ninep_attaches: AtomicU64,
    /// Live 9P fids (attached, walked, opened), over all connections.
    pub ninep_open_fids: AtomicU64,
    /// 9P requests not answered yet (blocked reads), over all connections.
    pub ninep_outstanding_tags: AtomicU64,
    /// HEP frames sent to the `--hep` collector (copied from the exporter every second).
    pub hep_sent: AtomicU64,
    /// HEP frames the exporter's socket refused.
    pub hep_failed: AtomicU64,
    /// HEP frames dropped because the export queue was full (the oldest go).
    pub hep_dropped: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with `registrations` (bindings now) supplied by the
    /// caller from the location service.
    pub fn render(&self, registrations: usize) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "switchboard_registrations",
            "gauge",
            "Registered contacts (bindings) now.",
            registrations as u64,
        );
        metric(
            "switchboard_auth_failures_total",
            "counter",
            "Digest authentications that failed.",
            self.auth_failures.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_blocked_sources",
            "gauge",
            "Source addresses blocked by the brute-force guard now.",
            self.blocked_sources.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_webhook_dropped_total",
            "counter",
            "Webhook deliveries dropped (queue full or retries exhausted).",
            self.webhook_dropped.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_calls_active",
            "gauge",
            "Calls alive now.",
            self.calls_active.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_calls_total",
            "counter",
            "Call attempts that ended, one per CDR.",
            self.calls_total.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_rtp_packets_relayed_total",
            "counter",
            "RTP and RTCP packets relayed.",
            self.rtp_relayed.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_rtp_packets_dropped_total",
            "counter",
            "RTP and RTCP packets the relay dropped.",
            self.rtp_dropped.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_ninep_sessions",
            "gauge",
            "9P connections open now.",
            self.ninep_sessions.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_ninep_attaches",
            "gauge",
            "9P attaches with a live fid now.",
            self.ninep_attaches.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_ninep_open_fids",
            "gauge",
            "Live 9P fids (attached, walked or opened) now.",
            self.ninep_open_fids.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_ninep_outstanding_tags",
            "gauge",
            "9P requests not answered yet (blocked reads) now.",
            self.ninep_outstanding_tags.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_hep_frames_sent_total",
            "counter",
            "HEP frames sent to the --hep collector.",
            self.hep_sent.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_hep_send_failures_total",
            "counter",
            "HEP frames the socket to the collector refused.",
            self.hep_failed.load(Ordering::Relaxed),
        );
        metric(
            "switchboard_hep_frames_dropped_total",
            "counter",
            "HEP frames dropped because the export queue was full.",
            self.hep_dropped.load(Ordering::Relaxed),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        Metrics::inc(&m.auth_failures);
        let text = m.render(3);
        assert!(
            text.contains("# TYPE switchboard_registrations gauge\nswitchboard_registrations 3\n")
        );
        assert!(text.contains("switchboard_auth_failures_total 1\n"));
    }
}
