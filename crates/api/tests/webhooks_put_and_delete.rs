//! Registration events become `PUT {control}/reg/{domain}/{user}` with `{"host", "port",
//! "agent"}` and `DELETE {control}/reg/{domain}/{user}` at the domain's control server; a
//! domain without `control` sends nothing; the dispatcher ends once its channel closes.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn put_on_register_delete_on_unregister() {
    let h = common::harness().await;
    let (control, mut hooks) = common::control_server(Vec::new(), Duration::ZERO).await;
    // A control URL with a path prefix and a trailing slash.
    let body = format!(
        r#"{{"control": "{control}/hooks/", "users": [{{"username": "1003", "secret": "s"}}]}}"#
    );
    assert_eq!(
        h.call(Method::PUT, "/dir/bling.babblevoice.com", Some(&body))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.call(Method::PUT, "/dir/quiet.test", Some("{}"))
            .await
            .status,
        StatusCode::CREATED
    );

    let (tx, rx) = tokio::sync::mpsc::channel(api::WEBHOOK_CHANNEL);
    let task = api::spawn_webhooks(
        h.state.clone(),
        h.metrics.clone(),
        rx,
        api::WebhookConfig::default(),
    )
    .unwrap();

    // No control URL: nothing sent, nothing dropped.
    tx.try_send(common::registered("quiet.test", "1", 1))
        .unwrap();
    tx.try_send(pbx::RegEvent::Registered {
        domain: "bling.babblevoice.com".into(),
        user: "1003".into(),
        host: "127.0.0.1".into(),
        port: 45646,
        agent: "Z 5.2.28 rv2.8.114".into(),
    })
    .unwrap();
    let hook = common::next_hook(&mut hooks, 5).await;
    assert_eq!(hook.method, "PUT");
    assert_eq!(hook.path, "/hooks/reg/bling.babblevoice.com/1003");
    assert_eq!(
        hook.body,
        Some(json!({"host": "127.0.0.1", "port": 45646, "agent": "Z 5.2.28 rv2.8.114"}))
    );

    tx.try_send(common::unregistered("bling.babblevoice.com", "1003"))
        .unwrap();
    let hook = common::next_hook(&mut hooks, 5).await;
    assert_eq!(hook.method, "DELETE");
    assert_eq!(hook.path, "/hooks/reg/bling.babblevoice.com/1003");
    assert_eq!(hook.body, None);

    // Closing the channel ends the dispatcher.
    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert!(hooks.try_recv().is_err(), "quiet.test sent nothing");
    assert_eq!(h.metrics.webhook_dropped.load(Ordering::Relaxed), 0);
}
