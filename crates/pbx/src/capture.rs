//! SIP capture as HEP3 (DESIGN.md section 3, layer 3): every SIP message in and out, as a
//! frame of type 1 with its real addresses, ports, transport and time, and its Call-ID as
//! correlation id, for the readers of a call's `hep.sock` and for the `--hep` export.
//!
//! - [`CaptureHub`]: who listens to which Call-ID. A reader (a 9P fid on `hep.sock`)
//!   subscribes a [`PacketQueue`] to each Call-ID of its call (a B2BUA call has one per leg)
//!   and keeps the [`Subscription`]; dropping it (the clunk) unsubscribes.
//! - [`Capture`]: the interceptor. It encodes a message only when someone wants it: with no
//!   export and no subscriber at all it costs one atomic load per message; with subscribers
//!   but no export, a Call-ID scan and a map lookup. One reused buffer per frame: no
//!   allocation once warm.
//!
//! Time: the interceptor reads no clock. It is given an anchor (an `Instant` and the Unix time
//! at that instant) and turns each message's `now` into wall-clock time from it, as the call
//! manager does.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use media::PacketQueue;
use sip::Transport;

use crate::intercept::{Direction, Interceptor, Observed, Verdict};

/// Subscribers by Call-ID: (subscription number, queue).
type Subscribers = HashMap<Box<str>, Vec<(u64, PacketQueue)>>;

/// The readers of each Call-ID's capture. Shared (`Arc`) by the interceptor in the SIP
/// endpoint and by the 9P tree that subscribes.
#[derive(Default)]
pub struct CaptureHub {
    subscribers: Mutex<Subscribers>,
    /// Live subscriptions: the interceptor's one check when nobody listens.
    count: AtomicUsize,
    next: AtomicU64,
}

impl fmt::Debug for CaptureHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureHub")
            .field("subscriptions", &self.subscriptions())
            .finish()
    }
}

/// One reader's subscription to one Call-ID. Dropping it unsubscribes.
pub struct Subscription {
    hub: Arc<CaptureHub>,
    call_id: Box<str>,
    id: u64,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("call_id", &self.call_id)
            .finish()
    }
}

impl CaptureHub {
    /// A hub with no subscriber.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Subscribers> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the HEP3 frames of every SIP message with this Call-ID, from now on, to
    /// `queue`, until the subscription is dropped.
    pub fn subscribe(self: &Arc<Self>, call_id: &str, queue: PacketQueue) -> Subscription {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(call_id.into())
            .or_default()
            .push((id, queue));
        self.count.fetch_add(1, Ordering::Release);
        Subscription {
            hub: Arc::clone(self),
            call_id: call_id.into(),
            id,
        }
    }

    /// Live subscriptions, over all Call-IDs.
    pub fn subscriptions(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Whether anyone listens to this Call-ID.
    fn wants(&self, call_id: &str) -> bool {
        self.lock().contains_key(call_id)
    }

    /// Pushes one frame to the subscribers of `call_id`.
    fn deliver(&self, call_id: &str, frame: &[u8]) {
        if let Some(queues) = self.lock().get(call_id) {
            for (_, queue) in queues {
                queue.push(frame);
            }
        }
    }

    fn unsubscribe(&self, call_id: &str, id: u64) {
        let mut map = self.lock();
        if let Some(queues) = map.get_mut(call_id) {
            let before = queues.len();
            queues.retain(|(i, _)| *i != id);
            if queues.len() < before {
                self.count.fetch_sub(1, Ordering::Release);
            }
            if queues.is_empty() {
                map.remove(call_id);
            }
        }
    }
}

impl Subscription {
    /// The Call-ID listened to.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.call_id, self.id);
    }
}

/// The capture interceptor. Put it in the pipeline after the guard (what a blocked address
/// sends is not captured) and after anything that may drop a message.
pub struct Capture {
    hub: Arc<CaptureHub>,
    agent: hep::Agent,
    export: Option<PacketQueue>,
    /// An instant and the time since the Unix epoch at that instant.
    anchor: (Instant, Duration),
    frame: Vec<u8>,
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("agent", &self.agent)
            .field("export", &self.export.is_some())
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Captures for the subscribers of `hub`, and for `export` (the `--hep` queue) when set,
    /// as `agent`. `anchor` ties the pipeline's `Instant`s to Unix time: an instant and the
    /// time since the epoch at that instant.
    pub fn new(
        hub: Arc<CaptureHub>,
        agent: hep::Agent,
        export: Option<PacketQueue>,
        anchor: (Instant, Duration),
    ) -> Self {
        Self {
            hub,
            agent,
            export,
            anchor,
            frame: Vec::new(),
        }
    }

