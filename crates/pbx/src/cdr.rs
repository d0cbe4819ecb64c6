//! Call detail records (DESIGN.md section 15): one per call attempt, answered or not, written
//! when the call ends.
//!
//! ```json
//! {"id": "0b7a3c1e-5f0d-4c4e-9a51-2d1f7f0e8a11", "domain": "example.com",
//!  "call_id": "a84b4c76e66710@192.0.2.4", "from": "1000", "to": "1001",
//!  "start": 1795543261, "answer": 1795543265, "end": 1795543325,
//!  "duration": 64, "billsec": 60, "cause": {"code": 200, "reason": "BYE"},
//!  "hangup_by": "caller", "codecs": ["PCMU/8000", "telephone-event/8000"]}
//! ```
//!
//! - `from` is the caller's user (the user part of its authenticated identity) and `to` the
//!   dialled target's user (the user part of the Request-URI), both as text, never URIs.
//! - `start` is when the INVITE arrived, `answer` when the callee's 2xx arrived (`null` when the
//!   call was never answered), `end` when the call ended. A CDR is written at the end, so only
//!   `answer` can be absent. `duration` is `end - start`, `billsec` `end - answer` (0 when
//!   unanswered); both saturate at 0 if the wall clock stepped back during the call.
//! - `cause` follows one rule, [`Cause`]'s: a party's BYE is 200 `BYE`; anything else is the
//!   status that says why the call ended, with its reason phrase (the final response the
//!   caller got when the call was never answered).
//!
//! The same JSON is the content of the 9P tree's `cdr/` files, named by [`Cdr::tree_path`].
//! Storage goes through [`Store::insert_cdrs`](crate::Store::insert_cdrs) and
//! [`Store::query_cdrs`](crate::Store::query_cdrs) with a [`CdrQuery`].

use std::fmt::{self, Write};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::call_event::CallNote;
use crate::time::utc_date;

/// One call detail record, in the JSON shape of DESIGN.md section 15.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cdr {
    /// The PBX's own call id (a UUID, as text), not the SIP Call-ID.
    pub id: String,
    /// The account: the caller's domain, lowercased.
    pub domain: String,
    /// The SIP Call-ID of the caller's INVITE.
    pub call_id: String,
    /// The caller's user name.
    pub from: String,
    /// The dialled target's user name.
    pub to: String,
    /// When the INVITE arrived, Unix seconds.
    pub start: u64,
    /// When the call was answered, Unix seconds; `None` (`null`) when it never was.
    pub answer: Option<u64>,
    /// When the call ended, Unix seconds.
    pub end: u64,
    /// `end - start`, seconds.
    pub duration: u64,
    /// `end - answer`, seconds; 0 when unanswered.
    pub billsec: u64,
    /// Why the call ended.
    pub cause: Cause,
    /// Who ended it.
    pub hangup_by: HangupBy,
    /// The codecs the call used, as `name/rate` (`PCMU/8000`), in the negotiated order; empty
    /// when no media was ever agreed.
    pub codecs: Vec<String>,
}

impl Cdr {
    /// The record of a call that has ended. `call` is the note of its
    /// [`New`](crate::CallEvent::New) event (its `time` is the start); `duration` and
    /// `billsec` are computed (saturating at 0, should the wall clock have stepped back).
    pub fn new(
        call: &CallNote,
        answer: Option<u64>,
        end: u64,
        cause: Cause,
        hangup_by: HangupBy,
        codecs: Vec<String>,
    ) -> Self {
        Self {
            id: call.id.clone(),
            domain: call.domain.clone(),
            call_id: call.call_id.clone(),
            from: call.from.clone(),
            to: call.to.clone(),
            start: call.time,
            answer,
            end,
            duration: end.saturating_sub(call.time),
            billsec: answer.map_or(0, |a| end.saturating_sub(a)),
            cause,
            hangup_by,
            codecs,
        }
    }

