//! Deleting a user or a domain, or replacing a domain's user list, also removes the in-memory
//! bindings of the users that went, so they are no longer listed as registered or reachable.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn removed_users_lose_their_bindings() {
    let h = common::harness().await;
    let users = r#"{"users": [{"username": "1", "secret": "a"}, {"username": "2", "secret": "b"},
                             {"username": "3", "secret": "c"}, {"username": "4", "secret": "d"}]}"#;
    assert_eq!(
        h.call(Method::PUT, "/dir/a.test", Some(users)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.call(Method::PUT, "/dir/b.test", Some(users)).await.status,
        StatusCode::CREATED
    );
    let now = common::now();
    for domain in ["a.test", "b.test"] {
        for user in ["1", "2", "3", "4"] {
            let contact = format!("sip:{user}@10.0.0.1");
            h.bind(
                domain,
                user,
                vec![common::binding(
                    domain,
                    user,
                    &contact,
                    "127.0.0.1:5060",
                    "x",
                    now,
                    now + 60,
                )],
            );
        }
    }
    assert_eq!(h.state.location.read().unwrap().len(), 8);

    // One user.
    let a = h.call(Method::DELETE, "/dir/a.test/1", None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(
        h.state
            .location
            .read()
            .unwrap()
            .bindings("a.test", "1")
            .is_empty()
    );
    assert_eq!(h.state.location.read().unwrap().len(), 7);

    // A new user list: users 2 and 3 go, 4 stays.
    let a = h
        .call(
            Method::PUT,
            "/dir/a.test",
            Some(r#"{"users": [{"username": "4", "secret": "d"}]}"#),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    {
        let location = h.state.location.read().unwrap();
        assert!(location.bindings("a.test", "2").is_empty());
        assert!(location.bindings("a.test", "3").is_empty());
        assert_eq!(location.bindings("a.test", "4").len(), 1);
        assert_eq!(location.len(), 5);
    }
    // A replace without a user list keeps everyone's bindings.
    let a = h.call(Method::PUT, "/dir/a.test", Some("{}")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(h.state.location.read().unwrap().len(), 5);

    // The whole domain; the other domain's users with the same names keep theirs.
    let a = h.call(Method::DELETE, "/dir/b.test", None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    {
        let location = h.state.location.read().unwrap();
        assert_eq!(location.users_of("b.test").count(), 0);
        assert_eq!(location.len(), 1);
    }
    assert_eq!(
        h.call(Method::GET, "/reg", None).await.json(),
        json!({"count": 1})
    );
}
