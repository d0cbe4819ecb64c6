//! Packet taps: a bounded queue of packets for one reader, and what a tap on a media leg
//! delivers into it.
//!
//! Every `.sock` file of the 9P tree reads from a [`PacketQueue`] (DESIGN.md section 9, after
//! Plan 9's `/net/udp` data files): one whole packet per read, each open with its own bounded
//! queue, the oldest packet dropped and counted when the reader falls behind. Producers (the
//! media relay threads, the SIP capture interceptor) never wait for a reader: `push` copies
//! the packet into a ring of reusable slots under a short lock and calls the reader's waker.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use media::tap::PacketQueue;
//!
//! let woken = Arc::new(AtomicUsize::new(0));
//! let w = woken.clone();
//! let queue = PacketQueue::new(2, Arc::new(move || { w.fetch_add(1, Ordering::Relaxed); }));
//! for p in [&b"one"[..], b"two", b"three"] {
//!     queue.clone().push(p);
//! }
//! let mut buf = Vec::new();
//! assert!(queue.pop_into(&mut buf));
//! assert_eq!(buf, b"two");
//! assert_eq!(queue.dropped(), 1);
//! assert_eq!(woken.load(Ordering::Relaxed), 3);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Called after each push (and on close), so that an async reader knows to try again. It
/// runs on the producer's thread (a relay thread, the SIP endpoint task): it must be quick
/// and must not block (waking a task, notifying a condition).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The largest packet a queue keeps; longer ones are dropped and counted (no UDP datagram is
/// longer).
pub const MAX_PACKET: usize = 65_535;

/// A bounded queue of packets for one reader. Cloning it gives another handle to the same
/// queue (an `Arc`): the producers hold clones, the reader holds one.
///
/// `push` copies the packet into the oldest free slot of a ring; slots keep their buffers,
/// so once each slot has held a packet as large as the ones that come, pushing allocates
/// nothing. When the ring is full the oldest packet is overwritten and counted in
/// [`PacketQueue::dropped`]. After [`PacketQueue::close`], pushes are ignored and the reader
/// drains what is left, then sees [`PacketQueue::is_closed`].
#[derive(Clone)]
pub struct PacketQueue {
    inner: Arc<Inner>,
}

struct Inner {
    ring: Mutex<Ring>,
    /// Packets pushed and never read: overwritten, too large, or pushed when closed.
    dropped: AtomicU64,
    /// Packets accepted by `push`.
    pushed: AtomicU64,
    closed: AtomicBool,
    waker: Waker,
}

struct Ring {
    slots: Box<[Vec<u8>]>,
    /// Index of the oldest packet.
    head: usize,
    /// Packets held.
    len: usize,
}

