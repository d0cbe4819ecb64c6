//! Why a message was refused, and the one place that decides what each refusal answers.

use crate::StatusCode;

/// A message that could not be accepted.
///
/// The variants carry what was wrong, not formatted text; [`ParseError::status`] maps each to
/// the response it deserves on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The bytes are not a SIP message at all (no start line that looks like SIP).
    #[error("not a SIP message")]
    NotSip,
    /// The start line of a request is malformed (extra spaces, missing elements).
    #[error("malformed request line")]
    RequestLine,
    /// The start line of a response is malformed, or the status code is out of range.
    #[error("malformed status line")]
    StatusLine,
    /// A SIP version other than 2.0.
    #[error("unsupported SIP version {0:?}")]
    Version(String),
    /// The Request-URI cannot be parsed, or uses a form RFC 3261 forbids there.
    #[error("malformed Request-URI")]
    RequestUri,
    /// The header section is not UTF-8 or a header line has no colon or a bad name.
    #[error("malformed header line")]
    HeaderLine,
    /// A header value that does not follow its grammar.
    #[error("malformed {name} header")]
    Header {
        /// The canonical header name.
        name: &'static str,
    },
    /// A header value whose number is out of its legal range (CSeq over 2^31, Max-Forwards
    /// over 255...).
    #[error("{name} value out of range")]
    Overflow {
        /// The canonical header name.
        name: &'static str,
    },
    /// A mandatory header is absent.
    #[error("missing {name} header")]
    Missing {
        /// The canonical header name.
        name: &'static str,
    },
    /// A header that may appear only once appears several times with different values.
    #[error("{name} header repeated")]
    Repeated {
        /// The canonical header name.
        name: &'static str,
    },
    /// The CSeq method differs from the request method.
    #[error("CSeq method does not match the request method")]
    CSeqMethod,
    /// Content-Length claims more bytes than the datagram holds.
    #[error("body shorter than Content-Length")]
    BodyTruncated,
    /// The message as a whole exceeds the configured limit.
    #[error("message too large")]
    TooLarge,
    /// The body (Content-Length) exceeds the configured limit.
    #[error("body too large")]
    BodyTooLarge,
    /// More headers than the configured limit.
    #[error("too many headers")]
    TooManyHeaders,
}

impl ParseError {
    /// The response this error deserves, if any. `None`: drop silently (the message was not
    /// SIP, or is a response, which is never answered). The caller also drops the message when
    /// no usable Via could be read, since then no response can be routed.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::NotSip | Self::StatusLine => None,
            //= https://www.rfc-editor.org/rfc/rfc3261#section-21.5.6 (505 Version Not Supported)
            Self::Version(_) => Some(StatusCode::VERSION_NOT_SUPPORTED),
            //= https://www.rfc-editor.org/rfc/rfc3261#section-21.4.11
            //# The server is refusing to process a request because the request entity-body
            //# is larger than the server is willing or able to process.
            Self::BodyTooLarge => Some(StatusCode::REQUEST_ENTITY_TOO_LARGE),
            //= https://www.rfc-editor.org/rfc/rfc3261#section-21.5.7
            //# The server was unable to process the request since the message length
            //# exceeded its capabilities.
            Self::TooLarge | Self::TooManyHeaders => Some(StatusCode::MESSAGE_TOO_LARGE),
            Self::RequestLine
            | Self::RequestUri
            | Self::HeaderLine
            | Self::Header { .. }
            | Self::Overflow { .. }
            | Self::Missing { .. }
            | Self::Repeated { .. }
            | Self::CSeqMethod
            | Self::BodyTruncated => Some(StatusCode::BAD_REQUEST),
        }
    }

    /// The reason phrase to send with [`ParseError::status`]: the error itself, so that a
    /// phone's log says what was wrong.
    pub fn reason(&self) -> String {
        let mut s = self.to_string();
        // A reason phrase is TEXT-UTF8 without CR or LF; our messages never contain them, but
        // a version string comes from the peer.
        s.retain(|c| c != '\r' && c != '\n');
        s
    }
}
