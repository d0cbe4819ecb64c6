//! [`SqliteStore`]: the pbx [`Store`] on an embedded SQLite database, the default backend of a
//! single node (DESIGN.md section 11).
//!
//! SQLite has one writer at a time. Rather than letting several connections race for the
//! write lock and spin in the busy handler, every write goes through a pool of one connection
//! (callers queue on the pool, in order); reads (`load`) use a separate small pool, which WAL
//! lets run beside the writer.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use pbx::{Binding, Domain, Flow, Snapshot, Store, StoreError, User, UserBindings};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous, SqliteTransaction,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::codec::{self, sqlx_error};
use crate::migrations;

/// The database file inside the data directory.
pub const DB_FILE: &str = "switchboard.db";

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the read pool; the write pool has one.
const READERS: u32 = 3;

/// Rows (or users) per statement of a checkpoint, largest first: as many statements of the
/// largest size as fit, then of the next size, and so on (see [`sized_chunks`]). Each size is
/// one statement in the connection's cache, so none is prepared again at the next checkpoint,
/// and the cache stays small: a cached multi-row statement holds compiled SQLite program in
/// proportion to its rows (with one statement per remainder size, up to 500 rows, the cache
/// held about 3 MB after 10,000 registrations, a third of the memory they took).
const CHUNK_SIZES: [usize; 4] = [64, 16, 4, 1];

/// `items` cut into runs of the [`CHUNK_SIZES`], largest first.
fn sized_chunks<T>(mut rest: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNK_SIZES.into_iter().find(|&n| n <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// Deletes the saved bindings of `users` (domain, user), one statement per chunk: each
/// `(domain = ? AND user_name = ?)` term of the OR is an index search (SQLite's multi-index
/// OR), where a row-value `IN (VALUES ...)` would scan the table.
async fn delete_bindings_of(
    tx: &mut SqliteTransaction<'static>,
    users: &[(&str, &str)],
) -> Result<(), StoreError> {
    for chunk in sized_chunks(users) {
        let mut q = QueryBuilder::<Sqlite>::new("DELETE FROM bindings WHERE ");
        let mut terms = q.separated(" OR ");
        for (domain, user) in chunk {
            terms.push("(domain = ");
            terms.push_bind_unseparated(*domain);
            terms.push_unseparated(" AND user_name = ");
            terms.push_bind_unseparated(*user);
            terms.push_unseparated(")");
        }
        q.build().execute(&mut **tx).await.map_err(sqlx_error)?;
    }
    Ok(())
}

/// Which of `users` (domain, user) the directory has, one statement per chunk.
async fn existing_users(
    tx: &mut SqliteTransaction<'static>,
    users: &[(&str, &str)],
) -> Result<HashSet<(String, String)>, StoreError> {
    let mut found = HashSet::with_capacity(users.len());
    for chunk in sized_chunks(users) {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT domain, name FROM users WHERE ");
        let mut terms = q.separated(" OR ");
        for (domain, user) in chunk {
            terms.push("(domain = ");
            terms.push_bind_unseparated(*domain);
            terms.push_unseparated(" AND name = ");
            terms.push_bind_unseparated(*user);
            terms.push_unseparated(")");
        }
        let rows = q.build().fetch_all(&mut **tx).await.map_err(sqlx_error)?;
        for row in &rows {
            found.insert((
                row.try_get("domain").map_err(sqlx_error)?,
                row.try_get("name").map_err(sqlx_error)?,
            ));
        }
    }
    Ok(found)
}

/// The pbx [`Store`] on embedded SQLite: one database file, WAL journal, `synchronous=NORMAL`
/// (a power cut may lose the last commits, never corrupt the file), foreign keys on.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: all writes, serialized.
    writer: SqlitePool,
    /// Reads; the same pool as `writer` for an in-memory database.
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) `data_dir` and the database `switchboard.db` in it, and
    /// brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Backend(format!(
                "creating data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // SQLite's default page cache is 2 MB per connection; the directory is read once
            // at start-up and bindings are only written, so a small cache loses nothing and
            // keeps the PBX's memory per registration down.
            .pragma("cache_size", "-512");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(sqlx_error)?;
        migrations::migrator()
            .run(&writer)
            .await
            .map_err(codec::migrate_error)?;
        // Opened after the migrations so that no reader ever sees an old schema.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_lazy_with(options);
        tracing::debug!(path = %data_dir.join(DB_FILE).display(), "sqlite store open");
        Ok(Self { writer, reader })
    }

    /// A store in memory, empty, gone when dropped: for tests.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(sqlx_error)?
            .foreign_keys(true);
        // Each in-memory connection is its own database: keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(sqlx_error)?;
        migrations::migrator()
            .run(&pool)
            .await
            .map_err(codec::migrate_error)?;
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
        })
    }

    /// Closes every connection, waiting for those in use to be returned. Later calls fail.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock at once: a transaction
    /// that reads first and then writes could otherwise fail with `SQLITE_BUSY` if another
    /// process wrote in between, which the busy timeout does not cover.
    async fn begin_write(&self) -> Result<SqliteTransaction<'static>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sqlx_error)
    }
}

