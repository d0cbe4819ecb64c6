//! The typed header values: name-addr (From, To, Contact, Route, Record-Route), Via and CSeq.

use std::fmt;

use crate::method::Method;
use crate::scan::{Scanner, is_token_char, unquote};
use crate::uri::{Host, Params, Uri, parse_generic_params};

/// `[display-name] <uri> *(;param)` or `addr-spec *(;param)`, as in From, To, Contact, Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name exactly as written: a quoted-string with its quotes, or tokens.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// The header parameters (`tag`, `expires`, `q`...), not the URI's own.
    pub params: Params,
}

impl NameAddr {
    /// A name-addr with no display name and no parameters.
    pub fn new(uri: Uri) -> Self {
        Self {
            display: None,
            uri,
            params: Params::new(),
        }
    }

    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<String> {
        self.display.as_deref().map(unquote)
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }

    /// Parses one name-addr or addr-spec and its parameters, stopping before a `,` that ends
    /// a list element or at the end of input.
    pub(crate) fn parse_from(sc: &mut Scanner<'_>) -> Option<Self> {
        sc.skip_ws();
        let mut display = None;
        let start = sc.clone();
        if sc.peek() == Some(b'"') {
            display = Some(sc.quoted_string()?.to_owned());
            sc.skip_ws();
        } else {
            // *(token LWS) followed by "<": a token display name. Anything else is an addr-spec.
            let before = sc.rest();
            let mut last_end = 0;
            while let Some(_t) = sc.token() {
                last_end = before.len() - sc.rest().len();
                sc.skip_ws();
            }
            if sc.peek() == Some(b'<') && last_end > 0 {
                display = Some(before.get(..last_end)?.to_owned());
            } else {
                *sc = start;
            }
        }
        let uri = if sc.eat(b'<') {
            let inner = sc.take_while(|b| b != b'>');
            if !sc.eat(b'>') {
                return None;
            }
            Uri::parse(inner)?
        } else {
            if display.is_some() {
                return None;
            }
            //= https://www.rfc-editor.org/rfc/rfc3261#section-20.10
            //# If the URI is not enclosed in angle brackets, any semicolon-delimited
            //# parameters are header-parameters, not URI parameters.
            let spec = sc.take_while(|b| !matches!(b, b';' | b',' | b' ' | b'\t'));
            let uri = Uri::parse(spec)?;
            if let Uri::Sip(s) = &uri {
                // A URI with headers ("?") must be enclosed in angle brackets.
                if !s.headers.is_empty() || spec.contains('?') {
                    return None;
                }
            }
            uri
        };
        let mut params = Params::new();
        parse_generic_params(sc, &mut params)?;
        Some(Self {
            display,
            uri,
            params,
        })
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// A Contact header value: `*` (unregister everything) or one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `Contact: *`
    Star,
    /// One contact address with its parameters (`expires`, `q`, ...).
    Addr(NameAddr),
}

impl Contact {
    /// The address, unless this is `*`.
    pub fn addr(&self) -> Option<&NameAddr> {
        match self {
            Self::Star => None,
            Self::Addr(a) => Some(a),
        }
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Star => f.write_str("*"),
            Self::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// A transport named in a Via (or a `transport=` URI parameter).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// UDP
    Udp,
    /// TCP
    Tcp,
    /// TLS over TCP
    Tls,
    /// SCTP
    Sctp,
    /// WebSocket (RFC 7118)
    Ws,
    /// Secure WebSocket
    Wss,
    /// Anything else, as written.
    Other(String),
}

impl Transport {
    /// Parses a transport token, case-insensitively.
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_uppercase().as_str() {
            "UDP" => Self::Udp,
            "TCP" => Self::Tcp,
            "TLS" => Self::Tls,
            "SCTP" => Self::Sctp,
            "WS" => Self::Ws,
            "WSS" => Self::Wss,
            _ => Self::Other(s.to_owned()),
        }
    }

    /// The token as written in a Via.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Sctp => "SCTP",
            Self::Ws => "WS",
            Self::Wss => "WSS",
            Self::Other(s) => s,
        }
    }

    /// True for transports that keep messages apart themselves (RFC 3261 section 17:
    /// no retransmission timers over these).
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Self::Udp)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Via header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The protocol name, `SIP` in practice.
    pub protocol: String,
    /// The protocol version, `2.0` in practice.
    pub version: String,
    /// The transport.
    pub transport: Transport,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port.
    pub port: Option<u16>,
    /// The parameters: `branch`, `received`, `rport`, `maddr`, `ttl` and extensions.
    pub params: Params,
}

