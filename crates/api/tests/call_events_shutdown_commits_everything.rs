//! When the endpoint drops its sender, the writer commits everything it was handed, passes
//! on every event, and ends with nothing left over.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use pbx::{CallEvent, CdrQuery, Store};

#[tokio::test]
async fn closing_the_channel_drains_it() {
    let store = Arc::new(common::ScriptedStore::new(Duration::from_millis(50)).await);
    let (hooks_tx, mut hooks) = tokio::sync::mpsc::channel(4096);
    let (tx, rx) = tokio::sync::mpsc::channel(4096);
    let writer = api::spawn_call_events(store.clone(), rx, hooks_tx, Default::default());
    let cdrs: Vec<pbx::Cdr> = (0..300)
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
    assert!(unwritten.is_empty());

    let mut q = CdrQuery::new("example.com");
    q.limit = 1000;
    assert_eq!(store.query_cdrs(&q).await.unwrap().cdrs.len(), 300);
    // Every event went on, and then the hooks channel closed.
    let mut hung = 0;
    let mut total = 0;
    while let Some(event) = hooks.recv().await {
        total += 1;
        if matches!(event, CallEvent::HungUp(_)) {
            hung += 1;
        }
    }
    assert_eq!((total, hung), (1200, 300));
}