/// Upserts one user of an existing domain. An upsert, never `INSERT OR REPLACE`: a replace
/// deletes the row first, and the cascade would take the user's bindings with it.
async fn upsert_user(
    tx: &mut SqliteTransaction<'static>,
    domain: &str,
    user: &User,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (domain, name, md5, sha256) VALUES (?, ?, ?, ?) \
         ON CONFLICT (domain, name) DO UPDATE SET md5 = excluded.md5, sha256 = excluded.sha256",
    )
    .bind(domain)
    .bind(&user.name)
    .bind(&user.secret.md5)
    .bind(&user.secret.sha256)
    .execute(&mut **tx)
    .await
    .map_err(sqlx_error)?;
    Ok(())
}

/// True when `domain` has a user `name`.
async fn user_exists(
    tx: &mut SqliteTransaction<'static>,
    domain: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 FROM users WHERE domain = ? AND name = ?")
        .bind(domain)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(sqlx_error)?;
    Ok(row.is_some())
}

/// One binding row ready to insert.
struct BindingRow<'a> {
    domain: &'a str,
    user: &'a str,
    position: i64,
    binding: &'a Binding,
}

/// Inserts rows with multi-row INSERTs of the [`CHUNK_SIZES`]: one statement per 64 rows
/// instead of one per row keeps a checkpoint of 10,000 bindings well under a second.
async fn insert_bindings(
    tx: &mut SqliteTransaction<'static>,
    rows: &[BindingRow<'_>],
) -> Result<(), StoreError> {
    for chunk in sized_chunks(rows) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO bindings (domain, user_name, contact, position, transport, remote_ip, \
             remote_port, agent, call_id, cseq, registered_at, expires_at, outstanding_pings) ",
        );
        q.push_values(chunk, |mut v, r| {
            let b = r.binding;
            v.push_bind(r.domain.to_owned())
                .push_bind(r.user.to_owned())
                .push_bind(b.contact.to_string())
                .push_bind(r.position)
                .push_bind(b.flow.transport.as_str().to_owned())
                .push_bind(b.flow.remote.ip().to_string())
                .push_bind(i64::from(b.flow.remote.port()))
                .push_bind(b.agent.to_string())
                .push_bind(b.call_id.to_string())
                .push_bind(i64::from(b.cseq))
                .push_bind(codec::seconds_to_column(b.registered_at))
                .push_bind(codec::seconds_to_column(b.expires_at))
                .push_bind(i64::from(b.outstanding_pings));
        });
        q.build().execute(&mut **tx).await.map_err(sqlx_error)?;
    }
    Ok(())
}

