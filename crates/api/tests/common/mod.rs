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
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a JSON error answer with this status.
    pub fn assert_error(&self, status: StatusCode) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert!(
            self.content_type.starts_with("application/json"),
            "{}",
            self.content_type
        );
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
        self.state
            .location
            .write()
            .unwrap()
            .set(domain, user, bindings);
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
        call_id: format!("{user}-{contact}").into(),
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

/// One request a test control server received.
#[derive(Debug, Clone)]
pub struct Hook {
    pub method: String,
    pub path: String,
    pub body: Option<serde_json::Value>,
    pub at: std::time::Instant,
}

/// A control server on 127.0.0.1:0 that records every request and answers 200, after `delay`
/// for requests whose path ends with one of `slow` (to let later requests try to overtake).
pub async fn control_server(
    slow: Vec<String>,
    delay: std::time::Duration,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<Hook>) {
    use axum::extract::Request;

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let slow = Arc::new(std::sync::Mutex::new(slow));
    let app = Router::new().fallback(move |req: Request| {
        let tx = tx.clone();
        let slow = Arc::clone(&slow);
        async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap();
            let body = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap());
            let at = std::time::Instant::now();
            // Only the first request to a slow path is slow.
            let is_slow = {
                let mut slow = slow.lock().unwrap();
                let hit = slow.iter().position(|s| path.ends_with(s.as_str()));
                hit.map(|i| slow.remove(i)).is_some()
            };
            let _ = tx.send(Hook {
                method,
                path,
                body,
                at,
            });
            if is_slow {
                tokio::time::sleep(delay).await;
            }
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), rx)
}

/// Waits for the next hook, failing after `secs` seconds.
pub async fn next_hook(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Hook>, secs: u64) -> Hook {
    tokio::time::timeout(std::time::Duration::from_secs(secs), rx.recv())
        .await
        .expect("a webhook in time")
        .expect("control server alive")
}

/// Waits until `cond` holds, failing after `secs` seconds.
pub async fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met in {secs} s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

pub fn registered(domain: &str, user: &str, port: u16) -> pbx::RegEvent {
    pbx::RegEvent::Registered {
        domain: domain.into(),
        user: user.into(),
        host: "127.0.0.1".into(),
        port,
        agent: format!("agent of {user}"),
    }
}

pub fn unregistered(domain: &str, user: &str) -> pbx::RegEvent {
    pbx::RegEvent::Unregistered {
        domain: domain.into(),
        user: user.into(),
    }
}

/// The note of call `n` between `from` and `to` of `domain`, at `time`.
pub fn call_note(domain: &str, n: u32, from: &str, to: &str, time: u64) -> pbx::CallNote {
    pbx::CallNote {
        id: format!(
            "{:08x}-0000-4000-8000-{n:012}",
            n.wrapping_mul(2_654_435_761)
        ),
        domain: domain.into(),
        from: from.into(),
        to: to.into(),
        call_id: format!("call-{n}@192.0.2.1"),
        time,
    }
}

/// The record of call `n`, started at `start`: answered after 2 s and hung up by the caller
/// 10 s later when `n` is even, cancelled after 5 s when odd.
pub fn cdr(domain: &str, n: u32, start: u64, from: &str, to: &str) -> pbx::Cdr {
    let call = call_note(domain, n, from, to, start);
    if n.is_multiple_of(2) {
        pbx::Cdr::new(
            &call,
            Some(start + 2),
            start + 12,
            pbx::Cause::bye(),
            pbx::HangupBy::Caller,
            vec!["PCMU/8000".into()],
        )
    } else {
        pbx::Cdr::new(
            &call,
            None,
            start + 5,
            pbx::Cause::new(487, "Request Terminated"),
            pbx::HangupBy::Caller,
            vec![],
        )
    }
}

/// The note of `cdr`'s call at `time`.
pub fn note_of(cdr: &pbx::Cdr, time: u64) -> pbx::CallNote {
    pbx::CallNote {
        id: cdr.id.clone(),
        domain: cdr.domain.clone(),
        from: cdr.from.clone(),
        to: cdr.to.clone(),
        call_id: cdr.call_id.clone(),
        time,
    }
}

