//! `/dir`: 201 on create, 200 on replace, 404 for what does not exist, 204 on delete, and the
//! store and the in-memory directory agree after each step.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use pbx::Store;
use serde_json::json;

#[tokio::test]
async fn domain_and_user_lifecycle() {
    let h = common::harness().await;
    let seed = r#"{ "control": "http://127.0.0.1:9001", "users": [ { "username": "1003", "secret": "1123654789"}]}"#;

    // The seed's own example: 201 on create.
    let a = h
        .call(Method::PUT, "/dir/bling.babblevoice.com", Some(seed))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(
        a.json(),
        json!({
            "domain": "bling.babblevoice.com",
            "control": "http://127.0.0.1:9001",
            "digest": ["MD5"],
            "latching": "strict",
            "users": [{"username": "1003"}]
        })
    );
    // The same again replaces: 200.
    let a = h
        .call(Method::PUT, "/dir/bling.babblevoice.com", Some(seed))
        .await;
    assert_eq!(a.status, StatusCode::OK);

    // Names are case-insensitive for domains.
    let a = h
        .call(Method::GET, "/dir/BLING.babblevoice.com", None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["users"], json!([{"username": "1003"}]));

    // Replacing without a user list keeps the users; with digest and no control.
    let a = h
        .call(
            Method::PUT,
            "/dir/bling.babblevoice.com",
            Some(r#"{"digest": ["SHA-256", "MD5"]}"#),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json(),
        json!({
            "domain": "bling.babblevoice.com",
            "control": null,
            "digest": ["SHA-256", "MD5"],
            "latching": "strict",
            "users": [{"username": "1003"}]
        })
    );

    // One user: 201, then 200 (PUT and PATCH are the same).
    let a = h
        .call(
            Method::PUT,
            "/dir/bling.babblevoice.com/1004",
            Some(r#"{"secret": "s1"}"#),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(
        a.json(),
        json!({"domain": "bling.babblevoice.com", "username": "1004"})
    );
    let a = h
        .call(
            Method::PATCH,
            "/dir/bling.babblevoice.com/1004",
            Some(r#"{"secret": "s2"}"#),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = h
        .call(
            Method::PATCH,
            "/dir/bling.babblevoice.com/1005",
            Some(r#"{"secret": "s3"}"#),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);

    // A user of a domain that does not exist: 404.
    h.call(
        Method::PUT,
        "/dir/nowhere.test/1000",
        Some(r#"{"secret": "x"}"#),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND);
    h.call(Method::GET, "/dir/nowhere.test", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);

    // A user list replaces the users.
    let a = h
        .call(
            Method::PUT,
            "/dir/bling.babblevoice.com",
            Some(r#"{"users": [{"username": "1005", "secret": "a"}, {"username": "2000", "secret": "b"}]}"#),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json()["users"],
        json!([{"username": "1005"}, {"username": "2000"}])
    );

    // Deletes: 204, then 404.
    let a = h
        .call(Method::DELETE, "/dir/bling.babblevoice.com/2000", None)
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    h.call(Method::DELETE, "/dir/bling.babblevoice.com/2000", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    h.call(Method::DELETE, "/dir/nowhere.test/2000", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);

    // The store holds what the API says.
    let snapshot = h.store.load().await.unwrap();
    assert_eq!(snapshot.domains.len(), 1);
    let (domain, users) = &snapshot.domains[0];
    assert_eq!(domain.name, "bling.babblevoice.com");
    assert_eq!(domain.digest, vec![pbx::DigestAlgorithm::Md5]);
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, vec!["1005"]);
    // With the HA1 of the secret given, realm = the domain.
    let (md5, sha256) = common::ha1s("1005", "bling.babblevoice.com", "a");
    assert_eq!(users[0].secret.md5, md5);
    assert_eq!(users[0].secret.sha256, sha256);
    // And so does the directory in memory, which the registrar reads.
    {
        let directory = h.state.directory.read().unwrap();
        let (_, user) = directory.user("bling.babblevoice.com", "1005").unwrap();
        assert_eq!(user.secret.md5, md5);
        assert!(directory.user("bling.babblevoice.com", "1003").is_none());
    }

    let a = h
        .call(Method::DELETE, "/dir/bling.babblevoice.com", None)
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    h.call(Method::DELETE, "/dir/bling.babblevoice.com", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    h.call(Method::GET, "/dir/bling.babblevoice.com", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    assert!(h.store.load().await.unwrap().domains.is_empty());
    assert!(
        h.state
            .directory
            .read()
            .unwrap()
            .domain("bling.babblevoice.com")
            .is_none()
    );
}

#[tokio::test]
async fn admin_secret_is_kept_as_ha1_of_user_admin() {
    let h = common::harness().await;
    let a = h
        .call(
            Method::PUT,
            "/dir/example.com",
            Some(r#"{"admin": {"secret": "root-pw"}}"#),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert!(!a.text().contains("root-pw"));
    let (md5, sha256) = common::ha1s("admin", "example.com", "root-pw");
    let snapshot = h.store.load().await.unwrap();
    let admin = snapshot.domains[0].0.admin.clone().unwrap();
    assert_eq!((admin.md5, admin.sha256), (md5.clone(), sha256));
    let directory = h.state.directory.read().unwrap();
    let domain = &directory.domain("example.com").unwrap().domain;
    assert_eq!(domain.admin.as_ref().unwrap().md5, md5);
}