fn domain_from_row(row: &SqliteRow) -> Result<Domain, StoreError> {
    let name: String = row.try_get("name").map_err(sqlx_error)?;
    let digest: String = row.try_get("digest").map_err(sqlx_error)?;
    let admin = codec::admin_from_columns(
        &name,
        row.try_get("admin_md5").map_err(sqlx_error)?,
        row.try_get("admin_sha256").map_err(sqlx_error)?,
    )?;
    let latching: String = row.try_get("latching").map_err(sqlx_error)?;
    let latching = pbx::Latching::parse(&latching)
        .ok_or_else(|| StoreError::Corrupt(format!("domain {name}: latching {latching:?}")))?;
    Ok(Domain {
        control: row.try_get("control").map_err(sqlx_error)?,
        digest: codec::digest_from_column(&digest)?,
        admin,
        latching,
        name,
    })
}

fn binding_from_row(row: &SqliteRow) -> Result<Binding, StoreError> {
    let ip: String = row.try_get("remote_ip").map_err(sqlx_error)?;
    let port: i64 = row.try_get("remote_port").map_err(sqlx_error)?;
    let transport: String = row.try_get("transport").map_err(sqlx_error)?;
    let int = |col: &str| -> Result<i64, StoreError> { row.try_get(col).map_err(sqlx_error) };
    let text = |col: &str| -> Result<&str, StoreError> { row.try_get(col).map_err(sqlx_error) };
    Ok(Binding {
        domain: text("domain")?.into(),
        user: text("user_name")?.into(),
        contact: text("contact")?.into(),
        flow: Flow {
            transport: sip::Transport::parse(&transport),
            remote: SocketAddr::new(codec::ip_from_column(&ip)?, codec::port_from_column(port)?),
            // Connections do not survive a restart.
            conn: None,
        },
        agent: text("agent")?.into(),
        call_id: text("call_id")?.into(),
        cseq: codec::u32_from_column(int("cseq")?, "cseq")?,
        registered_at: codec::u64_from_column(int("registered_at")?, "registered_at")?,
        expires_at: codec::u64_from_column(int("expires_at")?, "expires_at")?,
        outstanding_pings: codec::u32_from_column(int("outstanding_pings")?, "outstanding_pings")?,
    })
}

