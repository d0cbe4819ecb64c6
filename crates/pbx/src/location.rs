//! The location service: who is registered where (RFC 3261 section 10). Bindings live in
//! memory; the ones that changed are checkpointed to the [`Store`](crate::Store) at least
//! every second, so a restart loses none without a disk write per REGISTER.
//!
//! The layout is chosen for memory (issue 3: under 1 KiB per registration). A user's
//! bindings are one exact-size allocation, not a `Vec` (whose first push reserves room for
//! four); the domain and user names are stored once and shared as `Arc<str>` by the map
//! keys, the bindings and the checkpoint's dirty set; User-Agent strings, which thousands of
//! phones share, are interned.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use sip::Transport;

/// The flow a REGISTER arrived on, and so the way requests to its binding go: to the address
/// and port it really came from (NAT), over the same TCP connection when it came over TCP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Flow {
    /// UDP or TCP.
    pub transport: Transport,
    /// The source address of the REGISTER.
    pub remote: SocketAddr,
    /// The TCP connection, for a binding made over TCP. Not persisted: connections do not
    /// survive a restart, and neither do bindings made over them.
    pub conn: Option<u64>,
}

/// One registered contact of a user.
///
/// The strings are shared or exact-size: [`Location::set`] makes `domain` and `user` the
/// location's own copies (one per user, whatever the number of bindings) and interns `agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The domain (account).
    pub domain: Arc<str>,
    /// The user.
    pub user: Arc<str>,
    /// The Contact URI as the phone registered it.
    pub contact: Box<str>,
    /// Where requests for this binding really go.
    pub flow: Flow,
    /// The User-Agent of the REGISTER.
    pub agent: Arc<str>,
    /// Call-ID of the REGISTER (RFC 3261 section 10.3 step 7: refreshes keep it).
    pub call_id: Box<str>,
    /// CSeq of the latest REGISTER for this binding.
    pub cseq: u32,
    /// Unix seconds when the binding was first made.
    pub registered_at: u64,
    /// Unix seconds when it expires unless refreshed.
    pub expires_at: u64,
    /// OPTIONS keepalives sent and not answered.
    pub outstanding_pings: u32,
}

/// The users of one domain with their bindings, oldest first; never an empty list.
type Users = HashMap<Arc<str>, Box<[Binding]>>;

/// Every binding, by domain and user, with the set of users whose bindings changed since the
/// last checkpoint.
#[derive(Debug, Default)]
pub struct Location {
    /// Domains with at least one binding.
    domains: HashMap<Arc<str>, Users>,
    /// (domain, user) changed since the last [`Location::take_changes`].
    dirty: HashSet<(Arc<str>, Arc<str>)>,
    agents: Interner,
    count: usize,
}

/// One user's whole binding list, as checkpointed: the store replaces what it had for the
/// user with `bindings` (an empty list deletes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserBindings {
    /// The domain.
    pub domain: String,
    /// The user.
    pub user: String,
    /// All of the user's bindings now.
    pub bindings: Vec<Binding>,
}

impl Location {
    /// No bindings.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of bindings over all users.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nobody is registered.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// A user's bindings, oldest first.
    pub fn bindings(&self, domain: &str, user: &str) -> &[Binding] {
        self.domains
            .get(domain)
            .and_then(|users| users.get(user))
            .map_or(&[], |b| b)
    }

