//! Shared code of the parser benchmark: the message set, the field check that runs before
//! anything is timed, and the two timed functions (parse + extract the compared fields).
//!
//! Both parsers are asked for the same things:
//! each Via's `branch` (in order), the From tag, the To tag, the CSeq number and method, the
//! Call-ID and each Contact URI. `sip` types all of these while parsing; `rsip` keeps headers
//! as text and types them on request (`into_typed`), so its timed function does that for
//! exactly these headers. Both timed functions drop the message before returning.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use rsip::headers::{Header, ToTypedHeader, UntypedHeader};

/// One message of the set: its file stem and its bytes.
#[derive(Debug, Clone)]
pub struct Sample {
    /// File stem, e.g. `01_invite_sdp`.
    pub name: String,
    /// The message as it is on the wire.
    pub bytes: Vec<u8>,
}

/// The folder that holds the messages (`messages/*.sip`).
pub fn messages_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("messages")
}

/// Loads every `messages/*.sip`, sorted by file name.
pub fn load_messages() -> Vec<Sample> {
    let dir = messages_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| Sample {
            name: p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes: std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())),
        })
        .collect()
}

/// The fields both parsers must agree on, as owned strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// Each Via's branch, topmost first.
    pub via_branches: Vec<Option<String>>,
    /// The From tag.
    pub from_tag: Option<String>,
    /// The To tag.
    pub to_tag: Option<String>,
    /// The CSeq number.
    pub cseq_seq: u32,
    /// The CSeq method, upper case as both crates print it.
    pub cseq_method: String,
    /// The Call-ID.
    pub call_id: String,
    /// Each Contact URI, in order, normalised by [`normalise_uri`].
    pub contacts: Vec<String>,
}

/// The one normalisation applied to Contact URIs before they are compared: the value of a
/// `transport` URI parameter is compared in lower case.
///
/// RFC 3261 section 19.1.4 compares URI parameter values case-insensitively, so
/// `;transport=udp` and `;transport=UDP` are the same URI. `sip` prints a URI as written;
/// `rsip` prints the transport from its `Transport` enum, which is always upper case
/// (`;transport=udp` on the wire comes back as `;transport=UDP`). Nothing else is touched:
/// scheme, user, host, port and every other parameter must match byte for byte.
pub fn normalise_uri(uri: &str) -> String {
    let mut parts = uri.split(';');
    let mut out = parts.next().unwrap_or("").to_owned();
    for p in parts {
        out.push(';');
        match p.split_once('=') {
            Some((n, v)) if n.eq_ignore_ascii_case("transport") => {
                out.push_str(n);
                out.push('=');
                out.push_str(&v.to_ascii_lowercase());
            }
            _ => out.push_str(p),
        }
    }
    out
}

/// The compared fields as `sip` sees them.
pub fn ours_fields(buf: &[u8]) -> Result<Fields, String> {
    let m = sip::Message::parse(buf).map_err(|e| format!("sip: {e}"))?;
    let h = m.head();
    Ok(Fields {
        via_branches: h
            .via
            .iter()
            .map(|v| v.branch().map(str::to_owned))
            .collect(),
        from_tag: h.from.tag().map(str::to_owned),
        to_tag: h.to.tag().map(str::to_owned),
        cseq_seq: h.cseq.seq,
        cseq_method: h.cseq.method.to_string(),
        call_id: h.call_id.clone(),
        contacts: h
            .contact
            .iter()
            .map(|c| match c.addr() {
                Some(a) => normalise_uri(&a.uri.to_string()),
                None => "*".to_owned(),
            })
            .collect(),
    })
}

fn rsip_headers(m: rsip::SipMessage) -> rsip::Headers {
    match m {
        rsip::SipMessage::Request(r) => r.headers,
        rsip::SipMessage::Response(r) => r.headers,
    }
}

