//! The behaviour every [`Store`] backend must show, written once and run against each backend
//! from its own test file (hickory-dns runs one suite per store; STYLE.md section 7).
//!
//! A backend provides a [`Harness`]: a fresh, empty place to keep data, which it can open,
//! close and open again. Each check takes its own harness and returns a [`Failure`] rather
//! than panicking, so that this module is ordinary library code. The easiest way to run the
//! suite is [`conformance_tests!`](crate::conformance_tests), which writes one `#[tokio::test]`
//! per check:
//!
//! ```ignore
//! async fn harness() -> MyHarness { MyHarness::new().await }
//! store::conformance_tests!(harness);
//! ```
//!
//! The checks need a tokio runtime; [`concurrent_writes`] spawns tasks, and exercises real
//! parallelism on a multi-threaded runtime (which the macro asks for).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use pbx::{
    Binding, DigestAlgorithm, Domain, Flow, Secret, Snapshot, Store, StoreError, User, UserBindings,
};
use pbx::{Cause, Cdr, CdrQuery, HangupBy};
use sip::Transport;

/// A place for one backend's data, fresh and empty when the harness is made.
pub trait Harness: Send + Sync {
    /// The backend under test.
    type Store: Store;

    /// True when data survives [`close`](Harness::close) and a second
    /// [`open`](Harness::open) (false for in-memory stores: [`reopen_keeps_data`] is then
    /// skipped).
    const PERSISTENT: bool = true;

    /// Opens the store on this harness's data: empty the first time, and after a close,
    /// what the closed store held.
    fn open(&self) -> impl Future<Output = Result<Self::Store, StoreError>> + Send;

    /// Closes a store opened by [`open`](Harness::open), releasing its files or
    /// connections. By default it is dropped.
    fn close(&self, store: Self::Store) -> impl Future<Output = ()> + Send {
        async move { drop(store) }
    }
}

/// A check that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The check's name (its function's name).
    pub check: &'static str,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    fn new(message: String) -> Self {
        Self { check: "", message }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance check {} failed: {}",
            self.check, self.message
        )
    }
}

impl std::error::Error for Failure {}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::new(format!("unexpected store error: {e}"))
    }
}

type Outcome = Result<(), Failure>;

/// Fails the check unless `$cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(Failure::new(format!($($arg)+)));
        }
    };
}

/// Fails the check unless `$got == $want`.
macro_rules! ensure_eq {
    ($got:expr, $want:expr, $($arg:tt)+) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err(Failure::new(format!(
                "{}: got {:?}, want {:?}",
                format!($($arg)+),
                got,
                want
            )));
        }
    }};
}

/// Names a check's failure.
async fn named(check: &'static str, body: impl Future<Output = Outcome>) -> Outcome {
    body.await.map_err(|mut f| {
        f.check = check;
        f
    })
}

/// Writes one `#[tokio::test]` per conformance check, each on a harness made by calling
/// `$make().await`. The calling crate needs `tokio` (with the `macros` and `rt-multi-thread`
/// features) among its dependencies.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@each $make;
            put_domain_created_flag,
            put_domain_replaces_user_list,
            put_user_semantics,
            delete_domain_cascades,
            delete_user_cascades,
            save_bindings_replaces,
            save_bindings_skips_missing_users,
            save_bindings_duplicate_contact,
            load_round_trip,
            domain_names_case_insensitive,
            reopen_keeps_data,
            concurrent_writes,
            large_checkpoint,
            cdr_insert_idempotent,
            cdr_round_trip,
            cdr_pagination_complete,
            cdr_filters,
            cdr_domains_isolated,
            cdrs_outlive_their_domain,
            cdr_large_batch,
            cdr_days_listed,
        );
    };
    (@each $make:path; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let harness = $make().await;
                if let Err(failure) = $crate::conformance::$check(&harness).await {
                    panic!("{failure}");
                }
            }
        )*
    };
}

