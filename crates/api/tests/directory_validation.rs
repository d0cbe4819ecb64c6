//! `PUT /dir` refuses bad names, reserved user names, unknown or empty digest lists, a control
//! that is not an http(s) URL, duplicate and empty-secret users, with a 400 JSON error, and a
//! refused request changes nothing.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use pbx::Store;
use serde_json::json;

#[tokio::test]
async fn refused_requests_change_nothing() {
    let h = common::harness().await;
    let good = r#"{"control": "https://ctl.example.com/hooks", "users": [{"username": "1000", "secret": "s"}]}"#;
    assert_eq!(
        h.call(Method::PUT, "/dir/example.com", Some(good))
            .await
            .status,
        StatusCode::CREATED
    );
    let before = h.call(Method::GET, "/dir/example.com", None).await.json();

    let refused: &[(&str, &str)] = &[
        // Reserved user names (DESIGN.md section 15), in a list and alone.
        (
            "/dir/example.com",
            r#"{"users": [{"username": "admin", "secret": "s"}]}"#,
        ),
        (
            "/dir/example.com",
            r#"{"users": [{"username": "ongoing", "secret": "s"}]}"#,
        ),
        ("/dir/example.com/uacs", r#"{"secret": "s"}"#),
        ("/dir/example.com/credential", r#"{"secret": "s"}"#),
        // Malformed names.
        (
            "/dir/example.com",
            r#"{"users": [{"username": "a b", "secret": "s"}]}"#,
        ),
        (
            "/dir/example.com",
            r#"{"users": [{"username": "", "secret": "s"}]}"#,
        ),
        ("/dir/example.com/a%20b", r#"{"secret": "s"}"#),
        ("/dir/bad%20domain", r#"{}"#),
        ("/dir/bad%20domain/1000", r#"{"secret": "s"}"#),
        // Digest lists.
        ("/dir/example.com", r#"{"digest": []}"#),
        ("/dir/example.com", r#"{"digest": ["SHA-512-256"]}"#),
        ("/dir/example.com", r#"{"digest": ["MD5", "md4"]}"#),
        // Latching.
        ("/dir/example.com", r#"{"latching": "loose"}"#),
        ("/dir/example.com", r#"{"latching": 1}"#),
        // Control.
        ("/dir/example.com", r#"{"control": "127.0.0.1:9001"}"#),
        (
            "/dir/example.com",
            r#"{"control": "ftp://ctl.example.com"}"#,
        ),
        ("/dir/example.com", r#"{"control": ""}"#),
        // Duplicates and empty secrets.
        (
            "/dir/example.com",
            r#"{"users": [{"username": "1", "secret": "a"}, {"username": "1", "secret": "b"}]}"#,
        ),
        (
            "/dir/example.com",
            r#"{"users": [{"username": "1", "secret": ""}]}"#,
        ),
        ("/dir/example.com/1000", r#"{"secret": ""}"#),
        ("/dir/example.com", r#"{"admin": {"secret": ""}}"#),
    ];
    for (path, body) in refused {
        let a = h.call(Method::PUT, path, Some(body)).await;
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "{path} {body}: {}",
            a.text()
        );
        a.assert_error(StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        h.call(Method::GET, "/dir/example.com", None).await.json(),
        before
    );
    assert!(
        h.call(Method::GET, "/dir/bad%20domain", None)
            .await
            .status
            .is_client_error()
    );
    let snapshot = h.store.load().await.unwrap();
    assert_eq!(snapshot.domains.len(), 1);
    assert_eq!(snapshot.domains[0].1.len(), 1);

    // Digest tokens are case-insensitive, kept in order, duplicates dropped.
    let a = h
        .call(
            Method::PUT,
            "/dir/example.com",
            Some(r#"{"digest": ["sha-256", "md5", "SHA-256"]}"#),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["digest"], json!(["SHA-256", "MD5"]));
}