    /// The record as compact JSON: the body of its `cdr/` file and of its webhook.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A record read back from [`to_json`](Self::to_json)'s form; `None` when `json` is not
    /// one.
    pub fn from_json(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }

    /// The file's path under an account's `cdr/` directory (DESIGN.md sections 9 and 15):
    /// `<YYYY_MM_DD>/<epoch>_<from>_<to>.cdr`, the date and epoch of `start` in UTC, `from` and
    /// `to` escaped by [`tree_escape`]. Two calls with the same name are told apart (`_2`,
    /// `_3`...) by the tree, not here.
    pub fn tree_path(&self) -> String {
        let (y, m, d) = utc_date(self.start);
        format!(
            "{y:04}_{m:02}_{d:02}/{}_{}_{}.cdr",
            self.start,
            tree_escape(&self.from),
            tree_escape(&self.to)
        )
    }
}

/// A name part as the 9P tree writes it (DESIGN.md section 15): bytes outside
/// `[A-Za-z0-9+._-]` become `%XX` (uppercase hex of each UTF-8 byte), so that a user part can
/// never hold a `/`, a `_` separator or anything a shell would trip on.
///
/// `1000` stays `1000`; `+4930 123` becomes `+4930%20123`; `a_b` becomes `a%5Fb`.
pub fn tree_escape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for &b in part.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-') {
            out.push(char::from(b));
        } else {
            // `_` is escaped too: it separates the parts of a name.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Why a call ended: a SIP status code and a reason text.
///
/// The rule:
/// - a party hung up an answered call with a BYE: 200 `BYE` ([`Cause::bye`]);
/// - a call never answered: the final response the caller got to its INVITE, with its reason
///   phrase: 486 Busy Here (callee busy), 487 Request Terminated (the caller cancelled), 480
///   (no answer in time, or the target has no registration), 404 Not Found (unknown target),
///   488 Not Acceptable Here (no common codec)...;
/// - the PBX ended the call (answered or not): the status that says why, with its reason:
///   408 for a session timer that expired, media that stopped or an ACK that never came, 503
///   Service Unavailable at shutdown, and so on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cause {
    /// SIP status code, 200..=699.
    pub code: u16,
    /// Reason phrase (`BYE` for a party's hang-up).
    pub reason: String,
}

impl Cause {
    /// A cause from its code and reason.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// An answered call that a party ended with a BYE: 200 `BYE`.
    pub fn bye() -> Self {
        Self::new(200, "BYE")
    }
}

/// Who ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HangupBy {
    /// The caller: a BYE from the caller, or a CANCEL before answer.
    Caller,
    /// The callee: a BYE from the callee, or a refusal (486, 603...) before answer.
    Callee,
    /// The PBX: no answer in time, unknown or unregistered target, no common codec, media or
    /// session timer timeout, shutdown, an API or script hang-up.
    System,
}

impl HangupBy {
    /// The JSON token: `caller`, `callee`, `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Callee => "callee",
            Self::System => "system",
        }
    }

    /// The variant of a JSON token.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "caller" => Some(Self::Caller),
            "callee" => Some(Self::Callee),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

/// Records per page when a query names no limit.
pub const CDR_PAGE_DEFAULT: usize = 100;

/// The most records one page holds; larger limits are lowered to it.
pub const CDR_PAGE_MAX: usize = 1000;

/// A query of one account's CDRs (`GET /cdr/{domain}`), answered a page at a time in
/// `(start, id)` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrQuery {
    /// The account; matched case-insensitively.
    pub domain: String,
    /// Only calls with `start >= since`.
    pub since: Option<u64>,
    /// Only calls with `start < until` (half-open, so that `[a, b)` and `[b, c)` never share a
    /// call).
    pub until: Option<u64>,
    /// Only calls from or to this user (exact match on `from` or `to`).
    pub user: Option<String>,
    /// Records per page; [`page_size`](Self::page_size) keeps it in `1..=CDR_PAGE_MAX`.
    pub limit: usize,
    /// Continue after this record: the `next` of the previous page.
    pub after: Option<CdrCursor>,
}