impl Store for SqliteStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        // One read transaction: the three tables from the same snapshot.
        let mut tx = self.reader.begin().await.map_err(sqlx_error)?;
        let rows = sqlx::query(
            "SELECT name, control, digest, admin_md5, admin_sha256, latching FROM domains \
             ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(sqlx_error)?;
        let mut domains = Vec::with_capacity(rows.len());
        let mut index = HashMap::with_capacity(rows.len());
        for row in &rows {
            let domain = domain_from_row(row)?;
            index.insert(domain.name.clone(), domains.len());
            domains.push((domain, Vec::new()));
        }

        let rows = sqlx::query("SELECT domain, name, md5, sha256 FROM users ORDER BY domain, name")
            .fetch_all(&mut *tx)
            .await
            .map_err(sqlx_error)?;
        for row in &rows {
            let domain: String = row.try_get("domain").map_err(sqlx_error)?;
            let user = User {
                name: row.try_get("name").map_err(sqlx_error)?,
                secret: pbx::Secret {
                    md5: row.try_get("md5").map_err(sqlx_error)?,
                    sha256: row.try_get("sha256").map_err(sqlx_error)?,
                },
            };
            // The foreign key makes an orphan impossible unless the file was edited by hand.
            let (_, users) = index
                .get(&domain)
                .and_then(|&i| domains.get_mut(i))
                .ok_or_else(|| StoreError::Corrupt("a user of a missing domain".into()))?;
            users.push(user);
        }

        let rows = sqlx::query(
            "SELECT domain, user_name, contact, transport, remote_ip, remote_port, agent, \
             call_id, cseq, registered_at, expires_at, outstanding_pings FROM bindings \
             ORDER BY domain, user_name, position",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(sqlx_error)?;
        let bindings = rows
            .iter()
            .map(binding_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await.map_err(sqlx_error)?;
        Ok(Snapshot { domains, bindings })
    }

    async fn put_domain(
        &self,
        domain: &Domain,
        users: Option<&[User]>,
    ) -> Result<bool, StoreError> {
        let name = domain.name.to_ascii_lowercase();
        let mut tx = self.begin_write().await?;
        let existed = sqlx::query("SELECT 1 FROM domains WHERE name = ?")
            .bind(&name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sqlx_error)?
            .is_some();
        sqlx::query(
            "INSERT INTO domains (name, control, digest, admin_md5, admin_sha256, latching) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET control = excluded.control, \
             digest = excluded.digest, admin_md5 = excluded.admin_md5, \
             admin_sha256 = excluded.admin_sha256, latching = excluded.latching",
        )
        .bind(&name)
        .bind(domain.control.as_deref())
        .bind(codec::digest_to_column(&domain.digest))
        .bind(domain.admin.as_ref().map(|s| s.md5.as_str()))
        .bind(domain.admin.as_ref().map(|s| s.sha256.as_str()))
        .bind(domain.latching.as_str())
        .execute(&mut *tx)
        .await
        .map_err(sqlx_error)?;

        if let Some(users) = users {
            // Upsert the listed users (kept users keep their bindings), then delete the rest
            // (their bindings go by cascade).
            let listed: HashSet<&str> = users.iter().map(|u| u.name.as_str()).collect();
            if existed {
                let rows = sqlx::query("SELECT name FROM users WHERE domain = ?")
                    .bind(&name)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(sqlx_error)?;
                for row in &rows {
                    let old: String = row.try_get("name").map_err(sqlx_error)?;
                    if !listed.contains(old.as_str()) {
                        sqlx::query("DELETE FROM users WHERE domain = ? AND name = ?")
                            .bind(&name)
                            .bind(&old)
                            .execute(&mut *tx)
                            .await
                            .map_err(sqlx_error)?;
                    }
                }
            }
            for user in users {
                upsert_user(&mut tx, &name, user).await?;
            }
        }
        tx.commit().await.map_err(sqlx_error)?;
        Ok(!existed)
    }

    async fn delete_domain(&self, name: &str) -> Result<bool, StoreError> {
        // One statement is its own transaction; the cascade takes users and bindings.
        let done = sqlx::query("DELETE FROM domains WHERE name = ?")
            .bind(name.to_ascii_lowercase())
            .execute(&self.writer)
            .await
            .map_err(sqlx_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_user(&self, domain: &str, user: &User) -> Result<Option<bool>, StoreError> {
        let domain = domain.to_ascii_lowercase();
        let mut tx = self.begin_write().await?;
        let domain_exists = sqlx::query("SELECT 1 FROM domains WHERE name = ?")
            .bind(&domain)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sqlx_error)?
            .is_some();
        if !domain_exists {
            return Ok(None);
        }
        let existed = user_exists(&mut tx, &domain, &user.name).await?;
        upsert_user(&mut tx, &domain, user).await?;
        tx.commit().await.map_err(sqlx_error)?;
        Ok(Some(!existed))
    }

    async fn delete_user(&self, domain: &str, user: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE domain = ? AND name = ?")
            .bind(domain.to_ascii_lowercase())
            .bind(user)
            .execute(&self.writer)
            .await
            .map_err(sqlx_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn save_bindings(&self, changes: &[UserBindings]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        // Rows are keyed by the entry's domain and user; each binding's own copies of them
        // are not consulted. A user listed twice: the later entry wins, as if applied in order.
        let mut latest: HashMap<(String, &str), &UserBindings> = HashMap::new();
        for c in changes {
            latest.insert((c.domain.to_ascii_lowercase(), c.user.as_str()), c);
        }
        let mut tx = self.begin_write().await?;
        // A few statements per 64 users rather than two per user: at 2,000 registrations/s
        // the checkpoint was a quarter of the PBX's instructions (callgrind).
        let users: Vec<(&str, &str)> = latest.keys().map(|(d, u)| (d.as_str(), *u)).collect();
        delete_bindings_of(&mut tx, &users).await?;
        let listed: Vec<(&str, &str)> = latest
            .iter()
            .filter(|(_, change)| !change.bindings.is_empty())
            .map(|((d, u), _)| (d.as_str(), *u))
            .collect();
        let existing = existing_users(&mut tx, &listed).await?;
        let mut rows = Vec::new();
        let mut skipped = 0_usize;
        for ((domain, user), change) in &latest {
            if change.bindings.is_empty() {
                continue;
            }
            // The user may have been deleted since the registrar saw it: its bindings are
            // dropped, the rest of the checkpoint still commits.
            if !existing.contains(&(domain.clone(), (*user).to_owned())) {
                skipped += 1;
                continue;
            }
            // A contact listed twice: the later entry wins (a duplicate must not fail every
            // checkpoint from now on).
            let mut seen = HashSet::new();
            let start = rows.len();
            for b in change.bindings.iter().rev() {
                if seen.insert(&*b.contact) {
                    rows.push(BindingRow {
                        domain,
                        user,
                        position: 0,
                        binding: b,
                    });
                }
            }
            let mine = rows.get_mut(start..).unwrap_or_default();
            mine.reverse();
            for (i, r) in mine.iter_mut().enumerate() {
                r.position = i64::try_from(i).unwrap_or(i64::MAX);
            }
        }
        insert_bindings(&mut tx, &rows).await?;
        tx.commit().await.map_err(sqlx_error)?;
        if skipped > 0 {
            // A count only: user names are often phone numbers.
            tracing::debug!(skipped, "checkpoint: bindings of deleted users dropped");
        }
        Ok(())
    }

    async fn insert_cdrs(&self, cdrs: &[pbx::Cdr]) -> Result<(), StoreError> {
        crate::sqlite_cdr::insert(&self.writer, cdrs).await
    }

    async fn query_cdrs(&self, query: &pbx::CdrQuery) -> Result<pbx::CdrPage, StoreError> {
        crate::sqlite_cdr::query(&self.reader, query).await
    }

    async fn cdr_days(&self, domain: &str, user: Option<&str>) -> Result<Vec<u64>, StoreError> {
        crate::sqlite_cdr::days(&self.reader, domain, user).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("nested").join("data");
        let store = SqliteStore::open(&data).await.expect("open");
        assert!(data.join(DB_FILE).is_file());
        for pool in [&store.writer, &store.reader] {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(pool)
                .await
                .expect("journal_mode");
            assert_eq!(mode, "wal");
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(pool)
                .await
                .expect("synchronous");
            assert_eq!(sync, 1, "NORMAL");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(pool)
                .await
                .expect("foreign_keys");
            assert_eq!(fk, 1);
        }
        store.close().await;
    }

    /// A checkpoint of more rows than the largest INSERT, in a count that needs every size,
    /// saves every row once, in order.
    #[tokio::test]
    async fn checkpoints_of_every_insert_size() {
        let store = SqliteStore::open_in_memory().await.expect("open");
        let users: Vec<User> = (0..150)
            .map(|i| User {
                name: format!("u{i}"),
                secret: pbx::Secret {
                    md5: "a".into(),
                    sha256: "b".into(),
                },
            })
            .collect();
        store
            .put_domain(&Domain::new("example.com"), Some(&users))
            .await
            .expect("put_domain");
        let binding = |user: &str, contact: String| Binding {
            domain: "example.com".into(),
            user: user.into(),
            contact: contact.into(),
            flow: Flow {
                transport: sip::Transport::Udp,
                remote: SocketAddr::from(([192, 0, 2, 1], 5060)),
                conn: None,
            },
            agent: "a".into(),
            call_id: "c".into(),
            cseq: 1,
            registered_at: 1,
            expires_at: 2,
            outstanding_pings: 0,
        };
        // 149 users with one binding and one with 10: 159 rows = 2 x 64 + 16 + 3 x 4 + 3.
        let changes: Vec<UserBindings> = users
            .iter()
            .enumerate()
            .map(|(i, u)| UserBindings {
                domain: "example.com".into(),
                user: u.name.clone(),
                bindings: (0..if i == 7 { 10 } else { 1 })
                    .map(|n| binding(&u.name, format!("sip:{}-{n}@192.0.2.1", u.name)))
                    .collect(),
            })
            .collect();
        store.save_bindings(&changes).await.expect("save");
        let mut saved = store.load().await.expect("load").bindings;
        assert_eq!(saved.len(), 159);
        saved.sort_by(|a, b| a.user.cmp(&b.user));
        let mut expected: Vec<Binding> = changes.into_iter().flat_map(|c| c.bindings).collect();
        expected.sort_by(|a, b| a.user.cmp(&b.user));
        assert_eq!(saved, expected);
    }

    /// Rows that a load cannot turn back into models are `Corrupt`, not `Backend`.
    #[tokio::test]
    async fn unreadable_rows_are_corrupt() {
        let store = SqliteStore::open_in_memory().await.expect("open");
        store
            .put_domain(&Domain::new("example.com"), None)
            .await
            .expect("put_domain");
        sqlx::query("UPDATE domains SET digest = 'SHA-512'")
            .execute(&store.writer)
            .await
            .expect("update");
        assert!(matches!(store.load().await, Err(StoreError::Corrupt(_))));

        sqlx::query("UPDATE domains SET digest = 'MD5'")
            .execute(&store.writer)
            .await
            .expect("update");
        let user = User {
            name: "1000".into(),
            secret: pbx::Secret {
                md5: "a".into(),
                sha256: "b".into(),
            },
        };
        store
            .put_user("example.com", &user)
            .await
            .expect("put_user");
        let insert = "INSERT INTO bindings VALUES ('example.com', '1000', 'sip:a@192.0.2.1', 0, \
                      'UDP', ?, ?, 'ua', 'c', 1, 0, 60, 0)";
        sqlx::query(insert)
            .bind("not an address")
            .bind(5060)
            .execute(&store.writer)
            .await
            .expect("insert");
        assert!(matches!(store.load().await, Err(StoreError::Corrupt(_))));
        sqlx::query("UPDATE bindings SET remote_ip = '192.0.2.1', remote_port = 70000")
            .execute(&store.writer)
            .await
            .expect("update");
        assert!(matches!(store.load().await, Err(StoreError::Corrupt(_))));
        sqlx::query("UPDATE bindings SET remote_port = 'x'")
            .execute(&store.writer)
            .await
            .expect("update");
        assert!(matches!(store.load().await, Err(StoreError::Corrupt(_))));
        sqlx::query("UPDATE bindings SET remote_port = 5060")
            .execute(&store.writer)
            .await
            .expect("update");
        assert_eq!(store.load().await.expect("load").bindings.len(), 1);
    }

    #[tokio::test]
    async fn backend_errors_carry_no_values() {
        let store = SqliteStore::open_in_memory().await.expect("open");
        store.close().await;
        let err = store
            .put_user(
                "example.com",
                &User {
                    name: "1000".into(),
                    secret: pbx::Secret {
                        md5: "secret-md5".into(),
                        sha256: "secret-sha".into(),
                    },
                },
            )
            .await
            .expect_err("closed pool");
        assert!(matches!(err, StoreError::Backend(_)));
        assert!(!err.to_string().contains("secret"));
    }
}