    /// The users of `domain` that have at least one binding.
    pub fn users_of<'a>(
        &'a self,
        domain: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a [Binding])> {
        self.domains
            .get(domain)
            .into_iter()
            .flatten()
            .map(|(u, b)| (&**u, &**b))
    }

    /// The location's shared copy of `agent` (a User-Agent), to put in a [`Binding`]: phones
    /// of one make share one string.
    pub fn agent(&mut self, agent: &str) -> Arc<str> {
        self.agents.intern(agent)
    }

    /// The location's shared copies of a domain and user name, to put in a [`Binding`]; new
    /// ones when the user has no binding yet.
    pub fn names(&self, domain: &str, user: &str) -> (Arc<str>, Arc<str>) {
        match self.domains.get_key_value(domain) {
            Some((d, users)) => (
                d.clone(),
                users
                    .get_key_value(user)
                    .map_or_else(|| Arc::from(user), |(u, _)| u.clone()),
            ),
            None => (Arc::from(domain), Arc::from(user)),
        }
    }

    /// Replaces a user's bindings (after a REGISTER, an expiry, a failed keepalive...).
    /// Each binding's `domain` and `user` become the location's shared copies of `domain`
    /// and `user`, and its `agent` the interned one.
    pub fn set(&mut self, domain: &str, user: &str, mut bindings: Vec<Binding>) {
        let (d, u) = self.shared_names(domain, user, bindings.first());
        let old = if bindings.is_empty() {
            let old = self
                .domains
                .get_mut(domain)
                .and_then(|users| users.remove(user))
                .map_or(0, |b| b.len());
            if self.domains.get(domain).is_some_and(HashMap::is_empty) {
                self.domains.remove(domain);
            }
            old
        } else {
            for b in &mut bindings {
                b.domain = d.clone();
                b.user = u.clone();
                b.agent = self.agents.intern(&b.agent);
            }
            self.count += bindings.len();
            // Exactly as much room as there are bindings: a fresh allocation rather than
            // shrinking the list in place, which would leave a hole beside a long-lived block.
            if bindings.capacity() != bindings.len() {
                let mut exact = Vec::with_capacity(bindings.len());
                exact.append(&mut bindings);
                bindings = exact;
            }
            self.domains
                .entry(d.clone())
                .or_default()
                .insert(u.clone(), bindings.into_boxed_slice())
                .map_or(0, |b| b.len())
        };
        self.count -= old;
        self.dirty.insert((d, u));
    }

    /// The shared names for `domain` and `user`: the location's own when it has them, else
    /// those of `hint` (a binding about to be stored) when they match, else new ones.
    fn shared_names(
        &self,
        domain: &str,
        user: &str,
        hint: Option<&Binding>,
    ) -> (Arc<str>, Arc<str>) {
        let users = self.domains.get_key_value(domain);
        let d = users
            .map(|(d, _)| d.clone())
            .or_else(|| {
                hint.filter(|b| &*b.domain == domain)
                    .map(|b| b.domain.clone())
            })
            .unwrap_or_else(|| Arc::from(domain));
        let u = users
            .and_then(|(_, users)| users.get_key_value(user))
            .map(|(u, _)| u.clone())
            .or_else(|| hint.filter(|b| &*b.user == user).map(|b| b.user.clone()))
            .unwrap_or_else(|| Arc::from(user));
        (d, u)
    }

    /// Every binding, for keepalive and expiry scans.
    pub fn iter(&self) -> impl Iterator<Item = &Binding> {
        self.domains.values().flat_map(HashMap::values).flatten()
    }

    /// One user's bindings, mutably, without marking them for the checkpoint (see
    /// [`Location::iter_mut_unsaved`]).
    pub fn bindings_mut_unsaved(&mut self, domain: &str, user: &str) -> &mut [Binding] {
        match self
            .domains
            .get_mut(domain)
            .and_then(|users| users.get_mut(user))
        {
            Some(b) => b,
            None => &mut [],
        }
    }

    /// Every binding, mutably, for the keepalive counters. Changes made here are not
    /// checkpointed: the count of unanswered pings is runtime state, and writing every binding
    /// on every ping round would cost a disk write per phone per interval.
    pub fn iter_mut_unsaved(&mut self) -> impl Iterator<Item = &mut Binding> {
        self.domains
            .values_mut()
            .flat_map(HashMap::values_mut)
            .flat_map(|b| b.iter_mut())
    }

    /// Takes the users whose bindings changed since the last call, with their lists now.
    pub fn take_changes(&mut self) -> Vec<UserBindings> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|(domain, user)| UserBindings {
                bindings: self.bindings(&domain, &user).to_vec(),
                domain: domain.to_string(),
                user: user.to_string(),
            })
            .collect()
    }

    /// Puts back changes that could not be saved, so the next checkpoint retries them.
    pub fn restore_changes(&mut self, failed: Vec<UserBindings>) {
        for c in failed {
            let names = self.names(&c.domain, &c.user);
            self.dirty.insert(names);
        }
    }
}

