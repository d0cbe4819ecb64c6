//! The storage conformance suite against [`SqliteStore`], on a file in a temporary directory
//! (so that reopening is checked too), and once through `run_all` in memory.

use pbx::StoreError;
use store::SqliteStore;
use store::conformance::{self, Harness};
use tempfile::TempDir;

/// A fresh data directory; each `open` opens the database in it.
struct SqliteDir {
    dir: TempDir,
}

impl Harness for SqliteDir {
    type Store = SqliteStore;

    async fn open(&self) -> Result<SqliteStore, StoreError> {
        SqliteStore::open(self.dir.path()).await
    }

    async fn close(&self, store: SqliteStore) {
        store.close().await;
    }
}

async fn sqlite_dir() -> SqliteDir {
    SqliteDir {
        dir: tempfile::tempdir().expect("temporary directory"),
    }
}

store::conformance_tests!(sqlite_dir);

/// An in-memory database per `open`: nothing persists.
struct InMemory;

impl Harness for InMemory {
    type Store = SqliteStore;
    const PERSISTENT: bool = false;

    async fn open(&self) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_in_memory().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_passes_the_suite() {
    if let Err(failures) = conformance::run_all(|| async { InMemory }).await {
        let text: Vec<String> = failures.iter().map(ToString::to_string).collect();
        panic!("{}", text.join("\n"));
    }
}
