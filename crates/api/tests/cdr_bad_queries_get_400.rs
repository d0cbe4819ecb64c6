//! A malformed, unknown or repeated query parameter, or a cursor the PBX never gave out, is a
//! 400 with a JSON error, never a 500 or an empty page.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};

#[tokio::test]
async fn bad_parameters_are_400() {
    let h = common::harness().await;
    assert_eq!(
        h.call(Method::PUT, "/dir/example.com", Some("{}"))
            .await
            .status,
        StatusCode::CREATED
    );
    for query in [
        "since=yesterday",
        "since=-5",
        "since=1e9",
        "since=",
        "until=18446744073709551616",
        "limit=0",
        "limit=-1",
        "limit=many",
        "user=",
        "cursor=not-a-cursor",
        "cursor=0",
        // Hex of "12" (no id) and of ":x" (no start).
        "cursor=3132",
        "cursor=3a78",
        "limit=5&limit=6",
        "from=1000",
        "offset=100",
    ] {
        let a = h
            .call(Method::GET, &format!("/cdr/example.com?{query}"), None)
            .await;
        a.assert_error(StatusCode::BAD_REQUEST);
        assert!(
            a.json()["error"]
                .as_str()
                .unwrap()
                .contains("query parameter"),
            "{query}: {}",
            a.text()
        );
    }
    // A malformed domain name is refused as elsewhere in the API.
    h.call(Method::GET, "/cdr/bad%20domain", None)
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    // Good values still work.
    let a = h
        .call(
            Method::GET,
            "/cdr/example.com?since=0&until=1&user=1000&limit=1",
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json(), serde_json::json!({"cdrs": [], "next": null}));
}
