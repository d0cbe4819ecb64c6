//! Requests and responses: the parser, the serializer, and the answers to malformed input.

use bytes::Bytes;

use crate::addr::{CSeq, Contact, NameAddr, Via};
use crate::error::ParseError;
use crate::header::{HeaderName, Headers};
use crate::method::{Method, StatusCode};
use crate::scan::Scanner;
use crate::uri::Uri;

/// Limits that bound what one message may cost. Peers choose what they send; these are
/// the abuse bounds (STYLE.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message (start line, headers and body), in bytes.
    pub max_message: usize,
    /// Largest number of header lines.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // UDP tops out below 64 KiB; TCP messages are held to the same bound.
        Self {
            max_message: 65_535,
            max_headers: 256,
        }
    }
}

/// The headers every request and response carries, typed, and the rest as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Via values, topmost first; never empty in a parsed message.
    pub via: Vec<Via>,
    /// Route values, in order.
    pub route: Vec<NameAddr>,
    /// Record-Route values, in order.
    pub record_route: Vec<NameAddr>,
    /// Max-Forwards (0..=255), when present.
    pub max_forwards: Option<u8>,
    /// From
    pub from: NameAddr,
    /// To
    pub to: NameAddr,
    /// Call-ID
    pub call_id: String,
    /// CSeq
    pub cseq: CSeq,
    /// Contact values, in order.
    pub contact: Vec<Contact>,
    /// Every other header, in arrival order.
    pub headers: Headers,
}

impl Head {
    /// The topmost Via.
    pub fn top_via(&self) -> Option<&Via> {
        self.via.first()
    }

    /// The `Expires` header as a number of seconds. A value beyond 2^32-1 or malformed is
    /// `None`, which RFC 4475 section 3.1.2.4 lets a receiver treat as absent.
    pub fn expires(&self) -> Option<u32> {
        let v = self.headers.get(&HeaderName::Expires)?;
        v.trim().parse().ok()
    }

    /// The value of a text header.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get(name)
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The headers.
    pub head: Head,
    /// The body (Content-Length is derived from it when serializing).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase.
    pub reason: String,
    /// The headers.
    pub head: Head,
    /// The body.
    pub body: Bytes,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Parses one message from a datagram or from one frame cut by the [`crate::framing`]
    /// functions, with the default [`Limits`].
    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        parse(buf, &Limits::default())
    }

    /// Parses with explicit limits.
    pub fn parse_with(buf: &[u8], limits: &Limits) -> Result<Self, ParseError> {
        parse(buf, limits)
    }

    /// The headers.
    pub fn head(&self) -> &Head {
        match self {
            Self::Request(r) => &r.head,
            Self::Response(r) => &r.head,
        }
    }

    /// The message on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Request(r) => r.to_bytes(),
            Self::Response(r) => r.to_bytes(),
        }
    }
}

impl Response {
    /// A response to `req` as RFC 3261 section 8.2.6.2 builds one: the same Via values (in
    /// order), From, To, Call-ID and CSeq; the reason phrase is the canonical one. The caller
    /// adds the To tag where one is needed.
    pub fn to_request(req: &Request, status: StatusCode) -> Self {
        let h = &req.head;
        Self {
            status,
            reason: status.canonical_reason().to_owned(),
            head: Head {
                via: h.via.clone(),
                route: Vec::new(),
                record_route: Vec::new(),
                max_forwards: None,
                from: h.from.clone(),
                to: h.to.clone(),
                call_id: h.call_id.clone(),
                cseq: h.cseq.clone(),
                contact: Vec::new(),
                headers: Headers::new(),
            },
            body: Bytes::new(),
        }
    }

    /// Serializes the response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(b"SIP/2.0 ");
        push_fmt(
            &mut out,
            format_args!("{} {}\r\n", self.status, self.reason),
        );
        write_head(&mut out, &self.head, &self.body);
        out
    }
}

impl Request {
    /// Serializes the request.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        push_fmt(
            &mut out,
            format_args!("{} {} SIP/2.0\r\n", self.method, self.uri),
        );
        write_head(&mut out, &self.head, &self.body);
        out
    }
}

fn push_fmt(out: &mut Vec<u8>, args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = out.write_fmt(args);
}