impl CdrQuery {
    /// Every CDR of `domain`, [`CDR_PAGE_DEFAULT`] per page, from the first.
    pub fn new(domain: &str) -> Self {
        Self {
            domain: domain.to_owned(),
            since: None,
            until: None,
            user: None,
            limit: CDR_PAGE_DEFAULT,
            after: None,
        }
    }

    /// The page size a backend uses: `limit` within `1..=CDR_PAGE_MAX`.
    pub fn page_size(&self) -> usize {
        self.limit.clamp(1, CDR_PAGE_MAX)
    }
}

/// One page of a [`CdrQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CdrPage {
    /// The records, in `(start, id)` order.
    pub cdrs: Vec<Cdr>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<CdrCursor>,
}

/// A position in `(start, id)` order: the last record of a page. Keyset pagination, never an
/// offset, so a page is the same whatever was inserted before it meanwhile, and a record is
/// never returned twice.
///
/// Clients see it as an opaque string (its [`Display`](fmt::Display)): the lowercase hex of
/// `<start>:<id>`, which needs no escaping in a URL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CdrCursor {
    /// The `start` of the last record returned.
    pub start: u64,
    /// Its `id`.
    pub id: String,
}

/// The longest cursor string accepted (a UUID id needs 2 * (20 + 1 + 36) = 114).
const CURSOR_MAX: usize = 1024;

impl CdrCursor {
    /// The position of `cdr`.
    pub fn of(cdr: &Cdr) -> Self {
        Self {
            start: cdr.start,
            id: cdr.id.clone(),
        }
    }
}

impl fmt::Display for CdrCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = format!("{}:{}", self.start, self.id);
        for b in plain.bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A cursor string that is not one this PBX gave out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub struct BadCursor;

impl FromStr for CdrCursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, BadCursor> {
        if s.len() > CURSOR_MAX || !s.len().is_multiple_of(2) {
            return Err(BadCursor);
        }
        let bytes = s
            .as_bytes()
            .chunks(2)
            .map(|pair| {
                let pair = std::str::from_utf8(pair).map_err(|_| BadCursor)?;
                u8::from_str_radix(pair, 16).map_err(|_| BadCursor)
            })
            .collect::<Result<Vec<u8>, BadCursor>>()?;
        let plain = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let (start, id) = plain.split_once(':').ok_or(BadCursor)?;
        // Digits only: `u64::from_str` would take a leading `+` as well.
        if start.is_empty() || !start.bytes().all(|b| b.is_ascii_digit()) || id.is_empty() {
            return Err(BadCursor);
        }
        Ok(Self {
            start: start.parse().map_err(|_| BadCursor)?,
            id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(start: u64) -> CallNote {
        CallNote {
            id: "0b7a3c1e-5f0d-4c4e-9a51-2d1f7f0e8a11".into(),
            domain: "example.com".into(),
            from: "1000".into(),
            to: "1001".into(),
            call_id: "a84b4c76e66710@192.0.2.4".into(),
            time: start,
        }
    }

    #[test]
    fn answered_call_json_shape() {
        let cdr = Cdr::new(
            &call(1_795_543_261),
            Some(1_795_543_265),
            1_795_543_325,
            Cause::bye(),
            HangupBy::Caller,
            vec!["PCMU/8000".into(), "telephone-event/8000".into()],
        );
        let json: serde_json::Value = serde_json::from_str(&cdr.to_json()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "id": "0b7a3c1e-5f0d-4c4e-9a51-2d1f7f0e8a11",
                "domain": "example.com",
                "call_id": "a84b4c76e66710@192.0.2.4",
                "from": "1000",
                "to": "1001",
                "start": 1_795_543_261_u64,
                "answer": 1_795_543_265_u64,
                "end": 1_795_543_325_u64,
                "duration": 64,
                "billsec": 60,
                "cause": {"code": 200, "reason": "BYE"},
                "hangup_by": "caller",
                "codecs": ["PCMU/8000", "telephone-event/8000"],
            })
        );
        let back: Cdr = serde_json::from_str(&cdr.to_json()).expect("parse");
        assert_eq!(back, cdr);
    }