/// Shared copies of strings that many bindings repeat (User-Agents). Entries no binding uses
/// any more are dropped when the table has doubled since the last sweep, so it never holds
/// more than about twice the strings in use.
#[derive(Debug, Default)]
struct Interner {
    strings: HashSet<Arc<str>>,
    sweep_at: usize,
}

impl Interner {
    /// At least this many entries before a sweep.
    const MIN_SWEEP: usize = 64;

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(s) {
            return shared.clone();
        }
        if self.strings.len() >= self.sweep_at {
            self.strings.retain(|a| Arc::strong_count(a) > 1);
            self.sweep_at = (self.strings.len() * 2).max(Self::MIN_SWEEP);
        }
        let shared: Arc<str> = Arc::from(s);
        self.strings.insert(shared.clone());
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(user: &str, contact: &str) -> Binding {
        Binding {
            domain: "example.com".into(),
            user: user.into(),
            contact: contact.into(),
            flow: Flow {
                transport: Transport::Udp,
                remote: "127.0.0.1:5060".parse().expect("addr"),
                conn: None,
            },
            agent: "test".into(),
            call_id: "c".into(),
            cseq: 1,
            registered_at: 0,
            expires_at: 3600,
            outstanding_pings: 0,
        }
    }

    #[test]
    fn counts_and_changes() {
        let mut l = Location::new();
        l.set(
            "example.com",
            "1000",
            vec![
                binding("1000", "sip:a@127.0.0.1"),
                binding("1000", "sip:b@127.0.0.1"),
            ],
        );
        l.set(
            "example.com",
            "1001",
            vec![binding("1001", "sip:c@127.0.0.1")],
        );
        assert_eq!(l.len(), 3);
        assert_eq!(l.users_of("example.com").count(), 2);
        let mut changes = l.take_changes();
        changes.sort_by(|a, b| a.user.cmp(&b.user));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].bindings.len(), 2);
        assert!(l.take_changes().is_empty());
        l.set("example.com", "1000", Vec::new());
        assert_eq!(l.len(), 1);
        let changes = l.take_changes();
        assert_eq!(
            changes,
            vec![UserBindings {
                domain: "example.com".into(),
                user: "1000".into(),
                bindings: vec![]
            }]
        );
        l.restore_changes(changes);
        assert_eq!(l.take_changes().len(), 1);
        l.set("example.com", "1001", Vec::new());
        assert!(l.is_empty());
        assert_eq!(l.users_of("example.com").count(), 0);
        assert_eq!(l.iter().count(), 0);
    }

    #[test]
    fn names_and_agents_are_shared() {
        let mut l = Location::new();
        l.set(
            "example.com",
            "1000",
            vec![
                binding("1000", "sip:a@127.0.0.1"),
                binding("1000", "sip:b@127.0.0.1"),
            ],
        );
        l.set(
            "example.com",
            "1001",
            vec![binding("1001", "sip:c@127.0.0.1")],
        );
        let a = l.bindings("example.com", "1000");
        let c = l.bindings("example.com", "1001");
        assert!(Arc::ptr_eq(&a[0].user, &a[1].user));
        assert!(Arc::ptr_eq(&a[0].domain, &c[0].domain));
        assert!(Arc::ptr_eq(&a[0].agent, &c[0].agent));
        let (d, u) = l.names("example.com", "1000");
        assert!(Arc::ptr_eq(&d, &a[0].domain) && Arc::ptr_eq(&u, &a[0].user));
        let agent = c[0].agent.clone();
        assert!(Arc::ptr_eq(&l.agent("test"), &agent));
        // A binding stored under another key takes the key's names.
        l.set(
            "example.com",
            "1002",
            vec![binding("1000", "sip:d@127.0.0.1")],
        );
        assert_eq!(&*l.bindings("example.com", "1002")[0].user, "1002");
    }

    #[test]
    fn interned_strings_no_binding_uses_are_swept() {
        let mut i = Interner::default();
        let kept = i.intern("kept");
        for n in 0..10_000 {
            i.intern(&format!("agent {n}"));
        }
        assert!(i.strings.len() <= 2 * Interner::MIN_SWEEP);
        assert!(Arc::ptr_eq(&kept, &i.intern("kept")));
    }
}