impl fmt::Debug for PacketQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketQueue")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("dropped", &self.dropped())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl PacketQueue {
    /// A queue holding at most `capacity` packets (at least 1), calling `waker` after each
    /// push.
    pub fn new(capacity: usize, waker: Waker) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Arc::new(Inner {
                ring: Mutex::new(Ring {
                    slots: (0..capacity).map(|_| Vec::new()).collect(),
                    head: 0,
                    len: 0,
                }),
                dropped: AtomicU64::new(0),
                pushed: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                waker,
            }),
        }
    }

    /// A queue whose reader polls (tests, readers that wake on their own).
    pub fn unwoken(capacity: usize) -> Self {
        Self::new(capacity, Arc::new(|| {}))
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.inner.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Copies one packet in, overwriting the oldest when full, and wakes the reader. Never
    /// blocks on the reader. A packet longer than [`MAX_PACKET`], or a push after `close`,
    /// is dropped and counted.
    pub fn push(&self, packet: &[u8]) {
        if packet.len() > MAX_PACKET || self.is_closed() {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        {
            let mut ring = self.lock();
            let cap = ring.slots.len();
            let index = if ring.len == cap {
                // Full: the oldest packet makes room.
                let oldest = ring.head;
                ring.head = (ring.head + 1) % cap;
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                oldest
            } else {
                let i = (ring.head + ring.len) % cap;
                ring.len += 1;
                i
            };
            if let Some(slot) = ring.slots.get_mut(index) {
                slot.clear();
                slot.extend_from_slice(packet);
            }
        }
        self.inner.pushed.fetch_add(1, Ordering::Relaxed);
        (self.inner.waker)();
    }

    /// Takes the oldest packet into `out` (cleared first). False when the queue is empty.
    pub fn pop_into(&self, out: &mut Vec<u8>) -> bool {
        self.pop_with(|packet| {
            out.clear();
            out.extend_from_slice(packet);
        })
        .is_some()
    }

    /// Takes the oldest packet and hands it to `f` without copying it (under the queue's
    /// lock: `f` must be quick). `None` when the queue is empty.
    pub fn pop_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let mut ring = self.lock();
        if ring.len == 0 {
            return None;
        }
        let head = ring.head;
        ring.head = (head + 1) % ring.slots.len();
        ring.len -= 1;
        ring.slots.get(head).map(|slot| f(slot))
    }

    /// The length of the oldest packet, if any, without taking it.
    pub fn peek_len(&self) -> Option<usize> {
        let ring = self.lock();
        (ring.len > 0)
            .then(|| ring.slots.get(ring.head).map(Vec::len))
            .flatten()
    }

    /// Drops the oldest packet and counts it (a reader whose buffer was too small for it).
    pub fn discard(&self) -> bool {
        let taken = self.pop_with(|_| ()).is_some();
        if taken {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most packets it holds.
    pub fn capacity(&self) -> usize {
        self.lock().slots.len()
    }

    /// Packets lost for this reader: overwritten when full, too large, discarded, or pushed
    /// after close.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Packets accepted by `push` so far.
    pub fn pushed(&self) -> u64 {
        self.inner.pushed.load(Ordering::Relaxed)
    }

    /// Ends the stream: later pushes are dropped, the reader drains what is left and then
    /// sees `is_closed` with an empty queue (end of file). Wakes the reader.
    pub fn close(&self) {
        if !self.inner.closed.swap(true, Ordering::AcqRel) {
            (self.inner.waker)();
        }
    }

    /// Closed by [`PacketQueue::close`].
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Both handles reach the same queue.
    pub fn same_queue(&self, other: &PacketQueue) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// What a tap on one leg of a session delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TapKind {
    /// The leg's RTP packets as they arrived from its party, before any payload-type rewrite:
    /// what `rtp_src.sock` (the caller's leg) and `rtp_dest.sock` (the callee's leg) read.
    /// Only packets the leg's latching accepted (never a stranger's).
    Rtp,
    /// The leg's RTCP as it arrived from its party, each packet as one HEP3 frame of type 5
    /// (RTCP as Homer's JSON) with the party's address as source, the PBX's port as
    /// destination, and the session's correlation label (the SIP Call-ID) as correlation id:
    /// what `hep.sock` reads besides the call's SIP.
    RtcpHep,
}

/// A tap's id, unique for the life of the engine, for [`crate::MediaControl::untap`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TapId(pub u64);

impl fmt::Debug for TapId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TapId({})", self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn fifo_one_packet_per_pop() {
        let q = PacketQueue::unwoken(4);
        q.push(b"a");
        q.push(b"bb");
        assert_eq!(q.len(), 2);
        assert_eq!(q.peek_len(), Some(1));
        let mut out = b"junk".to_vec();
        assert!(q.pop_into(&mut out));
        assert_eq!(out, b"a");
        assert_eq!(q.pop_with(<[u8]>::to_vec), Some(b"bb".to_vec()));
        assert!(!q.pop_into(&mut out));
        assert_eq!(q.peek_len(), None);
        assert_eq!((q.pushed(), q.dropped()), (2, 0));
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts() {
        let q = PacketQueue::unwoken(3);
        for i in 0..10u8 {
            q.push(&[i]);
        }
        assert_eq!(q.len(), 3);
        assert_eq!(q.dropped(), 7);
        let mut got = Vec::new();
        while let Some(p) = q.pop_with(<[u8]>::to_vec) {
            got.extend(p);
        }
        assert_eq!(got, vec![7, 8, 9]);
        // Wrapped around: still in order.
        q.push(b"x");
        q.push(b"y");
        assert_eq!(q.pop_with(<[u8]>::to_vec), Some(b"x".to_vec()));
        assert!(q.discard());
        assert_eq!(q.dropped(), 8);
        assert!(!q.discard());
    }

    #[test]
    fn slots_are_reused_without_growing() {
        let q = PacketQueue::unwoken(2);
        let big = [7u8; 1500];
        for _ in 0..4 {
            q.push(&big);
        }
        let caps: Vec<usize> = q.lock().slots.iter().map(Vec::capacity).collect();
        let before: Vec<*const u8> = q.lock().slots.iter().map(Vec::as_ptr).collect();
        for _ in 0..100 {
            q.push(&big[..172]);
            q.pop_with(|_| ());
        }
        let after: Vec<*const u8> = q.lock().slots.iter().map(Vec::as_ptr).collect();
        assert_eq!(before, after, "slot buffers were reallocated");
        assert!(caps.iter().all(|&c| c >= 1500));
    }

    #[test]
    fn waker_close_and_oversize() {
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        let q = PacketQueue::new(
            0,
            Arc::new(move || {
                w.fetch_add(1, Ordering::Relaxed);
            }),
        );
        assert_eq!(q.capacity(), 1);
        let reader = q.clone();
        q.push(b"1");
        q.push(&vec![0; MAX_PACKET + 1]);
        assert_eq!(woken.load(Ordering::Relaxed), 1);
        assert_eq!(q.dropped(), 1);
        q.close();
        q.close();
        assert_eq!(woken.load(Ordering::Relaxed), 2);
        q.push(b"2");
        assert_eq!(q.dropped(), 2);
        assert!(reader.is_closed() && reader.same_queue(&q));
        assert_eq!(reader.pop_with(<[u8]>::to_vec), Some(b"1".to_vec()));
        assert!(reader.is_empty());
        assert!(!PacketQueue::unwoken(1).same_queue(&q));
    }
}
