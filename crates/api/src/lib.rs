//! switchboard's HTTP API (DESIGN.md section 7, kept compatible with seed 001's "mediaswitch"
//! directory and registration interfaces), and the webhooks it sends to each domain's
//! `control` URL.
//!
//! The binary builds an [`Api`] over the PBX's shared [`pbx::State`], its [`pbx::Store`] and
//! its [`pbx::Metrics`], turns it into an axum [`Router`] with [`router`], and runs it with
//! [`serve`] next to SIP. Registration events go to the webhooks ([`spawn_webhooks_with_calls`])
//! through a bounded channel; call events go to [`spawn_call_events`], which commits their
//! CDRs and then hands them to the same webhooks.
//!
//! | method and path | answer |
//! |---|---|
//! | `PUT /dir/{domain}` | 201 created / 200 replaced, the domain entry |
//! | `PUT`, `PATCH /dir/{domain}/{user}` | 201 created / 200 replaced; 404 unknown domain |
//! | `GET /dir/{domain}` | the domain entry, never secrets |
//! | `DELETE /dir/{domain}`, `DELETE /dir/{domain}/{user}` | 204 / 404 |
//! | `GET /reg` | `{"count": N}`: users with at least one binding, over all domains |
//! | `GET /reg/{domain}`, `GET /reg/{domain}/{user}` | the seed's registration view |
//! | `GET /cdr/{domain}` | `{"cdrs": [...], "next": cursor or null}`: a page of call records |
//! | `GET /call`, `GET /call/{id}` | live calls: state, times, codecs, relay ports |
//! | `POST /call/{id}/hangup` | 202: BYE both legs (or a final answer while it rings) |
//! | `GET /openapi.json`, `GET /metrics`, `GET /healthz` | the API document, Prometheus text, liveness |
//!
//! Every error is JSON, `{"error": "..."}`, whatever went wrong (bad JSON, a body over
//! [`BODY_LIMIT`], an unknown path, a missing token). The API is guarded by a bearer token
//! when one is set; [`token_required`] tells the binary when it must insist on one.

#![warn(missing_docs)]

mod auth;
mod body;
mod call_events;
mod calls;
mod cdrs;
mod directory;
mod error;
mod registrations;
mod webhooks;
mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use pbx::calls::{Command, LiveCalls};
use pbx::{Metrics, State, Store};
use tower_http::trace::TraceLayer;

pub use call_events::{CALL_EVENT_CHANNEL, CallEventsConfig, spawn_call_events};
pub use error::ApiError;
pub use webhooks::{
    CALL_HOOK_CHANNEL, WEBHOOK_CHANNEL, WebhookConfig, WebhookError, spawn_webhooks,
    spawn_webhooks_with_calls,
};
pub use writer::DirectoryWriter;

/// The largest request body accepted: DESIGN.md section 15 asks for at least 1 MiB; beyond this
/// a request gets 413.
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The environment variable that carries the bearer token (DESIGN.md section 15).
pub const TOKEN_ENV: &str = "SWITCHBOARD_API_TOKEN";

/// The hand-written OpenAPI 3.0 document served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What the HTTP API works on: the PBX's shared state, its store and its counters, and the
/// bearer token, if any.
pub struct Api<S: Store> {
    state: Arc<State>,
    store: Arc<S>,
    metrics: Arc<Metrics>,
    token: Option<String>,
    /// Directory writes, shared with the 9P tree.
    writer: DirectoryWriter<S>,
    /// The live calls, as the call manager publishes them.
    live: LiveCalls,
    /// Commands to the call manager; `None` when no call manager runs.
    commands: Option<tokio::sync::mpsc::Sender<Command>>,
}

impl<S: Store> Api<S> {
    /// An API over `state`, `store` and `metrics`. With `token` set (the binary reads
    /// [`TOKEN_ENV`]), every endpoint but `/healthz` requires `Authorization: Bearer <token>`;
    /// an empty token counts as none.
    pub fn new(
        state: Arc<State>,
        store: Arc<S>,
        metrics: Arc<Metrics>,
        token: Option<String>,
    ) -> Self {
        Self {
            writer: DirectoryWriter::new(Arc::clone(&store), Arc::clone(&state)),
            state,
            store,
            metrics,
            token: token.filter(|t| !t.is_empty()),
            live: LiveCalls::default(),
            commands: None,
        }
    }

