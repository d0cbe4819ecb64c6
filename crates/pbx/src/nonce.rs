//! Digest nonces: issued with a keyed checksum so that forged ones are recognised, kept in a
//! bounded table so that each one's `nc` only goes up, and aged out after a lifetime, after
//! which a correct answer earns `stale=true` (RFC 7616 section 3.3) rather than a failure.

use std::collections::VecDeque;

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
///
/// Each nonce carries a sequence number, so the live ones are a contiguous range and their
/// state a ring of 16-byte slots, oldest first: no hash table (issue 3 counts the bytes each
/// registration costs, and every registration leaves a nonce alive for `lifetime`).
#[derive(Debug)]
pub struct Nonces {
    key: u64,
    lifetime: u64,
    capacity: usize,
    /// The sequence number of `live[0]`.
    first: u64,
    /// One slot per live nonce, by sequence number from `first`.
    live: VecDeque<Slot>,
}

/// What is known about one live nonce.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The identity of the request that last used it (0: none yet).
    request: u64,
    /// Unix seconds when it was issued (saturating at `u32::MAX`, in 2106).
    issued: u32,
    /// The highest nc seen with it (0: none yet).
    nc: u32,
}

impl Nonces {
    /// `key` keys the checksum (from the caller's RNG); nonces live `lifetime` seconds; at most
    /// `capacity` are tracked (the oldest are forgotten first, and become stale).
    pub fn new(key: u64, lifetime: u64, capacity: usize) -> Self {
        Self {
            key,
            lifetime,
            capacity: capacity.max(1),
            first: 0,
            live: VecDeque::new(),
        }
    }

    /// A new nonce, issued at `now` (Unix seconds). Unique: its sequence number is new, and
    /// the keyed checksum binds it to the time and to this PBX's run.
    pub fn issue(&mut self, now: u64) -> String {
        self.expire(now);
        while self.live.len() >= self.capacity {
            self.forget_oldest();
        }
        let seq = self.first + self.live.len() as u64;
        let body = format!("{now:x}.{seq:016x}");
        let nonce = format!("{body}.{}", self.checksum(&body));
        self.live.push_back(Slot {
            request: 0,
            issued: u32::try_from(now).unwrap_or(u32::MAX),
            nc: 0,
        });
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
        // body = "<issued hex>.<sequence hex>"; the checksum above vouches for both.
        let Some(seq) = body
            .rsplit_once('.')
            .and_then(|(_, s)| u64::from_str_radix(s, 16).ok())
        else {
            return NonceCheck::Forged;
        };
        let slot = seq
            .checked_sub(self.first)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.live.get_mut(i));
        let Some(slot) = slot else {
            return NonceCheck::Stale;
        };
        match nc {
            Some(nc) if nc > slot.nc => {
                slot.nc = nc;
                slot.request = request;
                NonceCheck::Fresh
            }
            Some(nc) if nc == slot.nc && slot.request == request => NonceCheck::Retransmission,
            Some(_) => NonceCheck::Replayed,
            // Without qop there is no nc to check; the nonce may be reused while it lives.
            None => NonceCheck::Fresh,
        }
    }

    fn expire(&mut self, now: u64) {
        while let Some(oldest) = self.live.front() {
            if now.saturating_sub(u64::from(oldest.issued)) < self.lifetime {
                break;
            }
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if self.live.pop_front().is_some() {
            self.first += 1;
        }
        if self.live.is_empty() {
            // Nothing alive: give the ring's memory back after a burst.
            self.live.shrink_to_fit();
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
        let a = n.issue(1000);
        assert_eq!(n.check(1000, &a, Some(1), 101), NonceCheck::Fresh);
        assert_eq!(n.check(1001, &a, Some(1), 999), NonceCheck::Replayed);
        // The same request again (a UDP retransmission) is not a replay.
        assert_eq!(n.check(1001, &a, Some(1), 101), NonceCheck::Retransmission);
        assert_eq!(n.check(1001, &a, Some(2), 102), NonceCheck::Fresh);
        assert_eq!(n.check(1040, &a, Some(3), 103), NonceCheck::Stale);
        let forged = a.replace('.', ":");
        assert_eq!(n.check(1000, &forged, Some(1), 101), NonceCheck::Forged);
        let mut tampered = n.issue(1000);
        tampered.replace_range(0..1, "f");
        assert_eq!(n.check(1000, &tampered, Some(1), 101), NonceCheck::Forged);
        // Another key does not accept our nonces.
        let mut other = Nonces::new(43, 30, 100);
        let b = n.issue(1000);
        assert_eq!(other.check(1000, &b, Some(1), 101), NonceCheck::Forged);
    }

    #[test]
    fn capacity_is_a_bound() {
        let mut n = Nonces::new(1, 3600, 10);
        let first = n.issue(0);
        let mut last = String::new();
        for _ in 1..1000 {
            last = n.issue(0);
        }
        assert_eq!(n.live.len(), 10);
        assert_eq!(n.check(0, &first, Some(1), 101), NonceCheck::Stale);
        assert_eq!(n.check(0, &last, Some(1), 101), NonceCheck::Fresh);
    }
}