/// Runs every check, each on a harness of its own from `make`, and returns every failure.
/// [`conformance_tests!`](crate::conformance_tests) runs the same checks as separate tests.
pub async fn run_all<H, F, Fut>(make: F) -> Result<(), Vec<Failure>>
where
    H: Harness,
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
{
    let mut failures = Vec::new();
    let mut note = |r: Outcome| {
        if let Err(f) = r {
            failures.push(f);
        }
    };
    note(put_domain_created_flag(&make().await).await);
    note(put_domain_replaces_user_list(&make().await).await);
    note(put_user_semantics(&make().await).await);
    note(delete_domain_cascades(&make().await).await);
    note(delete_user_cascades(&make().await).await);
    note(save_bindings_replaces(&make().await).await);
    note(save_bindings_skips_missing_users(&make().await).await);
    note(save_bindings_duplicate_contact(&make().await).await);
    note(load_round_trip(&make().await).await);
    note(domain_names_case_insensitive(&make().await).await);
    note(reopen_keeps_data(&make().await).await);
    note(concurrent_writes(&make().await).await);
    note(large_checkpoint(&make().await).await);
    note(cdr_insert_idempotent(&make().await).await);
    note(cdr_round_trip(&make().await).await);
    note(cdr_pagination_complete(&make().await).await);
    note(cdr_filters(&make().await).await);
    note(cdr_domains_isolated(&make().await).await);
    note(cdrs_outlive_their_domain(&make().await).await);
    note(cdr_large_batch(&make().await).await);
    note(cdr_days_listed(&make().await).await);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

// ---------------------------------------------------------------------------------------------
// Test data

/// A credential whose HA1 values carry `tag`, so that a swap between users shows.
fn secret(tag: &str) -> Secret {
    Secret {
        md5: format!("{tag:0>32}"),
        sha256: format!("{tag:f>64}"),
    }
}

fn user(name: &str) -> User {
    User {
        name: name.to_owned(),
        secret: secret(name),
    }
}

/// A binding with every field set from `n`, so that field mix-ups show.
fn binding(domain: &str, user: &str, contact: &str, n: u32) -> Binding {
    Binding {
        domain: domain.into(),
        user: user.into(),
        contact: contact.into(),
        flow: Flow {
            transport: Transport::Udp,
            remote: SocketAddr::from(([192, 0, 2, (n % 250) as u8 + 1], 5060 + (n % 1000) as u16)),
            conn: None,
        },
        agent: format!("agent {n}").into(),
        call_id: format!("call-{n}@192.0.2.1").into(),
        cseq: n + 1,
        registered_at: 1_700_000_000 + u64::from(n),
        expires_at: 1_700_003_600 + u64::from(n),
        outstanding_pings: n % 3,
    }
}

fn change(domain: &str, user: &str, bindings: Vec<Binding>) -> UserBindings {
    UserBindings {
        domain: domain.to_owned(),
        user: user.to_owned(),
        bindings,
    }
}

/// A snapshot in a canonical order: domains and users by name, bindings grouped by user with
/// each user's list in its saved order (the location service keeps it oldest first).
fn canonical(mut s: Snapshot) -> Snapshot {
    s.domains.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    for (_, users) in &mut s.domains {
        users.sort_by(|a, b| a.name.cmp(&b.name));
    }
    // Stable: keeps each user's order.
    s.bindings
        .sort_by(|a, b| (&a.domain, &a.user).cmp(&(&b.domain, &b.user)));
    s
}

/// What a load must return after these writes: connection ids are not persisted.
fn expected(domains: Vec<(Domain, Vec<User>)>, changes: &[UserBindings]) -> Snapshot {
    let bindings = changes
        .iter()
        .flat_map(|c| c.bindings.iter().cloned())
        .map(|mut b| {
            b.flow.conn = None;
            b
        })
        .collect();
    canonical(Snapshot { domains, bindings })
}

async fn load<S: Store>(store: &S) -> Result<Snapshot, Failure> {
    Ok(canonical(store.load().await?))
}

/// Fails unless two canonical snapshots hold the same (`Snapshot` has no `PartialEq`).
fn same(got: &Snapshot, want: &Snapshot, what: &str) -> Outcome {
    ensure_eq!(got.domains, want.domains, "{what}: domains");
    ensure_eq!(got.bindings, want.bindings, "{what}: bindings");
    Ok(())
}

fn users_of<'a>(s: &'a Snapshot, domain: &str) -> Option<&'a [User]> {
    s.domains
        .iter()
        .find(|(d, _)| d.name == domain)
        .map(|(_, u)| u.as_slice())
}

fn user_names(s: &Snapshot, domain: &str) -> Vec<String> {
    users_of(s, domain)
        .unwrap_or_default()
        .iter()
        .map(|u| u.name.clone())
        .collect()
}

fn contacts(s: &Snapshot, domain: &str, user: &str) -> Vec<String> {
    s.bindings
        .iter()
        .filter(|b| &*b.domain == domain && &*b.user == user)
        .map(|b| b.contact.to_string())
        .collect()
}

const D: &str = "example.com";
const D2: &str = "other.example";

// ---------------------------------------------------------------------------------------------
// The checks

