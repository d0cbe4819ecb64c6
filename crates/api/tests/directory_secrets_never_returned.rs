//! Secrets and their HA1 values never appear in an answer, whatever the endpoint, including
//! error answers about the request that carried them.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};

const DOMAIN: &str = "secrets.example.com";
const USER_SECRET: &str = "correct-horse-battery-staple";
const USER2_SECRET: &str = "tr0ub4dor-and-3";
const ADMIN_SECRET: &str = "the-admins-own-password";

#[tokio::test]
async fn no_answer_shows_a_secret_or_its_ha1() {
    let h = common::harness().await;
    let mut forbidden = vec![
        USER_SECRET.to_owned(),
        USER2_SECRET.to_owned(),
        ADMIN_SECRET.to_owned(),
    ];
    for (user, secret) in [
        ("1000", USER_SECRET),
        ("1001", USER2_SECRET),
        ("admin", ADMIN_SECRET),
    ] {
        let (md5, sha256) = common::ha1s(user, DOMAIN, secret);
        forbidden.push(md5);
        forbidden.push(sha256);
    }

    let body = format!(
        r#"{{"control": "http://127.0.0.1:9001", "users": [{{"username": "1000", "secret": "{USER_SECRET}"}}],
            "admin": {{"secret": "{ADMIN_SECRET}"}}}}"#
    );
    let mut answers = vec![
        h.call(Method::PUT, &format!("/dir/{DOMAIN}"), Some(&body))
            .await,
        h.call(Method::PUT, &format!("/dir/{DOMAIN}"), Some(&body))
            .await,
        h.call(
            Method::PUT,
            &format!("/dir/{DOMAIN}/1001"),
            Some(&format!(r#"{{"secret": "{USER2_SECRET}"}}"#)),
        )
        .await,
        h.call(
            Method::PATCH,
            &format!("/dir/{DOMAIN}/1001"),
            Some(&format!(r#"{{"secret": "{USER2_SECRET}"}}"#)),
        )
        .await,
        h.call(Method::GET, &format!("/dir/{DOMAIN}"), None).await,
        h.call(Method::GET, &format!("/reg/{DOMAIN}"), None).await,
        h.call(Method::GET, &format!("/reg/{DOMAIN}/1000"), None)
            .await,
        h.call(Method::GET, "/metrics", None).await,
    ];
    assert_eq!(answers[0].status, StatusCode::CREATED);
    assert_eq!(answers[4].status, StatusCode::OK);

    // Refused requests that carry a secret: a reserved user name, an unknown field beside the
    // secret, a bad digest token in a body with secrets.
    answers.push(
        h.call(
            Method::PUT,
            &format!("/dir/{DOMAIN}/cdr"),
            Some(&format!(r#"{{"secret": "{USER_SECRET}"}}"#)),
        )
        .await,
    );
    answers.push(
        h.call(
            Method::PUT,
            &format!("/dir/{DOMAIN}/1002"),
            Some(&format!(r#"{{"secret": "{USER_SECRET}", "extra": 1}}"#)),
        )
        .await,
    );
    answers.push(
        h.call(
            Method::PUT,
            &format!("/dir/{DOMAIN}"),
            Some(&format!(
                r#"{{"digest": ["SHA-512"], "users": [{{"username": "1", "secret": "{USER_SECRET}"}}]}}"#
            )),
        )
        .await,
    );
    for a in &answers[answers.len() - 3..] {
        assert!(a.status.is_client_error(), "{}", a.text());
    }

    for a in &answers {
        let text = a.text();
        for f in &forbidden {
            assert!(
                !text.contains(f.as_str()),
                "answer {} shows {f}: {text}",
                a.status
            );
        }
    }
}
