//! RTP/RTCP port pairs from a configured range, with a quarantine before reuse.
//!
//! Released pairs wait `quarantine` before they are handed out again, so late packets of a
//! call that just ended (a phone still sending, a retransmitted re-INVITE's media) reach a
//! closed port and not the next call. Time is an input.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::error::MediaError;

/// An inclusive range of UDP ports for media, such as the default `10000-20000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    lo: u16,
    hi: u16,
}

impl PortRange {
    /// The range `lo..=hi`. It must hold at least one even/odd pair.
    pub fn new(lo: u16, hi: u16) -> Result<Self, MediaError> {
        let range = Self { lo, hi };
        if range.first_pair().is_none() {
            return Err(MediaError::InvalidPortRange { lo, hi });
        }
        Ok(range)
    }

    /// The lowest port.
    pub fn lo(&self) -> u16 {
        self.lo
    }

    /// The highest port.
    pub fn hi(&self) -> u16 {
        self.hi
    }

    /// True when `port` is inside the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.lo..=self.hi).contains(&port)
    }

    /// The lowest even port whose pair fits, if any.
    fn first_pair(&self) -> Option<u16> {
        let first = self.lo.checked_add(self.lo % 2)?;
        (first != 0 && first < self.hi).then_some(first)
    }

    /// How many even/odd pairs the range holds.
    pub fn pairs(&self) -> usize {
        match self.first_pair() {
            Some(first) => usize::from(self.hi - first - 1) / 2 + 1,
            None => 0,
        }
    }
}

impl Default for PortRange {
    /// `10000-20000`, the `--rtp-ports` default (DESIGN.md section 15).
    fn default() -> Self {
        Self {
            lo: 10000,
            hi: 20000,
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.lo, self.hi)
    }
}

impl FromStr for PortRange {
    type Err = MediaError;

    /// Parses `LO-HI`, as given to `--rtp-ports`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MediaError::InvalidPortRange { lo: 0, hi: 0 };
        let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
        let lo = lo.trim().parse().map_err(|_| bad())?;
        let hi = hi.trim().parse().map_err(|_| bad())?;
        Self::new(lo, hi)
    }
}

/// An RTP port (even) and its RTCP port (the next one, RFC 3550 section 11).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortPair {
    rtp: u16,
}

impl PortPair {
    /// The even RTP port.
    pub fn rtp(&self) -> u16 {
        self.rtp
    }

    /// The RTCP port, RTP + 1.
    pub fn rtcp(&self) -> u16 {
        self.rtp + 1
    }
}

impl fmt::Debug for PortPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortPair({}/{})", self.rtp, self.rtp + 1)
    }
}

/// Hands out port pairs from a [`PortRange`] and takes them back.
///
/// Free pairs wait in one queue ordered by the time they may be used again: never-used pairs
/// first, in ascending order, then released ones in release order. So allocation is O(1), and
/// a pair comes back only after `quarantine`. A pair the caller could not bind (another
/// process holds it) is handed back with [`PortAllocator::release_unusable`] and goes to the
/// end of the queue, to be tried again later.
///
/// Times passed in should not go backwards; if they do, pairs only wait longer.
#[derive(Debug)]
pub struct PortAllocator {
    range: PortRange,
    first: u16,
    quarantine: Duration,
    /// Free pairs, by their RTP port, with the time from which they may be used.
    free: VecDeque<(u16, Option<Instant>)>,
    /// Indexed by pair number: handed out and not yet released.
    in_use: Vec<bool>,
    in_use_count: usize,
}

impl PortAllocator {
    /// All pairs of `range` free; released ones wait `quarantine`.
    pub fn new(range: PortRange, quarantine: Duration) -> Self {
        let first = range.first_pair().unwrap_or(range.lo);
        let pairs = range.pairs();
        let free = (0..pairs)
            .filter_map(|i| u16::try_from(i * 2).ok())
            .filter_map(|off| first.checked_add(off))
            .map(|rtp| (rtp, None))
            .collect();
        Self {
            range,
            first,
            quarantine,
            free,
            in_use: vec![false; pairs],
            in_use_count: 0,
        }
    }

    /// The range pairs come from.
    pub fn range(&self) -> PortRange {
        self.range
    }

    /// How long a released pair waits.
    pub fn quarantine(&self) -> Duration {
        self.quarantine
    }

    /// The next free pair whose quarantine is over at `now`, marked in use; `None` when every
    /// pair is in use or still waiting.
    pub fn allocate(&mut self, now: Instant) -> Option<PortPair> {
        let &(rtp, from) = self.free.front()?;
        if from.is_some_and(|from| from > now) {
            return None;
        }
        self.free.pop_front();
        let index = self.index(rtp)?;
        self.in_use[index] = true;
        self.in_use_count += 1;
        Some(PortPair { rtp })
    }

    /// Gives a pair back at `now`; it may be handed out again after the quarantine. Returns
    /// false (and changes nothing) for a pair that is not in use: a double release or a pair
    /// from another allocator.
    pub fn release(&mut self, pair: PortPair, now: Instant) -> bool {
        let Some(index) = self.index(pair.rtp) else {
            return false;
        };
        if !self.in_use[index] {
            return false;
        }
        self.in_use[index] = false;
        self.in_use_count -= 1;
        self.free.push_back((
            pair.rtp,
            Some(now.checked_add(self.quarantine).unwrap_or(now)),
        ));
        true
    }