/// `put_domain` reports creation, replaces the domain's fields on a second put, and keeps its
/// users when given no user list.
pub async fn put_domain_created_flag<H: Harness>(h: &H) -> Outcome {
    named("put_domain_created_flag", async {
        let s = h.open().await?;
        ensure!(
            s.load().await?.domains.is_empty(),
            "a new store is not empty"
        );
        ensure_eq!(
            s.put_domain(&Domain::new(D), Some(&[user("1000")])).await?,
            true,
            "create"
        );
        let changed = Domain {
            name: D.into(),
            control: Some("http://127.0.0.1:9000/hook".into()),
            digest: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            admin: Some(secret("admin")),
            latching: pbx::Latching::Any,
        };
        ensure_eq!(s.put_domain(&changed, None).await?, false, "replace");
        let snap = load(&s).await?;
        ensure_eq!(
            snap.domains,
            vec![(changed.clone(), vec![user("1000")])],
            "after replace"
        );
        // And back to the defaults: fields set before must not linger.
        ensure_eq!(
            s.put_domain(&Domain::new(D), None).await?,
            false,
            "replace again"
        );
        let snap = load(&s).await?;
        ensure_eq!(
            snap.domains,
            vec![(Domain::new(D), vec![user("1000")])],
            "defaults"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// `put_domain` with a user list makes the list exactly that: listed users are created or
/// replaced and keep their bindings; the others go, with their bindings.
pub async fn put_domain_replaces_user_list<H: Harness>(h: &H) -> Outcome {
    named("put_domain_replaces_user_list", async {
        let s = h.open().await?;
        let users = [user("1000"), user("1001"), user("1002")];
        s.put_domain(&Domain::new(D), Some(&users)).await?;
        s.save_bindings(&[
            change(D, "1000", vec![binding(D, "1000", "sip:a@192.0.2.1", 1)]),
            change(D, "1001", vec![binding(D, "1001", "sip:b@192.0.2.1", 2)]),
        ])
        .await?;
        let replaced = User {
            name: "1000".into(),
            secret: secret("new"),
        };
        let list = [replaced.clone(), user("1003")];
        ensure_eq!(
            s.put_domain(&Domain::new(D), Some(&list)).await?,
            false,
            "replace"
        );
        let snap = load(&s).await?;
        ensure_eq!(snap.domains, vec![(Domain::new(D), list.to_vec())], "users");
        ensure_eq!(
            contacts(&snap, D, "1000"),
            vec!["sip:a@192.0.2.1"],
            "kept user's bindings"
        );
        ensure_eq!(
            contacts(&snap, D, "1001"),
            Vec::<String>::new(),
            "dropped user's bindings"
        );
        ensure_eq!(snap.bindings.len(), 1, "binding count");

        // No list: users and bindings stay.
        s.put_domain(&Domain::new(D), None).await?;
        same(&load(&s).await?, &snap, "after a put without users")?;

        // An empty list: no users, no bindings.
        s.put_domain(&Domain::new(D), Some(&[])).await?;
        let snap = load(&s).await?;
        ensure_eq!(snap.domains, vec![(Domain::new(D), vec![])], "empty list");
        ensure!(
            snap.bindings.is_empty(),
            "bindings left: {:?}",
            snap.bindings
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// `put_user`: `None` without the domain, `Some(true)` when created, `Some(false)` when
/// replaced (with the new secret stored); users of different domains are apart.
pub async fn put_user_semantics<H: Harness>(h: &H) -> Outcome {
    named("put_user_semantics", async {
        let s = h.open().await?;
        ensure_eq!(s.put_user(D, &user("1000")).await?, None, "missing domain");
        ensure!(s.load().await?.domains.is_empty(), "missing domain created");
        s.put_domain(&Domain::new(D), None).await?;
        s.put_domain(&Domain::new(D2), None).await?;
        ensure_eq!(s.put_user(D, &user("1000")).await?, Some(true), "create");
        ensure_eq!(
            s.put_user(D2, &user("1000")).await?,
            Some(true),
            "same name elsewhere"
        );
        let replaced = User {
            name: "1000".into(),
            secret: secret("changed"),
        };
        ensure_eq!(s.put_user(D, &replaced).await?, Some(false), "replace");
        let snap = load(&s).await?;
        ensure_eq!(users_of(&snap, D), Some(&[replaced][..]), "replaced secret");
        ensure_eq!(
            users_of(&snap, D2),
            Some(&[user("1000")][..]),
            "other domain"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// `delete_domain` removes the domain, its users and their bindings, and nothing else; a
/// domain made again under the same name starts empty.
pub async fn delete_domain_cascades<H: Harness>(h: &H) -> Outcome {
    named("delete_domain_cascades", async {
        let s = h.open().await?;
        s.put_domain(&Domain::new(D), Some(&[user("1000"), user("1001")]))
            .await?;
        s.put_domain(&Domain::new(D2), Some(&[user("1000")]))
            .await?;
        let keep = change(D2, "1000", vec![binding(D2, "1000", "sip:k@192.0.2.9", 9)]);
        s.save_bindings(&[
            change(D, "1000", vec![binding(D, "1000", "sip:a@192.0.2.1", 1)]),
            change(D, "1001", vec![binding(D, "1001", "sip:b@192.0.2.1", 2)]),
            keep.clone(),
        ])
        .await?;
        ensure_eq!(s.delete_domain(D).await?, true, "delete");
        ensure_eq!(s.delete_domain(D).await?, false, "delete again");
        ensure_eq!(
            s.delete_domain("never.example").await?,
            false,
            "delete unknown"
        );
        let snap = load(&s).await?;
        let want = expected(vec![(Domain::new(D2), vec![user("1000")])], &[keep]);
        same(&snap, &want, "after delete")?;
        ensure_eq!(
            s.put_domain(&Domain::new(D), None).await?,
            true,
            "re-create"
        );
        let snap = load(&s).await?;
        ensure_eq!(
            user_names(&snap, D),
            Vec::<String>::new(),
            "users came back"
        );
        ensure_eq!(snap.bindings.len(), 1, "bindings came back");
        h.close(s).await;
        Ok(())
    })
    .await
}

/// `delete_user` removes the user and its bindings only; a user made again under the same
/// name has no bindings.
pub async fn delete_user_cascades<H: Harness>(h: &H) -> Outcome {
    named("delete_user_cascades", async {
        let s = h.open().await?;
        s.put_domain(&Domain::new(D), Some(&[user("1000"), user("1001")]))
            .await?;
        s.save_bindings(&[
            change(D, "1000", vec![binding(D, "1000", "sip:a@192.0.2.1", 1)]),
            change(D, "1001", vec![binding(D, "1001", "sip:b@192.0.2.1", 2)]),
        ])
        .await?;
        ensure_eq!(s.delete_user(D, "1000").await?, true, "delete");
        ensure_eq!(s.delete_user(D, "1000").await?, false, "delete again");
        ensure_eq!(
            s.delete_user(D2, "1001").await?,
            false,
            "delete in unknown domain"
        );
        let snap = load(&s).await?;
        ensure_eq!(user_names(&snap, D), vec!["1001"], "users");
        ensure_eq!(
            contacts(&snap, D, "1000"),
            Vec::<String>::new(),
            "deleted user's bindings"
        );
        ensure_eq!(
            contacts(&snap, D, "1001"),
            vec!["sip:b@192.0.2.1"],
            "other bindings"
        );
        ensure_eq!(s.put_user(D, &user("1000")).await?, Some(true), "re-create");
        let snap = load(&s).await?;
        ensure_eq!(
            contacts(&snap, D, "1000"),
            Vec::<String>::new(),
            "bindings came back"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// `save_bindings` makes each listed user's bindings exactly the given list (an empty list
/// deletes them) and leaves users it does not list alone.
pub async fn save_bindings_replaces<H: Harness>(h: &H) -> Outcome {
    named("save_bindings_replaces", async {
        let s = h.open().await?;
        s.put_domain(&Domain::new(D), Some(&[user("1000"), user("1001")]))
            .await?;
        s.save_bindings(&[]).await?;
        let other = change(D, "1001", vec![binding(D, "1001", "sip:o@192.0.2.1", 5)]);
        let first = change(
            D,
            "1000",
            vec![
                binding(D, "1000", "sip:a@192.0.2.1", 1),
                binding(D, "1000", "sip:b@192.0.2.1", 2),
            ],
        );
        s.save_bindings(&[first.clone(), other.clone()]).await?;
        ensure_eq!(
            load(&s).await?.bindings,
            expected(vec![], &[first.clone(), other.clone()]).bindings,
            "first checkpoint"
        );
        // Saving the same state again changes nothing.
        s.save_bindings(std::slice::from_ref(&first)).await?;
        ensure_eq!(
            load(&s).await?.bindings,
            expected(vec![], &[first, other.clone()]).bindings,
            "same checkpoint again"
        );
        // Replace: one binding refreshed (new cseq and expiry), one gone, one new.
        let mut refreshed = binding(D, "1000", "sip:b@192.0.2.1", 2);
        refreshed.cseq = 99;
        refreshed.expires_at += 600;
        refreshed.outstanding_pings = 0;
        let second = change(
            D,
            "1000",
            vec![refreshed, binding(D, "1000", "sip:c@192.0.2.1", 3)],
        );
        s.save_bindings(std::slice::from_ref(&second)).await?;
        ensure_eq!(
            load(&s).await?.bindings,
            expected(vec![], &[second, other.clone()]).bindings,
            "replaced"
        );
        // An empty list deletes.
        s.save_bindings(&[change(D, "1000", vec![])]).await?;
        ensure_eq!(
            load(&s).await?.bindings,
            expected(vec![], &[other]).bindings,
            "emptied"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// A checkpoint that names a user (or domain) deleted meanwhile still commits the rest; the
/// deleted user's bindings are dropped, and do not come back with a new user of that name.
pub async fn save_bindings_skips_missing_users<H: Harness>(h: &H) -> Outcome {
    named("save_bindings_skips_missing_users", async {
        let s = h.open().await?;
        s.put_domain(&Domain::new(D), Some(&[user("1000"), user("1001")]))
            .await?;
        s.delete_user(D, "1001").await?;
        let kept = change(D, "1000", vec![binding(D, "1000", "sip:a@192.0.2.1", 1)]);
        s.save_bindings(&[
            change(D, "1001", vec![binding(D, "1001", "sip:gone@192.0.2.1", 2)]),
            kept.clone(),
            change(
                "gone.example",
                "1000",
                vec![binding("gone.example", "1000", "sip:x@192.0.2.1", 3)],
            ),
            change(D, "nobody", vec![]),
        ])
        .await?;
        ensure_eq!(
            load(&s).await?.bindings,
            expected(vec![], &[kept]).bindings,
            "saved"
        );
        s.put_user(D, &user("1001")).await?;
        ensure_eq!(
            contacts(&load(&s).await?, D, "1001"),
            Vec::<String>::new(),
            "dropped bindings came back"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// A contact listed twice for one user, or a user listed twice in one checkpoint, does not
/// fail the checkpoint (it would fail every retry too): the later entry wins.
pub async fn save_bindings_duplicate_contact<H: Harness>(h: &H) -> Outcome {
    named("save_bindings_duplicate_contact", async {
        let s = h.open().await?;
        s.put_domain(&Domain::new(D), Some(&[user("1000"), user("1001")]))
            .await?;
        let mut later = binding(D, "1000", "sip:a@192.0.2.1", 1);
        later.cseq = 42;
        s.save_bindings(&[change(
            D,
            "1000",
            vec![
                binding(D, "1000", "sip:a@192.0.2.1", 1),
                binding(D, "1000", "sip:b@192.0.2.1", 2),
                later.clone(),
            ],
        )])
        .await?;
        let snap = load(&s).await?;
        let mut got: Vec<_> = snap.bindings.clone();
        got.sort_by(|a, b| a.contact.cmp(&b.contact));
        ensure_eq!(
            got,
            vec![later, binding(D, "1000", "sip:b@192.0.2.1", 2)],
            "duplicate contact"
        );

        let last = change(D, "1001", vec![binding(D, "1001", "sip:z@192.0.2.1", 7)]);
        s.save_bindings(&[
            change(D, "1001", vec![binding(D, "1001", "sip:y@192.0.2.1", 6)]),
            last.clone(),
        ])
        .await?;
        ensure_eq!(
            contacts(&load(&s).await?, D, "1001"),
            vec!["sip:z@192.0.2.1"],
            "user listed twice"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// A directory and bindings with every field in use, returned by `load` as written: digest
/// lists in order (empty included), control URLs, admin credentials, IPv4 and IPv6 flows,
/// every transport, extreme counters, non-ASCII text, and each user's bindings in order. TCP
/// connection ids come back as `None`.
pub async fn load_round_trip<H: Harness>(h: &H) -> Outcome {
    named("load_round_trip", async {
        let s = h.open().await?;
        let (domains, changes) = rich_data();
        for (d, users) in &domains {
            s.put_domain(d, Some(users)).await?;
        }
        s.save_bindings(&changes).await?;
        same(&load(&s).await?, &expected(domains, &changes), "load")?;
        h.close(s).await;
        Ok(())
    })
    .await
}

/// Domain names are matched case-insensitively, as the in-memory directory does.
pub async fn domain_names_case_insensitive<H: Harness>(h: &H) -> Outcome {
    named("domain_names_case_insensitive", async {
        let s = h.open().await?;
        s.put_domain(&Domain::new(D), None).await?;
        ensure_eq!(
            s.put_user("EXAMPLE.com", &user("1000")).await?,
            Some(true),
            "put_user"
        );
        ensure_eq!(user_names(&load(&s).await?, D), vec!["1000"], "users");
        ensure_eq!(
            s.delete_user("Example.Com", "1000").await?,
            true,
            "delete_user"
        );
        ensure_eq!(s.delete_domain("EXAMPLE.COM").await?, true, "delete_domain");
        h.close(s).await;
        Ok(())
    })
    .await
}

/// Data written, the store closed and opened again: everything is there, and the reopened
/// store takes writes. Skipped for stores that are not [`Harness::PERSISTENT`].
pub async fn reopen_keeps_data<H: Harness>(h: &H) -> Outcome {
    named("reopen_keeps_data", async {
        if !H::PERSISTENT {
            return Ok(());
        }
        let (domains, changes) = rich_data();
        let s = h.open().await?;
        for (d, users) in &domains {
            s.put_domain(d, Some(users)).await?;
        }
        s.save_bindings(&changes).await?;
        h.close(s).await;

        let s = h.open().await?;
        same(
            &load(&s).await?,
            &expected(domains, &changes),
            "after reopen",
        )?;
        ensure_eq!(
            s.put_user(D, &user("2000")).await?,
            Some(true),
            "write after reopen"
        );
        h.close(s).await;

        let s = h.open().await?;
        ensure!(
            user_names(&load(&s).await?, D).contains(&"2000".to_owned()),
            "write after reopen lost"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// Tasks writing at once lose nothing: 8 tasks each create 50 users, and checkpoint their
/// bindings, concurrently.
pub async fn concurrent_writes<H: Harness>(h: &H) -> Outcome {
    const TASKS: usize = 8;
    const USERS: usize = 50;
    named("concurrent_writes", async {
        let s = Arc::new(h.open().await?);
        s.put_domain(&Domain::new(D), None).await?;
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let s = Arc::clone(&s);
            tasks.push(tokio::spawn(async move {
                for i in 0..USERS {
                    let name = format!("{t}-{i}");
                    if s.put_user(D, &user(&name)).await? != Some(true) {
                        return Err(Failure::new(format!("put_user {name}: not created")));
                    }
                    let contact = format!("sip:{name}@192.0.2.1");
                    let b = binding(D, &name, &contact, i as u32);
                    s.save_bindings(&[change(D, &name, vec![b])]).await?;
                }
                Ok(())
            }));
        }
        for task in tasks {
            task.await
                .map_err(|e| Failure::new(format!("writer task: {e}")))??;
        }
        let snap = load(&*s).await?;
        ensure_eq!(
            users_of(&snap, D).map(<[User]>::len),
            Some(TASKS * USERS),
            "users"
        );
        ensure_eq!(snap.bindings.len(), TASKS * USERS, "bindings");
        if let Ok(s) = Arc::try_unwrap(s) {
            h.close(s).await;
        }
        Ok(())
    })
    .await
}

/// Big batches go through in one call: a domain of 1,000 users, then a checkpoint of 10,000
/// bindings, loaded back whole; then a checkpoint that shrinks them all.
pub async fn large_checkpoint<H: Harness>(h: &H) -> Outcome {
    const USERS: u32 = 1_000;
    const PER_USER: u32 = 10;
    named("large_checkpoint", async {
        let s = h.open().await?;
        let users: Vec<User> = (0..USERS).map(|u| user(&format!("u{u}"))).collect();
        ensure_eq!(
            s.put_domain(&Domain::new(D), Some(&users)).await?,
            true,
            "create"
        );
        let changes: Vec<UserBindings> = (0..USERS)
            .map(|u| {
                let name = format!("u{u}");
                let list = (0..PER_USER)
                    .map(|k| {
                        let contact = format!("sip:{name}-{k}@192.0.2.1;transport=udp");
                        binding(D, &name, &contact, u * PER_USER + k)
                    })
                    .collect();
                change(D, &name, list)
            })
            .collect();
        s.save_bindings(&changes).await?;
        let snap = load(&s).await?;
        ensure_eq!(
            snap.bindings.len(),
            (USERS * PER_USER) as usize,
            "binding count"
        );
        same(
            &snap,
            &expected(vec![(Domain::new(D), users)], &changes),
            "load",
        )?;

        let shrunk: Vec<UserBindings> = changes
            .into_iter()
            .map(|mut c| {
                c.bindings.truncate(1);
                c
            })
            .collect();
        s.save_bindings(&shrunk).await?;
        ensure_eq!(
            load(&s).await?.bindings.len(),
            USERS as usize,
            "after shrinking"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// Three domains and bindings that use every field and variant.
fn rich_data() -> (Vec<(Domain, Vec<User>)>, Vec<UserBindings>) {
    let alpha = Domain {
        name: D.into(),
        control: Some("http://127.0.0.1:8080/hooks?account=example".into()),
        digest: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
        admin: Some(secret("admin")),
        latching: pbx::Latching::Any,
    };
    let beta = Domain::new(D2);
    let bare = Domain {
        name: "192.0.2.10".into(),
        control: None,
        digest: vec![],
        admin: None,
        latching: pbx::Latching::Strict,
    };
    let domains = vec![
        (alpha, vec![user("1000"), user("1001"), user("alice.smith")]),
        (beta, vec![user("1000"), user("+4930123")]),
        (bare, vec![]),
    ];

    let mut tcp = binding(D, "1000", "<sip:1000@198.51.100.7:5060;transport=tcp>", 2);
    tcp.flow = Flow {
        transport: Transport::Tcp,
        remote: "198.51.100.7:49152".parse().unwrap_or(tcp.flow.remote),
        conn: Some(7),
    };
    let mut v6 = binding(
        D,
        "1001",
        "<sip:1001@[2001:db8::1]:5061;transport=wss>;+sip.instance=\"<urn:uuid:f81d4fae-7dec>\"",
        3,
    );
    v6.flow = Flow {
        transport: Transport::Wss,
        remote: "[2001:db8::1]:65535".parse().unwrap_or(v6.flow.remote),
        conn: Some(8),
    };
    v6.agent = "Zoiper \u{260e} 5.6 \"quoted\", 'single'".into();
    v6.cseq = u32::MAX;
    v6.outstanding_pings = u32::MAX;
    v6.registered_at = 0;
    v6.expires_at = 4_102_444_800;
    let mut tls = binding(D2, "1000", "sip:1000@203.0.113.5:5061;transport=tls", 4);
    tls.flow.transport = Transport::Tls;
    let mut ws = binding(D2, "1000", "sip:1000@df7jal23ls0d.invalid;transport=ws", 5);
    ws.flow.transport = Transport::Ws;
    let mut sctp = binding(D2, "1000", "sip:1000@203.0.113.6", 6);
    sctp.flow.transport = Transport::Sctp;
    let changes = vec![
        change(
            D,
            "1000",
            // Not in contact order: the saved order must come back.
            vec![binding(D, "1000", "sip:1000@192.0.2.50:5060", 1), tcp],
        ),
        change(D, "1001", vec![v6]),
        change(D2, "1000", vec![tls, ws, sctp]),
    ];
    (domains, changes)
}

// ---------------------------------------------------------------------------------------------
// Call detail records

/// A CDR with every field derived from `n`, so that field mix-ups show. Ids are unique per
/// `n` (below 100,000) but do not sort in `n` order.
fn cdr(domain: &str, n: u32, start: u64, from: &str, to: &str) -> Cdr {
    let answered = !n.is_multiple_of(3);
    Cdr {
        id: format!("{:05}-{n}", (u64::from(n) * 7919) % 100_000),
        domain: domain.to_owned(),
        call_id: format!("call-{n}@192.0.2.1"),
        from: from.to_owned(),
        to: to.to_owned(),
        start,
        answer: answered.then_some(start + 2),
        end: start + 10 + u64::from(n % 7),
        duration: 10 + u64::from(n % 7),
        billsec: if answered { 8 + u64::from(n % 7) } else { 0 },
        cause: if answered {
            Cause {
                code: 200,
                reason: "BYE".into(),
            }
        } else {
            Cause {
                code: 486,
                reason: "Busy Here".into(),
            }
        },
        hangup_by: [HangupBy::Caller, HangupBy::Callee, HangupBy::System][n as usize % 3],
        codecs: if answered {
            vec!["PCMU/8000".into(), "telephone-event/8000".into()]
        } else {
            vec![]
        },
    }
}

/// Every page of `query` from the first, checking that each holds at most a page and that
/// only the last one has no `next`. Stops with a failure after 10,000 pages.
async fn all_pages<S: Store>(s: &S, query: &CdrQuery) -> Result<Vec<Cdr>, Failure> {
    let mut query = query.clone();
    query.after = None;
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let page = s.query_cdrs(&query).await?;
        ensure!(
            page.cdrs.len() <= query.page_size(),
            "a page of {} records for a limit of {}",
            page.cdrs.len(),
            query.page_size()
        );
        out.extend(page.cdrs);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(out),
        }
    }
    Err(Failure::new("pagination does not end".into()))
}

/// `cdrs` as a query must return them: in `(start, id)` order, domains lowercased.
fn in_page_order(cdrs: impl IntoIterator<Item = Cdr>) -> Vec<Cdr> {
    let mut v: Vec<Cdr> = cdrs
        .into_iter()
        .map(|mut c| {
            c.domain = c.domain.to_ascii_lowercase();
            c
        })
        .collect();
    v.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    v
}

fn ids(cdrs: &[Cdr]) -> Vec<String> {
    cdrs.iter().map(|c| c.id.clone()).collect()
}

/// Inserting a batch is idempotent on `id`: a batch retried whole or in part, or an id twice
/// in one batch, stores each record once, and the first write wins. An empty batch is fine.
pub async fn cdr_insert_idempotent<H: Harness>(h: &H) -> Outcome {
    named("cdr_insert_idempotent", async {
        let s = h.open().await?;
        s.insert_cdrs(&[]).await?;
        let a = cdr(D, 1, 1_000, "1000", "1001");
        let b = cdr(D, 2, 1_000, "1000", "1002");
        let c = cdr(D, 3, 1_001, "1001", "1000");
        let d = cdr(D, 4, 999, "1002", "1000");
        s.insert_cdrs(&[a.clone(), b.clone(), c.clone()]).await?;
        // The same batch again (a commit whose answer was lost), then an overlapping one with
        // a changed copy of `b` and `d` listed twice.
        s.insert_cdrs(&[a.clone(), b.clone(), c.clone()]).await?;
        let mut changed = b.clone();
        changed.cause.reason = "changed".into();
        changed.end += 100;
        s.insert_cdrs(&[changed, c.clone(), d.clone(), d.clone()])
            .await?;
        let got = all_pages(&s, &CdrQuery::new(D)).await?;
        ensure_eq!(got, in_page_order([a, b, c, d]), "stored records");
        h.close(s).await;
        Ok(())
    })
    .await
}

/// A record comes back exactly as written: unanswered and answered, empty and odd codec
/// lists, non-ASCII text, extreme numbers. The domain comes back lowercased.
pub async fn cdr_round_trip<H: Harness>(h: &H) -> Outcome {
    named("cdr_round_trip", async {
        let s = h.open().await?;
        let mut odd = cdr(D, 5, 4_102_444_800, "+49 30 123", "j\u{f6}rg_\u{260e}");
        odd.domain = "Example.COM".into();
        odd.codecs = vec!["opus/48000/2".into(), "a,b \"q\"\n".into()];
        odd.cause = Cause {
            code: 699,
            reason: "Reason: Q.850;cause=16;text=\"Normal call clearing\"".into(),
        };
        odd.call_id = "x".repeat(1_000);
        let mut zero = cdr(D, 6, 0, "1000", "1001");
        zero.answer = Some(0);
        zero.end = 0;
        zero.duration = 0;
        zero.billsec = 0;
        let records = vec![cdr(D, 3, 1_000, "1000", "1001"), odd, zero];
        for r in &records {
            s.insert_cdrs(std::slice::from_ref(r)).await?;
        }
        let got = all_pages(&s, &CdrQuery::new(D)).await?;
        ensure_eq!(got, in_page_order(records), "read back");
        h.close(s).await;
        Ok(())
    })
    .await
}

/// Pages in `(start, id)` order cover every record exactly once, whatever the page size:
/// many records share a start time, ids do not sort in insertion order, and a query whose
/// records fill a whole number of pages ends without an empty page. A record inserted
/// between two pages shows in a later page exactly when it sorts after the cursor.
pub async fn cdr_pagination_complete<H: Harness>(h: &H) -> Outcome {
    named("cdr_pagination_complete", async {
        let s = h.open().await?;
        // 250 records, ten per start time, inserted in batches of 50 in a scrambled order.
        let mut records: Vec<Cdr> = (0..250)
            .map(|n| cdr(D, n, 1_700_000_000 + u64::from(n / 10), "1000", "1001"))
            .collect();
        records.sort_by_key(|c| c.call_id.len() * 1000 + (c.start as usize * 31) % 97);
        for batch in records.chunks(50) {
            s.insert_cdrs(batch).await?;
        }
        let want = in_page_order(records.clone());
        for limit in [1, 7, 10, 25, 100, 250, 1000] {
            let mut q = CdrQuery::new(D);
            q.limit = limit;
            let got = all_pages(&s, &q).await?;
            ensure_eq!(ids(&got), ids(&want), "pages of {limit}");
        }
        // 250 = 10 pages of 25: the tenth page is the last and says so.
        let mut q = CdrQuery::new(D);
        q.limit = 25;
        let mut pages = 0;
        loop {
            let page = s.query_cdrs(&q).await?;
            pages += 1;
            ensure!(!page.cdrs.is_empty(), "an empty page after {pages} pages");
            match page.next {
                Some(next) => q.after = Some(next),
                None => break,
            }
        }
        ensure_eq!(pages, 10, "pages of 25");

        // Between pages: one record sorting before the cursor, one after it.
        let mut q = CdrQuery::new(D);
        q.limit = 100;
        let first = s.query_cdrs(&q).await?;
        let cursor = first
            .next
            .clone()
            .ok_or_else(|| Failure::new("no next".into()))?;
        let before = cdr(D, 900, 1_600_000_000, "1000", "1001");
        let after = cdr(D, 901, 1_800_000_000, "1000", "1001");
        s.insert_cdrs(&[before.clone(), after.clone()]).await?;
        q.after = Some(cursor);
        let mut rest = Vec::new();
        loop {
            let page = s.query_cdrs(&q).await?;
            rest.extend(page.cdrs);
            match page.next {
                Some(next) => q.after = Some(next),
                None => break,
            }
        }
        let mut got = first.cdrs;
        got.extend(rest);
        let mut want = want;
        want.push(after);
        ensure_eq!(ids(&got), ids(&want), "pages around an insert");
        ensure!(
            !got.iter().any(|c| c.id == before.id),
            "a record before the cursor showed up"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// `cdr_days`: each UTC day with a call once, ascending, per domain, and per user when asked.
pub async fn cdr_days_listed<H: Harness>(h: &H) -> Outcome {
    named("cdr_days_listed", async {
        let s = h.open().await?;
        const DAY: u64 = 86_400;
        let records = vec![
            cdr(D, 1, 3 * DAY + 5, "1000", "1001"),
            cdr(D, 2, 3 * DAY + DAY - 1, "1001", "1002"),
            cdr(D, 3, 7 * DAY, "1002", "1000"),
            cdr(D, 4, 20_000 * DAY + 12, "1001", "1002"),
            cdr("other.example", 5, 5 * DAY, "1000", "1001"),
        ];
        s.insert_cdrs(&records).await?;
        ensure_eq!(s.cdr_days(D, None).await?, vec![3, 7, 20_000], "domain");
        ensure_eq!(
            s.cdr_days(&D.to_ascii_uppercase(), None).await?,
            vec![3, 7, 20_000],
            "domain case"
        );
        ensure_eq!(
            s.cdr_days(D, Some("1000")).await?,
            vec![3, 7],
            "from or to 1000"
        );
        ensure_eq!(s.cdr_days(D, Some("1001")).await?, vec![3, 20_000], "1001");
        ensure_eq!(
            s.cdr_days(D, Some("9999")).await?,
            Vec::<u64>::new(),
            "nobody"
        );
        ensure_eq!(s.cdr_days("other.example", None).await?, vec![5], "other");
        ensure_eq!(
            s.cdr_days("none.example", None).await?,
            Vec::<u64>::new(),
            "none"
        );
        Ok(())
    })
    .await
}

/// `since` (inclusive) and `until` (exclusive) bound the start time; `user` matches `from` or
/// `to` exactly; filters combine with each other and with pagination.
pub async fn cdr_filters<H: Harness>(h: &H) -> Outcome {
    named("cdr_filters", async {
        let s = h.open().await?;
        let users = ["1000", "1001", "1002", "10000"];
        let records: Vec<Cdr> = (0..120)
            .map(|n| {
                let from = users[n as usize % 4];
                let to = users[(n as usize / 4 + 1) % 4];
                cdr(D, n, 1_000 + u64::from(n), from, to)
            })
            .collect();
        s.insert_cdrs(&records).await?;
        let pick =
            |f: &dyn Fn(&Cdr) -> bool| in_page_order(records.iter().filter(|c| f(c)).cloned());

        let mut q = CdrQuery::new(D);
        q.limit = 7;
        q.since = Some(1_010);
        ensure_eq!(
            ids(&all_pages(&s, &q).await?),
            ids(&pick(&|c| c.start >= 1_010)),
            "since"
        );
        q.since = None;
        q.until = Some(1_050);
        ensure_eq!(
            ids(&all_pages(&s, &q).await?),
            ids(&pick(&|c| c.start < 1_050)),
            "until"
        );
        q.since = Some(1_020);
        ensure_eq!(
            ids(&all_pages(&s, &q).await?),
            ids(&pick(&|c| (1_020..1_050).contains(&c.start))),
            "since and until"
        );
        q.since = Some(1_050);
        ensure_eq!(all_pages(&s, &q).await?.len(), 0, "since = until");
        q.since = None;
        q.until = None;
        for user in users {
            q.user = Some(user.into());
            let got = all_pages(&s, &q).await?;
            ensure!(!got.is_empty(), "no calls of {user}");
            ensure_eq!(
                ids(&got),
                ids(&pick(&|c| c.from == user || c.to == user)),
                "user {user}"
            );
        }
        q.user = Some("100".into());
        ensure_eq!(all_pages(&s, &q).await?.len(), 0, "a user prefix matched");
        q.user = Some("1001".into());
        q.since = Some(1_030);
        q.until = Some(1_090);
        ensure_eq!(
            ids(&all_pages(&s, &q).await?),
            ids(&pick(
                &|c| (c.from == "1001" || c.to == "1001") && (1_030..1_090).contains(&c.start)
            )),
            "user, since and until"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// A domain's query never returns another domain's records, whatever the filters or the
/// cursor; domain names match case-insensitively.
pub async fn cdr_domains_isolated<H: Harness>(h: &H) -> Outcome {
    named("cdr_domains_isolated", async {
        let s = h.open().await?;
        let mine: Vec<Cdr> = (0..30)
            .map(|n| cdr(D, n, 1_000 + u64::from(n), "1000", "1001"))
            .collect();
        let theirs: Vec<Cdr> = (30..60)
            .map(|n| cdr(D2, n, 1_000 + u64::from(n - 30), "1000", "1001"))
            .collect();
        let mut both = mine.clone();
        both.extend(theirs.clone());
        s.insert_cdrs(&both).await?;
        ensure_eq!(
            ids(&all_pages(&s, &CdrQuery::new("EXAMPLE.com")).await?),
            ids(&in_page_order(mine.clone())),
            "mine"
        );
        let mut q = CdrQuery::new(D2);
        q.user = Some("1000".into());
        q.limit = 4;
        ensure_eq!(
            ids(&all_pages(&s, &q).await?),
            ids(&in_page_order(theirs.clone())),
            "theirs"
        );
        // A cursor taken from one domain's page, used on the other: still only the other's.
        let mut q = CdrQuery::new(D);
        q.limit = 5;
        let page = s.query_cdrs(&q).await?;
        let mut other = CdrQuery::new(D2);
        other.after = page.next;
        let got = all_pages(&s, &other).await?;
        let page = s.query_cdrs(&other).await?;
        ensure!(
            got.iter().chain(page.cdrs.iter()).all(|c| c.domain == D2),
            "another domain's record returned"
        );
        ensure_eq!(
            all_pages(&s, &CdrQuery::new("nobody.example")).await?.len(),
            0,
            "unknown domain"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// Deleting a domain keeps its CDRs (billing data outlives the account); they are there
/// when the domain is made again.
pub async fn cdrs_outlive_their_domain<H: Harness>(h: &H) -> Outcome {
    named("cdrs_outlive_their_domain", async {
        let s = h.open().await?;
        s.put_domain(&Domain::new(D), Some(&[user("1000"), user("1001")]))
            .await?;
        let records = vec![
            cdr(D, 1, 1_000, "1000", "1001"),
            cdr(D, 2, 1_001, "1001", "1000"),
        ];
        s.insert_cdrs(&records).await?;
        s.delete_user(D, "1000").await?;
        ensure_eq!(s.delete_domain(D).await?, true, "delete");
        ensure_eq!(
            all_pages(&s, &CdrQuery::new(D)).await?,
            in_page_order(records.clone()),
            "after delete"
        );
        s.put_domain(&Domain::new(D), None).await?;
        ensure_eq!(
            all_pages(&s, &CdrQuery::new(D)).await?,
            in_page_order(records),
            "after re-create"
        );
        h.close(s).await;
        Ok(())
    })
    .await
}

/// 2,500 records in one batch; a limit above the maximum gives pages of
/// [`CDR_PAGE_MAX`](pbx::cdr::CDR_PAGE_MAX); a limit of 0 gives pages of one. Persistent
/// backends still hold them after a reopen.
pub async fn cdr_large_batch<H: Harness>(h: &H) -> Outcome {
    const COUNT: u32 = 2_500;
    named("cdr_large_batch", async {
        let s = h.open().await?;
        let records: Vec<Cdr> = (0..COUNT)
            .map(|n| cdr(D, n, 1_000 + u64::from(n % 100), "1000", "1001"))
            .collect();
        s.insert_cdrs(&records).await?;
        let mut q = CdrQuery::new(D);
        q.limit = 1_000_000;
        let page = s.query_cdrs(&q).await?;
        ensure_eq!(page.cdrs.len(), pbx::cdr::CDR_PAGE_MAX, "clamped page");
        ensure!(page.next.is_some(), "no next page after a full page");
        let want = in_page_order(records);
        ensure_eq!(ids(&all_pages(&s, &q).await?), ids(&want), "all");
        q.limit = 0;
        q.until = Some(1_001);
        ensure_eq!(s.query_cdrs(&q).await?.cdrs.len(), 1, "limit 0");
        h.close(s).await;
        if H::PERSISTENT {
            let s = h.open().await?;
            ensure_eq!(
                ids(&all_pages(&s, &CdrQuery::new(D)).await?),
                ids(&want),
                "after reopen"
            );
            h.close(s).await;
        }
        Ok(())
    })
    .await
}