fn write_head(out: &mut Vec<u8>, h: &Head, body: &[u8]) {
    for v in &h.via {
        push_fmt(out, format_args!("Via: {v}\r\n"));
    }
    for r in &h.route {
        push_fmt(out, format_args!("Route: {r}\r\n"));
    }
    for r in &h.record_route {
        push_fmt(out, format_args!("Record-Route: {r}\r\n"));
    }
    if let Some(m) = h.max_forwards {
        push_fmt(out, format_args!("Max-Forwards: {m}\r\n"));
    }
    push_fmt(out, format_args!("From: {}\r\nTo: {}\r\n", h.from, h.to));
    push_fmt(
        out,
        format_args!("Call-ID: {}\r\nCSeq: {}\r\n", h.call_id, h.cseq),
    );
    for c in &h.contact {
        push_fmt(out, format_args!("Contact: {c}\r\n"));
    }
    for hd in h.headers.iter() {
        push_fmt(out, format_args!("{}: {}\r\n", hd.name, hd.value));
    }
    push_fmt(out, format_args!("Content-Length: {}\r\n\r\n", body.len()));
    out.extend_from_slice(body);
}

/// Where the header section ends: the index just past the empty line, accepting bare LF
/// line ends as well as CRLF. `None` when there is no empty line.
pub(crate) fn header_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = buf
        .get(i..)
        .and_then(|b| b.iter().position(|&c| c == b'\n'))
    {
        let nl = i + off;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

/// Skips the CRLFs that may precede a start line (RFC 3261 section 7.5).
pub(crate) fn skip_leading_crlf(buf: &[u8]) -> &[u8] {
    let n = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    buf.get(n..).unwrap_or(&[])
}

/// Splits the header section into logical lines, joining folded continuation lines
/// (RFC 3261 section 7.3.1) with a single space. The stream framer reads Content-Length
/// through this too, so that both see the same header lines.
pub(crate) fn logical_lines(text: &str) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .peekable();
    std::iter::from_fn(move || {
        let first = lines.next()?;
        if !lines.peek().is_some_and(|n| n.starts_with([' ', '\t'])) {
            return Some(std::borrow::Cow::Borrowed(first));
        }
        let mut joined = first.trim_end().to_owned();
        while let Some(n) = lines.next_if(|n| n.starts_with([' ', '\t'])) {
            joined.push(' ');
            joined.push_str(n.trim());
        }
        Some(std::borrow::Cow::Owned(joined))
    })
}

enum StartLine {
    Request(Method, Uri),
    Response(StatusCode, String),
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if line.len() > 4
        && line
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let code = parts.next().ok_or(ParseError::StatusLine)?;
        let reason = parts.next().unwrap_or("");
        check_version(version).map_err(|_| ParseError::StatusLine)?;
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::StatusLine);
        }
        let status = code
            .parse()
            .ok()
            .and_then(StatusCode::new)
            .ok_or(ParseError::StatusLine)?;
        if reason.bytes().any(|b| b < 0x20 && b != b'\t') {
            return Err(ParseError::StatusLine);
        }
        return Ok(StartLine::Response(status, reason.to_owned()));
    }
    //= https://www.rfc-editor.org/rfc/rfc3261#section-7.1
    //# Request-Line  =  Method SP Request-URI SP SIP-Version CRLF
    //# The elements are separated by single space (SP) characters.
    let mut parts = line.split(' ');
    let (Some(m), Some(u), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        // Extra or missing spaces, or LWS inside the Request-URI. A line that does not even
        // end in a SIP version is not a SIP request at all.
        return Err(if line.contains("SIP/") {
            ParseError::RequestLine
        } else {
            ParseError::NotSip
        });
    };
    let method = Method::parse(m).ok_or(ParseError::RequestLine)?;
    check_version(v)?;
    let uri = Uri::parse(u).ok_or(ParseError::RequestUri)?;
    if let Uri::Sip(s) = &uri {
        //= https://www.rfc-editor.org/rfc/rfc3261#section-19.1.1
        //# headers: not allowed in the Request-URI (table 1)
        if !s.headers.is_empty() {
            return Err(ParseError::RequestUri);
        }
    }
    Ok(StartLine::Request(method, uri))
}

fn check_version(v: &str) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    // SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT: any other well-formed version is 505.
    let well_formed = v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
        && v.get(4..)
            .and_then(|n| n.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            });
    if well_formed {
        Err(ParseError::Version(v.chars().take(16).collect()))
    } else if v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/")) {
        Err(ParseError::RequestLine)
    } else {
        // Not SIP at all (an HTTP request on the SIP port, a scanner's garbage).
        Err(ParseError::NotSip)
    }
}

