//! Registration webhooks to each domain's `control` URL (seed 001, DESIGN.md section 7):
//!
//! ```text
//! PUT {control}/reg/{domain}/{user}      {"host": "127.0.0.1", "port": 45646, "agent": "Z 5.2.28"}
//! DELETE {control}/reg/{domain}/{user}
//! ```
//!
//! The endpoint task hands [`RegEvent`]s over a bounded channel with `try_send`, so SIP never
//! waits here (it counts what the full channel refuses). One dispatcher task takes them and
//! starts deliveries, each with a timeout per attempt and a few retries with backoff.
//!
//! Order and bounds: deliveries for one (domain, user) run one at a time, in the order their
//! events came, so a control server never sees a user's DELETE overtake its PUT; different
//! users are delivered concurrently, at most [`WebhookConfig::max_in_flight`] at once. Events
//! waiting behind those are held up to [`WebhookConfig::max_queued`]; beyond that, and for
//! every delivery whose attempts all fail, `webhook_dropped` counts one. So a dead control
//! server costs a bounded amount of memory and delays only its own domain's users' later
//! events, never the other domains'.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use pbx::{Metrics, RegEvent, State};
use reqwest::{Method, Url};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::{Id, JoinHandle, JoinSet};
use tokio::time::Instant;

/// A capacity that suits the channel from the endpoint task to [`spawn_webhooks`].
pub const WEBHOOK_CHANNEL: usize = 1024;

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

/// Starts the webhook dispatcher on the current Tokio runtime (it must be called from within
/// one). It reads `events` until every sender is dropped, then finishes the deliveries it
/// holds and ends; await the handle (with a timeout of your choosing) for a clean shutdown.
///
/// Installs rustls's `ring` provider as the process default, if no default is installed yet,
/// so that `https` control URLs work.
pub fn spawn_webhooks(
    state: Arc<State>,
    metrics: Arc<Metrics>,
    events: mpsc::Receiver<RegEvent>,
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
    Ok(tokio::spawn(dispatcher.run(events)))
}

/// (domain, user).
type Key = (String, String);

/// One HTTP request to send.
struct Delivery {
    method: Method,
    url: Url,
    body: Option<Registered>,
}

/// The body of the PUT.
#[derive(Serialize)]
struct Registered {
    host: String,
    port: u16,
    agent: String,
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
    async fn run(mut self, mut events: mpsc::Receiver<RegEvent>) {
        let mut open = true;
        loop {
            self.start_ready();
            if !open && self.in_flight.is_empty() {
                // Nothing runs, so `start_ready` found nothing waiting either.
                break;
            }
            tokio::select! {
                event = events.recv(), if open => match event {
                    Some(event) => self.handle_event(event),
                    None => open = false,
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

    fn handle_event(&mut self, event: RegEvent) {
        let (domain, user, method, body) = match event {
            RegEvent::Registered {
                domain,
                user,
                host,
                port,
                agent,
            } => (
                domain,
                user,
                Method::PUT,
                Some(Registered { host, port, agent }),
            ),
            RegEvent::Unregistered { domain, user } => (domain, user, Method::DELETE, None),
        };
        let control = self
            .state
            .directory
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .domain(&domain)
            .and_then(|d| d.domain.control.clone());
        let Some(control) = control else {
            tracing::trace!(%domain, %user, "no control URL: no webhook");
            return;
        };
        let Some(url) = hook_url(&control, &domain, &user) else {
            tracing::debug!(%domain, "control URL unusable for webhooks");
            self.dropped();
            return;
        };
        if self.queued >= self.config.max_queued {
            self.dropped();
            return;
        }
        let key = (domain, user);
        let queue = self.waiting.entry(key.clone()).or_default();
        let was_empty = queue.is_empty();
        queue.push_back(Delivery { method, url, body });
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

/// `{control}/reg/{domain}/{user}`, path segments percent-encoded as needed. `None` when
/// `control` is not an http(s) URL that can take a path.
fn hook_url(control: &str, domain: &str, user: &str) -> Option<Url> {
    let mut url = Url::parse(control).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(["reg", domain, user]);
    Some(url)
}

/// Sends one delivery, retrying on failure. True when the control server took it (2xx).
async fn deliver(
    client: reqwest::Client,
    config: Arc<WebhookConfig>,
    (domain, user): Key,
    delivery: Delivery,
) -> bool {
    let mut pause = config.backoff;
    let attempts = config.attempts.max(1);
    for attempt in 1..=attempts {
        let mut request = client.request(delivery.method.clone(), delivery.url.clone());
        if let Some(body) = &delivery.body {
            request = request.json(body);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(%domain, %user, method = %delivery.method, "webhook delivered");
                return true;
            }
            Ok(response) => {
                let status = response.status();
                tracing::debug!(%domain, %user, %status, attempt, "webhook refused");
                // The control server understood and said no: asking again will not help,
                // except for the statuses that mean "later".
                let retry = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                if !retry {
                    return false;
                }
            }
            Err(e) => tracing::debug!(%domain, %user, error = %e, attempt, "webhook failed"),
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
        let url = hook_url("http://127.0.0.1:9001", "example.com", "1003").expect("url");
        assert_eq!(url.as_str(), "http://127.0.0.1:9001/reg/example.com/1003");
        let url = hook_url("https://ctl.test/base/", "example.com", "a(b)").expect("url");
        assert_eq!(url.as_str(), "https://ctl.test/base/reg/example.com/a(b)");
        assert!(hook_url("ftp://ctl.test", "example.com", "1").is_none());
        assert!(hook_url("not a url", "example.com", "1").is_none());
    }
}
