//! CDRs that queue up while a commit runs go into the next commit together: 200 calls ending
//! at once take a handful of transactions, not 200.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use pbx::CallEvent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_cdrs_share_a_transaction() {
    let store = Arc::new(common::ScriptedStore::new(Duration::from_millis(200)).await);
    let (hooks_tx, mut hooks) = tokio::sync::mpsc::channel(1024);
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let writer = api::spawn_call_events(store.clone(), rx, hooks_tx, Default::default());
    for n in 0..200 {
        let cdr = common::cdr("example.com", n, 1_795_500_000, "1000", "1001");
        tx.try_send(CallEvent::HungUp(cdr)).unwrap();
    }
    for _ in 0..200 {
        tokio::time::timeout(Duration::from_secs(20), hooks.recv())
            .await
            .expect("events in time")
            .unwrap();
    }
    let batches = store.batches.lock().unwrap().clone();
    assert_eq!(batches.iter().sum::<usize>(), 200);
    // The first commit may start with the first record alone; everything that arrived while
    // it ran (all the rest, sent at once) goes into the next.
    assert!(batches.len() <= 3, "{} commits: {batches:?}", batches.len());
    drop(tx);
    writer.await.unwrap();
}
