//! Malformed JSON, wrong types, unknown fields, missing fields, oversized bodies, unknown
//! paths and wrong methods: every one gets a 4xx with a JSON `{"error": ...}` body, never a
//! plain-text rejection.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};

#[tokio::test]
async fn every_bad_request_gets_a_json_error() {
    let h = common::harness().await;
    let bad_json: &[(&str, &str)] = &[
        ("/dir/example.com", "{"),
        ("/dir/example.com", "not json"),
        ("/dir/example.com", ""),
        ("/dir/example.com", "\u{feff}{}"),
        ("/dir/example.com", r#"{"control": "http://a"} trailing"#),
        // Wrong types.
        ("/dir/example.com", r#"{"control": 9001}"#),
        (
            "/dir/example.com",
            r#"{"users": {"username": "1", "secret": "s"}}"#,
        ),
        (
            "/dir/example.com",
            r#"{"users": [{"username": 1000, "secret": "s"}]}"#,
        ),
        ("/dir/example.com", r#"{"digest": "MD5"}"#),
        // Arrays where objects belong (serde's derive would take them as field lists).
        ("/dir/example.com", r#"[]"#),
        ("/dir/example.com", r#"["http://a"]"#),
        ("/dir/example.com", r#"{"users": [["1", "s"]]}"#),
        ("/dir/example.com", r#"{"admin": ["s"]}"#),
        ("/dir/example.com/1000", r#"["s"]"#),
        ("/dir/example.com/1000", r#"{"secret": 1234}"#),
        ("/dir/example.com/1000", r#""secret""#),
        // Unknown fields.
        ("/dir/example.com", r#"{"controll": "http://a"}"#),
        (
            "/dir/example.com",
            r#"{"users": [{"username": "1", "secret": "s", "name": "x"}]}"#,
        ),
        (
            "/dir/example.com",
            r#"{"admin": {"secret": "s", "user": "root"}}"#,
        ),
        (
            "/dir/example.com/1000",
            r#"{"secret": "s", "password": "p"}"#,
        ),
        // Missing fields.
        ("/dir/example.com/1000", r#"{}"#),
        ("/dir/example.com", r#"{"users": [{"username": "1"}]}"#),
    ];
    for (path, body) in bad_json {
        let a = h.call(Method::PUT, path, Some(body)).await;
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "{path} {body:?}: {}",
            a.text()
        );
        a.assert_error(StatusCode::BAD_REQUEST);
    }
    // Nothing was created along the way.
    h.call(Method::GET, "/dir/example.com", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);

    // No Content-Type at all, or a wrong one, is still parsed: the seed's curl examples
    // are not always careful about it.
    let request = axum::http::Request::builder()
        .method(Method::PUT)
        .uri("/dir/example.com")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(r#"{"users": []}"#))
        .unwrap();
    let response = tower::ServiceExt::oneshot(h.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // Over the limit: 413, JSON.
    let big = vec![b' '; api::BODY_LIMIT + 1];
    h.call_bytes(Method::PUT, "/dir/example.com", Some(big), None)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE);

    // Not UTF-8 in the path.
    h.call(Method::GET, "/dir/%ff%fe", None)
        .await
        .assert_error(StatusCode::BAD_REQUEST);

    // Unknown paths and wrong methods.
    h.call(Method::GET, "/nothing/here", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    h.call(Method::GET, "/dir", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    h.call(Method::POST, "/dir/example.com", Some("{}"))
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED);
    h.call(Method::DELETE, "/reg", None)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED);
}
