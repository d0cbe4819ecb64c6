//! One user's webhooks arrive in the order of its events even when the first is slow to be
//! answered, while another user's webhook does not wait behind them.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};

#[tokio::test]
async fn per_user_order_without_head_of_line_blocking() {
    let h = common::harness().await;
    let (control, mut hooks) = common::control_server(
        vec!["/reg/example.com/1".into()],
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
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let task =
        api::spawn_webhooks(h.state.clone(), h.metrics.clone(), rx, Default::default()).unwrap();

    tx.try_send(common::registered("example.com", "1", 1))
        .unwrap();
    tx.try_send(common::unregistered("example.com", "1"))
        .unwrap();
    tx.try_send(common::registered("example.com", "1", 2))
        .unwrap();
    tx.try_send(common::registered("example.com", "2", 3))
        .unwrap();

    let mut got = Vec::new();
    for _ in 0..4 {
        let hook = common::next_hook(&mut hooks, 10).await;
        got.push((hook.method, hook.path, hook.body.map(|b| b["port"].clone())));
    }
    let user1: Vec<_> = got
        .iter()
        .filter(|(_, p, _)| p.ends_with("/1"))
        .cloned()
        .collect();
    assert_eq!(
        user1,
        vec![
            ("PUT".into(), "/reg/example.com/1".into(), Some(1.into())),
            ("DELETE".into(), "/reg/example.com/1".into(), None),
            ("PUT".into(), "/reg/example.com/1".into(), Some(2.into())),
        ]
    );
    // User 2's PUT went while user 1's first PUT was still being answered.
    let second = got.iter().position(|(_, p, _)| p.ends_with("/2")).unwrap();
    assert_eq!(second, 1, "{got:?}");

    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
