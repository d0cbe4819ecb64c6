//! Names of live calls under an extension's `ongoing/` (DESIGN.md section 15): `<from>_<to>`,
//! each part escaped by [`tree_escape`], with `_2`, `_3`... when the name is taken. A call keeps
//! its name for its whole life, so a path held by a client never starts naming another call.

use std::collections::HashMap;
use std::sync::Arc;

use crate::calls::CallInfo;
use crate::cdr::tree_escape;

/// A call's id and its name under one extension's `ongoing/`.
pub(crate) type Named = (Arc<str>, Arc<str>);

/// The names given out, per extension.
#[derive(Debug, Default)]
pub(crate) struct CallNames {
    /// (domain, user) → the names of its calls, in the order given.
    by_ext: HashMap<(Arc<str>, Arc<str>), Vec<Named>>,
}

impl CallNames {
    /// The names of the calls of `domain`/`user` among `live` (every live call; those of other
    /// extensions are skipped): names of calls that ended are forgotten, new calls get the
    /// first free name, oldest call first. Returns (call id, name) pairs.
    pub(crate) fn sync<'a>(
        &mut self,
        domain: &str,
        user: &str,
        live: impl Iterator<Item = &'a CallInfo>,
    ) -> Vec<Named> {
        let mut mine: Vec<&CallInfo> = live.filter(|c| involves(c, domain, user)).collect();
        let key = (Arc::from(domain), Arc::from(user));
        if mine.is_empty() {
            self.by_ext.remove(&key);
            return Vec::new();
        }
        mine.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        let names = self.by_ext.entry(key).or_default();
        names.retain(|(id, _)| mine.iter().any(|c| *c.id == **id));
        for call in mine {
            if names.iter().any(|(id, _)| **id == *call.id) {
                continue;
            }
            let base = format!("{}_{}", tree_escape(&call.from), tree_escape(&call.to));
            let taken = |n: &str| names.iter().any(|(_, name)| &**name == n);
            let mut name = base.clone();
            let mut k = 2u32;
            while taken(&name) {
                name = format!("{base}_{k}");
                k += 1;
            }
            names.push((Arc::from(call.id.as_str()), Arc::from(name)));
        }
        names.clone()
    }
}

/// True when `call` is between extensions of `domain` and `user` is one of its parties.
pub(crate) fn involves(call: &CallInfo, domain: &str, user: &str) -> bool {
    call.domain == domain && (call.from == user || call.to == user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, start: u64, from: &str, to: &str) -> CallInfo {
        CallInfo {
            id: id.into(),
            domain: "d.example".into(),
            from: from.into(),
            to: to.into(),
            state: "up",
            start,
            answer: None,
            codecs: Vec::new(),
            media: None,
            media_session: None,
            sip_call_ids: Vec::new(),
        }
    }

    fn names(pairs: &[Named]) -> Vec<(&str, &str)> {
        pairs.iter().map(|(i, n)| (&**i, &**n)).collect()
    }

    #[test]
    fn suffixes_are_stable_for_a_call_life() {
        let mut n = CallNames::default();
        let a = call("a", 10, "alice", "bob");
        let b = call("b", 11, "alice", "bob");
        let c = call("c", 12, "bob", "alice");
        let other = call("x", 9, "carol", "dave");
        let got = n.sync("d.example", "alice", [&other, &c, &b, &a].into_iter());
        assert_eq!(
            names(&got),
            [("a", "alice_bob"), ("b", "alice_bob_2"), ("c", "bob_alice")]
        );
        // a ends: b keeps its name; a new call takes the free one.
        let d = call("d", 13, "alice", "bob");
        let got = n.sync("d.example", "alice", [&b, &c, &d].into_iter());
        assert_eq!(
            names(&got),
            [("b", "alice_bob_2"), ("c", "bob_alice"), ("d", "alice_bob")]
        );
        // The callee's own directory names the same calls independently.
        let got = n.sync("d.example", "bob", [&b, &d].into_iter());
        assert_eq!(names(&got), [("b", "alice_bob"), ("d", "alice_bob_2")]);
        assert!(n.sync("d.example", "carol", std::iter::empty()).is_empty());
    }

    #[test]
    fn parts_are_escaped() {
        let mut n = CallNames::default();
        let a = call("a", 1, "a_b", "+49 30");
        let got = n.sync("d.example", "a_b", [&a].into_iter());
        assert_eq!(names(&got), [("a", "a%5Fb_+49%2030")]);
    }
}
