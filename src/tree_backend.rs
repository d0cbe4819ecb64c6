//! The 9P tree's bridge to the store and the call manager ([`pbx::tree::Backend`]).
//!
//! The tree is synchronous (its 9P session is sans-IO); the store is async. Each call runs the
//! store's future to completion on the calling thread: a 9P connection's own thread (see
//! `net::ninep`), or, wrapped in `block_in_place`, a runtime worker that tokio replaces for
//! the other tasks meanwhile. Directory writes go through the same
//! [`api::DirectoryWriter`] as the HTTP API, so the two views change the directory in one
//! order and each sees the other's changes at once.

use std::sync::Arc;

use ninep::FsError;
use pbx::calls::Command;
use pbx::{CdrPage, CdrQuery, Domain, Store, StoreError, User};

/// The real clock and a generator seeded from the OS, for the tree ([`pbx::tree::Env`]).
pub struct SystemEnv {
    rng: std::sync::Mutex<rand::rngs::StdRng>,
}

impl Default for SystemEnv {
    fn default() -> Self {
        use rand::SeedableRng;
        Self {
            rng: std::sync::Mutex::new(rand::rngs::StdRng::from_os_rng()),
        }
    }
}

impl pbx::tree::Env for SystemEnv {
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
    fn unix(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
    fn random(&self) -> [u8; 16] {
        use rand::RngCore;
        let mut b = [0u8; 16];
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill_bytes(&mut b);
        b
    }
}

/// How long a command waits for the call manager's answer.
const COMMAND_ANSWER: std::time::Duration = std::time::Duration::from_secs(5);

/// The binary's [`pbx::tree::Backend`].
pub struct StoreBackend<S: Store> {
    pub writer: api::DirectoryWriter<S>,
    pub store: Arc<S>,
    pub commands: tokio::sync::mpsc::Sender<Command>,
    pub runtime: tokio::runtime::Handle,
}

impl<S: Store> StoreBackend<S> {
    fn block<T>(&self, fut: impl Future<Output = Result<T, StoreError>>) -> Result<T, FsError> {
        tokio::task::block_in_place(|| self.runtime.block_on(fut)).map_err(|e| {
            tracing::warn!(error = %e, "store refused a 9P request");
            FsError::Io
        })
    }
}

impl<S: Store> pbx::tree::Backend for StoreBackend<S> {
    fn create_domain(&self, domain: Domain) -> Result<(), FsError> {
        if self.block(self.writer.create_domain(domain))? {
            Ok(())
        } else {
            Err(FsError::Exists)
        }
    }

    fn delete_domain(&self, name: &str) -> Result<(), FsError> {
        if self.block(self.writer.delete_domain(name))? {
            Ok(())
        } else {
            Err(FsError::NotFound)
        }
    }

    fn create_user(&self, domain: &str, user: User) -> Result<(), FsError> {
        match self.block(self.writer.create_user(domain, user))? {
            Some(true) => Ok(()),
            Some(false) => Err(FsError::Exists),
            None => Err(FsError::NotFound),
        }
    }

    fn replace_user(&self, domain: &str, user: User) -> Result<(), FsError> {
        match self.block(self.writer.replace_user(domain, user))? {
            Some(true) => Ok(()),
            Some(false) | None => Err(FsError::NotFound),
        }
    }

    fn delete_user(&self, domain: &str, user: &str) -> Result<(), FsError> {
        if self.block(self.writer.delete_user(domain, user))? {
            Ok(())
        } else {
            Err(FsError::NotFound)
        }
    }

    fn cdr_days(&self, domain: &str, user: Option<&str>) -> Result<Vec<u64>, FsError> {
        self.block(self.store.cdr_days(domain, user))
    }

    fn cdrs(&self, query: &CdrQuery) -> Result<CdrPage, FsError> {
        self.block(self.store.query_cdrs(query))
    }

    fn request(
        &self,
        command: Command,
        answer: std::sync::mpsc::Receiver<Result<(), String>>,
    ) -> Result<(), String> {
        self.command(command).map_err(|e| e.as_str().to_owned())?;
        // The call manager answers at once (a dial at admission, before any phone rings). The
        // wait blocks this thread only (`block_in_place` if it is a runtime worker), so the
        // endpoint's task is free to answer.
        match tokio::task::block_in_place(|| answer.recv_timeout(COMMAND_ANSWER)) {
            Ok(outcome) => outcome,
            Err(_) => Err("the call manager did not answer".to_owned()),
        }
    }

    fn command(&self, command: Command) -> Result<(), FsError> {
        // The call manager takes commands from a bounded queue: full means busy, not a wait.
        self.commands
            .try_send(command)
            .map_err(|_| FsError::other("call manager busy: try again"))
    }
}
