//! Codecs: `a=rtpmap`, the static payload types of RFC 3551, and the payload-type map the relay
//! applies to RTP crossing from one leg to the other.

use std::fmt;

use crate::model::digits;

/// An RTP payload format: encoding name, clock rate, and channels (RFC 8866 section 6.6).
///
/// Two codecs are the same one when names match case-insensitively and clock rate and channel
/// count are equal (an absent channel count is 1), whatever payload type either side gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// Encoding name as written (`PCMU`, `opus`, `telephone-event`).
    pub name: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters: the channel count for audio, when written.
    pub channels: Option<u16>,
}

impl Codec {
    /// A codec without a channel count.
    pub fn new(name: &str, clock_rate: u32) -> Self {
        Codec {
            name: name.to_owned(),
            clock_rate,
            channels: None,
        }
    }

    /// Reads `<encoding name>/<clock rate>[/<encoding parameters>]`, the part of `a=rtpmap`
    /// after the payload type. Also the form used in codec lists (`PCMU/8000`).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('/');
        let name = parts.next()?.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return None;
        }
        let clock_rate = digits(parts.next()?.trim())?;
        let channels = match parts.next() {
            Some(c) => Some(digits(c.trim())?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Codec {
            name: name.to_owned(),
            clock_rate,
            channels,
        })
    }

    /// Whether `other` is the same codec (name case-insensitively, clock rate, channels).
    pub fn matches(&self, other: &Codec) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.clock_rate == other.clock_rate
            && self.channels.unwrap_or(1) == other.channels.unwrap_or(1)
    }

    /// Whether this is RFC 4733 `telephone-event`.
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }

    /// Whether this format carries no media of its own: `telephone-event`, comfort noise
    /// (`CN`), redundancy (`red`), retransmission (`rtx`) or FEC (`ulpfec`, `flexfec`). A
    /// stream needs at least one other codec in common to be accepted.
    pub fn is_auxiliary(&self) -> bool {
        ["telephone-event", "CN", "red", "rtx", "ulpfec", "flexfec"]
            .iter()
            .any(|n| self.name.eq_ignore_ascii_case(n))
    }
}

/// `PCMU/8000`, `opus/48000/2`: the `rtpmap` form, also what CDRs list.
impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.clock_rate)?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// An `a=rtpmap:<pt> <codec>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// The payload type.
    pub pt: u8,
    /// The codec it names.
    pub codec: Codec,
}

//= https://www.rfc-editor.org/rfc/rfc3551#section-6
//# Table 4: Payload types (PT) for audio encodings; Table 5: Payload types (PT) for video
//# and combined encodings.
// G722 is 8000 by an error kept for compatibility (RFC 3551 section 4.5.2); 10 and 11 are
// L16 stereo and mono at 44100 Hz.
const STATIC: &[(u8, &str, u32, Option<u16>)] = &[
    (0, "PCMU", 8000, None),
    (3, "GSM", 8000, None),
    (4, "G723", 8000, None),
    (5, "DVI4", 8000, None),
    (6, "DVI4", 16000, None),
    (7, "LPC", 8000, None),
    (8, "PCMA", 8000, None),
    (9, "G722", 8000, None),
    (10, "L16", 44100, Some(2)),
    (11, "L16", 44100, None),
    (12, "QCELP", 8000, None),
    (13, "CN", 8000, None),
    (14, "MPA", 90000, None),
    (15, "G728", 8000, None),
    (16, "DVI4", 11025, None),
    (17, "DVI4", 22050, None),
    (18, "G729", 8000, None),
    (25, "CelB", 90000, None),
    (26, "JPEG", 90000, None),
    (28, "nv", 90000, None),
    (31, "H261", 90000, None),
    (32, "MPV", 90000, None),
    (33, "MP2T", 90000, None),
    (34, "H263", 90000, None),
];

/// The codec a static payload type stands for without `a=rtpmap` (RFC 3551 section 6).
pub fn static_codec(pt: u8) -> Option<Codec> {
    STATIC
        .iter()
        .find(|(p, ..)| *p == pt)
        .map(|&(_, name, clock_rate, channels)| Codec {
            name: name.to_owned(),
            clock_rate,
            channels,
        })
}

/// A payload-type translation table for RTP relayed in one direction, one entry per type
/// 0..=127.
///
/// The relay rewrites the 7 PT bits of each packet's second byte (keeping the marker bit):
/// `b1 = (b1 & 0x80) | map.apply(b1 & 0x7f)`. Built by [`negotiate`](crate::negotiate);
/// copying it is cheap (128 bytes) and looking up allocates nothing. RTCP (packet types
/// 200..=204 in the same byte) must be told apart before, by port or by RFC 5761.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PtMap([u8; 128]);

impl PtMap {
    const NONE: u8 = 0xff;

    /// A map with no entry.
    pub const fn new() -> Self {
        PtMap([Self::NONE; 128])
    }

    /// Maps payload type `from` to `to` (ignored when either is over 127).
    pub fn insert(&mut self, from: u8, to: u8) {
        if to < 128
            && let Some(slot) = self.0.get_mut(usize::from(from))
        {
            *slot = to;
        }
    }

    /// The negotiated translation of `pt`, or `None` when `pt` was not negotiated.
    pub fn get(&self, pt: u8) -> Option<u8> {
        self.0
            .get(usize::from(pt))
            .copied()
            .filter(|&to| to != Self::NONE)
    }

    /// The translation of `pt`; a payload type that was not negotiated passes unchanged.
    pub fn apply(&self, pt: u8) -> u8 {
        self.get(pt).unwrap_or(pt)
    }