    /// Gives back a pair that could not be bound (held by another process). It goes to the end
    /// of the queue like a released pair, so the next allocation tries another one and this
    /// one is tried again only after the quarantine.
    pub fn release_unusable(&mut self, pair: PortPair, now: Instant) -> bool {
        self.release(pair, now)
    }

    /// Pairs that could be allocated at `now`.
    pub fn available(&self, now: Instant) -> usize {
        self.free
            .partition_point(|&(_, from)| from.is_none_or(|from| from <= now))
    }

    /// Pairs handed out and not released.
    pub fn in_use(&self) -> usize {
        self.in_use_count
    }

    /// Pairs released and still in quarantine at `now`.
    pub fn quarantined(&self, now: Instant) -> usize {
        self.free.len() - self.available(now)
    }

    fn index(&self, rtp: u16) -> Option<usize> {
        if rtp < self.first || !(rtp - self.first).is_multiple_of(2) {
            return None;
        }
        let index = usize::from((rtp - self.first) / 2);
        (index < self.in_use.len()).then_some(index)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn range_pairs() {
        assert_eq!(PortRange::default().pairs(), 5000);
        assert_eq!(PortRange::new(10000, 10001).unwrap().pairs(), 1);
        assert_eq!(PortRange::new(10001, 10004).unwrap().pairs(), 1); // 10002/10003
        assert_eq!(PortRange::new(10001, 10005).unwrap().pairs(), 2);
        assert_eq!(PortRange::new(10000, 10003).unwrap().pairs(), 2);
        assert!(PortRange::new(10000, 10000).is_err());
        assert!(PortRange::new(10001, 10002).is_err());
        assert!(PortRange::new(0, 1).is_err());
        assert!(PortRange::new(20000, 10000).is_err());
        assert!(PortRange::new(65535, 65535).is_err());
        assert_eq!(PortRange::new(65534, 65535).unwrap().pairs(), 1);
        assert_eq!(
            "10000-20000".parse::<PortRange>().unwrap(),
            PortRange::default()
        );
        assert!("10000".parse::<PortRange>().is_err());
        assert!("a-b".parse::<PortRange>().is_err());
        assert_eq!(PortRange::default().to_string(), "10000-20000");
    }

    #[test]
    fn hands_out_every_pair_once_even_rtp() {
        let now = Instant::now();
        let mut a = PortAllocator::new(PortRange::new(10001, 10011).unwrap(), Duration::ZERO);
        let mut got = Vec::new();
        while let Some(p) = a.allocate(now) {
            assert_eq!(p.rtp() % 2, 0);
            assert!(p.rtcp() <= 10011);
            got.push(p.rtp());
        }
        assert_eq!(got, vec![10002, 10004, 10006, 10008, 10010]);
        assert_eq!(a.in_use(), 5);
        assert_eq!(a.available(now), 0);
    }

    #[test]
    fn released_pairs_wait_out_the_quarantine() {
        let t0 = Instant::now();
        let q = Duration::from_secs(10);
        let mut a = PortAllocator::new(PortRange::new(10000, 10003).unwrap(), q);
        let p1 = a.allocate(t0).unwrap();
        let p2 = a.allocate(t0).unwrap();
        assert_eq!(a.allocate(t0), None);
        assert!(a.release(p1, t0));
        assert!(!a.release(p1, t0), "double release");
        assert_eq!(a.quarantined(t0), 1);
        assert_eq!(a.allocate(t0 + Duration::from_secs(9)), None);
        assert_eq!(a.allocate(t0 + q), Some(p1));
        assert!(a.release(p2, t0 + q));
        assert_eq!(a.allocate(t0 + q), None);
        assert_eq!(a.allocate(t0 + q + q), Some(p2));
    }

    #[test]
    fn fresh_pairs_before_quarantined_ones() {
        let t0 = Instant::now();
        let mut a = PortAllocator::new(PortRange::new(10000, 10005).unwrap(), Duration::ZERO);
        let p1 = a.allocate(t0).unwrap();
        a.release(p1, t0);
        // Even with no quarantine, the never-used pairs come first: reuse is as late as can be.
        assert_eq!(a.allocate(t0).unwrap().rtp(), 10002);
        assert_eq!(a.allocate(t0).unwrap().rtp(), 10004);
        assert_eq!(a.allocate(t0), Some(p1));
    }

    #[test]
    fn unusable_pair_is_skipped_and_retried_later() {
        let t0 = Instant::now();
        let q = Duration::from_secs(1);
        let mut a = PortAllocator::new(PortRange::new(10000, 10003).unwrap(), q);
        let taken = a.allocate(t0).unwrap();
        assert!(a.release_unusable(taken, t0));
        let next = a.allocate(t0).unwrap();
        assert_ne!(next, taken);
        assert_eq!(a.allocate(t0), None);
        assert_eq!(a.allocate(t0 + q), Some(taken));
    }

    #[test]
    fn foreign_pairs_are_refused() {
        let t0 = Instant::now();
        let mut a = PortAllocator::new(PortRange::new(10000, 10003).unwrap(), Duration::ZERO);
        let mut b = PortAllocator::new(PortRange::new(20000, 20003).unwrap(), Duration::ZERO);
        let p = b.allocate(t0).unwrap();
        assert!(!a.release(p, t0));
        assert_eq!(a.in_use(), 0);
        assert_eq!(a.available(t0), 2);
    }
}