impl Via {
    /// A `SIP/2.0/<transport> host[:port];branch=...` value.
    pub fn new(transport: Transport, host: Host, port: Option<u16>, branch: &str) -> Self {
        let mut params = Params::new();
        params.set("branch", Some(branch.to_owned()));
        Self {
            protocol: "SIP".into(),
            version: "2.0".into(),
            transport,
            host,
            port,
            params,
        }
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// True when the branch carries the RFC 3261 magic cookie `z9hG4bK`.
    pub fn is_rfc3261(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&str> {
        self.params.value("received")
    }

    /// The `rport` parameter: `Some(None)` when present without a value.
    pub fn rport(&self) -> Option<Option<&str>> {
        self.params.get("rport")
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.params.value("maddr")
    }

    /// Parses one via-parm, stopping before a `,` or at the end.
    pub(crate) fn parse_from(sc: &mut Scanner<'_>) -> Option<Self> {
        sc.skip_ws();
        let protocol = sc.token()?.to_owned();
        if !sc.eat_sep(b'/') {
            return None;
        }
        let version = sc.token()?.to_owned();
        if !sc.eat_sep(b'/') {
            return None;
        }
        let transport = Transport::parse(sc.token()?);
        // LWS is mandatory between sent-protocol and sent-by.
        if !matches!(sc.peek(), Some(b' ' | b'\t')) {
            return None;
        }
        sc.skip_ws();
        let host_text = if sc.peek() == Some(b'[') {
            let h = sc.take_while(|b| b != b']');
            if !sc.eat(b']') {
                return None;
            }
            format!("{h}]")
        } else {
            sc.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                .to_owned()
        };
        let host = Host::parse(&host_text)?;
        let mut port = None;
        if sc.eat_sep(b':') {
            let digits = sc.take_while(|b| b.is_ascii_digit());
            port = Some(digits.parse().ok()?);
        }
        let mut params = Params::new();
        parse_generic_params(sc, &mut params)?;
        // RFC 2543 allowed a comment after the parameters; RFC 3261 dropped it. Anything but
        // a comma or the end after this point makes the list parser refuse the header.
        sc.skip_ws();
        Some(Self {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        })
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol, self.version, self.transport, self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// The CSeq header: a sequence number below 2^31 and a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number.
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`. `Err(true)` when the number is out of range, `Err(false)`
    /// for any other syntax error.
    pub(crate) fn parse(s: &str) -> Result<Self, bool> {
        let mut sc = Scanner::new(s);
        let digits = sc.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() || !matches!(sc.peek(), Some(b' ' | b'\t')) {
            return Err(false);
        }
        //= https://www.rfc-editor.org/rfc/rfc3261#section-8.1.1.5
        //# The sequence number value MUST be expressible as a 32-bit unsigned integer and
        //# MUST be less than 2**31.
        let seq = match digits.parse::<u32>() {
            Ok(n) if n < 1 << 31 => n,
            _ => return Err(true),
        };
        sc.skip_ws();
        let method = Method::parse(sc.take_while(is_token_char)).ok_or(false)?;
        sc.skip_ws();
        if !sc.at_end() {
            return Err(false);
        }
        Ok(Self { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn na(s: &str) -> Option<NameAddr> {
        let mut sc = Scanner::new(s);
        let n = NameAddr::parse_from(&mut sc)?;
        sc.at_end().then_some(n)
    }

    #[test]
    fn name_addr_forms() {
        let a = na(r#""Alice \"A\"" <sip:alice@example.com;transport=tcp>;tag=1928"#)
            .expect("quoted display");
        assert_eq!(a.display_name().as_deref(), Some(r#"Alice "A""#));
        assert_eq!(a.tag(), Some("1928"));
        assert_eq!(
            a.uri.sip().map(|u| u.params.value("transport")),
            Some(Some("tcp"))
        );

        let b = na("Bob Smith <sip:bob@example.com>").expect("token display");
        assert_eq!(b.display.as_deref(), Some("Bob Smith"));

        let c = na("caller<sip:caller@example.com>;tag=323").expect("no LWS before <");
        assert_eq!(c.display.as_deref(), Some("caller"));

        let d = na("sip:carol@example.com;tag=x").expect("addr-spec");
        assert_eq!(d.tag(), Some("x"));
        assert!(d.uri.sip().expect("sip").params.is_empty());
    }

    #[test]
    fn bad_name_addrs() {
        for bad in [
            r#""unterminated <sip:a@b>"#,
            "Bell, Alexander <sip:a.g.bell@bell-tel.com>",
            "<sip:a@b",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "<sip:a@b>;=x",
        ] {
            assert_eq!(na(bad), None, "{bad}");
        }
    }

    #[test]
    fn via_with_lws_around_slashes() {
        let mut sc = Scanner::new("SIP  /   2.0 /UDP    192.0.2.2:5060;branch=z9hG4bK1;rport");
        let v = Via::parse_from(&mut sc).expect("valid");
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK1;rport"
        );
    }

    #[test]
    fn cseq_range() {
        assert_eq!(CSeq::parse("1 INVITE").map(|c| c.seq), Ok(1));
        assert_eq!(CSeq::parse("2147483648 INVITE"), Err(true));
        assert_eq!(CSeq::parse("36893488147419103232 INVITE"), Err(true));
        assert_eq!(CSeq::parse("-1 INVITE"), Err(false));
        assert_eq!(CSeq::parse("1"), Err(false));
    }
}
