//! The RFC 3261 timers as an enum-keyed table, and the configuration that sets their values.

use std::time::{Duration, Instant};

/// One transaction timer. RFC 3261 section 17 names A to K, RFC 6026 adds L and M; `Trying`
/// is the 200 ms delay after which an INVITE server transaction answers 100 Trying itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmission interval (client, unreliable transports only).
    A,
    /// INVITE transaction timeout (client, Calling state).
    B,
    /// Wait time for response retransmissions (client INVITE, Completed state).
    D,
    /// Non-INVITE request retransmission interval (client, unreliable transports only).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE final response retransmission interval (server, unreliable transports only).
    G,
    /// Wait time for ACK receipt (server INVITE, Completed state).
    H,
    /// Wait time for ACK retransmissions (server INVITE, Confirmed state).
    I,
    /// Wait time for non-INVITE request retransmissions (server, Completed state).
    J,
    /// Wait time for response retransmissions (client non-INVITE, Completed state).
    K,
    /// RFC 6026: wait time for retransmissions of an accepted INVITE (server, Accepted state).
    L,
    /// RFC 6026: wait time for 2xx retransmissions and 2xx from other forks (client INVITE,
    /// Accepted state).
    M,
    /// RFC 3261 section 17.2.1: the 200 ms after which a server INVITE transaction sends
    /// 100 Trying unless the TU has answered.
    Trying,
}

impl Timer {
    const COUNT: usize = 13;
    const ALL: [Self; Self::COUNT] = [
        Self::A,
        Self::B,
        Self::D,
        Self::E,
        Self::F,
        Self::G,
        Self::H,
        Self::I,
        Self::J,
        Self::K,
        Self::L,
        Self::M,
        Self::Trying,
    ];
}

/// The deadline of each timer, indexed by [`Timer`] (quinn's `TimerTable`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimerTable([Option<Instant>; Timer::COUNT]);

impl TimerTable {
    /// Arms `timer` to fire `after` from `now`. A deadline beyond what `Instant` can hold
    /// (an absurd configuration) leaves the timer disarmed rather than panicking.
    pub(crate) fn start(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.0[timer as usize] = now.checked_add(after);
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }

    /// Disarms every timer.
    pub(crate) fn stop_all(&mut self) {
        self.0 = [None; Timer::COUNT];
    }

    /// The deadline of `timer`.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.0[timer as usize]
    }

    /// The earliest deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// The expired timer with the earliest deadline (the first in table order on a tie).
    pub(crate) fn next_expired(&self, now: Instant) -> Option<Timer> {
        Timer::ALL
            .iter()
            .filter_map(|&t| self.get(t).filter(|&d| d <= now).map(|d| (d, t)))
            .min_by_key(|&(d, _)| d)
            .map(|(_, t)| t)
    }
}

/// The timer values of RFC 3261 section 17.1.1.1 and table 4, configurable per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, the RTT estimate (default 500 ms).
    pub t1: Duration,
    /// T2, the longest retransmission interval for non-INVITE requests and INVITE responses
    /// (default 4 s).
    pub t2: Duration,
    /// T4, the longest time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// Timer D on unreliable transports (default 32 s, the RFC's minimum).
    pub timer_d: Duration,
    /// How long a server INVITE transaction waits for the TU before it sends 100 Trying
    /// itself (default 200 ms).
    pub trying: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.1.1
        //# T1 is an estimate of the round-trip time (RTT), and it defaults to 500 ms.
        //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.2.2
        //# The default value of T2 is 4s [...] The default value of T4 is 5s.
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
            trying: Duration::from_millis(200),
        }
    }
}

impl TimerConfig {
    /// 64*T1: timers B, F, H, L, M and J on unreliable transports.
    pub fn timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_orders_deadlines() {
        let now = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.start(Timer::B, now, Duration::from_secs(32));
        t.start(Timer::A, now, Duration::from_millis(500));
        assert_eq!(t.next_timeout(), Some(now + Duration::from_millis(500)));
        assert_eq!(t.next_expired(now), None);
        assert_eq!(
            t.next_expired(now + Duration::from_secs(40)),
            Some(Timer::A)
        );
        t.stop(Timer::A);
        assert_eq!(
            t.next_expired(now + Duration::from_secs(40)),
            Some(Timer::B)
        );
        t.stop_all();
        assert_eq!(t.next_timeout(), None);
    }

    #[test]
    fn absurd_durations_do_not_panic() {
        let now = Instant::now();
        let mut t = TimerTable::default();
        t.start(Timer::A, now, Duration::MAX);
        assert_eq!(t.get(Timer::A), None);
        let c = TimerConfig {
            t1: Duration::MAX,
            ..TimerConfig::default()
        };
        assert_eq!(c.timeout(), Duration::MAX);
    }
}
