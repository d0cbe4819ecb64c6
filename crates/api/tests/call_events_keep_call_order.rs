//! One call's webhooks arrive in the order of its events even when the first is slow to be
//! answered, while another call's webhooks do not wait behind them; an event that comes after
//! its call's hang-up (which a correct call manager never sends) does not overtake it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use pbx::CallEvent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_call_order_without_head_of_line_blocking() {
    let h = common::harness().await;
    let slow = common::cdr("example.com", 1, 1_795_500_000, "1000", "1001");
    let fast = common::cdr("example.com", 2, 1_795_500_000, "1002", "1003");
    let (control, mut seen) = common::control_server(
        vec![format!("/call/{}", slow.id)],
        Duration::from_millis(500),
    )
    .await;
    let body = format!(r#"{{"control": "{control}"}}"#);
    assert_eq!(
        h.call(Method::PUT, "/dir/example.com", Some(&body))
            .await
            .status,
        StatusCode::CREATED
    );
    let (hooks_tx, hooks_rx) = tokio::sync::mpsc::channel(64);
    let (reg_tx, reg_rx) = tokio::sync::mpsc::channel(1);
    // No registration events in this test.
    drop(reg_tx);
    let webhooks = api::spawn_webhooks_with_calls(
        h.state.clone(),
        h.metrics.clone(),
        reg_rx,
        hooks_rx,
        Default::default(),
    )
    .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let writer = api::spawn_call_events(h.store.clone(), rx, hooks_tx, Default::default());

    let mut slow_events = common::call_events(&slow);
    // A stray event after the hang-up.
    slow_events.push(CallEvent::Ringing(common::note_of(&slow, slow.end)));
    for event in slow_events.into_iter().chain(common::call_events(&fast)) {
        tx.try_send(event).unwrap();
    }

    let mut got = Vec::new();
    for _ in 0..9 {
        let hook = common::next_hook(&mut seen, 10).await;
        let body = hook.body.unwrap();
        assert_eq!(hook.method, "POST");
        got.push((hook.path, body["event"].as_str().unwrap().to_owned()));
    }
    let of = |call: &pbx::Cdr| -> Vec<String> {
        let path = format!("/call/{}", call.id);
        got.iter()
            .filter(|(p, _)| *p == path)
            .map(|(_, e)| e.clone())
            .collect()
    };
    assert_eq!(
        of(&slow),
        ["new", "ringing", "answered", "hungup", "ringing"]
    );
    assert_eq!(of(&fast), ["new", "ringing", "answered", "hungup"]);
    // The fast call was done while the slow call's first webhook was still being answered.
    let fast_done = got
        .iter()
        .position(|(p, e)| p.ends_with(&fast.id) && e == "hungup")
        .unwrap();
    let slow_second = got
        .iter()
        .position(|(p, e)| p.ends_with(&slow.id) && e == "ringing")
        .unwrap();
    assert!(fast_done < slow_second, "{got:?}");

    drop(tx);
    writer.await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), webhooks)
        .await
        .unwrap()
        .unwrap();
}
