//! Deliveries in flight and events waiting behind them are bounded: beyond the bound an event
//! is dropped and counted at once, rather than held in memory for a dead control server.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};

#[tokio::test]
async fn overflow_is_dropped_and_counted() {
    let h = common::harness().await;
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let body = format!(
        r#"{{"control": "http://{}"}}"#,
        black_hole.local_addr().unwrap()
    );
    assert_eq!(
        h.call(Method::PUT, "/dir/silent.test", Some(&body))
            .await
            .status,
        StatusCode::CREATED
    );
    let config = api::WebhookConfig {
        timeout: Duration::from_secs(1),
        attempts: 1,
        backoff: Duration::from_millis(10),
        max_in_flight: 1,
        max_queued: 3,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let task = api::spawn_webhooks(h.state.clone(), h.metrics.clone(), rx, config).unwrap();

    let start = Instant::now();
    for i in 0..10 {
        tx.try_send(common::registered("silent.test", &format!("u{i}"), 1))
            .unwrap();
    }
    // One in flight, three waiting, six dropped at once (long before the first timeout).
    let metrics = h.metrics.clone();
    common::wait_until(5, || metrics.webhook_dropped.load(Ordering::Relaxed) >= 6).await;
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );

    // The four kept ones fail one after the other; nothing else is left behind.
    drop(tx);
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.metrics.webhook_dropped.load(Ordering::Relaxed), 10);
    assert!(
        start.elapsed() >= Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    drop(black_hole);
}
