//! A user whose bindings go because the directory dropped it (deleted, or left out of its
//! domain's new user list) is unregistered as far as the control server can tell:
//! `DELETE {control}/reg/{domain}/{user}` fires, as when its last binding expires. A user
//! without bindings fires nothing, and the API's handle on the webhook queue does not keep the
//! dispatcher alive once the SIP side's sender is gone.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{Method, StatusCode};

#[tokio::test]
async fn deleted_users_fire_delete_webhooks() {
    let h = common::harness().await;
    let (tx, rx) = tokio::sync::mpsc::channel(api::WEBHOOK_CHANNEL);
    // The harness's router has no event sender: this one does.
    let router = api::router(
        api::Api::new(
            Arc::clone(&h.state),
            Arc::clone(&h.store),
            Arc::clone(&h.metrics),
            None,
        )
        .with_reg_events(tx.clone()),
    );
    let call = |method: Method, path: &'static str, body: Option<String>| {
        let router = router.clone();
        async move {
            common::call(&router, method, path, body.map(String::into_bytes), None)
                .await
                .status
        }
    };

    let (control, mut hooks) = common::control_server(Vec::new(), Duration::ZERO).await;
    let body = format!(
        r#"{{"control": "{control}", "users": [{{"username": "1", "secret": "a"}},
            {{"username": "2", "secret": "b"}}, {{"username": "3", "secret": "c"}}]}}"#
    );
    assert_eq!(
        call(Method::PUT, "/dir/d.test", Some(body)).await,
        StatusCode::CREATED
    );
    let now = common::now();
    for user in ["1", "2"] {
        let contact = format!("sip:{user}@127.0.0.99");
        h.bind(
            "d.test",
            user,
            vec![common::binding(
                "d.test",
                user,
                &contact,
                "127.0.0.1:5060",
                "x",
                now,
                now + 60,
            )],
        );
    }
    let task = api::spawn_webhooks(
        h.state.clone(),
        h.metrics.clone(),
        rx,
        api::WebhookConfig::default(),
    )
    .unwrap();

    // Deleted.
    assert_eq!(
        call(Method::DELETE, "/dir/d.test/1", None).await,
        StatusCode::NO_CONTENT
    );
    let hook = common::next_hook(&mut hooks, 5).await;
    assert_eq!(
        (hook.method.as_str(), hook.path.as_str()),
        ("DELETE", "/reg/d.test/1")
    );

    // Left out of a new user list: 2 had a binding, 3 had none.
    let body = format!(r#"{{"control": "{control}", "users": []}}"#);
    assert_eq!(
        call(Method::PUT, "/dir/d.test", Some(body)).await,
        StatusCode::OK
    );
    let hook = common::next_hook(&mut hooks, 5).await;
    assert_eq!(
        (hook.method.as_str(), hook.path.as_str()),
        ("DELETE", "/reg/d.test/2")
    );
    assert!(h.state.location.read().unwrap().is_empty());

    // The SIP side's sender goes: the dispatcher ends although the API is still there.
    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the API's weak sender does not keep the webhooks running")
        .unwrap();
    assert!(hooks.try_recv().is_err(), "user 3 had no binding: no hook");
    assert_eq!(h.metrics.webhook_dropped.load(Ordering::Relaxed), 0);
    // Still usable, and sends nothing now.
    assert_eq!(
        call(Method::DELETE, "/dir/d.test", None).await,
        StatusCode::NO_CONTENT
    );
}
