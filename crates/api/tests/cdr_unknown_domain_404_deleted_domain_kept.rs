//! `GET /cdr/{domain}` is 404 for a domain that is neither in the directory nor has CDRs; an
//! existing domain without calls gets an empty page; a deleted domain's CDRs stay readable
//! (billing data outlives the account).

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use pbx::Store;

#[tokio::test]
async fn unknown_is_404_deleted_keeps_its_records() {
    let h = common::harness().await;
    h.call(Method::GET, "/cdr/nobody.example", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);

    assert_eq!(
        h.call(Method::PUT, "/dir/example.com", Some("{}"))
            .await
            .status,
        StatusCode::CREATED
    );
    let a = h.call(Method::GET, "/cdr/example.com", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json(), serde_json::json!({"cdrs": [], "next": null}));

    let cdrs: Vec<pbx::Cdr> = (0..3)
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
    h.store.insert_cdrs(&cdrs).await.unwrap();
    assert_eq!(
        h.call(Method::DELETE, "/dir/example.com", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.call(Method::GET, "/dir/example.com", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(common::cdr_ids(&h, "/cdr/example.com").await.len(), 3);
    // A filter that matches nothing is an empty page, not a 404: the domain has CDRs.
    let a = h
        .call(Method::GET, "/cdr/example.com?user=nobody", None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["cdrs"], serde_json::json!([]));
}