    #[test]
    fn unanswered_call_has_null_answer_and_no_billsec() {
        let cdr = Cdr::new(
            &call(100),
            None,
            130,
            Cause::new(487, "Request Terminated"),
            HangupBy::Caller,
            vec![],
        );
        assert_eq!((cdr.duration, cdr.billsec), (30, 0));
        let json: serde_json::Value = serde_json::from_str(&cdr.to_json()).expect("json");
        assert!(json["answer"].is_null());
        assert_eq!(json["cause"]["code"], 487);
        assert_eq!(json["codecs"], serde_json::json!([]));
    }

    #[test]
    fn clock_stepping_back_saturates() {
        let cdr = Cdr::new(
            &call(100),
            Some(120),
            90,
            Cause::new(408, "Media Timeout"),
            HangupBy::System,
            vec![],
        );
        assert_eq!((cdr.duration, cdr.billsec), (0, 0));
    }

    #[test]
    fn hangup_tokens() {
        for h in [HangupBy::Caller, HangupBy::Callee, HangupBy::System] {
            assert_eq!(HangupBy::parse(h.as_str()), Some(h));
            assert_eq!(
                serde_json::to_string(&h).expect("json"),
                format!("\"{}\"", h.as_str())
            );
        }
        assert_eq!(HangupBy::parse("Caller"), None);
    }

    #[test]
    fn tree_names() {
        assert_eq!(tree_escape("1000"), "1000");
        assert_eq!(tree_escape("+4930 123"), "+4930%20123");
        assert_eq!(tree_escape("a_b/c"), "a%5Fb%2Fc");
        assert_eq!(tree_escape("alice.smith-x"), "alice.smith-x");
        assert_eq!(tree_escape("j\u{f6}rg"), "j%C3%B6rg");
        assert_eq!(tree_escape("%"), "%25");
        let mut cdr = Cdr::new(
            &call(1_795_543_261),
            None,
            1_795_543_262,
            Cause::new(404, "Not Found"),
            HangupBy::System,
            vec![],
        );
        assert_eq!(cdr.tree_path(), "2026_11_24/1795543261_1000_1001.cdr");
        cdr.start = 951_782_399;
        cdr.to = "sip:x@y".into();
        assert_eq!(cdr.tree_path(), "2000_02_28/951782399_1000_sip%3Ax%40y.cdr");
    }

    #[test]
    fn cursor_round_trip_and_refusals() {
        let c = CdrCursor {
            start: 1_795_543_261,
            id: "0b7a3c1e-5f0d-4c4e-9a51-2d1f7f0e8a11".into(),
        };
        let text = c.to_string();
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(text.parse::<CdrCursor>(), Ok(c));
        let odd = CdrCursor {
            start: 0,
            id: "a:b\u{e9}".into(),
        };
        assert_eq!(odd.to_string().parse::<CdrCursor>(), Ok(odd));
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        for bad in [
            String::new(),
            "abc".into(),
            "zz".into(),
            hex("12"),
            hex(":id"),
            hex("12:"),
            hex("+12:id"),
            hex("-1:id"),
            hex("99999999999999999999999:id"),
            "ff3a6964".into(),
            "a".repeat(CURSOR_MAX + 2),
        ] {
            assert_eq!(bad.parse::<CdrCursor>(), Err(BadCursor), "{bad}");
        }
    }

    #[test]
    fn page_size_is_clamped() {
        let mut q = CdrQuery::new("example.com");
        assert_eq!(q.page_size(), CDR_PAGE_DEFAULT);
        q.limit = 0;
        assert_eq!(q.page_size(), 1);
        q.limit = 1_000_000;
        assert_eq!(q.page_size(), CDR_PAGE_MAX);
    }
}
