//! Webhooks to each domain's `control` URL (seed 001, DESIGN.md section 7): registrations,
//!
//! ```text
//! PUT {control}/reg/{domain}/{user}      {"host": "127.0.0.1", "port": 45646, "agent": "Z 5.2.28"}
//! DELETE {control}/reg/{domain}/{user}
//! ```
//!
//! and call events (DESIGN.md section 15: notifications; instructions in the answers come with
//! call control), to the control URL of the caller's domain:
//!
//! ```text
//! POST {control}/call/{id}   {"event": "new", "id": "0b7a3c1e-...", "domain": "example.com",
//!                             "from": "1000", "to": "1001", "call_id": "a84b4c76e66710@192.0.2.4",
//!                             "time": 1795543261}
//! ```
//!
//! `event` is `new`, `ringing`, `answered` or `hungup`; `id` is the PBX's call id (the one of
//! `/call/{id}`), `call_id` the SIP Call-ID, `time` Unix seconds (for `hungup`, the CDR's
//! `end`), and a `hungup` event carries the call's record as `"cdr": {...}` (the JSON of
//! [`pbx::Cdr`]), sent only once that record is committed to the store
//! ([`spawn_call_events`](crate::spawn_call_events)).
//!
//! The endpoint task hands [`RegEvent`]s over a bounded channel with `try_send`, so SIP never
//! waits here (it counts what the full channel refuses); call events come from the call-event
//! writer, over another bounded channel. One dispatcher task takes both and starts
//! deliveries, each with a timeout per attempt and a few retries with backoff.
//!
//! Order and bounds: deliveries for one (domain, user), and for one call, run one at a time, in
//! the order their events came, so a control server never sees a user's DELETE overtake its
//! PUT, nor a call's `hungup` overtake its `new`; different users and calls are delivered
//! concurrently, at most [`WebhookConfig::max_in_flight`] at once. Events waiting behind those
//! are held up to [`WebhookConfig::max_queued`]; beyond that, and for every delivery whose
//! attempts all fail, `webhook_dropped` counts one. So a dead control server costs a bounded
//! amount of memory and delays only its own domain's later events, never the other domains'.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use pbx::{CallEvent, Cdr, Metrics, RegEvent, State};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::{Id, JoinHandle, JoinSet};
use tokio::time::Instant;

/// A capacity that suits the channel from the endpoint task to [`spawn_webhooks`].
pub const WEBHOOK_CHANNEL: usize = 1024;

/// A capacity that suits the channel of call events from
/// [`spawn_call_events`](crate::spawn_call_events) to [`spawn_webhooks_with_calls`].
pub const CALL_HOOK_CHANNEL: usize = 1024;

/// How webhooks are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Time allowed for one attempt, connection included.
    pub timeout: Duration,
    /// Attempts per delivery, the first included (at least 1).
    pub attempts: u32,
    /// The pause before the second attempt; it doubles before each later one.
    pub backoff: Duration,
    /// Deliveries in progress at once, over all domains (at least 1).
    pub max_in_flight: usize,
    /// Events held waiting for their user's earlier delivery or for a free slot.
    pub max_queued: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            attempts: 3,
            backoff: Duration::from_millis(250),
            max_in_flight: 32,
            max_queued: 4096,
        }
    }
}

/// Why webhooks cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The HTTP client could not be built (its TLS set-up failed).
    #[error("cannot build the webhook HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Starts the webhook dispatcher for registrations only; see [`spawn_webhooks_with_calls`].
pub fn spawn_webhooks(
    state: Arc<State>,
    metrics: Arc<Metrics>,
    events: mpsc::Receiver<RegEvent>,
    config: WebhookConfig,
) -> Result<JoinHandle<()>, WebhookError> {
    // A channel already closed: no call event will ever come.
    let (_, calls) = mpsc::channel(1);
    spawn_webhooks_with_calls(state, metrics, events, calls, config)
}