    /// Whether every entry maps a type to itself (then packets need no rewrite).
    pub fn is_identity(&self) -> bool {
        self.iter().all(|(from, to)| from == to)
    }

    /// Whether no entry is set.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The entries `(from, to)`, by `from`.
    pub fn iter(&self) -> impl Iterator<Item = (u8, u8)> + '_ {
        (0u8..128).filter_map(|pt| self.get(pt).map(|to| (pt, to)))
    }
}

impl Default for PtMap {
    fn default() -> Self {
        Self::new()
    }
}

/// Shows only the entries: `PtMap {0: 0, 96: 111}`.
impl fmt::Debug for PtMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PtMap ")?;
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The payload types an `a=fmtp` value refers to: RFC 2198 redundancy (`red`: `111/111`) and
/// RFC 4588 retransmission (`rtx`: `apt=96`). Other codecs refer to none.
pub(crate) fn fmtp_references(codec: &Codec, fmtp: &str) -> Vec<u8> {
    let mut refs = Vec::new();
    renumber_fmtp(codec, fmtp, |pt| {
        refs.push(pt);
        Some(pt)
    });
    refs
}

/// `fmtp` with the payload types it refers to (see [`fmtp_references`]) replaced through
/// `map`; a reference `map` has no answer for is left as it is.
pub(crate) fn renumber_fmtp(
    codec: &Codec,
    fmtp: &str,
    mut map: impl FnMut(u8) -> Option<u8>,
) -> String {
    let mut swap = |text: &str| match crate::model::payload_type(text.trim()) {
        Some(pt) => map(pt).map_or_else(|| text.to_owned(), |to| to.to_string()),
        None => text.to_owned(),
    };
    if codec.name.eq_ignore_ascii_case("red") {
        // a=fmtp:63 111/111
        fmtp.split('/').map(&mut swap).collect::<Vec<_>>().join("/")
    } else if codec.name.eq_ignore_ascii_case("rtx") {
        // a=fmtp:97 apt=96;rtx-time=3000
        fmtp.split(';')
            .map(|param| match param.split_once('=') {
                Some((k, v)) if k.trim().eq_ignore_ascii_case("apt") => format!("{k}={}", swap(v)),
                _ => param.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(";")
    } else {
        fmtp.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_text_forms() {
        let opus = Codec::parse("opus/48000/2").expect("opus");
        assert_eq!(opus.channels, Some(2));
        assert_eq!(opus.to_string(), "opus/48000/2");
        assert_eq!(
            Codec::parse(" PCMU/8000 ").expect("pcmu").to_string(),
            "PCMU/8000"
        );
        for bad in [
            "",
            "PCMU",
            "PCMU/",
            "PCMU/x",
            "PCMU/8000/",
            "a b/8000",
            "/8000",
            "x/1/2/3",
        ] {
            assert_eq!(Codec::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Codec::parse("PCMU/+8000"), None);
    }

    #[test]
    fn matching_ignores_case_and_default_channels() {
        let a = Codec::parse("opus/48000/2").expect("a");
        let b = Codec::parse("OPUS/48000/2").expect("b");
        assert!(a.matches(&b));
        assert!(!a.matches(&Codec::parse("opus/48000").expect("mono")));
        assert!(Codec::new("PCMU", 8000).matches(&Codec::parse("pcmu/8000/1").expect("1ch")));
        assert!(!Codec::new("PCMU", 8000).matches(&Codec::new("PCMU", 16000)));
    }

    #[test]
    fn static_types() {
        assert_eq!(static_codec(0), Some(Codec::new("PCMU", 8000)));
        assert_eq!(static_codec(8), Some(Codec::new("PCMA", 8000)));
        assert_eq!(static_codec(9), Some(Codec::new("G722", 8000)));
        assert_eq!(static_codec(18), Some(Codec::new("G729", 8000)));
        assert_eq!(static_codec(3), Some(Codec::new("GSM", 8000)));
        assert_eq!(static_codec(96), None);
        assert_eq!(static_codec(2), None);
    }

    #[test]
    fn fmtp_references_red_and_rtx() {
        let red = Codec::new("red", 48000);
        assert_eq!(fmtp_references(&red, "111/111"), vec![111, 111]);
        assert_eq!(renumber_fmtp(&red, "111/111", |_| Some(96)), "96/96");
        let rtx = Codec::new("rtx", 90000);
        assert_eq!(fmtp_references(&rtx, "apt=96;rtx-time=3000"), vec![96]);
        assert_eq!(
            renumber_fmtp(&rtx, "apt=96;rtx-time=3000", |_| Some(100)),
            "apt=100;rtx-time=3000"
        );
        let opus = Codec::new("opus", 48000);
        assert!(fmtp_references(&opus, "minptime=10;useinbandfec=1").is_empty());
        assert_eq!(renumber_fmtp(&red, "111/x", |_| None), "111/x");
    }

    #[test]
    fn pt_map() {
        let mut m = PtMap::new();
        assert!(m.is_empty() && m.is_identity());
        m.insert(0, 0);
        assert!(m.is_identity());
        m.insert(101, 96);
        m.insert(200, 1);
        m.insert(1, 200);
        assert_eq!(m.get(101), Some(96));
        assert_eq!(m.get(5), None);
        assert_eq!(m.get(255), None);
        assert_eq!(m.apply(5), 5);
        assert_eq!(m.apply(101), 96);
        assert!(!m.is_identity());
        assert_eq!(format!("{m:?}"), "PtMap {0: 0, 101: 96}");
    }
}
