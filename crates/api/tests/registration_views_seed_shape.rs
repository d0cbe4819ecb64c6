//! `GET /reg`, `/reg/{domain}` and `/reg/{domain}/{user}` in the seed's shape, with the
//! `contacts` array beside `remote`, `remote` the newest contact, and unregistered users
//! listed with `"registered": false` only.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use serde_json::json;

const DOMAIN: &str = "bling.babblevoice.com";

async fn setup() -> common::Harness {
    let h = common::harness().await;
    let body = r#"{"users": [{"username": "1000", "secret": "a"}, {"username": "1001", "secret": "b"},
                             {"username": "1003", "secret": "c"}]}"#;
    assert_eq!(
        h.call(Method::PUT, &format!("/dir/{DOMAIN}"), Some(body))
            .await
            .status,
        StatusCode::CREATED
    );
    h
}

#[tokio::test]
async fn domain_view_lists_every_user() {
    let h = setup().await;
    let now = common::now();
    let mut older = common::binding(
        DOMAIN,
        "1003",
        "sip:1003@192.0.2.10:5060",
        "127.0.0.1:42068",
        "Z 5.2.28 rv2.8.114",
        now - 100,
        now + 3000,
    );
    older.outstanding_pings = 2;
    let mut newer = common::binding(
        DOMAIN,
        "1003",
        "sip:1003@192.0.2.11:5062;transport=tcp",
        "127.0.0.2:40000",
        "baresip v1.0",
        now - 10,
        now + 600,
    );
    newer.flow.transport = sip::Transport::Tcp;
    newer.flow.conn = Some(7);
    newer.outstanding_pings = 1;
    h.bind(DOMAIN, "1003", vec![older, newer]);

    let a = h.call(Method::GET, &format!("/reg/{DOMAIN}"), None).await;
    assert_eq!(a.status, StatusCode::OK);
    let mut body = a.json();
    // `expires` counts down from now: check it, then compare the rest exactly.
    let contacts = body["users"]["1003"]["contacts"].as_array_mut().unwrap();
    let mut expires = Vec::new();
    for c in contacts.iter_mut() {
        expires.push(c["expires"].as_u64().unwrap());
        c["expires"] = json!("checked");
    }
    assert!((2990..=3000).contains(&expires[0]), "{expires:?}");
    assert!((590..=600).contains(&expires[1]), "{expires:?}");
    assert_eq!(
        body,
        json!({
            "domain": DOMAIN,
            "count": 3,
            "registered": 1,
            "users": {
                "1000": {"registered": false},
                "1001": {"registered": false},
                "1003": {
                    "registered": true,
                    "outstandingping": 1,
                    "remote": {"host": "127.0.0.2", "port": 40000, "agent": "baresip v1.0"},
                    "epochs": {"registered": now - 10},
                    "contacts": [
                        {"uri": "sip:1003@192.0.2.10:5060", "host": "127.0.0.1", "port": 42068,
                         "transport": "udp", "agent": "Z 5.2.28 rv2.8.114", "expires": "checked"},
                        {"uri": "sip:1003@192.0.2.11:5062;transport=tcp", "host": "127.0.0.2",
                         "port": 40000, "transport": "tcp", "agent": "baresip v1.0",
                         "expires": "checked"}
                    ]
                }
            }
        })
    );
}

#[tokio::test]
async fn user_view_and_counts() {
    let h = setup().await;
    let now = common::now();
    h.bind(
        DOMAIN,
        "1003",
        vec![common::binding(
            DOMAIN,
            "1003",
            "sip:1003@10.0.0.1",
            "127.0.0.1:5070",
            "Z",
            now,
            now + 60,
        )],
    );
    h.bind(
        DOMAIN,
        "1000",
        vec![
            common::binding(
                DOMAIN,
                "1000",
                "sip:1000@10.0.0.2",
                "127.0.0.1:5071",
                "A",
                now,
                now + 60,
            ),
            common::binding(
                DOMAIN,
                "1000",
                "sip:1000@10.0.0.3",
                "127.0.0.1:5072",
                "B",
                now,
                now + 60,
            ),
        ],
    );
    // Another domain's registrations count in /reg too.
    assert_eq!(
        h.call(
            Method::PUT,
            "/dir/other.test",
            Some(r#"{"users": [{"username": "1", "secret": "x"}]}"#)
        )
        .await
        .status,
        StatusCode::CREATED
    );
    h.bind(
        "other.test",
        "1",
        vec![common::binding(
            "other.test",
            "1",
            "sip:1@10.0.0.4",
            "127.0.0.1:5073",
            "C",
            now,
            now + 60,
        )],
    );

    // The seed's single-user filter: the same shape, only that user in `users`.
    let a = h
        .call(Method::GET, &format!("/reg/{DOMAIN}/1003"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let body = a.json();
    assert_eq!(body["domain"], DOMAIN);
    assert_eq!(body["count"], 1);
    assert_eq!(body["registered"], 1);
    assert_eq!(body["users"].as_object().unwrap().len(), 1);
    assert_eq!(body["users"]["1003"]["registered"], true);
    assert_eq!(
        body["users"]["1003"]["remote"],
        json!({"host": "127.0.0.1", "port": 5070, "agent": "Z"})
    );
    assert_eq!(
        body["users"]["1003"]["contacts"].as_array().unwrap().len(),
        1
    );

    // Equal registration times: the later binding is the newest.
    let body = h
        .call(Method::GET, &format!("/reg/{DOMAIN}/1000"), None)
        .await
        .json();
    assert_eq!(body["users"]["1000"]["remote"]["agent"], "B");

    let body = h
        .call(Method::GET, &format!("/reg/{DOMAIN}/1001"), None)
        .await
        .json();
    assert_eq!(
        body,
        json!({"domain": DOMAIN, "count": 1, "registered": 0, "users": {"1001": {"registered": false}}})
    );

    // Domain names are case-insensitive here too.
    assert_eq!(
        h.call(Method::GET, "/reg/BLING.babblevoice.com", None)
            .await
            .json()["registered"],
        2
    );

    // /reg: users with at least one binding, over all domains (4 bindings, 3 users).
    assert_eq!(
        h.call(Method::GET, "/reg", None).await.json(),
        json!({"count": 3})
    );
    assert_eq!(
        h.call(Method::GET, "/reg/", None).await.json(),
        json!({"count": 3})
    );

    // 404s: unknown domain, unknown user.
    h.call(Method::GET, "/reg/nowhere.test", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    h.call(Method::GET, "/reg/nowhere.test/1000", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    h.call(Method::GET, &format!("/reg/{DOMAIN}/9999"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
}