/// Starts the webhook dispatcher on the current Tokio runtime (it must be called from within
/// one), for registration events from `registrations` and call events from `calls` (the
/// `hooks` end of [`spawn_call_events`](crate::spawn_call_events)). It reads both until every
/// sender of each is dropped, then finishes the deliveries it holds and ends; await the handle
/// (with a timeout of your choosing) for a clean shutdown.
///
/// Installs rustls's `ring` provider as the process default, if no default is installed yet,
/// so that `https` control URLs work.
pub fn spawn_webhooks_with_calls(
    state: Arc<State>,
    metrics: Arc<Metrics>,
    registrations: mpsc::Receiver<RegEvent>,
    calls: mpsc::Receiver<CallEvent>,
    config: WebhookConfig,
) -> Result<JoinHandle<()>, WebhookError> {
    crate::install_crypto_provider();
    let client = reqwest::Client::builder()
        .connect_timeout(config.timeout)
        .timeout(config.timeout)
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(WebhookError::Client)?;
    let dispatcher = Dispatcher {
        state,
        metrics,
        client,
        config: Arc::new(config),
        waiting: HashMap::new(),
        busy: HashMap::new(),
        ready: VecDeque::new(),
        queued: 0,
        in_flight: JoinSet::new(),
        last_warning: None,
        dropped_since_warning: 0,
    };
    Ok(tokio::spawn(dispatcher.run(registrations, calls)))
}

/// What deliveries are ordered by: one at a time per key, in event order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A user's registrations: (domain, user).
    User(String, String),
    /// A call's events, by the PBX's call id.
    Call(String),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(domain, user) => write!(f, "user {user}@{domain}"),
            Self::Call(id) => write!(f, "call {id}"),
        }
    }
}

/// One HTTP request to send.
struct Delivery {
    method: Method,
    url: Url,
    /// A JSON body, serialized once for every attempt.
    body: Option<Vec<u8>>,
}

/// The body of the registration PUT.
#[derive(Serialize)]
struct Registered {
    host: String,
    port: u16,
    agent: String,
}

/// The body of a call event's POST.
#[derive(Serialize)]
struct CallHook<'a> {
    event: &'static str,
    id: &'a str,
    domain: &'a str,
    from: &'a str,
    to: &'a str,
    call_id: &'a str,
    time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cdr: Option<&'a Cdr>,
}

impl<'a> CallHook<'a> {
    fn of(event: &'a CallEvent) -> Self {
        Self {
            event: event.name(),
            id: event.id(),
            domain: event.domain(),
            from: event.from(),
            to: event.to(),
            call_id: event.call_id(),
            time: event.time(),
            cdr: event.cdr(),
        }
    }
}

/// The single task that orders deliveries. Invariants: a key is in `busy` while its delivery
/// runs; it is in `ready` exactly when it is not busy and has something in `waiting`; `queued`
/// is the number of deliveries in `waiting`.
struct Dispatcher {
    state: Arc<State>,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    config: Arc<WebhookConfig>,
    waiting: HashMap<Key, VecDeque<Delivery>>,
    busy: HashMap<Id, Key>,
    ready: VecDeque<Key>,
    queued: usize,
    in_flight: JoinSet<bool>,
    last_warning: Option<Instant>,
    dropped_since_warning: u64,
}

/// At most one warning about dropped webhooks per this interval (STYLE.md section 6: warnings
/// about a peer are rate limited).
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

