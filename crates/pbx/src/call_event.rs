//! What the call manager tells the rest of the PBX about a call: a [`CallEvent`] at each step
//! (new, ringing, answered, hung up), the last one carrying the call's [`Cdr`].
//!
//! The endpoint hands them over a bounded channel to `api::spawn_call_events`, which stores
//! the CDRs and sends webhooks; see there for the hand-over contract.

use rand::RngCore;

use crate::cdr::Cdr;

/// What every event of a call carries: who the call is between, its ids, and when the event
/// happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallNote {
    /// The PBX's call id, a UUID ([`CallNote::new_id`]); `/call/{id}` in the API.
    pub id: String,
    /// The account: the caller's domain, lowercased.
    pub domain: String,
    /// The caller's user name.
    pub from: String,
    /// The dialled target's user name.
    pub to: String,
    /// The SIP Call-ID of the caller's INVITE.
    pub call_id: String,
    /// When the event happened, Unix seconds.
    pub time: u64,
}

impl CallNote {
    /// A fresh call id: a random (version 4) UUID in its hyphenated lowercase form, from the
    /// caller's RNG (seeded in tests).
    pub fn new_id(rng: &mut impl RngCore) -> String {
        let mut b = [0_u8; 16];
        rng.fill_bytes(&mut b);
        Self::id_from(b)
    }

    /// A call id from 16 random bytes: the version 4 UUID they make.
    pub fn id_from(mut b: [u8; 16]) -> String {
        // RFC 9562 section 5.4: version 4, variant 10.
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

/// One step of a call, in the order they happen. Every call that is announced with
/// [`New`](CallEvent::New) ends with exactly one [`HungUp`](CallEvent::HungUp), and nothing
/// follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// An authenticated INVITE started a call.
    New(CallNote),
    /// The callee's side is ringing (the first 180 or 183).
    Ringing(CallNote),
    /// The callee answered (the 2xx that won).
    Answered(CallNote),
    /// The call ended, answered or not; its record. The event's time is `cdr.end`.
    HungUp(Cdr),
}

impl CallEvent {
    /// The event's name in webhooks: `new`, `ringing`, `answered`, `hungup`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::New(_) => "new",
            Self::Ringing(_) => "ringing",
            Self::Answered(_) => "answered",
            Self::HungUp(_) => "hungup",
        }
    }

    /// The PBX's call id.
    pub fn id(&self) -> &str {
        match self {
            Self::New(n) | Self::Ringing(n) | Self::Answered(n) => &n.id,
            Self::HungUp(cdr) => &cdr.id,
        }
    }

    /// The call's account.
    pub fn domain(&self) -> &str {
        match self {
            Self::New(n) | Self::Ringing(n) | Self::Answered(n) => &n.domain,
            Self::HungUp(cdr) => &cdr.domain,
        }
    }

    /// The caller's user name.
    pub fn from(&self) -> &str {
        match self {
            Self::New(n) | Self::Ringing(n) | Self::Answered(n) => &n.from,
            Self::HungUp(cdr) => &cdr.from,
        }
    }

    /// The dialled target's user name.
    pub fn to(&self) -> &str {
        match self {
            Self::New(n) | Self::Ringing(n) | Self::Answered(n) => &n.to,
            Self::HungUp(cdr) => &cdr.to,
        }
    }

    /// The SIP Call-ID of the caller's INVITE.
    pub fn call_id(&self) -> &str {
        match self {
            Self::New(n) | Self::Ringing(n) | Self::Answered(n) => &n.call_id,
            Self::HungUp(cdr) => &cdr.call_id,
        }
    }

    /// When it happened, Unix seconds.
    pub fn time(&self) -> u64 {
        match self {
            Self::New(n) | Self::Ringing(n) | Self::Answered(n) => n.time,
            Self::HungUp(cdr) => cdr.end,
        }
    }

    /// The record, for [`HungUp`](CallEvent::HungUp).
    pub fn cdr(&self) -> Option<&Cdr> {
        match self {
            Self::HungUp(cdr) => Some(cdr),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::cdr::{Cause, HangupBy};

    #[test]
    fn uuids_are_version_4() {
        let mut rng = StdRng::seed_from_u64(7);
        let a = CallNote::new_id(&mut rng);
        let b = CallNote::new_id(&mut rng);
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 36);
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
            assert!(
                id.bytes()
                    .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            );
        }
    }

    #[test]
    fn accessors_agree_across_variants() {
        let note = |time| CallNote {
            id: "id-1".into(),
            domain: "example.com".into(),
            from: "1000".into(),
            to: "1001".into(),
            call_id: "c@h".into(),
            time,
        };
        let hung = CallEvent::HungUp(Cdr::new(
            &note(10),
            None,
            15,
            Cause::new(404, "Not Found"),
            HangupBy::System,
            vec![],
        ));
        let events = [
            CallEvent::New(note(10)),
            CallEvent::Ringing(note(11)),
            CallEvent::Answered(note(12)),
            hung,
        ];
        let names: Vec<_> = events.iter().map(CallEvent::name).collect();
        assert_eq!(names, ["new", "ringing", "answered", "hungup"]);
        for e in &events {
            assert_eq!(
                (e.id(), e.domain(), e.call_id(), e.from(), e.to()),
                ("id-1", "example.com", "c@h", "1000", "1001")
            );
        }
        let times: Vec<_> = events.iter().map(CallEvent::time).collect();
        assert_eq!(times, [10, 11, 12, 15]);
        assert!(events[3].cdr().is_some() && events[0].cdr().is_none());
    }
}
