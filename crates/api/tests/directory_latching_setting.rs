//! `PUT /dir/{domain}` takes `"latching": "any"` (the media relay then accepts a phone's media
//! from anywhere), `GET /dir/{domain}` shows it, the default is `"strict"`, and the store keeps
//! it across a reload.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use pbx::Store;

#[tokio::test]
async fn latching_is_strict_by_default_and_any_on_request() {
    let h = common::harness().await;
    let put = h.call(Method::PUT, "/dir/plain.example", Some("{}")).await;
    assert_eq!(put.status, StatusCode::CREATED);
    let view = h.call(Method::GET, "/dir/plain.example", None).await.json();
    assert_eq!(view["latching"], "strict", "{view}");

    let put = h
        .call(
            Method::PUT,
            "/dir/trunk.example",
            Some(r#"{"latching": "any"}"#),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let view = h.call(Method::GET, "/dir/trunk.example", None).await.json();
    assert_eq!(view["latching"], "any", "{view}");

    let snap = h.store.load().await.unwrap();
    let stored = snap
        .domains
        .iter()
        .find(|(d, _)| d.name == "trunk.example")
        .map(|(d, _)| d.latching);
    assert_eq!(stored, Some(pbx::Latching::Any));
}