impl Dispatcher {
    async fn run(
        mut self,
        mut registrations: mpsc::Receiver<RegEvent>,
        mut calls: mpsc::Receiver<CallEvent>,
    ) {
        let mut registrations_open = true;
        let mut calls_open = true;
        loop {
            self.start_ready();
            if !registrations_open && !calls_open && self.in_flight.is_empty() {
                // Nothing runs, so `start_ready` found nothing waiting either.
                break;
            }
            tokio::select! {
                event = registrations.recv(), if registrations_open => match event {
                    Some(event) => self.handle_registration(event),
                    None => registrations_open = false,
                },
                event = calls.recv(), if calls_open => match event {
                    Some(event) => self.handle_call(&event),
                    None => calls_open = false,
                },
                Some(done) = self.in_flight.join_next_with_id() => {
                    let (id, delivered) = match done {
                        Ok((id, delivered)) => (id, delivered),
                        // A delivery task that panicked: its event is lost, like a failure.
                        Err(e) => (e.id(), false),
                    };
                    self.handle_done(id, delivered);
                }
            }
        }
        tracing::debug!("webhook dispatcher done");
    }

    fn handle_registration(&mut self, event: RegEvent) {
        let (domain, user, method, body) = match event {
            RegEvent::Registered {
                domain,
                user,
                host,
                port,
                agent,
            } => {
                let body = serde_json::to_vec(&Registered { host, port, agent }).ok();
                (domain, user, Method::PUT, body)
            }
            RegEvent::Unregistered { domain, user } => (domain, user, Method::DELETE, None),
        };
        let Some(control) = self.control(&domain) else {
            tracing::trace!(%domain, %user, "no control URL: no webhook");
            return;
        };
        let Some(url) = hook_url(&control, &["reg", &domain, &user]) else {
            tracing::debug!(%domain, "control URL unusable for webhooks");
            self.dropped();
            return;
        };
        self.enqueue(Key::User(domain, user), Delivery { method, url, body });
    }

    fn handle_call(&mut self, event: &CallEvent) {
        let domain = event.domain();
        let Some(control) = self.control(domain) else {
            tracing::trace!(%domain, call = event.id(), "no control URL: no webhook");
            return;
        };
        let Some(url) = hook_url(&control, &["call", event.id()]) else {
            tracing::debug!(%domain, "control URL unusable for webhooks");
            self.dropped();
            return;
        };
        let body = serde_json::to_vec(&CallHook::of(event)).ok();
        self.enqueue(
            Key::Call(event.id().to_owned()),
            Delivery {
                method: Method::POST,
                url,
                body,
            },
        );
    }

    /// The domain's control URL, if it has one.
    fn control(&self, domain: &str) -> Option<String> {
        self.state
            .read_directory()
            .domain(domain)
            .and_then(|d| d.domain.control.clone())
    }

    /// Queues a delivery behind its key's earlier ones, or drops it when the queue is full.
    fn enqueue(&mut self, key: Key, delivery: Delivery) {
        if self.queued >= self.config.max_queued {
            self.dropped();
            return;
        }
        let queue = self.waiting.entry(key.clone()).or_default();
        let was_empty = queue.is_empty();
        queue.push_back(delivery);
        self.queued += 1;
        if was_empty && !self.busy.values().any(|k| *k == key) {
            self.ready.push_back(key);
        }
    }

    fn handle_done(&mut self, id: Id, delivered: bool) {
        if !delivered {
            self.dropped();
        }
        let Some(key) = self.busy.remove(&id) else {
            return;
        };
        if self.waiting.get(&key).is_some_and(|q| !q.is_empty()) {
            self.ready.push_back(key);
        } else {
            self.waiting.remove(&key);
        }
    }

    /// Starts waiting deliveries while there are free slots.
    fn start_ready(&mut self) {
        let max = self.config.max_in_flight.max(1);
        while self.in_flight.len() < max {
            let Some(key) = self.ready.pop_front() else {
                return;
            };
            let Some(delivery) = self.waiting.get_mut(&key).and_then(VecDeque::pop_front) else {
                self.waiting.remove(&key);
                continue;
            };
            self.queued = self.queued.saturating_sub(1);
            let handle = self.in_flight.spawn(deliver(
                self.client.clone(),
                Arc::clone(&self.config),
                key.clone(),
                delivery,
            ));
            self.busy.insert(handle.id(), key);
        }
    }

