//! With a token set, every endpoint but `/healthz` needs `Authorization: Bearer <token>`;
//! without one, 401 with a JSON error. Without a token the API is open. `token_required` is
//! true beyond loopback only.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt;

const TOKEN: &str = "s3cr3t-t0ken";

#[tokio::test]
async fn token_guards_everything_but_healthz() {
    let h = common::harness_with_token(Some(TOKEN)).await;
    let paths = [
        (Method::GET, "/reg"),
        (Method::GET, "/reg/example.com"),
        (Method::GET, "/reg/example.com/1000"),
        (Method::GET, "/dir/example.com"),
        (Method::DELETE, "/dir/example.com"),
        (Method::DELETE, "/dir/example.com/1000"),
        (Method::GET, "/cdr/example.com"),
        (Method::GET, "/cdr/example.com?limit=1"),
        (Method::GET, "/metrics"),
        (Method::GET, "/openapi.json"),
        (Method::GET, "/no/such/path"),
    ];
    for (method, path) in &paths {
        let a = h.call_bytes(method.clone(), path, None, None).await;
        a.assert_error(StatusCode::UNAUTHORIZED);
        let a = h
            .call_bytes(method.clone(), path, None, Some("wrong"))
            .await;
        a.assert_error(StatusCode::UNAUTHORIZED);
        let a = h
            .call_bytes(method.clone(), path, None, Some(&format!("{TOKEN}x")))
            .await;
        a.assert_error(StatusCode::UNAUTHORIZED);
    }
    // Bodies are refused before they are looked at.
    let a = h
        .call_bytes(Method::PUT, "/dir/example.com", Some(b"{}".to_vec()), None)
        .await;
    a.assert_error(StatusCode::UNAUTHORIZED);
    h.call(Method::GET, "/dir/example.com", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);

    // With the token.
    let a = h
        .call_bytes(
            Method::PUT,
            "/dir/example.com",
            Some(b"{}".to_vec()),
            Some(TOKEN),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    for (path, status) in [
        ("/reg", StatusCode::OK),
        ("/dir/example.com", StatusCode::OK),
        ("/metrics", StatusCode::OK),
        ("/openapi.json", StatusCode::OK),
        ("/no/such/path", StatusCode::NOT_FOUND),
    ] {
        let a = h.call_bytes(Method::GET, path, None, Some(TOKEN)).await;
        assert_eq!(a.status, status, "{path}");
    }

    // The scheme is case-insensitive (RFC 6750 via RFC 7235); Basic is not Bearer.
    for (value, status) in [
        (format!("bearer {TOKEN}"), StatusCode::OK),
        (format!("Basic {TOKEN}"), StatusCode::UNAUTHORIZED),
        (TOKEN.to_owned(), StatusCode::UNAUTHORIZED),
    ] {
        let request = Request::builder()
            .uri("/reg")
            .header(header::AUTHORIZATION, value)
            .body(Body::empty())
            .unwrap();
        let response = h.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        }
    }

    // Liveness needs no token.
    let a = h.call(Method::GET, "/healthz", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json(), serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn no_token_means_open() {
    let h = common::harness_with_token(None).await;
    assert_eq!(
        h.call(Method::GET, "/reg", None).await.status,
        StatusCode::OK
    );
    // An empty token is no token.
    let h = common::harness_with_token(Some("")).await;
    assert_eq!(
        h.call(Method::GET, "/reg", None).await.status,
        StatusCode::OK
    );
}

#[test]
fn token_required_beyond_loopback() {
    assert!(!api::token_required("127.0.0.1:9000".parse().unwrap()));
    assert!(!api::token_required("127.0.0.2:9000".parse().unwrap()));
    assert!(!api::token_required("[::1]:9000".parse().unwrap()));
    assert!(api::token_required("0.0.0.0:9000".parse().unwrap()));
    assert!(api::token_required("[::]:9000".parse().unwrap()));
    assert!(api::token_required("192.0.2.1:9000".parse().unwrap()));
}
