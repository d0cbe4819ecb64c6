//! URIs: SIP and SIPS (RFC 3261 section 19.1), TEL (RFC 3966), and any other absolute URI kept
//! as written.
//!
//! Parts keep their escaped form as written, so a URI re-serializes byte for byte; use
//! [`unescape`](crate::unescape) where the decoded value is wanted.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::scan::{Scanner, is_escaped_text, is_token_char, is_unreserved};

/// A parameter: `;name` or `;name=value`. The value keeps quotes and escapes as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name as written.
    pub name: String,
    /// The value as written, if any.
    pub value: Option<String>,
}

/// An ordered list of parameters with case-insensitive names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<Param>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// `Some(value)` when `name` is present (`Some(None)` for a bare `;name`).
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// The value of `name` when present with a value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    /// True when `name` is present, with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` (replacing an existing one in place) or appends it.
    pub fn set(&mut self, name: &str, value: Option<String>) {
        match self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value,
            None => self.0.push(Param {
                name: name.to_owned(),
                value,
            }),
        }
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }

    /// All parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push(&mut self, name: &str, value: Option<&str>) {
        self.0.push(Param {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        });
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match &p.value {
                Some(v) => write!(f, ";{}={}", p.name, v)?,
                None => write!(f, ";{}", p.name)?,
            }
        }
        Ok(())
    }
}

/// A host: a name, an IPv4 address or a bracketed IPv6 reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, as written.
    Name(String),
    /// A dotted IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    V6(Ipv6Addr),
}

impl Host {
    /// Parses `hostname / IPv4address / IPv6reference`.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(inner) = s.strip_prefix('[') {
            return inner.strip_suffix(']')?.parse().ok().map(Self::V6);
        }
        if s.is_empty() || s.starts_with(['.', '-']) || s.contains("..") {
            return None;
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return None;
        }
        if let Ok(v4) = s.parse() {
            return Some(Self::V4(v4));
        }
        //= https://www.rfc-editor.org/rfc/rfc3261#section-25.1
        //# toplabel = ALPHA / ALPHA *( alphanum / "-" ) alphanum
        let top = s.trim_end_matches('.').rsplit('.').next().unwrap_or("");
        if !top.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        Some(Self::Name(s.to_owned()))
    }

    /// The address, when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Name(_) => None,
            Self::V4(a) => Some(IpAddr::V4(*a)),
            Self::V6(a) => Some(IpAddr::V6(*a)),
        }
    }

    /// Compares hosts the way RFC 3261 section 19.1.4 compares them: names case-insensitively.
    pub fn matches(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Name(a), Self::Name(b)) => a
                .trim_end_matches('.')
                .eq_ignore_ascii_case(b.trim_end_matches('.')),
            (a, b) => a == b,
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Self::V4(a),
            IpAddr::V6(a) => Self::V6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::V4(a) => write!(f, "{a}"),
            Self::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, escaped as written.
    pub user: Option<String>,
    /// The password, escaped as written (deprecated by RFC 3261, still parsed).
    pub password: Option<String>,
    /// The host.
    pub host: Host,
    /// The port, if written.
    pub port: Option<u16>,
    /// The uri-parameters.
    pub params: Params,
    /// The `?name=value&...` headers, escaped as written.
    pub headers: Vec<(String, String)>,
}

impl SipUri {
    /// A plain `sip:host` URI.
    pub fn new(host: Host) -> Self {
        Self {
            secure: false,
            user: None,
            password: None,
            host,
            port: None,
            params: Params::new(),
            headers: Vec::new(),
        }
    }
}

/// A `tel:` URI (RFC 3966).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri {
    /// The number, as written (global `+...` or local).
    pub number: String,
    /// The parameters.
    pub params: Params,
}

/// Any other absolute URI, kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherUri {
    /// The scheme, as written.
    pub scheme: String,
    /// Everything after the colon.
    pub rest: String,
}

/// A URI as it appears in a Request-URI or a name-addr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// `sip:` or `sips:`
    Sip(SipUri),
    /// `tel:`
    Tel(TelUri),
    /// Anything else (`mailto:`, `http:`, `urn:`...).
    Other(OtherUri),
}

/// user-unreserved of RFC 3261: `& = + $ , ; ? /`
fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

/// paramchar = param-unreserved / unreserved / escaped; param-unreserved = `[ ] / : & + $`
fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

/// hnv-unreserved = `[ ] / ? : + $`
fn is_hnv_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

/// uric of RFC 2396: reserved / unreserved / escaped.
fn is_uric(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b',' | b'%'
        )
}

fn is_scheme(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Parses `;name[=value]...` with `allowed` for the characters of names and values.
fn parse_uri_params(s: &str, out: &mut Params, allowed: fn(u8) -> bool) -> Option<()> {
    if s.is_empty() {
        return Some(());
    }
    for part in s.strip_prefix(';')?.split(';') {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (part, None),
        };
        if name.is_empty() || !is_escaped_text(name, allowed) {
            return None;
        }
        if let Some(v) = value
            && !is_escaped_text(v, allowed)
        {
            return None;
        }
        out.push(name, value);
    }
    Some(())
}