    fn dropped(&mut self) {
        Metrics::inc(&self.metrics.webhook_dropped);
        self.dropped_since_warning += 1;
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= WARNING_INTERVAL)
        {
            tracing::warn!(
                dropped = self.dropped_since_warning,
                "webhooks dropped (control server unreachable or refusing, or queue full)"
            );
            self.last_warning = Some(now);
            self.dropped_since_warning = 0;
        }
    }
}

/// `{control}/{segments...}` (`reg/{domain}/{user}`, `call/{id}`), path segments
/// percent-encoded as needed. `None` when `control` is not an http(s) URL that can take a path.
fn hook_url(control: &str, segments: &[&str]) -> Option<Url> {
    let mut url = Url::parse(control).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(segments);
    Some(url)
}

/// Sends one delivery, retrying on failure. True when the control server took it (2xx).
async fn deliver(
    client: reqwest::Client,
    config: Arc<WebhookConfig>,
    key: Key,
    delivery: Delivery,
) -> bool {
    let mut pause = config.backoff;
    let attempts = config.attempts.max(1);
    for attempt in 1..=attempts {
        let mut request = client.request(delivery.method.clone(), delivery.url.clone());
        if let Some(body) = &delivery.body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(%key, method = %delivery.method, "webhook delivered");
                return true;
            }
            Ok(response) => {
                let status = response.status();
                tracing::debug!(%key, %status, attempt, "webhook refused");
                // The control server understood and said no: asking again will not help,
                // except for the statuses that mean "later".
                let retry = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                if !retry {
                    return false;
                }
            }
            Err(e) => tracing::debug!(%key, error = %e, attempt, "webhook failed"),
        }
        if attempt < attempts {
            tokio::time::sleep(pause).await;
            pause = pause.saturating_mul(2);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = hook_url("http://127.0.0.1:9001", &["reg", "example.com", "1003"]).expect("url");
        assert_eq!(url.as_str(), "http://127.0.0.1:9001/reg/example.com/1003");
        let url = hook_url("https://ctl.test/base/", &["reg", "example.com", "a(b)"]).expect("url");
        assert_eq!(url.as_str(), "https://ctl.test/base/reg/example.com/a(b)");
        let url = hook_url("http://ctl.test/x", &["call", "0b7a/../x y"]).expect("url");
        assert_eq!(url.as_str(), "http://ctl.test/x/call/0b7a%2F..%2Fx%20y");
        assert!(hook_url("ftp://ctl.test", &["reg", "example.com", "1"]).is_none());
        assert!(hook_url("not a url", &["reg", "example.com", "1"]).is_none());
    }

    #[test]
    fn call_hook_body() {
        let note = pbx::CallNote {
            id: "id-1".into(),
            domain: "example.com".into(),
            from: "1000".into(),
            to: "1001".into(),
            call_id: "c@h".into(),
            time: 7,
        };
        let new = CallEvent::New(note.clone());
        let json: serde_json::Value =
            serde_json::from_slice(&serde_json::to_vec(&CallHook::of(&new)).expect("json"))
                .expect("parse");
        assert_eq!(
            json,
            serde_json::json!({"event": "new", "id": "id-1", "domain": "example.com",
                "from": "1000", "to": "1001", "call_id": "c@h", "time": 7})
        );
        let cdr = Cdr::new(
            &note,
            None,
            9,
            pbx::Cause::new(404, "Not Found"),
            pbx::HangupBy::System,
            vec![],
        );
        let hung = CallEvent::HungUp(cdr.clone());
        let json: serde_json::Value =
            serde_json::from_slice(&serde_json::to_vec(&CallHook::of(&hung)).expect("json"))
                .expect("parse");
        assert_eq!(json["event"], "hungup");
        assert_eq!(json["time"], 9);
        let back: Cdr = serde_json::from_value(json["cdr"].clone()).expect("cdr");
        assert_eq!(back, cdr);
    }
}
