//! The call-event writer: stores every call's CDR and passes call events on to the webhooks,
//! a hung-up event only once its CDR is committed (DESIGN.md section 15: "CDRs are committed
//! (group commit allowed) before the call's hang-up event is sent").
//!
//! ```text
//! endpoint ──try_send──> [events, bounded] ──> writer ──insert_cdrs──> Store
//!                                                 └──send──> [hooks, bounded] ──> webhooks
//! ```
//!
//! **The hand-over contract.** The endpoint gives each [`CallEvent`] to the `events` channel
//! with `try_send`, so that SIP never waits on the database. A refused event (the channel is
//! full because the store is slow or down) is not dropped: the endpoint keeps it, in order,
//! and offers it again later (on its next tick, before any newer event), so that no CDR is
//! ever lost and a call's events stay in order. The writer reads the channel as long as it
//! holds fewer than [`CallEventsConfig::max_pending`] uncommitted CDRs.
//!
//! **Group commit.** The CDRs of all `HungUp` events queued when a commit starts go into one
//! transaction ([`Store::insert_cdrs`], idempotent on the call id); those that arrive during
//! a commit go into the next. A failed commit is retried with backoff, for ever while the
//! PBX runs, and logged at `error` each time: a CDR is never dropped.
//!
//! **Order.** `New`, `Ringing` and `Answered` go to the webhooks at once, except that no event
//! overtakes an earlier event of the same call: one that arrives while its call's `HungUp` is
//! waiting for its commit (which a correct call manager never sends) waits behind it.
//!
//! **Shutdown.** When every sender of `events` is dropped, the writer commits everything it
//! holds and ends; its task returns the CDRs it could not commit (none, unless the store
//! still failed [`CallEventsConfig::shutdown_grace`] after the input closed), which the binary
//! should save elsewhere and log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pbx::{CallEvent, Cdr, Store, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A capacity that suits the channel from the endpoint task to [`spawn_call_events`]: a few
/// seconds of events at a high call rate.
pub const CALL_EVENT_CHANNEL: usize = 4096;

/// How the writer commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEventsConfig {
    /// The pause after the first failed commit; it doubles after each further failure.
    pub retry_backoff: Duration,
    /// The longest pause between retries.
    pub retry_backoff_max: Duration,
    /// Uncommitted CDRs held at most; beyond this the writer stops reading its channel (which
    /// then fills, and the endpoint keeps what it cannot hand over).
    pub max_pending: usize,
    /// After the input closes, how long commits are retried before the writer gives up and
    /// returns what it could not commit.
    pub shutdown_grace: Duration,
}

