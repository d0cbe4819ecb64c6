//! Digest nonces: issued with a keyed checksum so that forged ones are recognised, kept in a
//! bounded table so that each one's `nc` only goes up, and aged out after a lifetime, after
//! which a correct answer earns `stale=true` (RFC 7616 section 3.3) rather than a failure.

use std::collections::{HashMap, VecDeque};

use sip::digest::Algorithm;

/// What a nonce presented in credentials turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours, alive, and its `nc` is higher than any seen with it.
    Fresh,
    /// Ours but too old, or no longer tracked: answer with `stale=true` if the credentials
    /// are otherwise right.
    Stale,
    /// Ours and alive, but the `nc` did not go up: a replay, or a phone that reuses
    /// `nc=00000001`. Answer with a new challenge (DESIGN.md section 15: not 403).
    Replayed,
    /// Not one we issued.
    Forged,
    /// The same nonce, `nc` and request as the last use: a retransmission of a request that
    /// was already answered (UDP loss), to be answered again, identically.
    Retransmission,
}

/// The nonces this PBX has handed out.
#[derive(Debug)]
pub struct Nonces {
    key: u64,
    lifetime: u64,
    capacity: usize,
    /// The salt of each live nonce (unique: it comes from the caller's RNG, and the checksum
    /// binds it to the rest) -> highest nc seen (0: none yet) and the identity of the request
    /// that used it. Keyed by the 64-bit salt rather than the whole nonce text, so that each
    /// registration's nonce costs a few dozen bytes while it lives.
    live: HashMap<u64, (u32, u64)>,
    /// (issued at, salt), oldest first, for ageing out and for the capacity bound.
    order: VecDeque<(u64, u64)>,
}

impl Nonces {
    /// `key` keys the checksum (from the caller's RNG); nonces live `lifetime` seconds; at most
    /// `capacity` are tracked (the oldest are forgotten first, and become stale).
    pub fn new(key: u64, lifetime: u64, capacity: usize) -> Self {
        Self {
            key,
            lifetime,
            capacity: capacity.max(1),
            live: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// A new nonce, issued at `now` (Unix seconds), unique by `salt` (from the caller's RNG).
    pub fn issue(&mut self, now: u64, salt: u64) -> String {
        self.expire(now);
        while self.live.len() >= self.capacity {
            match self.order.pop_front() {
                Some((_, old)) => {
                    self.live.remove(&old);
                }
                None => break,
            }
        }
        let body = format!("{now:x}.{salt:016x}");
        let nonce = format!("{body}.{}", self.checksum(&body));
        self.live.insert(salt, (0, 0));
        self.order.push_back((now, salt));
        nonce
    }

    /// Checks a nonce and its `nc` (None for RFC 2069 clients that send no qop), recording
    /// the nc when fresh. `request` identifies the request (a hash of its branch, Call-ID and
    /// CSeq), so that a retransmission is told from a replay.
    pub fn check(&mut self, now: u64, nonce: &str, nc: Option<u32>, request: u64) -> NonceCheck {
        self.expire(now);
        let Some((body, sum)) = nonce.rsplit_once('.') else {
            return NonceCheck::Forged;
        };
        if !sip::digest::constant_time_eq(sum.as_bytes(), self.checksum(body).as_bytes()) {
            return NonceCheck::Forged;
        }
        // body = "<issued hex>.<salt hex>"; the checksum above vouches for both.
        let Some(salt) = body
            .rsplit_once('.')
            .and_then(|(_, s)| u64::from_str_radix(s, 16).ok())
        else {
            return NonceCheck::Forged;
        };
        let Some((last, last_request)) = self.live.get_mut(&salt) else {
            return NonceCheck::Stale;
        };
        match nc {
            Some(nc) if nc > *last => {
                *last = nc;
                *last_request = request;
                NonceCheck::Fresh
            }
            Some(nc) if nc == *last && *last_request == request => NonceCheck::Retransmission,
            Some(_) => NonceCheck::Replayed,
            // Without qop there is no nc to check; the nonce may be reused while it lives.
            None => NonceCheck::Fresh,
        }
    }

    fn expire(&mut self, now: u64) {
        while let Some((issued, _)) = self.order.front() {
            if now.saturating_sub(*issued) < self.lifetime {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.live.remove(&old);
            }
        }
    }

    fn checksum(&self, body: &str) -> String {
        let mut input = self.key.to_be_bytes().to_vec();
        input.extend_from_slice(body.as_bytes());
        let mut h = Algorithm::Sha256.hash_hex(&input);
        h.truncate(24);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let mut n = Nonces::new(42, 30, 100);
        let a = n.issue(1000, 1);
        assert_eq!(n.check(1000, &a, Some(1), 101), NonceCheck::Fresh);
        assert_eq!(n.check(1001, &a, Some(1), 999), NonceCheck::Replayed);
        // The same request again (a UDP retransmission) is not a replay.
        assert_eq!(n.check(1001, &a, Some(1), 101), NonceCheck::Retransmission);
        assert_eq!(n.check(1001, &a, Some(2), 102), NonceCheck::Fresh);
        assert_eq!(n.check(1040, &a, Some(3), 103), NonceCheck::Stale);
        let forged = a.replace('.', ":");
        assert_eq!(n.check(1000, &forged, Some(1), 101), NonceCheck::Forged);
        let mut tampered = n.issue(1000, 2);
        tampered.replace_range(0..1, "f");
        assert_eq!(n.check(1000, &tampered, Some(1), 101), NonceCheck::Forged);
        // Another key does not accept our nonces.
        let mut other = Nonces::new(43, 30, 100);
        let b = n.issue(1000, 3);
        assert_eq!(other.check(1000, &b, Some(1), 101), NonceCheck::Forged);
    }

    #[test]
    fn capacity_is_a_bound() {
        let mut n = Nonces::new(1, 3600, 10);
        let first = n.issue(0, 0);
        for i in 1..1000 {
            n.issue(0, i);
        }
        assert_eq!(n.live.len(), 10);
        assert_eq!(n.check(0, &first, Some(1), 101), NonceCheck::Stale);
    }
}