    /// Serves the call manager's live calls (`GET /call`) and hands it hang-ups.
    pub fn with_calls(
        mut self,
        live: LiveCalls,
        commands: tokio::sync::mpsc::Sender<Command>,
    ) -> Self {
        self.live = live;
        self.commands = Some(commands);
        self
    }

    /// Sends the webhooks an `Unregistered` event for each user whose bindings a directory
    /// write drops (see [`DirectoryWriter::with_events`]).
    #[must_use]
    pub fn with_reg_events(mut self, events: tokio::sync::mpsc::Sender<pbx::RegEvent>) -> Self {
        self.writer = self.writer.with_events(events, Arc::clone(&self.metrics));
        self
    }

    /// The directory writer this API uses, for the other views of the directory (the 9P
    /// tree), so that all writes are serialized together.
    pub fn directory_writer(&self) -> DirectoryWriter<S> {
        self.writer.clone()
    }
}

// By hand: a derive would require `S: Clone`, and the store is shared through its `Arc`.
impl<S: Store> Clone for Api<S> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            store: Arc::clone(&self.store),
            metrics: Arc::clone(&self.metrics),
            token: self.token.clone(),
            writer: self.writer.clone(),
            live: Arc::clone(&self.live),
            commands: self.commands.clone(),
        }
    }
}

/// True when an API listening on `listen` must be protected by a token: anything but a
/// loopback address. The binary refuses to start when this is true and [`TOKEN_ENV`] is unset
/// or empty (DESIGN.md section 7: "protected by a token when it listens beyond loopback").
pub fn token_required(listen: SocketAddr) -> bool {
    !listen.ip().is_loopback()
}

/// Installs rustls's `ring` provider as the process default, unless a default is installed
/// already (DESIGN.md section 14: `ring` only; two providers linked would panic at run time).
/// reqwest built with `rustls-no-provider` panics when it builds a client without one, so call
/// this before building any HTTP client; [`spawn_webhooks`] calls it itself. Idempotent.
pub fn install_crypto_provider() {
    // An error only says that a provider is installed already, which is what we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The API's routes: every endpoint of the module documentation, with the token check, the
/// body limit and JSON errors for unknown paths and methods.
pub fn router<S: Store>(api: Api<S>) -> Router {
    let guarded = Router::new()
        .route(
            "/dir/{domain}",
            get(directory::get_domain::<S>)
                .put(directory::put_domain::<S>)
                .delete(directory::delete_domain::<S>),
        )
        .route(
            "/dir/{domain}/{user}",
            axum::routing::put(directory::put_user::<S>)
                .patch(directory::put_user::<S>)
                .delete(directory::delete_user::<S>),
        )
        .route("/reg", get(registrations::count::<S>))
        // The seed writes `GET /reg/` too.
        .route("/reg/", get(registrations::count::<S>))
        .route("/reg/{domain}", get(registrations::domain::<S>))
        .route("/reg/{domain}/{user}", get(registrations::user::<S>))
        .route("/cdr/{domain}", get(cdrs::list::<S>))
        .route("/call", get(calls::list::<S>))
        .route("/call/{id}", get(calls::get::<S>))
        .route("/call/{id}/hangup", axum::routing::post(calls::hangup::<S>))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics::<S>))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            auth::require_token::<S>,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(guarded)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TraceLayer::new_for_http())
        .with_state(api)
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// for the requests in progress to finish (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn metrics<S: Store>(
    axum::extract::State(api): axum::extract::State<Api<S>>,
) -> impl IntoResponse {
    let registrations = api
        .state
        .location
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .len();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        api.metrics.render(registrations),
    )
}

async fn not_found() -> ApiError {
    ApiError::NoSuchPath
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