impl Default for CallEventsConfig {
    fn default() -> Self {
        Self {
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(5),
            max_pending: 100_000,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Starts the call-event writer on the current Tokio runtime (it must be called from within
/// one): it reads `events` (see the module documentation for the contract), commits CDRs to
/// `store`, and sends every event on to `hooks` (the `calls` end of
/// [`spawn_webhooks_with_calls`](crate::spawn_webhooks_with_calls); a sender whose receiver is
/// gone is fine when webhooks are not wanted). The task ends once every sender of `events` is
/// dropped and everything is committed, and returns the CDRs it could not commit (empty
/// unless the store was failing at shutdown).
pub fn spawn_call_events<S: Store>(
    store: Arc<S>,
    events: mpsc::Receiver<CallEvent>,
    hooks: mpsc::Sender<CallEvent>,
    config: CallEventsConfig,
) -> JoinHandle<Vec<Cdr>> {
    let writer = Writer {
        store,
        hooks,
        backoff: config.retry_backoff,
        config,
        queued: Vec::new(),
        held: HashMap::new(),
    };
    tokio::spawn(writer.run(events))
}

/// A commit in progress: its records (kept here, so that a commit task that panics loses
/// nothing) and its task.
struct Commit {
    batch: Arc<Vec<Cdr>>,
    task: JoinHandle<Result<(), StoreError>>,
}

struct Writer<S> {
    store: Arc<S>,
    hooks: mpsc::Sender<CallEvent>,
    config: CallEventsConfig,
    /// The pause before the next retry.
    backoff: Duration,
    /// CDRs waiting for the next commit, in arrival order.
    queued: Vec<Cdr>,
    /// Per call whose CDR is not committed yet: its `HungUp` and anything that came after it,
    /// in order, sent once the CDR is committed.
    held: HashMap<String, Vec<CallEvent>>,
}

impl<S: Store> Writer<S> {
    async fn run(mut self, mut events: mpsc::Receiver<CallEvent>) -> Vec<Cdr> {
        let mut open = true;
        let mut closed_at: Option<Instant> = None;
        let mut commit: Option<Commit> = None;
        let mut retry_at: Option<Instant> = None;
        loop {
            if commit.is_none() && retry_at.is_none() && !self.queued.is_empty() {
                // Group commit: everything already queued goes into this transaction.
                while open && self.queued.len() < self.config.max_pending.max(1) {
                    match events.try_recv() {
                        Ok(event) => self.handle_event(event).await,
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            open = false;
                            closed_at = Some(Instant::now());
                        }
                    }
                }
                commit = Some(self.start_commit());
            }
            if !open && commit.is_none() && self.queued.is_empty() {
                break;
            }
            let pending = self.queued.len() + commit.as_ref().map_or(0, |c| c.batch.len());
            // At least one, or nothing would ever be read.
            let reading = open && pending < self.config.max_pending.max(1);
            tokio::select! {
                event = events.recv(), if reading => match event {
                    Some(event) => self.handle_event(event).await,
                    None => {
                        open = false;
                        closed_at = Some(Instant::now());
                    }
                },
                done = async {
                    match commit.as_mut() {
                        Some(c) => (&mut c.task).await,
                        None => std::future::pending().await,
                    }
                }, if commit.is_some() => {
                    let Some(Commit { batch, .. }) = commit.take() else {
                        continue;
                    };
                    let result = done.unwrap_or_else(|e| {
                        Err(StoreError::Backend(format!("commit task failed: {e}")))
                    });
                    match result {
                        Ok(()) => self.committed(&batch).await,
                        Err(e) => {
                            let failed = batch.len();
                            // Back to the head of the queue, ahead of what came since.
                            let mut again = Arc::unwrap_or_clone(batch);
                            again.append(&mut self.queued);
                            self.queued = again;
                            if let Some(closed) = closed_at
                                && closed.elapsed() >= self.config.shutdown_grace
                            {
                                tracing::error!(
                                    error = %e,
                                    unwritten = self.queued.len(),
                                    "CDR commit failed at shutdown: giving up, returning the \
                                     CDRs to the caller"
                                );
                                return std::mem::take(&mut self.queued);
                            }
                            tracing::error!(
                                error = %e,
                                failed,
                                pending = self.queued.len(),
                                retry_in_ms = self.backoff.as_millis() as u64,
                                "CDR commit failed; retrying (no CDR is dropped)"
                            );
                            retry_at = Some(Instant::now() + self.backoff);
                            self.backoff = self
                                .backoff
                                .saturating_mul(2)
                                .min(self.config.retry_backoff_max);
                        }
                    }
                },
                () = async {
                    match retry_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                }, if retry_at.is_some() => retry_at = None,
            }
        }
        tracing::debug!("call-event writer done");
        Vec::new()
    }

    async fn handle_event(&mut self, event: CallEvent) {
        if let CallEvent::HungUp(cdr) = &event {
            self.queued.push(cdr.clone());
            self.held.entry(cdr.id.clone()).or_default().push(event);
        } else if let Some(behind) = self.held.get_mut(event.id()) {
            behind.push(event);
        } else {
            self.hook(event).await;
        }
    }

    fn start_commit(&mut self) -> Commit {
        let batch = Arc::new(std::mem::take(&mut self.queued));
        let store = Arc::clone(&self.store);
        let records = Arc::clone(&batch);
        let task = tokio::spawn(async move { store.insert_cdrs(&records).await });
        Commit { batch, task }
    }

    /// The batch is in the store: its calls' events go out.
    async fn committed(&mut self, batch: &[Cdr]) {
        self.backoff = self.config.retry_backoff;
        tracing::debug!(cdrs = batch.len(), "CDRs committed");
        for cdr in batch {
            if let Some(events) = self.held.remove(&cdr.id) {
                for event in events {
                    self.hook(event).await;
                }
            }
        }
    }

    /// Hands an event to the webhook dispatcher. It reads its channel without ever waiting
    /// on the network, so this waits only briefly even when control servers are dead.
    async fn hook(&self, event: CallEvent) {
        if self.hooks.send(event).await.is_err() {
            tracing::trace!("no webhook dispatcher: call event not delivered");
        }
    }
}
