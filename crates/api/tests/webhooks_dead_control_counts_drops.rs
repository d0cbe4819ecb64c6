//! A control server that refuses connections, or accepts and never answers, costs retries and
//! then a `webhook_dropped` count per delivery, without holding up other domains' webhooks.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};

#[tokio::test]
async fn dead_control_servers_count_drops_and_block_no_one() {
    let h = common::harness().await;
    // Refuses: a port that was just free.
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    // Never answers: a listener that never accepts (the kernel completes the handshakes).
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = black_hole.local_addr().unwrap();
    let (live, mut hooks) = common::control_server(Vec::new(), Duration::ZERO).await;
    for (domain, control) in [
        ("refusing.test", format!("http://{closed}")),
        ("silent.test", format!("http://{silent}")),
        ("live.test", live),
    ] {
        let body = format!(r#"{{"control": "{control}"}}"#);
        let path = format!("/dir/{domain}");
        assert_eq!(
            h.call(Method::PUT, &path, Some(&body)).await.status,
            StatusCode::CREATED
        );
    }

    let config = api::WebhookConfig {
        timeout: Duration::from_secs(2),
        attempts: 2,
        backoff: Duration::from_millis(50),
        ..Default::default()
    };
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let task = api::spawn_webhooks(h.state.clone(), h.metrics.clone(), rx, config).unwrap();

    let start = Instant::now();
    for i in 0..5 {
        tx.try_send(common::registered("silent.test", &format!("s{i}"), 1))
            .unwrap();
        tx.try_send(common::registered("refusing.test", &format!("r{i}"), 1))
            .unwrap();
    }
    tx.try_send(common::registered("live.test", "1", 1))
        .unwrap();

    // The live domain is served while the silent one's deliveries wait out their timeouts.
    let hook = common::next_hook(&mut hooks, 5).await;
    assert_eq!(hook.path, "/reg/live.test/1");
    assert!(
        hook.at.duration_since(start) < Duration::from_millis(1500),
        "live webhook took {:?}",
        hook.at.duration_since(start)
    );

    // Every dead delivery is counted once, after its retries.
    let metrics = h.metrics.clone();
    common::wait_until(20, || metrics.webhook_dropped.load(Ordering::Relaxed) >= 10).await;
    // Silent ones needed two full timeouts.
    assert!(start.elapsed() >= Duration::from_secs(4));
    drop(tx);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.metrics.webhook_dropped.load(Ordering::Relaxed), 10);
    drop(black_hole);
}