/// Parses a comma-separated list with `one` for each element.
fn parse_list<T>(
    value: &str,
    name: &'static str,
    out: &mut Vec<T>,
    one: impl Fn(&mut Scanner<'_>) -> Option<T>,
) -> Result<(), ParseError> {
    let mut sc = Scanner::new(value);
    loop {
        out.push(one(&mut sc).ok_or(ParseError::Header { name })?);
        sc.skip_ws();
        if sc.at_end() {
            return Ok(());
        }
        if !sc.eat(b',') {
            return Err(ParseError::Header { name });
        }
    }
}

fn parse_single_name_addr(value: &str, name: &'static str) -> Result<NameAddr, ParseError> {
    let mut sc = Scanner::new(value);
    let na = NameAddr::parse_from(&mut sc).ok_or(ParseError::Header { name })?;
    sc.skip_ws();
    if sc.at_end() {
        Ok(na)
    } else {
        Err(ParseError::Header { name })
    }
}

fn set_once<T: PartialEq>(
    slot: &mut Option<T>,
    value: T,
    name: &'static str,
) -> Result<(), ParseError> {
    match slot {
        //= https://www.rfc-editor.org/rfc/rfc4475#section-3.3.8
        //# This request contains multiple Call-ID, To, From, Max-Forwards, and CSeq values
        //# ... an element receiving this request MUST respond with a 400 Bad Request.
        Some(_) => Err(ParseError::Repeated { name }),
        None => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn parse_number(value: &str, name: &'static str, max: u64) -> Result<u64, ParseError> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Header { name });
    }
    match v.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(ParseError::Overflow { name }),
    }
}

fn is_call_id(v: &str) -> bool {
    //= https://www.rfc-editor.org/rfc/rfc3261#section-25.1
    //# callid = word [ "@" word ]
    !v.is_empty() && v.bytes().all(|b| b > 0x20 && b < 0x7f)
}

/// `SIP-date = rfc1123-date`: `Sat, 13 Nov 2010 23:29:00 GMT`.
fn is_sip_date(v: &str) -> bool {
    //= https://www.rfc-editor.org/rfc/rfc3261#section-20.17
    //# RFC 3261 restricts RFC 1123 date to GMT only: "GMT" is the only allowed time zone.
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let Some((day, rest)) = v.split_once(", ") else {
        return false;
    };
    let parts: Vec<&str> = rest.split(' ').collect();
    let [d, m, y, t, "GMT"] = parts.as_slice() else {
        return false;
    };
    let time: Vec<&str> = t.split(':').collect();
    DAYS.contains(&day)
        && digits(d, 2)
        && MONTHS.contains(m)
        && digits(y, 4)
        && time.len() == 3
        && time.iter().all(|p| digits(p, 2))
}

fn parse(buf: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    if buf.len() > limits.max_message {
        return Err(ParseError::TooLarge);
    }
    let buf = skip_leading_crlf(buf);
    // A datagram without the empty line is taken as headers only.
    let (head_bytes, rest) = match header_end(buf) {
        Some(end) => (buf.get(..end).unwrap_or(buf), buf.get(end..).unwrap_or(&[])),
        None => (buf, &[][..]),
    };
    let text = std::str::from_utf8(head_bytes).map_err(|_| {
        if head_bytes.starts_with(b"SIP/") {
            ParseError::StatusLine
        } else {
            ParseError::HeaderLine
        }
    })?;
    let mut lines = logical_lines(text);
    let start = parse_start_line(&lines.next().ok_or(ParseError::NotSip)?)?;

    let mut via = Vec::new();
    let mut route = Vec::new();
    let mut record_route = Vec::new();
    let mut contact = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    let mut max_forwards = None;
    let mut content_length: Option<u64> = None;
    let mut headers = Headers::new();
    let mut count = 0usize;

    for line in lines {
        if line.is_empty() {
            continue;
        }
        count += 1;
        if count > limits.max_headers {
            return Err(ParseError::TooManyHeaders);
        }
        let (raw_name, value) = line.split_once(':').ok_or(ParseError::HeaderLine)?;
        //= https://www.rfc-editor.org/rfc/rfc3261#section-25.1
        //# HCOLON  =  *( SP / HTAB ) ":" SWS
        let raw_name = raw_name.trim_end_matches([' ', '\t']);
        if !crate::scan::is_token(raw_name) {
            return Err(ParseError::HeaderLine);
        }
        let value = value.trim_matches([' ', '\t']);
        let name = HeaderName::parse(raw_name);
        match name {
            HeaderName::Via => parse_list(value, "Via", &mut via, Via::parse_from)?,
            HeaderName::Route => parse_list(value, "Route", &mut route, NameAddr::parse_from)?,
            HeaderName::RecordRoute => parse_list(
                value,
                "Record-Route",
                &mut record_route,
                NameAddr::parse_from,
            )?,
            HeaderName::Contact if value == "*" => contact.push(Contact::Star),
            HeaderName::Contact => parse_list(value, "Contact", &mut contact, |sc| {
                NameAddr::parse_from(sc).map(Contact::Addr)
            })?,
            HeaderName::From => {
                set_once(&mut from, parse_single_name_addr(value, "From")?, "From")?
            }
            HeaderName::To => set_once(&mut to, parse_single_name_addr(value, "To")?, "To")?,
            HeaderName::CallId => {
                if !is_call_id(value) {
                    return Err(ParseError::Header { name: "Call-ID" });
                }
                set_once(&mut call_id, value.to_owned(), "Call-ID")?
            }
            HeaderName::CSeq => {
                let c = CSeq::parse(value).map_err(|overflow| match overflow {
                    true => ParseError::Overflow { name: "CSeq" },
                    false => ParseError::Header { name: "CSeq" },
                })?;
                set_once(&mut cseq, c, "CSeq")?
            }
            HeaderName::MaxForwards => {
                let n = parse_number(value, "Max-Forwards", 255)? as u8;
                set_once(&mut max_forwards, n, "Max-Forwards")?
            }
            HeaderName::ContentLength => {
                let n = parse_number(value, "Content-Length", u32::MAX.into())?;
                match content_length {
                    Some(prev) if prev != n => {
                        return Err(ParseError::Repeated {
                            name: "Content-Length",
                        });
                    }
                    _ => content_length = Some(n),
                }
            }
            HeaderName::Date if !is_sip_date(value) => {
                return Err(ParseError::Header { name: "Date" });
            }
            name => headers.push(name, value),
        }
    }

    let head = Head {
        via,
        route,
        record_route,
        max_forwards,
        from: from.ok_or(ParseError::Missing { name: "From" })?,
        to: to.ok_or(ParseError::Missing { name: "To" })?,
        call_id: call_id.ok_or(ParseError::Missing { name: "Call-ID" })?,
        cseq: cseq.ok_or(ParseError::Missing { name: "CSeq" })?,
        contact,
        headers,
    };
    if head.via.is_empty() {
        return Err(ParseError::Missing { name: "Via" });
    }

    //= https://www.rfc-editor.org/rfc/rfc3261#section-18.3
    //# If the message is received over an unreliable transport and the Content-Length is
    //# larger than the remaining bytes, the message is discarded (answered 400 where a
    //# response is possible); extra bytes after the body are discarded.
    let body = match content_length {
        None => rest,
        Some(n) => {
            let n = usize::try_from(n).map_err(|_| ParseError::BodyTooLarge)?;
            rest.get(..n).ok_or(ParseError::BodyTruncated)?
        }
    };
    let body = Bytes::copy_from_slice(body);

    Ok(match start {
        StartLine::Request(method, uri) => {
            //= https://www.rfc-editor.org/rfc/rfc4475#section-3.1.2.17
            //# the method in the CSeq header field does not match the method in the start line
            if head.cseq.method != method {
                return Err(ParseError::CSeqMethod);
            }
            Message::Request(Request {
                method,
                uri,
                head,
                body,
            })
        }
        StartLine::Response(status, reason) => Message::Response(Response {
            status,
            reason,
            head,
            body,
        }),
    })
}

/// The answer to a message that did not parse: a response built from whatever Via, From, To,
/// Call-ID and CSeq lines it has (copied as written), or `None` when the error deserves no
/// answer, the message was a response, or it has no Via to route an answer by.
///
/// `to_tag` is the tag added to a To that lacks one (RFC 3261 section 8.2.6.2); it comes from
/// the caller's RNG.
pub fn reject(buf: &[u8], err: &ParseError, to_tag: &str) -> Option<Vec<u8>> {
    let status = err.status()?;
    let buf = skip_leading_crlf(buf);
    if buf
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        return None;
    }
    let head = header_end(buf).and_then(|e| buf.get(..e)).unwrap_or(buf);
    let text = String::from_utf8_lossy(head);
    let mut copied: Vec<(HeaderName, String)> = Vec::new();
    for line in logical_lines(&text).skip(1) {
        let Some((n, v)) = line.split_once(':') else {
            continue;
        };
        let name = HeaderName::parse(n.trim_end_matches([' ', '\t']));
        if matches!(
            name,
            HeaderName::Via
                | HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
        ) {
            // Control characters would let the peer inject lines into our answer.
            let v: String = v
                .trim()
                .chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect();
            copied.push((name, v));
        }
    }
    if !copied.iter().any(|(n, _)| *n == HeaderName::Via) {
        return None;
    }
    let mut out = Vec::with_capacity(512);
    push_fmt(
        &mut out,
        format_args!("SIP/2.0 {} {}\r\n", status, err.reason()),
    );
    for (name, value) in &copied {
        if *name == HeaderName::To && !value.to_ascii_lowercase().contains(";tag=") {
            push_fmt(&mut out, format_args!("{name}: {value};tag={to_tag}\r\n"));
        } else {
            push_fmt(&mut out, format_args!("{name}: {value}\r\n"));
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(out)
}

#[cfg(test)]
mod tests;
