//! Directory writes shared by the HTTP API and the 9P tree (DESIGN.md section 3: "two views of
//! the same store: a user added through one is seen by the other at once").
//!
//! Each write goes to the store first and to the in-memory directory after, so a failed store
//! write changes nothing, and writes are serialized, so that the store and the in-memory
//! directory see them in the same order (two PUTs of one domain racing could otherwise land in
//! the store in one order and in memory in the other). The store has a single writer anyway,
//! so this costs no throughput.

use std::collections::HashSet;
use std::sync::Arc;

use pbx::{Domain, Metrics, RegEvent, State, Store, StoreError, User};
use tokio::sync::mpsc;

/// Writes domains and users through the store into the shared [`State`].
pub struct DirectoryWriter<S: Store> {
    store: Arc<S>,
    state: Arc<State>,
    writes: Arc<tokio::sync::Mutex<()>>,
    /// Where the `Unregistered` events of users whose bindings a write drops go (the
    /// webhooks), and the metrics that count the ones the full queue refused. Weak, so
    /// that the webhooks still end when the SIP endpoint, their owner, drops its sender.
    events: Option<(mpsc::WeakSender<RegEvent>, Arc<Metrics>)>,
}

// By hand: a derive would require `S: Clone`.
impl<S: Store> Clone for DirectoryWriter<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            state: Arc::clone(&self.state),
            writes: Arc::clone(&self.writes),
            events: self.events.clone(),
        }
    }
}

impl<S: Store> DirectoryWriter<S> {
    /// A writer over `store` and `state`. Clones share one write lock.
    pub fn new(store: Arc<S>, state: Arc<State>) -> Self {
        Self {
            store,
            state,
            writes: Arc::new(tokio::sync::Mutex::new(())),
            events: None,
        }
    }

    /// Sends an `Unregistered` event for each user whose last binding a write drops (a user
    /// deleted, or left out of a domain's new user list), as the registrar does when a
    /// user's last binding goes, so that the control server's `DELETE /reg/...` fires. The
    /// queue is the webhooks' bounded one: when it is full the event is dropped and counted
    /// in `switchboard_webhooks_dropped_total`, like the registrar's.
    #[must_use]
    pub fn with_events(mut self, events: mpsc::Sender<RegEvent>, metrics: Arc<Metrics>) -> Self {
        self.events = Some((events.downgrade(), metrics));
        self
    }

    /// Creates or replaces a domain; true when it was new. `users`: `Some` replaces the user
    /// list (the bindings of users no longer listed go), `None` keeps the users.
    pub async fn put_domain(
        &self,
        domain: Domain,
        users: Option<Vec<User>>,
    ) -> Result<bool, StoreError> {
        let _writes = self.writes.lock().await;
        let created = self.store.put_domain(&domain, users.as_deref()).await?;
        let listed: Option<HashSet<String>> = users
            .as_ref()
            .map(|list| list.iter().map(|u| u.name.clone()).collect());
        let name = domain.name.clone();
        self.state
            .directory
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .put_domain(domain, users);
        if let Some(listed) = listed {
            self.drop_bindings(&name, |user| listed.contains(user));
        }
        tracing::info!(domain = %name, created, "domain put");
        Ok(created)
    }

    /// Creates a domain unless one of that name exists; true when it was created. Unlike
    /// [`put_domain`](Self::put_domain), never replaces.
    pub async fn create_domain(&self, domain: Domain) -> Result<bool, StoreError> {
        let _writes = self.writes.lock().await;
        let exists = self.state.read_directory().domain(&domain.name).is_some();
        if exists {
            return Ok(false);
        }
        self.store.put_domain(&domain, None).await?;
        let name = domain.name.clone();
        self.state
            .directory
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .put_domain(domain, None);
        tracing::info!(domain = %name, "domain created");
        Ok(true)
    }

    /// Creates a user unless one of that name exists: `None` when the domain does not exist,
    /// else true when it was created. Unlike [`put_user`](Self::put_user), never replaces.
    pub async fn create_user(&self, domain: &str, user: User) -> Result<Option<bool>, StoreError> {
        self.write_user(domain, user, false).await
    }

    /// Replaces an existing user (a new secret): `None` when the domain does not exist, else
    /// true when the user existed and was replaced. Unlike [`put_user`](Self::put_user), never
    /// creates, so a secret written as the user is deleted does not bring it back.
    pub async fn replace_user(&self, domain: &str, user: User) -> Result<Option<bool>, StoreError> {
        self.write_user(domain, user, true).await
    }

    /// Writes `user` only if its existence is `existing`.
    async fn write_user(
        &self,
        domain: &str,
        user: User,
        existing: bool,
    ) -> Result<Option<bool>, StoreError> {
        let _writes = self.writes.lock().await;
        let exists = self
            .state
            .read_directory()
            .domain(domain)
            .map(|d| d.users.contains_key(&user.name));
        match exists {
            None => return Ok(None),
            Some(e) if e != existing => return Ok(Some(false)),
            Some(_) => {}
        }
        if self.store.put_user(domain, &user).await?.is_none() {
            return Ok(None);
        }
        let name = user.name.clone();
        self.state
            .directory
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .put_user(domain, user);
        tracing::info!(domain = %domain, user = %name, existing, "user written");
        Ok(Some(true))
    }

    /// Deletes a domain, its users and their bindings; false when there was none.
    pub async fn delete_domain(&self, name: &str) -> Result<bool, StoreError> {
        let _writes = self.writes.lock().await;
        if !self.store.delete_domain(name).await? {
            return Ok(false);
        }
        self.state
            .directory
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove_domain(name);
        self.drop_bindings(name, |_| false);
        tracing::info!(domain = %name, "domain deleted");
        Ok(true)
    }

    /// Creates or replaces a user: `None` when the domain does not exist, else true when the
    /// user was new.
    pub async fn put_user(&self, domain: &str, user: User) -> Result<Option<bool>, StoreError> {
        let _writes = self.writes.lock().await;
        let Some(created) = self.store.put_user(domain, &user).await? else {
            return Ok(None);
        };
        let name = user.name.clone();
        self.state
            .directory
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .put_user(domain, user);
        tracing::info!(domain = %domain, user = %name, created, "user put");
        Ok(Some(created))
    }

    /// Deletes a user and its bindings; false when there was none.
    pub async fn delete_user(&self, domain: &str, user: &str) -> Result<bool, StoreError> {
        let _writes = self.writes.lock().await;
        if !self.store.delete_user(domain, user).await? {
            return Ok(false);
        }
        self.state
            .directory
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove_user(domain, user);
        self.drop_bindings(domain, |u| u != user);
        tracing::info!(domain = %domain, user = %user, "user deleted");
        Ok(true)
    }

    /// Drops the in-memory bindings of the users of `domain` that `keep` refuses. The store
    /// drops its own rows of them in the same transaction as the directory change.
    fn drop_bindings(&self, domain: &str, keep: impl Fn(&str) -> bool) {
        let mut location = self
            .state
            .location
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let gone: Vec<String> = location
            .users_of(domain)
            .filter(|(user, _)| !keep(user))
            .map(|(user, _)| user.to_owned())
            .collect();
        for user in gone {
            location.set(domain, &user, Vec::new());
            if let Some((events, metrics)) = &self.events {
                let event = RegEvent::Unregistered {
                    domain: domain.to_owned(),
                    user,
                };
                // No sender left: the PBX is shutting down and the webhooks are done.
                let Some(events) = events.upgrade() else {
                    continue;
                };
                if events.try_send(event).is_err() {
                    Metrics::inc(&metrics.webhook_dropped);
                }
            }
        }
    }
}
