//! A call's `hungup` webhook reaches the control server only once its CDR is committed: the
//! control server, on receiving it, finds the record through `GET /cdr/{domain}` at once,
//! even though every commit takes a while. The events of each call arrive in order with the
//! fields of the call webhook, and the `hungup` one carries the CDR.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use api::Api;
use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use pbx::{Metrics, State};

/// What the control server saw: (path, body, whether the CDR was queryable on arrival).
type Seen = (String, serde_json::Value, Option<bool>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hungup_webhook_follows_the_commit() {
    let store = Arc::new(common::ScriptedStore::new(Duration::from_millis(300)).await);
    let state = Arc::new(State::default());
    let metrics = Arc::new(Metrics::default());
    let router = api::router(Api::new(
        state.clone(),
        store.clone(),
        metrics.clone(),
        None,
    ));

    // The control server looks the call up through the API the moment a hang-up arrives.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<Seen>();
    let api_router = router.clone();
    let control = Router::new().fallback(move |req: Request| {
        let seen_tx = seen_tx.clone();
        let api_router = api_router.clone();
        async move {
            let path = req.uri().path().to_owned();
            let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let mut found = None;
            if body["event"] == "hungup" {
                let a = common::call(
                    &api_router,
                    Method::GET,
                    "/cdr/example.com?limit=1000",
                    None,
                    None,
                )
                .await;
                let ids: Vec<serde_json::Value> = a.json()["cdrs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].clone())
                    .collect();
                found = Some(ids.contains(&body["id"]));
            }
            seen_tx.send((path, body, found)).unwrap();
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, control).await.unwrap() });
    let body = format!(r#"{{"control": "{url}"}}"#);
    let a = common::call(
        &router,
        Method::PUT,
        "/dir/example.com",
        Some(body.into_bytes()),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);

    let (hooks_tx, hooks_rx) = tokio::sync::mpsc::channel(api::CALL_HOOK_CHANNEL);
    let (reg_tx, reg_rx) = tokio::sync::mpsc::channel(1);
    // No registration events in this test.
    drop(reg_tx);
    let webhooks = api::spawn_webhooks_with_calls(
        state.clone(),
        metrics.clone(),
        reg_rx,
        hooks_rx,
        Default::default(),
    )
    .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(api::CALL_EVENT_CHANNEL);
    let writer = api::spawn_call_events(store.clone(), rx, hooks_tx, Default::default());

    // Five calls, their events interleaved as a busy PBX would produce them.
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
    let per_call: Vec<Vec<pbx::CallEvent>> = cdrs.iter().map(common::call_events).collect();
    for step in 0..4 {
        for events in &per_call {
            tx.try_send(events[step].clone()).unwrap();
        }
    }

    let mut got = Vec::new();
    while got.len() < 20 {
        let hook = tokio::time::timeout(Duration::from_secs(20), seen.recv())
            .await
            .expect("webhooks in time")
            .unwrap();
        got.push(hook);
    }
    for cdr in &cdrs {
        let path = format!("/call/{}", cdr.id);
        let mine: Vec<&Seen> = got.iter().filter(|(p, _, _)| *p == path).collect();
        let names: Vec<&str> = mine
            .iter()
            .map(|(_, b, _)| b["event"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["new", "ringing", "answered", "hungup"], "{path}");
        for (_, body, _) in &mine {
            assert_eq!(body["id"], cdr.id.as_str());
            assert_eq!(body["domain"], "example.com");
            assert_eq!(body["from"], "1000");
            assert_eq!(body["to"], "1001");
            assert_eq!(body["call_id"], cdr.call_id.as_str());
            assert!(body["time"].is_u64());
        }
        let (_, hung, found) = mine[3];
        assert_eq!(
            *found,
            Some(true),
            "hungup of {} arrived before its CDR was stored",
            cdr.id
        );
        assert_eq!(hung["cdr"], serde_json::to_value(cdr).unwrap());
        assert_eq!(hung["time"], cdr.end);
        assert!(mine[0].1.get("cdr").is_none());
    }
    assert_eq!(metrics.webhook_dropped.load(Ordering::Relaxed), 0);

    drop(tx);
    let unwritten = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap()
        .unwrap();
    assert!(unwritten.is_empty());
    tokio::time::timeout(Duration::from_secs(10), webhooks)
        .await
        .unwrap()
        .unwrap();
}