    fn unix(&self, now: Instant) -> Duration {
        let (at, unix) = self.anchor;
        match now.checked_duration_since(at) {
            Some(later) => unix.saturating_add(later),
            None => unix.saturating_sub(at.saturating_duration_since(now)),
        }
    }
}

impl Interceptor for Capture {
    fn inspect(&mut self, m: &Observed<'_>) -> Verdict {
        if self.export.is_none() && self.hub.subscriptions() == 0 {
            return Verdict::Continue;
        }
        let call_id = match m.parsed {
            Some(Ok(msg)) => Some(msg.head().call_id.as_str()),
            _ => scan_call_id(m.raw),
        };
        let subscribed = call_id.is_some_and(|id| self.hub.wants(id));
        if !subscribed && self.export.is_none() {
            return Verdict::Continue;
        }
        let (src, dst) = match m.direction {
            Direction::Inbound => (m.remote, m.local),
            Direction::Outbound => (m.local, m.remote),
        };
        let frame = hep::Frame {
            src,
            dst,
            ip_proto: ip_proto(&m.transport),
            time: hep::Timestamp::from_unix(self.unix(m.now)),
            proto: hep::ProtoType::SIP,
            capture_id: self.agent.capture_id,
            auth_key: self.agent.auth_key.as_deref(),
            correlation_id: call_id.map(str::as_bytes),
            payload: m.raw,
        };
        self.frame.clear();
        if let Err(e) = frame.encode(&mut self.frame) {
            // A message near 64 KiB does not fit a frame with its headers.
            tracing::debug!(error = %e, "sip message not captured");
            return Verdict::Continue;
        }
        if let (true, Some(id)) = (subscribed, call_id) {
            self.hub.deliver(id, &self.frame);
        }
        if let Some(export) = &self.export {
            export.push(&self.frame);
        }
        Verdict::Continue
    }
}

/// The IP protocol a SIP transport travels on.
fn ip_proto(t: &Transport) -> hep::IpProto {
    match t {
        Transport::Udp => hep::IpProto::UDP,
        Transport::Sctp => hep::IpProto::SCTP,
        Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => hep::IpProto::TCP,
        _ => hep::IpProto::UDP,
    }
}

