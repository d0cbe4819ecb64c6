//! A failed CDR commit is retried until it succeeds: no record is lost or stored twice, and
//! no `hungup` event is passed on before its record is in the store.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pbx::{CallEvent, CdrQuery, Store};

#[tokio::test]
async fn failed_commits_are_retried_and_hold_back_the_hangups() {
    let store = Arc::new(common::ScriptedStore::new(Duration::from_millis(5)).await);
    store.fail.store(4, Ordering::SeqCst);
    let (hooks_tx, mut hooks) = tokio::sync::mpsc::channel(1024);
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let config = api::CallEventsConfig {
        retry_backoff: Duration::from_millis(10),
        retry_backoff_max: Duration::from_millis(40),
        ..Default::default()
    };
    let writer = api::spawn_call_events(store.clone(), rx, hooks_tx, config);

    let cdrs: Vec<pbx::Cdr> = (0..10)
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

    let mut hung = Vec::new();
    let mut others = 0;
    while hung.len() < cdrs.len() {
        let event = tokio::time::timeout(Duration::from_secs(20), hooks.recv())
            .await
            .expect("events in time")
            .unwrap();
        match event {
            CallEvent::HungUp(cdr) => {
                let page = store
                    .query_cdrs(&CdrQuery::new("example.com"))
                    .await
                    .unwrap();
                assert!(
                    page.cdrs.iter().any(|c| c.id == cdr.id),
                    "hungup of {} passed on before its commit",
                    cdr.id
                );
                hung.push(cdr);
            }
            _ => others += 1,
        }
    }
    // The events that need no commit were not held back by the failing store.
    assert_eq!(others, 30);
    assert!(store.attempts.load(Ordering::SeqCst) >= 5);
    assert_eq!(
        store.fail.load(Ordering::SeqCst),
        0,
        "every scripted failure was hit"
    );
    let page = store
        .query_cdrs(&CdrQuery::new("example.com"))
        .await
        .unwrap();
    let mut stored: Vec<String> = page.cdrs.iter().map(|c| c.id.clone()).collect();
    let mut want: Vec<String> = cdrs.iter().map(|c| c.id.clone()).collect();
    stored.sort();
    want.sort();
    assert_eq!(stored, want, "each record exactly once");
    assert_eq!(hung.len(), 10);

    drop(tx);
    let unwritten = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap()
        .unwrap();
    assert!(unwritten.is_empty());
}
