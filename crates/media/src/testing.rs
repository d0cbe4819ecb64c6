//! An in-memory [`MediaControl`] for the call manager's unit tests: no sockets, no threads.
//!
//! It records every call in order, keeps what each session was told, hands out fake ports
//! (even, counting up from 10000 on the address it was made with), and lets a test set the
//! statistics a session reports (to drive media timeouts) or make the next opens fail. Taps
//! are kept with their queues: [`FakeMedia::emit`] plays a packet from a leg's party into the
//! taps of that leg, and injected packets are kept in [`FakeSession::injected`].
//!
//! ```
//! use media::testing::{FakeMedia, Call};
//! use media::{Leg, LegRemote, MediaControl, SessionOptions};
//!
//! let media = FakeMedia::new();
//! let info = media.open(SessionOptions::new()).unwrap();
//! let phone = "127.0.0.99:4000".parse().unwrap();
//! media.set_remote(info.id, Leg::A, LegRemote::new("127.0.0.1".parse().unwrap(), phone)).unwrap();
//! assert_eq!(media.session(info.id).unwrap().remotes[0].unwrap().rtp, Some(phone));
//! media.close(info.id).unwrap();
//! assert!(matches!(media.calls().last(), Some(Call::Close(id)) if *id == info.id));
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard};

use crate::control::{
    AddressFamily, LocalLeg, MediaControl, SessionId, SessionInfo, SessionOptions,
};
use crate::error::MediaError;
use crate::rtp::{PtMap, RtpPacket};
use crate::session::{Direction, Leg, LegRemote, SessionStats};
use crate::tap::{PacketQueue, TapId, TapKind};

/// One call made on a [`FakeMedia`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `open` (successful or not: `None` when it failed).
    Open(Option<SessionId>, SessionOptions),
    /// `set_remote`.
    SetRemote(SessionId, Leg, LegRemote),
    /// `set_pt_map`.
    SetPtMap(SessionId, Direction, PtMap),
    /// `close`.
    Close(SessionId),
    /// `tap` (the id handed out, `None` when it failed).
    Tap(SessionId, Leg, TapKind, Option<TapId>),
    /// `untap`.
    Untap(SessionId, TapId),
    /// `inject`, with the packet.
    Inject(SessionId, Leg, Vec<u8>),
}

/// What a fake session was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeSession {
    /// The options it was opened with.
    pub options: SessionOptions,
    /// The local side handed out.
    pub info: SessionInfo,
    /// The last remote of leg A and of leg B.
    pub remotes: [Option<LegRemote>; 2],
    /// The maps for A to B and B to A.
    pub maps: [PtMap; 2],
    /// What `stats` returns.
    pub stats: SessionStats,
    /// Closed (kept so tests can look after the hang-up).
    pub closed: bool,
    /// Live taps: id, leg, kind.
    pub taps: Vec<(TapId, Leg, TapKind)>,
    /// Packets injected, in order, with the leg whose party they were sent to.
    pub injected: Vec<(Leg, Vec<u8>)>,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<Call>,
    sessions: BTreeMap<SessionId, FakeSession>,
    next_id: u64,
    next_port: u16,
    fail_opens: Vec<MediaError>,
    queues: BTreeMap<TapId, PacketQueue>,
    next_tap: u64,
}

/// The fake engine. See the module documentation.
#[derive(Debug)]
pub struct FakeMedia {
    v4: IpAddr,
    v6: IpAddr,
    max_sessions: usize,
    state: Mutex<State>,
}

