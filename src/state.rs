//! Start-up and persistence of the PBX's state: the store is opened, the config's domains are
//! upserted into it, the directory and the saved bindings are loaded into memory, and a
//! checkpoint task writes changed bindings back every second (and once more at shutdown).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pbx::{DigestAlgorithm, Domain, Secret, State, Store, User};
use sip::Transport;
use sip::digest::{Algorithm, ha1};
use store::SqliteStore;

use crate::config::{Config, DomainSection};

/// The HA1 values of a password for `realm` (the domain).
pub fn secret(user: &str, realm: &str, password: &str) -> Secret {
    Secret {
        md5: ha1(Algorithm::Md5, user, realm, password),
        sha256: ha1(Algorithm::Sha256, user, realm, password),
    }
}

fn domain_from_config(d: &DomainSection) -> anyhow::Result<(Domain, Vec<User>)> {
    let name = pbx::directory::check_domain_name(&d.name)?;
    let mut domain = Domain::new(&name);
    domain.control = d.control.clone();
    if let Some(l) = &d.latching {
        domain.latching = pbx::Latching::parse(l).with_context(|| {
            format!("domain {name}: latching must be \"strict\" or \"any\", not {l:?}")
        })?;
    }
    if let Some(list) = &d.digest {
        domain.digest = list
            .iter()
            .map(|a| {
                DigestAlgorithm::parse(a)
                    .with_context(|| format!("domain {name}: unknown digest algorithm {a:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        anyhow::ensure!(
            !domain.digest.is_empty(),
            "domain {name}: empty digest list"
        );
    }
    let users = d
        .users
        .iter()
        .map(|u| {
            pbx::directory::check_user_name(&u.username)?;
            Ok(User {
                name: u.username.clone(),
                secret: secret(&u.username, &name, &u.secret),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((domain, users))
}

/// Opens the store, applies the config's domains, and loads everything into memory.
pub async fn open(c: &Config, now: u64) -> anyhow::Result<(Arc<SqliteStore>, Arc<State>)> {
    let store = SqliteStore::open(&c.data)
        .await
        .with_context(|| format!("cannot open the database in {}", c.data.display()))?;
    for d in &c.domains {
        let (domain, users) = domain_from_config(d)?;
        // Users named in the config are created or updated; others made through the API stay.
        store
            .put_domain(&domain, None)
            .await
            .context("cannot save a [[domain]]")?;
        for u in &users {
            store
                .put_user(&domain.name, u)
                .await
                .context("cannot save a [[domain]] user")?;
        }
    }
    let snapshot = store.load().await.context("cannot load the directory")?;
    let state = State::default();
    {
        let mut dir = state.directory.write().unwrap_or_else(|e| e.into_inner());
        for (domain, users) in snapshot.domains {
            dir.put_domain(domain, Some(users));
        }
    }
    {
        let mut location = state.location.write().unwrap_or_else(|e| e.into_inner());
        let mut by_user: std::collections::BTreeMap<(Arc<str>, Arc<str>), Vec<pbx::Binding>> =
            Default::default();
        for b in snapshot.bindings {
            // TCP connections did not survive the restart, and neither do their bindings.
            if b.flow.transport == Transport::Udp && b.expires_at > now {
                by_user
                    .entry((b.domain.clone(), b.user.clone()))
                    .or_default()
                    .push(b);
            }
        }
        let restored: usize = by_user.values().map(Vec::len).sum();
        for ((domain, user), bindings) in by_user {
            location.set(&domain, &user, bindings);
        }
        // What was just loaded is what the store has: nothing to write back. (Bindings that
        // were dropped above are dropped from the store by the next change of their user, or
        // simply never restored again.)
        let _ = location.take_changes();
        tracing::info!(bindings = restored, "registrations restored");
    }
    Ok((Arc::new(store), Arc::new(state)))
}

/// The file CDRs the store refused at shutdown go to, in the data directory; the next start
/// imports them.
fn unwritten_cdrs_path(data: &Path, now: u64) -> PathBuf {
    data.join(format!("{UNWRITTEN_PREFIX}{now}{UNWRITTEN_SUFFIX}"))
}

const UNWRITTEN_PREFIX: &str = "cdr-unwritten-";
const UNWRITTEN_SUFFIX: &str = ".jsonl";

/// Saves CDRs the store would not take at shutdown to a file in the data directory, one JSON
/// object per line, so that none is lost: the next start imports it
/// ([`import_unwritten_cdrs`]). When even that fails they go to the log.
pub fn save_unwritten_cdrs(data: &Path, now: u64, cdrs: &[pbx::Cdr]) {
    let path = unwritten_cdrs_path(data, now);
    let lines: String = cdrs.iter().map(|c| c.to_json() + "\n").collect();
    match std::fs::write(&path, &lines) {
        Ok(()) => tracing::error!(
            count = cdrs.len(),
            path = %path.display(),
            "the store refused CDRs at shutdown; saved them to a file, imported at the next start"
        ),
        Err(e) => tracing::error!(
            count = cdrs.len(),
            error = %e,
            "the store refused CDRs at shutdown and they could not be saved: {}",
            lines
        ),
    }
}

/// Imports the CDRs that an earlier run saved with [`save_unwritten_cdrs`], then removes their
/// file. The store keeps the first record of each id, so a file imported twice (a crash
/// between the insert and the removal) duplicates nothing. A file the store refuses stays for
/// the next start; lines that are not CDRs stay in the file, which is then kept, for the
/// operator. Returns the number of CDRs imported.
pub async fn import_unwritten_cdrs<S: Store>(store: &S, data: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(data) else {
        return 0;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(UNWRITTEN_PREFIX) && n.ends_with(UNWRITTEN_SUFFIX))
        })
        .collect();
    files.sort();
    let mut imported = 0;
    for path in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read saved CDRs");
                continue;
            }
        };
        let mut cdrs = Vec::new();
        let mut bad = String::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match pbx::Cdr::from_json(line) {
                Some(cdr) => cdrs.push(cdr),
                None => {
                    bad.push_str(line);
                    bad.push('\n');
                }
            }
        }
        if let Err(e) = store.insert_cdrs(&cdrs).await {
            tracing::error!(
                path = %path.display(),
                error = %e,
                "the store refused saved CDRs: the file stays for the next start"
            );
            continue;
        }
        imported += cdrs.len();
        let done = if bad.is_empty() {
            std::fs::remove_file(&path)
        } else {
            tracing::error!(
                path = %path.display(),
                "lines that are not CDRs stay in the file; the others were imported"
            );
            std::fs::write(&path, &bad)
        };
        if let Err(e) = done {
            tracing::warn!(path = %path.display(), error = %e, "cannot tidy imported CDRs");
        }
        tracing::info!(count = cdrs.len(), path = %path.display(), "saved CDRs imported");
    }
    imported
}

/// Writes the bindings that changed since the last call.
pub async fn checkpoint(store: &SqliteStore, state: &State) {
    let changes = state
        .location
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .take_changes();
    if changes.is_empty() {
        return;
    }
    if let Err(e) = store.save_bindings(&changes).await {
        tracing::error!(error = %e, users = changes.len(), "registration checkpoint failed");
        state
            .location
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .restore_changes(changes);
    }
}

/// Checkpoints every second until `stop` turns true, then once more.
pub async fn checkpoint_loop(
    store: Arc<SqliteStore>,
    state: Arc<State>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => checkpoint(&store, &state).await,
            _ = stop.changed() => break,
        }
    }
    checkpoint(&store, &state).await;
}
