//! Header names (case-insensitive, with the compact forms) and the ordered list of headers
//! that the message model keeps as text.

use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal $(, $compact:literal)? ; )*) => {
        /// A header name. Known names compare by identity whatever case or compact form they
        /// were written in; unknown names keep their spelling and compare case-insensitively.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $canonical, "`")]
                $variant,
            )*
            /// A header this crate has no name for.
            Other(String),
        }

        impl HeaderName {
            /// Looks a name up, case-insensitively, including the compact forms of RFC 3261
            /// section 7.3.3 and the extensions that define one.
            pub fn parse(s: &str) -> Self {
                if s.len() == 1 {
                    let c = s.as_bytes()[0].to_ascii_lowercase();
                    $( $( if c == $compact { return Self::$variant; } )? )*
                }
                $( if s.len() == $canonical.len() && s.eq_ignore_ascii_case($canonical) {
                    return Self::$variant;
                } )*
                Self::Other(s.to_owned())
            }

            /// The canonical long form, as this crate writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $canonical, )*
                    Self::Other(s) => s,
                }
            }
        }
    };
}

header_names! {
    Accept => "Accept";
    AcceptContact => "Accept-Contact", b'a';
    AcceptEncoding => "Accept-Encoding";
    AcceptLanguage => "Accept-Language";
    AlertInfo => "Alert-Info";
    Allow => "Allow";
    AllowEvents => "Allow-Events", b'u';
    AuthenticationInfo => "Authentication-Info";
    Authorization => "Authorization";
    CallId => "Call-ID", b'i';
    CallInfo => "Call-Info";
    Contact => "Contact", b'm';
    ContentDisposition => "Content-Disposition";
    ContentEncoding => "Content-Encoding", b'e';
    ContentLanguage => "Content-Language";
    ContentLength => "Content-Length", b'l';
    ContentType => "Content-Type", b'c';
    CSeq => "CSeq";
    Date => "Date";
    ErrorInfo => "Error-Info";
    Event => "Event", b'o';
    Expires => "Expires";
    From => "From", b'f';
    Identity => "Identity", b'y';
    InReplyTo => "In-Reply-To";
    MaxForwards => "Max-Forwards";
    MimeVersion => "MIME-Version";
    MinExpires => "Min-Expires";
    MinSE => "Min-SE";
    Organization => "Organization";
    Path => "Path";
    Priority => "Priority";
    ProxyAuthenticate => "Proxy-Authenticate";
    ProxyAuthorization => "Proxy-Authorization";
    ProxyRequire => "Proxy-Require";
    RAck => "RAck";
    RecordRoute => "Record-Route";
    ReferTo => "Refer-To", b'r';
    ReferredBy => "Referred-By", b'b';
    RejectContact => "Reject-Contact", b'j';
    Replaces => "Replaces";
    ReplyTo => "Reply-To";
    RequestDisposition => "Request-Disposition", b'd';
    Require => "Require";
    RetryAfter => "Retry-After";
    Route => "Route";
    RSeq => "RSeq";
    Server => "Server";
    SessionExpires => "Session-Expires", b'x';
    Subject => "Subject", b's';
    SubscriptionState => "Subscription-State";
    Supported => "Supported", b'k';
    Timestamp => "Timestamp";
    To => "To", b't';
    Unsupported => "Unsupported";
    UserAgent => "User-Agent";
    Via => "Via", b'v';
    Warning => "Warning";
    WwwAuthenticate => "WWW-Authenticate";
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Other(a), Self::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for HeaderName {}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header kept as text: its name and its unfolded value, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name.
    pub name: HeaderName,
    /// The value, with folding replaced by single spaces and outer white space removed.
    pub value: String,
}

/// The headers a message keeps as text, in the order they arrived. The headers that the
/// message model types (Via, From, To, Call-ID, CSeq, Max-Forwards, Contact, Route,
/// Record-Route, Content-Length) are not in this list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends a header.
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.push(Header {
            name,
            value: value.into(),
        });
    }

    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .find(|h| &h.name == name)
            .map(|h| h.value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| &h.name == name)
            .map(|h| h.value.as_str())
    }

    /// The comma-separated elements of every `name` header, trimmed, empty ones skipped.
    /// For list headers of tokens (Require, Supported, Allow...), whose values hold no
    /// quoted strings.
    pub fn tokens<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// Removes every `name` header.
    pub fn remove(&mut self, name: &HeaderName) {
        self.0.retain(|h| &h.name != name);
    }

    /// All headers, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_compact() {
        assert_eq!(HeaderName::parse("v"), HeaderName::Via);
        assert_eq!(HeaderName::parse("VIA"), HeaderName::Via);
        assert_eq!(HeaderName::parse("call-id"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("I"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("X-Foo"), HeaderName::parse("x-foo"));
        assert_eq!(HeaderName::parse("X-Foo").as_str(), "X-Foo");
        for (c, long) in [
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("e", "Content-Encoding"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("f", "From"),
            ("s", "Subject"),
            ("k", "Supported"),
            ("t", "To"),
            ("v", "Via"),
            ("o", "Event"),
            ("u", "Allow-Events"),
            ("r", "Refer-To"),
            ("b", "Referred-By"),
            ("x", "Session-Expires"),
            ("y", "Identity"),
            ("a", "Accept-Contact"),
            ("d", "Request-Disposition"),
            ("j", "Reject-Contact"),
        ] {
            assert_eq!(HeaderName::parse(c).as_str(), long, "{c}");
        }
    }
}
