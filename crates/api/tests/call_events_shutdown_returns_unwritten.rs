//! If the store still fails when the PBX shuts down, the writer gives up after its grace
//! period and hands back every CDR it could not commit (for the binary to save elsewhere),
//! rather than losing them; their `hungup` events are never sent.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pbx::CallEvent;

#[tokio::test]
async fn a_dead_store_at_shutdown_returns_the_records() {
    let store = Arc::new(common::ScriptedStore::new(Duration::ZERO).await);
    store.broken.store(true, Ordering::SeqCst);
    let (hooks_tx, mut hooks) = tokio::sync::mpsc::channel(1024);
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let config = api::CallEventsConfig {
        retry_backoff: Duration::from_millis(10),
        retry_backoff_max: Duration::from_millis(20),
        shutdown_grace: Duration::from_millis(200),
        ..Default::default()
    };
    let writer = api::spawn_call_events(store.clone(), rx, hooks_tx, config);
    let cdrs: Vec<pbx::Cdr> = (0..5)
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
    for cdr in &cdrs {
        for event in common::call_events(cdr) {
            tx.try_send(event).unwrap();
        }
    }
    drop(tx);
    let unwritten = tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unwritten, cdrs, "every record handed back, in order");
    assert!(
        store.attempts.load(Ordering::SeqCst) >= 2,
        "retried before giving up"
    );
    let mut names = Vec::new();
    while let Some(event) = hooks.recv().await {
        assert!(
            !matches!(event, CallEvent::HungUp(_)),
            "hungup sent without a commit"
        );
        names.push(event.name());
    }
    assert_eq!(names.len(), 15);
}
