//! The storage traits the PBX owns (DESIGN.md section 3.5). `store` implements them on
//! embedded SQLite (the default) and later PostgreSQL; one conformance suite checks every
//! backend.

use std::future::Future;

use crate::cdr::{Cdr, CdrPage, CdrQuery};
use crate::directory::{Domain, User};
use crate::location::{Binding, UserBindings};

/// A storage failure. Backend errors are carried as text: callers log them and answer 500 or
/// retry, they never branch on the backend's own codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (I/O, constraint, connection...).
    #[error("storage backend: {0}")]
    Backend(String),
    /// Stored data that cannot be read back (a corrupt row, an unknown enum value).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// Everything loaded at start-up.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every domain with its users.
    pub domains: Vec<(Domain, Vec<User>)>,
    /// Every binding saved by the last checkpoint.
    pub bindings: Vec<Binding>,
}

/// Durable storage for the directory, the location service and call detail records.
///
/// Every method is one transaction: it happens whole or not at all.
pub trait Store: Send + Sync + 'static {
    /// Reads the whole directory and every saved binding.
    fn load(&self) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;

    /// Creates or replaces a domain. `users`: `Some` replaces its user list (and drops the
    /// bindings of users no longer listed), `None` keeps its users. `Ok(true)` when created.
    fn put_domain(
        &self,
        domain: &Domain,
        users: Option<&[User]>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes a domain, its users and their bindings. `Ok(true)` when it existed. Its CDRs
    /// stay: billing data outlives the account (and a domain made again under the same name
    /// sees them).
    fn delete_domain(&self, name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Creates or replaces a user. `Ok(None)` when the domain does not exist, `Ok(Some(true))`
    /// when the user was created.
    fn put_user(
        &self,
        domain: &str,
        user: &User,
    ) -> impl Future<Output = Result<Option<bool>, StoreError>> + Send;

    /// Removes a user and its bindings. `Ok(true)` when it existed.
    fn delete_user(
        &self,
        domain: &str,
        user: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Checkpoints bindings: for each entry, the user's saved bindings become exactly
    /// `bindings`. All entries in one transaction.
    fn save_bindings(
        &self,
        changes: &[UserBindings],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores call detail records, all in one transaction (a group commit: the caller batches
    /// whatever has queued). Idempotent on `id`: a record whose id is stored already is left
    /// as it is (the first write wins), so a batch retried after an unclear failure never
    /// duplicates. Domains are stored lowercased, like the directory's.
    fn insert_cdrs(&self, cdrs: &[Cdr]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One page of a domain's CDRs: those matching `query`, ordered by `(start, id)`, after
    /// `query.after`, at most `query.page_size()` of them, and the cursor of the next page
    /// when there may be one. Never returns another domain's records.
    fn query_cdrs(
        &self,
        query: &CdrQuery,
    ) -> impl Future<Output = Result<CdrPage, StoreError>> + Send;

    /// The UTC days on which calls of `domain` started (Unix day numbers: `start / 86400`),
    /// ascending, each once; with `user`, only days with a call from or to that user. The 9P
    /// tree lists its `cdr/<YYYY_MM_DD>/` directories from it.
    fn cdr_days(
        &self,
        domain: &str,
        user: Option<&str>,
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send;
}
