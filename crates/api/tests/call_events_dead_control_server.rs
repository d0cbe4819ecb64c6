//! A control server that never answers costs bounded memory and counted drops, and never
//! holds up the call events' sender or the CDR commits: every record is stored while the
//! webhooks hang.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use pbx::{CdrQuery, Store};
use tokio::sync::mpsc::error::TrySendError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_control_server_blocks_nothing() {
    let h = common::harness().await;
    // Never answers: a listener that never accepts (the kernel completes the handshakes).
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let body = format!(
        r#"{{"control": "http://{}"}}"#,
        black_hole.local_addr().unwrap()
    );
    assert_eq!(
        h.call(Method::PUT, "/dir/example.com", Some(&body))
            .await
            .status,
        StatusCode::CREATED
    );
    let config = api::WebhookConfig {
        // Longer than the test: nothing completes, everything beyond the bounds is dropped.
        timeout: Duration::from_secs(600),
        attempts: 1,
        backoff: Duration::from_millis(10),
        max_in_flight: 2,
        max_queued: 4,
    };
    let (hooks_tx, hooks_rx) = tokio::sync::mpsc::channel(8);
    let (reg_tx, reg_rx) = tokio::sync::mpsc::channel(1);
    // No registration events in this test.
    drop(reg_tx);
    let webhooks = api::spawn_webhooks_with_calls(
        h.state.clone(),
        h.metrics.clone(),
        reg_rx,
        hooks_rx,
        config,
    )
    .unwrap();
    // A small channel, used as the endpoint uses it: `try_send`, and what is refused is kept
    // and offered again later.
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let writer = api::spawn_call_events(h.store.clone(), rx, hooks_tx, Default::default());

    let cdrs: Vec<pbx::Cdr> = (0..100)
        .map(|n| {
            common::cdr(
                "example.com",
                n,
                1_795_500_000 + u64::from(n),
                "1000",
                "1001",
            )
        })
        .collect();
    let mut kept = std::collections::VecDeque::new();
    for cdr in &cdrs {
        kept.extend(common::call_events(cdr));
    }
    while let Some(event) = kept.pop_front() {
        match tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(event)) => {
                kept.push_front(event);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(TrySendError::Closed(_)) => panic!("writer gone"),
        }
    }

    // Every record is stored, though not one webhook has been answered.
    let store = h.store.clone();
    let mut stored = 0;
    for _ in 0..2_000 {
        let mut q = CdrQuery::new("example.com");
        q.limit = 1000;
        stored = store.query_cdrs(&q).await.unwrap().cdrs.len();
        if stored == cdrs.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stored, cdrs.len());
    // 400 events: at most 2 in flight and 4 waiting; every other one dropped and counted.
    let metrics = h.metrics.clone();
    common::wait_until(20, || {
        metrics.webhook_dropped.load(Ordering::Relaxed) >= 394
    })
    .await;

    // The writer ends without waiting for the webhooks.
    drop(tx);
    let unwritten = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap()
        .unwrap();
    assert!(unwritten.is_empty());
    assert!(h.metrics.webhook_dropped.load(Ordering::Relaxed) <= 400);
    webhooks.abort();
    drop(black_hole);
}