impl Default for FakeMedia {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeMedia {
    /// A fake on 127.0.0.1 (and ::1), with room for 1,000 open sessions.
    pub fn new() -> Self {
        Self::with_addr(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A fake whose IPv4 legs are on `v4`.
    pub fn with_addr(v4: IpAddr) -> Self {
        Self {
            v4,
            v6: IpAddr::V6(Ipv6Addr::LOCALHOST),
            max_sessions: 1000,
            state: Mutex::new(State {
                next_port: 10000,
                ..State::default()
            }),
        }
    }

    /// Bounds the open sessions (further opens fail with `TooManySessions`).
    pub fn with_max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// What a session (open or closed) was told.
    pub fn session(&self, id: SessionId) -> Option<FakeSession> {
        self.lock().sessions.get(&id).cloned()
    }

    /// The ids of the sessions open now.
    pub fn open_sessions(&self) -> Vec<SessionId> {
        let state = self.lock();
        state
            .sessions
            .iter()
            .filter(|(_, s)| !s.closed)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Sets what `stats(id)` returns (to simulate media or its absence).
    pub fn set_stats(&self, id: SessionId, stats: SessionStats) {
        if let Some(s) = self.lock().sessions.get_mut(&id) {
            s.stats = stats;
        }
    }

    /// Makes the next open fail with `error` (queued: call it twice for two failures).
    pub fn fail_next_open(&self, error: MediaError) {
        self.lock().fail_opens.push(error);
    }

    /// Plays one packet from `leg`'s party into the live taps of that leg and kind, as the
    /// engine would (for [`TapKind::RtcpHep`], pass the frame the engine would have made).
    /// Returns how many taps got it.
    pub fn emit(&self, id: SessionId, leg: Leg, kind: TapKind, packet: &[u8]) -> usize {
        let state = self.lock();
        let Some(session) = state.sessions.get(&id).filter(|s| !s.closed) else {
            return 0;
        };
        let mut n = 0;
        for (tap, _, _) in session.taps.iter().filter(|t| t.1 == leg && t.2 == kind) {
            if let Some(queue) = state.queues.get(tap) {
                queue.push(packet);
                n += 1;
            }
        }
        n
    }

    fn local(&self, family: AddressFamily, port: u16) -> LocalLeg {
        let ip = match family {
            AddressFamily::V4 => self.v4,
            AddressFamily::V6 => self.v6,
        };
        LocalLeg {
            rtp: SocketAddr::new(ip, port),
            rtcp: SocketAddr::new(ip, port.wrapping_add(1)),
        }
    }
}

impl MediaControl for FakeMedia {
    fn open(&self, options: SessionOptions) -> Result<SessionInfo, MediaError> {
        let mut state = self.lock();
        let open = state.sessions.values().filter(|s| !s.closed).count();
        let failure = if !state.fail_opens.is_empty() {
            Some(state.fail_opens.remove(0))
        } else if open >= self.max_sessions {
            Some(MediaError::TooManySessions {
                limit: self.max_sessions,
            })
        } else {
            None
        };
        if let Some(error) = failure {
            state.calls.push(Call::Open(None, options));
            return Err(error);
        }
        let family = options.family;
        state.next_id += 1;
        let id = SessionId(state.next_id);
        let a = state.next_port;
        let b = a.wrapping_add(2);
        state.next_port = b.wrapping_add(2);
        let info = SessionInfo {
            id,
            legs: [self.local(family[0], a), self.local(family[1], b)],
        };
        state.calls.push(Call::Open(Some(id), options.clone()));
        state.sessions.insert(
            id,
            FakeSession {
                options,
                info,
                remotes: [None, None],
                maps: [PtMap::identity(), PtMap::identity()],
                stats: SessionStats::default(),
                closed: false,
                taps: Vec::new(),
                injected: Vec::new(),
            },
        );
        Ok(info)
    }

    fn set_remote(&self, id: SessionId, leg: Leg, remote: LegRemote) -> Result<(), MediaError> {
        let mut state = self.lock();
        state.calls.push(Call::SetRemote(id, leg, remote));
        match state.sessions.get_mut(&id) {
            Some(s) if !s.closed => {
                s.remotes[leg.index()] = Some(remote);
                Ok(())
            }
            _ => Err(MediaError::UnknownSession(id)),
        }
    }

    fn set_pt_map(
        &self,
        id: SessionId,
        direction: Direction,
        map: PtMap,
    ) -> Result<(), MediaError> {
        let mut state = self.lock();
        state.calls.push(Call::SetPtMap(id, direction, map.clone()));
        match state.sessions.get_mut(&id) {
            Some(s) if !s.closed => {
                let i = match direction {
                    Direction::AToB => 0,
                    Direction::BToA => 1,
                };
                s.maps[i] = map;
                Ok(())
            }
            _ => Err(MediaError::UnknownSession(id)),
        }
    }

    fn stats(&self, id: SessionId) -> Option<SessionStats> {
        let state = self.lock();
        state
            .sessions
            .get(&id)
            .filter(|s| !s.closed)
            .map(|s| s.stats)
    }

    fn close(&self, id: SessionId) -> Result<(), MediaError> {
        let mut state = self.lock();
        state.calls.push(Call::Close(id));
        match state.sessions.get_mut(&id) {
            Some(s) if !s.closed => {
                s.closed = true;
                let taps = std::mem::take(&mut s.taps);
                for (tap, _, _) in taps {
                    state.queues.remove(&tap);
                }
                Ok(())
            }
            _ => Err(MediaError::UnknownSession(id)),
        }
    }

    fn tap(
        &self,
        id: SessionId,
        leg: Leg,
        kind: TapKind,
        queue: PacketQueue,
    ) -> Result<TapId, MediaError> {
        let mut state = self.lock();
        let tap = TapId(state.next_tap + 1);
        let result = match state.sessions.get_mut(&id) {
            Some(s) if !s.closed => {
                s.taps.push((tap, leg, kind));
                Ok(tap)
            }
            _ => Err(MediaError::UnknownSession(id)),
        };
        if result.is_ok() {
            state.next_tap += 1;
            state.queues.insert(tap, queue);
        }
        state
            .calls
            .push(Call::Tap(id, leg, kind, result.clone().ok()));
        result
    }

    fn untap(&self, id: SessionId, tap: TapId) -> Result<(), MediaError> {
        let mut state = self.lock();
        state.calls.push(Call::Untap(id, tap));
        let session = match state.sessions.get_mut(&id) {
            Some(s) if !s.closed => s,
            _ => return Err(MediaError::UnknownSession(id)),
        };
        let before = session.taps.len();
        session.taps.retain(|t| t.0 != tap);
        if session.taps.len() == before {
            return Err(MediaError::UnknownTap(tap));
        }
        state.queues.remove(&tap);
        Ok(())
    }

    fn inject(&self, id: SessionId, leg: Leg, packet: &[u8]) -> Result<(), MediaError> {
        let mut state = self.lock();
        state.calls.push(Call::Inject(id, leg, packet.to_vec()));
        if RtpPacket::parse(packet).is_err() {
            return Err(MediaError::NotRtp);
        }
        match state.sessions.get_mut(&id) {
            Some(s) if !s.closed => {
                s.injected.push((leg, packet.to_vec()));
                Ok(())
            }
            _ => Err(MediaError::UnknownSession(id)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_calls_and_state() {
        let media = FakeMedia::new().with_max_sessions(1);
        let info = media.open(SessionOptions::new()).unwrap();
        assert_eq!(info.leg(Leg::A).rtp.port(), 10000);
        assert_eq!(info.leg(Leg::B).rtcp.port(), 10003);
        assert_eq!(
            media.open(SessionOptions::new()).unwrap_err(),
            MediaError::TooManySessions { limit: 1 }
        );
        let map = PtMap::from_pairs(&[(101, 96)]).unwrap();
        media
            .set_pt_map(info.id, Direction::BToA, map.clone())
            .unwrap();
        assert_eq!(media.session(info.id).unwrap().maps[1], map);
        let mut stats = SessionStats::default();
        stats.legs[0].rtp_packets = 7;
        media.set_stats(info.id, stats);
        assert_eq!(media.stats(info.id).unwrap().leg(Leg::A).rtp_packets, 7);
        assert_eq!(media.open_sessions(), vec![info.id]);
        media.close(info.id).unwrap();
        assert_eq!(
            media.close(info.id).unwrap_err(),
            MediaError::UnknownSession(info.id)
        );
        assert_eq!(media.stats(info.id), None);
        assert!(media.open_sessions().is_empty());
        assert_eq!(media.calls().len(), 5);
    }

    #[test]
    fn queued_failures() {
        let media = FakeMedia::new();
        media.fail_next_open(MediaError::NoPorts);
        assert_eq!(
            media.open(SessionOptions::new()).unwrap_err(),
            MediaError::NoPorts
        );
        let v6 = SessionOptions::new().with_family(Leg::B, AddressFamily::V6);
        let info = media.open(v6).unwrap();
        assert!(info.leg(Leg::B).rtp.is_ipv6());
        assert_eq!(media.calls()[0], Call::Open(None, SessionOptions::new()));
    }

    #[test]
    fn taps_emit_and_injection() {
        let media = FakeMedia::new();
        let info = media
            .open(SessionOptions::new().with_correlation("abc@host"))
            .unwrap();
        assert_eq!(
            media
                .session(info.id)
                .unwrap()
                .options
                .correlation
                .as_deref(),
            Some("abc@host")
        );
        let q = PacketQueue::unwoken(8);
        let rtp = media.tap(info.id, Leg::A, TapKind::Rtp, q.clone()).unwrap();
        let hep = media
            .tap(info.id, Leg::A, TapKind::RtcpHep, q.clone())
            .unwrap();
        assert_ne!(rtp, hep);
        assert_eq!(media.emit(info.id, Leg::A, TapKind::Rtp, b"p1"), 1);
        assert_eq!(media.emit(info.id, Leg::B, TapKind::Rtp, b"p2"), 0);
        assert_eq!(q.pop_with(<[u8]>::to_vec), Some(b"p1".to_vec()));
        media.untap(info.id, rtp).unwrap();
        assert_eq!(
            media.untap(info.id, rtp).unwrap_err(),
            MediaError::UnknownTap(rtp)
        );
        assert_eq!(media.emit(info.id, Leg::A, TapKind::Rtp, b"p3"), 0);

        let packet = [0x80, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xff];
        media.inject(info.id, Leg::B, &packet).unwrap();
        assert_eq!(
            media.inject(info.id, Leg::B, b"nope").unwrap_err(),
            MediaError::NotRtp
        );
        assert_eq!(
            media.session(info.id).unwrap().injected,
            vec![(Leg::B, packet.to_vec())]
        );
        media.close(info.id).unwrap();
        assert!(media.session(info.id).unwrap().taps.is_empty());
        assert_eq!(media.emit(info.id, Leg::A, TapKind::RtcpHep, b"x"), 0);
        assert_eq!(
            media.tap(info.id, Leg::A, TapKind::Rtp, q).unwrap_err(),
            MediaError::UnknownSession(info.id)
        );
    }
}