/// The four events of a call, `new` to `hungup`, for `cdr`.
pub fn call_events(cdr: &pbx::Cdr) -> Vec<pbx::CallEvent> {
    vec![
        pbx::CallEvent::New(note_of(cdr, cdr.start)),
        pbx::CallEvent::Ringing(note_of(cdr, cdr.start + 1)),
        pbx::CallEvent::Answered(note_of(cdr, cdr.start + 2)),
        pbx::CallEvent::HungUp(cdr.clone()),
    ]
}

/// GETs `path` and follows `next` to the end, returning every record's id.
pub async fn cdr_ids(h: &Harness, path: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..10_000 {
        let url = match &next {
            None => path.to_owned(),
            Some(c) => {
                let sep = if path.contains('?') { '&' } else { '?' };
                format!("{path}{sep}cursor={c}")
            }
        };
        let a = h.call(Method::GET, &url, None).await;
        assert_eq!(a.status, StatusCode::OK, "{url}: {}", a.text());
        let json = a.json();
        for c in json["cdrs"].as_array().unwrap() {
            ids.push(c["id"].as_str().unwrap().to_owned());
        }
        match &json["next"] {
            serde_json::Value::Null => return ids,
            serde_json::Value::String(c) => next = Some(c.clone()),
            other => panic!("next is {other}"),
        }
    }
    panic!("pagination does not end");
}

/// A SQLite store whose CDR commits can be made to fail or to take a while, and which
/// records the size of every committed batch.
pub struct ScriptedStore {
    pub inner: SqliteStore,
    /// Commits still to fail.
    pub fail: std::sync::atomic::AtomicU32,
    /// Every commit fails while set.
    pub broken: std::sync::atomic::AtomicBool,
    /// How long each commit takes before it is done.
    pub delay: std::time::Duration,
    /// Sizes of the batches committed, in order.
    pub batches: std::sync::Mutex<Vec<usize>>,
    /// Commit attempts, failed ones included.
    pub attempts: std::sync::atomic::AtomicU32,
}

impl ScriptedStore {
    pub async fn new(delay: std::time::Duration) -> Self {
        Self {
            inner: SqliteStore::open_in_memory().await.unwrap(),
            fail: Default::default(),
            broken: Default::default(),
            delay,
            batches: Default::default(),
            attempts: Default::default(),
        }
    }
}

impl pbx::Store for ScriptedStore {
    async fn load(&self) -> Result<pbx::Snapshot, pbx::StoreError> {
        self.inner.load().await
    }
    async fn put_domain(
        &self,
        d: &pbx::Domain,
        u: Option<&[pbx::User]>,
    ) -> Result<bool, pbx::StoreError> {
        self.inner.put_domain(d, u).await
    }
    async fn delete_domain(&self, name: &str) -> Result<bool, pbx::StoreError> {
        self.inner.delete_domain(name).await
    }
    async fn put_user(&self, d: &str, u: &pbx::User) -> Result<Option<bool>, pbx::StoreError> {
        self.inner.put_user(d, u).await
    }
    async fn delete_user(&self, d: &str, u: &str) -> Result<bool, pbx::StoreError> {
        self.inner.delete_user(d, u).await
    }
    async fn save_bindings(&self, c: &[pbx::UserBindings]) -> Result<(), pbx::StoreError> {
        self.inner.save_bindings(c).await
    }
    async fn insert_cdrs(&self, cdrs: &[pbx::Cdr]) -> Result<(), pbx::StoreError> {
        use std::sync::atomic::Ordering;
        self.attempts.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let fail_once = self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail_once || self.broken.load(Ordering::SeqCst) {
            return Err(pbx::StoreError::Backend("database is locked".into()));
        }
        self.inner.insert_cdrs(cdrs).await?;
        self.batches.lock().unwrap().push(cdrs.len());
        Ok(())
    }
    async fn query_cdrs(&self, q: &pbx::CdrQuery) -> Result<pbx::CdrPage, pbx::StoreError> {
        self.inner.query_cdrs(q).await
    }
    async fn cdr_days(
        &self,
        domain: &str,
        user: Option<&str>,
    ) -> Result<Vec<u64>, pbx::StoreError> {
        self.inner.cdr_days(domain, user).await
    }
}