impl Uri {
    /// Parses a URI that has already been cut out of its context (the Request-URI between
    /// its spaces, or the inside of `<...>`).
    pub fn parse(s: &str) -> Option<Self> {
        let (scheme, rest) = s.split_once(':')?;
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            return parse_sip(scheme.len() == 4, rest).map(Self::Sip);
        }
        if scheme.eq_ignore_ascii_case("tel") {
            let (number, params) = match rest.find(';') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let ok = |b: u8| b.is_ascii_hexdigit() || b"*#+-.()pPwW".contains(&b);
            if number.is_empty() || !number.bytes().all(ok) {
                return None;
            }
            let mut p = Params::new();
            parse_uri_params(params, &mut p, is_param_char)?;
            return Some(Self::Tel(TelUri {
                number: number.to_owned(),
                params: p,
            }));
        }
        if !is_scheme(scheme) || rest.is_empty() || !rest.bytes().all(is_uric) {
            return None;
        }
        Some(Self::Other(OtherUri {
            scheme: scheme.to_owned(),
            rest: rest.to_owned(),
        }))
    }

    /// The SIP URI, if this is one.
    pub fn sip(&self) -> Option<&SipUri> {
        match self {
            Self::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The scheme, lowercase for the ones this crate knows.
    pub fn scheme(&self) -> &str {
        match self {
            Self::Sip(u) if u.secure => "sips",
            Self::Sip(_) => "sip",
            Self::Tel(_) => "tel",
            Self::Other(o) => &o.scheme,
        }
    }
}

fn parse_sip(secure: bool, s: &str) -> Option<SipUri> {
    let (userinfo, hostpart) = match s.find('@') {
        Some(i) => (Some(s.get(..i)?), s.get(i + 1..)?),
        None => (None, s),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match ui.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (ui, None),
            };
            if u.is_empty() || !is_escaped_text(u, is_user_char) {
                return None;
            }
            if let Some(p) = p
                && !is_escaped_text(p, is_password_char)
            {
                return None;
            }
            (Some(u.to_owned()), p.map(str::to_owned))
        }
    };
    // hostport, then ;params, then ?headers
    let host_end = if hostpart.starts_with('[') {
        hostpart.find(']')? + 1
    } else {
        hostpart.find([':', ';', '?']).unwrap_or(hostpart.len())
    };
    let host = Host::parse(hostpart.get(..host_end)?)?;
    let mut rest = hostpart.get(host_end..)?;
    let mut port = None;
    if let Some(r) = rest.strip_prefix(':') {
        let end = r.find([';', '?']).unwrap_or(r.len());
        let digits = r.get(..end)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        port = Some(digits.parse().ok()?);
        rest = r.get(end..)?;
    }
    let (params, headers) = match rest.find('?') {
        Some(i) => (rest.get(..i)?, Some(rest.get(i + 1..)?)),
        None => (rest, None),
    };
    let mut uri = SipUri {
        secure,
        user,
        password,
        host,
        port,
        ..SipUri::new(Host::V4(0.into()))
    };
    parse_uri_params(params, &mut uri.params, is_param_char)?;
    if let Some(h) = headers {
        for pair in h.split('&') {
            let (n, v) = pair.split_once('=')?;
            if n.is_empty() || !is_escaped_text(n, is_hnv_char) || !is_escaped_text(v, is_hnv_char)
            {
                return None;
            }
            uri.headers.push((n.to_owned(), v.to_owned()));
        }
    }
    Some(uri)
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sip(u) => write!(f, "{u}"),
            Self::Tel(t) => write!(f, "tel:{}{}", t.number, t.params),
            Self::Other(o) => write!(f, "{}:{}", o.scheme, o.rest),
        }
    }
}

/// Parses the generic parameters that follow a header value:
/// `*( SEMI generic-param )`, `generic-param = token [ EQUAL gen-value ]`,
/// `gen-value = token / host / quoted-string`. Stops at a comma or the end.
pub(crate) fn parse_generic_params(sc: &mut Scanner<'_>, out: &mut Params) -> Option<()> {
    while sc.eat_sep(b';') {
        let name = sc.token()?;
        let value = if sc.eat_sep(b'=') {
            if sc.peek() == Some(b'"') {
                Some(sc.quoted_string()?)
            } else {
                // host covers IPv6 references, which are not tokens.
                let v = sc.take_while(|b| is_token_char(b) || matches!(b, b'[' | b']' | b':'));
                if v.is_empty() {
                    return None;
                }
                Some(v)
            }
        } else {
            None
        };
        out.push(name, value);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse("sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=x&h=y")
            .and_then(|u| u.sip().cloned())
            .expect("valid");
        assert!(u.secure);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("pw"));
        assert_eq!(u.host, Host::V6("2001:db8::1".parse().expect("ip")));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.params.value("TRANSPORT"), Some("tcp"));
        assert_eq!(u.params.get("lr"), Some(None));
        assert_eq!(u.headers.len(), 2);
        assert_eq!(
            u.to_string(),
            "sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=x&h=y"
        );
    }

    #[test]
    fn user_may_hold_semicolons_and_escapes() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").expect("valid");
        let s = u.sip().expect("sip");
        assert_eq!(s.user.as_deref(), Some("user;par=u%40example.net"));
        assert!(s.params.is_empty());
    }

    #[test]
    fn bad_uris() {
        for bad in [
            "sip:",
            "sip:@host",
            "sip:host:99999",
            "sip:host:",
            "sip:ho st",
            "sip:a@b@c",
            "sip:host;",
            "sip:host%zz",
            "sip:1.2.3",
            "tel:",
            "ht tp:x",
            "nocolon",
        ] {
            assert_eq!(Uri::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn tel_and_other() {
        assert_eq!(
            Uri::parse("tel:+1-201-555-0123;phone-context=x")
                .expect("tel")
                .scheme(),
            "tel"
        );
        let o = Uri::parse("soap.beep://192.0.2.103:3002").expect("other");
        assert_eq!(o.to_string(), "soap.beep://192.0.2.103:3002");
    }
}
