//! `/metrics` is Prometheus text with DESIGN.md section 15's names, the registrations gauge
//! counting bindings, and the counters the running parts update.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use pbx::Metrics;

#[tokio::test]
async fn metrics_text() {
    let h = common::harness().await;
    let now = common::now();
    h.bind(
        "example.com",
        "1000",
        vec![
            common::binding(
                "example.com",
                "1000",
                "sip:a@10.0.0.1",
                "127.0.0.1:1",
                "x",
                now,
                now + 60,
            ),
            common::binding(
                "example.com",
                "1000",
                "sip:b@10.0.0.1",
                "127.0.0.1:2",
                "x",
                now,
                now + 60,
            ),
        ],
    );
    Metrics::inc(&h.metrics.webhook_dropped);
    Metrics::inc(&h.metrics.auth_failures);
    Metrics::inc(&h.metrics.auth_failures);

    let a = h.call(Method::GET, "/metrics", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        a.content_type
    );
    let text = a.text();
    for line in [
        "# TYPE switchboard_registrations gauge",
        "switchboard_registrations 2",
        "# TYPE switchboard_auth_failures_total counter",
        "switchboard_auth_failures_total 2",
        "# TYPE switchboard_blocked_sources gauge",
        "switchboard_blocked_sources 0",
        "# TYPE switchboard_webhook_dropped_total counter",
        "switchboard_webhook_dropped_total 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    // Every sample line is `name value`, every name one of switchboard's.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.split_once(' ').unwrap();
        assert!(name.starts_with("switchboard_"), "{line}");
        value.parse::<f64>().unwrap();
    }
}