/// The Call-ID of a message we did not parse (outbound messages, refused ones): the value of
/// the first `Call-ID` (or compact `i`) header line, case-insensitive, trimmed. `None` when
/// there is none before the empty line, or it is not UTF-8.
pub fn scan_call_id(raw: &[u8]) -> Option<&str> {
    //= https://www.rfc-editor.org/rfc/rfc3261#section-20.8
    //# Call-ID  =  ( "Call-ID" / "i" ) HCOLON callid
    let mut lines = raw.split(|&b| b == b'\n').skip(1);
    lines.find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // The end of the headers: stop looking (find_map cannot, so say "none" via a
            // value no header has).
            return Some(None);
        }
        let colon = line.iter().position(|&b| b == b':')?;
        let name = line.get(..colon)?.trim_ascii();
        if !(name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i")) {
            return None;
        }
        let value = line.get(colon + 1..)?.trim_ascii();
        Some(std::str::from_utf8(value).ok().filter(|v| !v.is_empty()))
    })?
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
        From: <sip:alice@example.com>;tag=1\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: abc@192.0.2.1\r\n\
        CSeq: 1 INVITE\r\n\
        Max-Forwards: 70\r\n\
        Content-Length: 0\r\n\r\n";

    fn observed<'a>(direction: Direction, raw: &'a [u8], now: Instant) -> Observed<'a> {
        Observed {
            direction,
            transport: Transport::Udp,
            remote: "192.0.2.1:5060".parse().unwrap(),
            local: "192.0.2.10:5070".parse().unwrap(),
            raw,
            parsed: None,
            now,
        }
    }

    #[test]
    fn call_id_scan() {
        assert_eq!(scan_call_id(INVITE), Some("abc@192.0.2.1"));
        assert_eq!(
            scan_call_id(b"SIP/2.0 200 OK\r\ni:  x-1 \r\nCSeq: 1 BYE\r\n\r\n"),
            Some("x-1")
        );
        assert_eq!(
            scan_call_id(b"SIP/2.0 200 OK\nCALL-ID:lf-only\n\n"),
            Some("lf-only")
        );
        // Not in the headers, empty, a name that only starts like it, the request line.
        assert_eq!(
            scan_call_id(b"BYE x SIP/2.0\r\n\r\nCall-ID: body\r\n"),
            None
        );
        assert_eq!(scan_call_id(b"BYE x SIP/2.0\r\nCall-ID:\r\n\r\n"), None);
        assert_eq!(scan_call_id(b"BYE x SIP/2.0\r\nCall-IDs: n\r\n\r\n"), None);
        assert_eq!(scan_call_id(b"Call-ID: first-line\r\n\r\n"), None);
        assert_eq!(scan_call_id(b""), None);
        assert_eq!(scan_call_id(b"X\r\ni: \xff\r\n\r\n"), None);
    }

    #[test]
    fn subscribers_get_frames_of_their_call_both_ways() {
        let hub = CaptureHub::new();
        let start = Instant::now();
        let anchor = (start, Duration::from_secs(1_700_000_000));
        let mut capture = Capture::new(
            hub.clone(),
            hep::Agent {
                capture_id: 9,
                auth_key: None,
            },
            None,
            anchor,
        );
        // Nobody listens: nothing encoded.
        capture.inspect(&observed(Direction::Inbound, INVITE, start));
        assert!(capture.frame.is_empty());

        let mine = PacketQueue::unwoken(8);
        let other = PacketQueue::unwoken(8);
        let sub = hub.subscribe("abc@192.0.2.1", mine.clone());
        let _other = hub.subscribe("zzz", other.clone());
        assert_eq!(hub.subscriptions(), 2);
        let parsed = sip::Message::parse(INVITE).unwrap();
        let mut inbound = observed(
            Direction::Inbound,
            INVITE,
            start + Duration::from_millis(1500),
        );
        inbound.parsed = Some(Ok(&parsed));
        capture.inspect(&inbound);
        let ok = b"SIP/2.0 100 Trying\r\nCall-ID: abc@192.0.2.1\r\nCSeq: 1 INVITE\r\n\r\n";
        let mut outbound = observed(Direction::Outbound, ok, start);
        outbound.transport = Transport::Tcp;
        capture.inspect(&outbound);
        assert!(other.is_empty());

        let first = mine.pop_with(<[u8]>::to_vec).unwrap();
        let f = hep::Frame::decode(&first).unwrap();
        assert_eq!(f.src, inbound.remote);
        assert_eq!(f.dst, inbound.local);
        assert_eq!(f.ip_proto, hep::IpProto::UDP);
        assert_eq!(f.proto, hep::ProtoType::SIP);
        assert_eq!(
            f.time,
            hep::Timestamp {
                secs: 1_700_000_001,
                micros: 500_000
            }
        );
        assert_eq!(f.capture_id, 9);
        assert_eq!(f.correlation_id, Some(&b"abc@192.0.2.1"[..]));
        assert_eq!(f.payload, INVITE);
        let second = mine.pop_with(<[u8]>::to_vec).unwrap();
        let f = hep::Frame::decode(&second).unwrap();
        assert_eq!((f.src, f.dst), (outbound.local, outbound.remote));
        assert_eq!(f.ip_proto, hep::IpProto::TCP);
        assert_eq!(f.payload, ok);

        drop(sub);
        assert_eq!(hub.subscriptions(), 1);
        capture.inspect(&observed(Direction::Inbound, INVITE, start));
        assert!(mine.is_empty());
    }

    #[test]
    fn export_gets_everything_even_unparsed() {
        let hub = CaptureHub::new();
        let export = PacketQueue::unwoken(8);
        let start = Instant::now();
        let mut capture = Capture::new(
            hub,
            hep::Agent {
                capture_id: 1,
                auth_key: Some(Arc::from(&b"pw"[..])),
            },
            Some(export.clone()),
            (start + Duration::from_secs(10), Duration::from_secs(100)),
        );
        capture.inspect(&observed(Direction::Inbound, b"garbage", start));
        capture.inspect(&observed(Direction::Outbound, INVITE, start));
        let f = export.pop_with(<[u8]>::to_vec).unwrap();
        let f = hep::Frame::decode(&f).unwrap();
        assert_eq!((f.payload, f.correlation_id), (&b"garbage"[..], None));
        assert_eq!(f.auth_key, Some(&b"pw"[..]));
        // Ten seconds before the anchor.
        assert_eq!(f.time.secs, 90);
        assert_eq!(export.len(), 1);
        // A message too large for a frame is passed on, not captured.
        let huge = vec![b'x'; 70_000];
        assert_eq!(
            capture.inspect(&observed(Direction::Inbound, &huge, start)),
            Verdict::Continue
        );
        assert_eq!(export.len(), 1);
    }
}
