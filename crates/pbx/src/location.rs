//! The location service: who is registered where (RFC 3261 section 10). Bindings live in
//! memory; the ones that changed are checkpointed to the [`Store`](crate::Store) at least
//! every second, so a restart loses none without a disk write per REGISTER.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The domain (account).
    pub domain: String,
    /// The user.
    pub user: String,
    /// The Contact URI as the phone registered it.
    pub contact: String,
    /// Where requests for this binding really go.
    pub flow: Flow,
    /// The User-Agent of the REGISTER.
    pub agent: String,
    /// Call-ID of the REGISTER (RFC 3261 section 10.3 step 7: refreshes keep it).
    pub call_id: String,
    /// CSeq of the latest REGISTER for this binding.
    pub cseq: u32,
    /// Unix seconds when the binding was first made.
    pub registered_at: u64,
    /// Unix seconds when it expires unless refreshed.
    pub expires_at: u64,
    /// OPTIONS keepalives sent and not answered.
    pub outstanding_pings: u32,
}

type Aor = (String, String);

/// Every binding, by (domain, user), with the set of users whose bindings changed since the
/// last checkpoint.
#[derive(Debug, Default)]
pub struct Location {
    users: HashMap<Aor, Vec<Binding>>,
    dirty: HashSet<Aor>,
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
        self.users
            .get(&(domain.to_owned(), user.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// The users of `domain` that have at least one binding.
    pub fn users_of<'a>(
        &'a self,
        domain: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a [Binding])> {
        self.users
            .iter()
            .filter(move |((d, _), b)| d == domain && !b.is_empty())
            .map(|((_, u), b)| (u.as_str(), b.as_slice()))
    }

    /// Replaces a user's bindings (after a REGISTER, an expiry, a failed keepalive...).
    pub fn set(&mut self, domain: &str, user: &str, bindings: Vec<Binding>) {
        let key = (domain.to_owned(), user.to_owned());
        let old = if bindings.is_empty() {
            self.users.remove(&key).map_or(0, |b| b.len())
        } else {
            let new = bindings.len();
            let old = self
                .users
                .insert(key.clone(), bindings)
                .map_or(0, |b| b.len());
            self.count += new;
            old
        };
        self.count -= old;
        self.dirty.insert(key);
    }

    /// Every binding, for keepalive and expiry scans.
    pub fn iter(&self) -> impl Iterator<Item = &Binding> {
        self.users.values().flatten()
    }

    /// One user's bindings, mutably, without marking them for the checkpoint (see
    /// [`Location::iter_mut_unsaved`]).
    pub fn bindings_mut_unsaved(&mut self, domain: &str, user: &str) -> &mut [Binding] {
        match self.users.get_mut(&(domain.to_owned(), user.to_owned())) {
            Some(b) => b,
            None => &mut [],
        }
    }

    /// Every binding, mutably, for the keepalive counters. Changes made here are not
    /// checkpointed: the count of unanswered pings is runtime state, and writing every binding
    /// on every ping round would cost a disk write per phone per interval.
    pub fn iter_mut_unsaved(&mut self) -> impl Iterator<Item = &mut Binding> {
        self.users.values_mut().flatten()
    }

    /// Takes the users whose bindings changed since the last call, with their lists now.
    pub fn take_changes(&mut self) -> Vec<UserBindings> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|(domain, user)| {
                let bindings = self
                    .users
                    .get(&(domain.clone(), user.clone()))
                    .cloned()
                    .unwrap_or_default();
                UserBindings {
                    domain,
                    user,
                    bindings,
                }
            })
            .collect()
    }

    /// Puts back changes that could not be saved, so the next checkpoint retries them.
    pub fn restore_changes(&mut self, failed: Vec<UserBindings>) {
        self.dirty
            .extend(failed.into_iter().map(|c| (c.domain, c.user)));
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
    }
}
