//! Shared by the API tests: a router over a real SQLite store in a temporary directory, a way
//! to call it in-process, and bindings to put straight into the location service.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use api::Api;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use pbx::{Binding, Flow, Metrics, State};
use sip::Transport;
use store::SqliteStore;
use tower::ServiceExt;

/// A router and what it works on.
pub struct Harness {
    pub router: Router,
    pub state: Arc<State>,
    pub metrics: Arc<Metrics>,
    pub store: Arc<SqliteStore>,
    pub dir: tempfile::TempDir,
}

/// A harness with no token.
pub async fn harness() -> Harness {
    harness_with_token(None).await
}

pub async fn harness_with_token(token: Option<&str>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let state = Arc::new(State::default());
    let metrics = Arc::new(Metrics::default());
    let router = api::router(Api::new(
        Arc::clone(&state),
        Arc::clone(&store),
        Arc::clone(&metrics),
        token.map(str::to_owned),
    ));
    Harness {
        router,
        state,
        metrics,
        store,
        dir,
    }
}

/// An answer: status, content type, body.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body))
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a JSON error answer with this status.
    pub fn assert_error(&self, status: StatusCode) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert!(self.content_type.starts_with("application/json"), "{}", self.content_type);
        let json = self.json();
        assert!(json["error"].is_string(), "{json}");
    }
}

impl Harness {
    pub async fn call(&self, method: Method, path: &str, body: Option<&str>) -> Answer {
        self.call_bytes(method, path, body.map(|b| b.as_bytes().to_vec()), None)
            .await
    }

    pub async fn call_bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        token: Option<&str>,
    ) -> Answer {
        call(&self.router, method, path, body, token).await
    }

    /// Puts bindings straight into the location service, as the registrar would.
    pub fn bind(&self, domain: &str, user: &str, bindings: Vec<Binding>) {
        self.state.location.write().unwrap().set(domain, user, bindings);
    }
}

pub async fn call(
    router: &Router,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    token: Option<&str>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(body.map_or_else(Body::empty, Body::from))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

/// A UDP binding from `remote`.
pub fn binding(
    domain: &str,
    user: &str,
    contact: &str,
    remote: &str,
    agent: &str,
    registered_at: u64,
    expires_at: u64,
) -> Binding {
    let remote: SocketAddr = remote.parse().unwrap();
    Binding {
        domain: domain.into(),
        user: user.into(),
        contact: contact.into(),
        flow: Flow {
            transport: Transport::Udp,
            remote,
            conn: None,
        },
        agent: agent.into(),
        call_id: format!("{user}-{contact}"),
        cseq: 1,
        registered_at,
        expires_at,
        outstanding_pings: 0,
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The MD5 and SHA-256 HA1 of a password, as the API must store them.
pub fn ha1s(user: &str, realm: &str, password: &str) -> (String, String) {
    use sip::digest::{Algorithm, ha1};
    (
        ha1(Algorithm::Md5, user, realm, password),
        ha1(Algorithm::Sha256, user, realm, password),
    )
}