/// The compared fields as `rsip` sees them.
pub fn rsip_fields(buf: &[u8]) -> Result<Fields, String> {
    let m = rsip::SipMessage::try_from(buf).map_err(|e| format!("rsip: {e}"))?;
    let mut f = Fields {
        via_branches: Vec::new(),
        from_tag: None,
        to_tag: None,
        cseq_seq: 0,
        cseq_method: String::new(),
        call_id: String::new(),
        contacts: Vec::new(),
    };
    let (mut from, mut to, mut cseq, mut call_id) = (false, false, false, false);
    for h in rsip_headers(m) {
        let e = |what: &str, err: rsip::Error| format!("rsip: {what}: {err}");
        match h {
            Header::Via(v) => {
                let t = v.into_typed().map_err(|x| e("Via", x))?;
                f.via_branches
                    .push(t.branch().map(|b| b.value().to_owned()));
            }
            Header::From(v) => {
                let t = v.into_typed().map_err(|x| e("From", x))?;
                f.from_tag = t.tag().map(|t| t.value().to_owned());
                from = true;
            }
            Header::To(v) => {
                let t = v.into_typed().map_err(|x| e("To", x))?;
                f.to_tag = t.tag().map(|t| t.value().to_owned());
                to = true;
            }
            Header::CSeq(v) => {
                let t = v.into_typed().map_err(|x| e("CSeq", x))?;
                f.cseq_seq = t.seq;
                f.cseq_method = t.method.to_string();
                cseq = true;
            }
            Header::CallId(v) => {
                f.call_id = v.value().to_owned();
                call_id = true;
            }
            Header::Contact(v) => {
                let t = v.into_typed().map_err(|x| e("Contact", x))?;
                f.contacts.push(normalise_uri(&t.uri.to_string()));
            }
            _ => {}
        }
    }
    for (seen, name) in [
        (from, "From"),
        (to, "To"),
        (cseq, "CSeq"),
        (call_id, "Call-ID"),
    ] {
        if !seen {
            return Err(format!("rsip: no {name} header found"));
        }
    }
    Ok(f)
}

/// Messages of the set that rsip 0.4.0 is known not to parse, and the header it fails on.
/// They stay in the set (they are what Linphone and baresip send) but are left out of the
/// timed set; `tests/same_fields.rs` fails if this list goes stale either way.
///
/// rsip 0.4.0 cannot tokenize a Contact header parameter whose value is a quoted-string
/// (`gen-value = token / host / quoted-string`, RFC 3261 section 25.1), such as the RFC 5626
/// `;+sip.instance="<urn:uuid:...>"` or Linphone's `;+org.linphone.specs="lime,lists"`.
pub const RSIP_KNOWN_FAILURES: &[(&str, &str)] = &[
    ("01_invite_sdp", "Contact"),
    ("03_register_auth", "Contact"),
];

/// What the check found for one message.
#[derive(Debug, Clone)]
pub enum Check {
    /// Both parsed it and agree on every compared field.
    Same(Fields),
    /// Both parsed it but disagree; one line per differing field.
    Mismatch(Vec<String>),
    /// One or both failed to parse it.
    Failed {
        /// `sip`'s error, if it failed.
        ours: Option<String>,
        /// `rsip`'s error, if it failed.
        rsip: Option<String>,
    },
}

impl Check {
    /// True when the message may be timed.
    pub fn is_same(&self) -> bool {
        matches!(self, Check::Same(_))
    }
}

/// Compares the fields of both parsers on one message.
pub fn check(buf: &[u8]) -> Check {
    match (ours_fields(buf), rsip_fields(buf)) {
        (Ok(a), Ok(b)) if a == b => Check::Same(a),
        (Ok(a), Ok(b)) => {
            let mut d = Vec::new();
            let mut cmp = |name: &str, x: String, y: String| {
                if x != y {
                    d.push(format!("{name}: sip={x} rsip={y}"));
                }
            };
            cmp(
                "Via branches",
                format!("{:?}", a.via_branches),
                format!("{:?}", b.via_branches),
            );
            cmp(
                "From tag",
                format!("{:?}", a.from_tag),
                format!("{:?}", b.from_tag),
            );
            cmp(
                "To tag",
                format!("{:?}", a.to_tag),
                format!("{:?}", b.to_tag),
            );
            cmp(
                "CSeq number",
                a.cseq_seq.to_string(),
                b.cseq_seq.to_string(),
            );
            cmp("CSeq method", a.cseq_method, b.cseq_method);
            cmp("Call-ID", a.call_id, b.call_id);
            cmp(
                "Contact URIs",
                format!("{:?}", a.contacts),
                format!("{:?}", b.contacts),
            );
            Check::Mismatch(d)
        }
        (a, b) => Check::Failed {
            ours: a.err(),
            rsip: b.err(),
        },
    }
}

