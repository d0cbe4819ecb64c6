//! When the store refuses a write, the API answers 500 with a JSON error and the in-memory
//! directory and bindings stay as they were: the store is written first.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use api::Api;
use axum::http::{Method, StatusCode};
use pbx::{Domain, Metrics, Snapshot, State, Store, StoreError, User, UserBindings};
use store::SqliteStore;

/// A SQLite store whose writes fail while `broken` is set.
struct Flaky {
    inner: SqliteStore,
    broken: AtomicBool,
}

impl Flaky {
    fn check(&self) -> Result<(), StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            Err(StoreError::Backend("disk on fire: /var/secret/path".into()))
        } else {
            Ok(())
        }
    }
}

impl Store for Flaky {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        self.inner.load().await
    }
    async fn put_domain(&self, d: &Domain, u: Option<&[User]>) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.put_domain(d, u).await
    }
    async fn delete_domain(&self, name: &str) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete_domain(name).await
    }
    async fn put_user(&self, domain: &str, user: &User) -> Result<Option<bool>, StoreError> {
        self.check()?;
        self.inner.put_user(domain, user).await
    }
    async fn delete_user(&self, domain: &str, user: &str) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete_user(domain, user).await
    }
    async fn save_bindings(&self, changes: &[UserBindings]) -> Result<(), StoreError> {
        self.check()?;
        self.inner.save_bindings(changes).await
    }
    async fn insert_cdrs(&self, cdrs: &[pbx::Cdr]) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_cdrs(cdrs).await
    }
    async fn query_cdrs(&self, query: &pbx::CdrQuery) -> Result<pbx::CdrPage, StoreError> {
        self.inner.query_cdrs(query).await
    }
    async fn cdr_days(&self, domain: &str, user: Option<&str>) -> Result<Vec<u64>, StoreError> {
        self.inner.cdr_days(domain, user).await
    }
}

#[tokio::test]
async fn failed_store_write_is_a_json_500_and_changes_nothing() {
    let store = Arc::new(Flaky {
        inner: SqliteStore::open_in_memory().await.unwrap(),
        broken: AtomicBool::new(false),
    });
    let state = Arc::new(State::default());
    let router = api::router(Api::new(
        Arc::clone(&state),
        Arc::clone(&store),
        Arc::new(Metrics::default()),
        None,
    ));
    let call = |method: Method, path: &'static str, body: Option<&'static str>| {
        let router = router.clone();
        async move {
            common::call(
                &router,
                method,
                path,
                body.map(|b| b.as_bytes().to_vec()),
                None,
            )
            .await
        }
    };

    let users = r#"{"control": "http://127.0.0.1:9001", "users": [{"username": "1", "secret": "a"}, {"username": "2", "secret": "b"}]}"#;
    assert_eq!(
        call(Method::PUT, "/dir/example.com", Some(users))
            .await
            .status,
        StatusCode::CREATED
    );
    let now = common::now();
    state.location.write().unwrap().set(
        "example.com",
        "1",
        vec![common::binding(
            "example.com",
            "1",
            "sip:1@10.0.0.1",
            "127.0.0.1:5060",
            "x",
            now,
            now + 60,
        )],
    );
    let before = call(Method::GET, "/dir/example.com", None).await.json();

    store.broken.store(true, Ordering::SeqCst);
    let attempts: [(Method, &'static str, Option<&'static str>); 6] = [
        (Method::PUT, "/dir/example.com", Some(r#"{"users": []}"#)),
        (Method::PUT, "/dir/new.example.com", Some("{}")),
        (Method::DELETE, "/dir/example.com", None),
        (
            Method::PUT,
            "/dir/example.com/3",
            Some(r#"{"secret": "c"}"#),
        ),
        (
            Method::PATCH,
            "/dir/example.com/1",
            Some(r#"{"secret": "new"}"#),
        ),
        (Method::DELETE, "/dir/example.com/1", None),
    ];
    for (method, path, body) in attempts {
        let a = call(method.clone(), path, body).await;
        a.assert_error(StatusCode::INTERNAL_SERVER_ERROR);
        // The backend's own text stays in the log.
        assert!(!a.text().contains("/var/secret/path"), "{}", a.text());
    }

    assert_eq!(
        call(Method::GET, "/dir/example.com", None).await.json(),
        before
    );
    call(Method::GET, "/dir/new.example.com", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    assert_eq!(
        state
            .location
            .read()
            .unwrap()
            .bindings("example.com", "1")
            .len(),
        1
    );
    let (md5, _) = common::ha1s("1", "example.com", "a");
    assert_eq!(
        state
            .directory
            .read()
            .unwrap()
            .user("example.com", "1")
            .unwrap()
            .1
            .secret
            .md5,
        md5
    );

    // Mended, the same requests go through.
    store.broken.store(false, Ordering::SeqCst);
    assert_eq!(
        call(Method::DELETE, "/dir/example.com/1", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(
        state
            .location
            .read()
            .unwrap()
            .bindings("example.com", "1")
            .is_empty()
    );
}