/// Checks every message and prints one line for each that is left out of the timed set.
/// Returns the messages that may be timed.
pub fn checked_set(all: &[Sample]) -> Vec<Sample> {
    let mut timed = Vec::new();
    for s in all {
        match check(&s.bytes) {
            Check::Same(_) => timed.push(s.clone()),
            Check::Mismatch(d) => {
                println!(
                    "NOTE: {} left out of the timed set: the parsers disagree:",
                    s.name
                );
                for line in d {
                    println!("  {line}");
                }
            }
            Check::Failed { ours, rsip } => {
                println!("NOTE: {} left out of the timed set: parse failed:", s.name);
                for e in [ours, rsip].into_iter().flatten() {
                    println!("  {e}");
                }
            }
        }
    }
    timed
}

/// Timed: `sip` parses the message; the compared fields are then read (they are typed by
/// the parse). Returns a count so the work cannot be optimised away.
#[inline(never)]
pub fn ours_parse_extract(buf: &[u8]) -> usize {
    let Ok(m) = sip::Message::parse(buf) else {
        return 0;
    };
    let h = m.head();
    let mut n = 0;
    for v in &h.via {
        n += black_box(v.branch()).map_or(0, str::len);
    }
    n += black_box(h.from.tag()).map_or(0, str::len);
    n += black_box(h.to.tag()).map_or(0, str::len);
    n += black_box(h.cseq.seq) as usize;
    black_box(&h.cseq.method);
    n += black_box(h.call_id.as_str()).len();
    for c in &h.contact {
        if let Some(a) = c.addr() {
            black_box(&a.uri);
            n += 1;
        }
    }
    n
}

/// Timed: `rsip` parses the message, then types exactly the compared headers (Via, From, To,
/// CSeq, Contact; Call-ID is a string in both) and reads the fields. One pass over the
/// headers, consuming them, so no header is cloned.
#[inline(never)]
pub fn rsip_parse_extract(buf: &[u8]) -> usize {
    let Ok(m) = rsip::SipMessage::try_from(buf) else {
        return 0;
    };
    let mut n = 0;
    for h in rsip_headers(m) {
        match h {
            Header::Via(v) => {
                if let Ok(t) = v.into_typed() {
                    n += black_box(t.branch()).map_or(0, |b| b.value().len());
                }
            }
            Header::From(v) => {
                if let Ok(t) = v.into_typed() {
                    n += black_box(t.tag()).map_or(0, |t| t.value().len());
                }
            }
            Header::To(v) => {
                if let Ok(t) = v.into_typed() {
                    n += black_box(t.tag()).map_or(0, |t| t.value().len());
                }
            }
            Header::CSeq(v) => {
                if let Ok(t) = v.into_typed() {
                    n += black_box(t.seq) as usize;
                    black_box(&t.method);
                }
            }
            Header::CallId(v) => n += black_box(v.value()).len(),
            Header::Contact(v) => {
                if let Ok(t) = v.into_typed() {
                    black_box(&t.uri);
                    n += 1;
                }
            }
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::normalise_uri;

    #[test]
    fn normalise_only_the_transport_value() {
        assert_eq!(
            normalise_uri("sip:Bob@192.0.2.1:5060;transport=UDP;lr"),
            "sip:Bob@192.0.2.1:5060;transport=udp;lr"
        );
        assert_eq!(normalise_uri("sip:a@b;x=Y;LR"), "sip:a@b;x=Y;LR");
    }
}
