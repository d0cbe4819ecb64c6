//! Why a description or a negotiation was refused, and the one place that maps each refusal to
//! the SIP status it deserves.

/// A session description that could not be parsed.
///
/// Every input the parser refuses ends here, never in a panic; limits (see
/// [`Limits`](crate::Limits)) are checked before anything grows with the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body holds no line at all.
    #[error("empty session description")]
    Empty,
    /// The body is larger than [`Limits::max_bytes`](crate::Limits::max_bytes).
    #[error("session description of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Size of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More lines than [`Limits::max_lines`](crate::Limits::max_lines).
    #[error("more than {max} lines")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// More `m=` sections than [`Limits::max_media`](crate::Limits::max_media).
    #[error("more than {max} media sections")]
    TooManyMedia {
        /// The limit.
        max: usize,
    },
    /// An `m=` line lists more formats than [`Limits::max_formats`](crate::Limits::max_formats).
    #[error("line {line}: more than {max} formats")]
    TooManyFormats {
        /// 1-based line number.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// The first line is not `v=`.
    #[error("first line is not v=")]
    MissingVersion,
    /// `v=` names a version other than 0.
    #[error("unsupported SDP version")]
    UnsupportedVersion,
    /// A line that is not `<letter>=<value>`.
    #[error("line {line}: not <type>=<value>")]
    BadLine {
        /// 1-based line number.
        line: usize,
    },
    /// A NUL or a CR inside a line (RFC 8866 section 9: text excludes NUL, CR and LF).
    #[error("line {line}: control character inside the line")]
    ControlCharacter {
        /// 1-based line number.
        line: usize,
    },
    /// A line that may appear once at session level (`v=`, `o=`, `s=`) appears again.
    #[error("line {line}: {kind}= repeated")]
    Repeated {
        /// The type letter.
        kind: char,
        /// 1-based line number.
        line: usize,
    },
    /// No `o=` line at session level.
    #[error("missing o= line")]
    MissingOrigin,
    /// An `o=` line without its six fields.
    #[error("line {line}: malformed o= line")]
    BadOrigin {
        /// 1-based line number.
        line: usize,
    },
    /// A `c=` line without its three fields.
    #[error("line {line}: malformed c= line")]
    BadConnection {
        /// 1-based line number.
        line: usize,
    },
    /// An `m=` line whose port is not a number up to 65535, or with fewer than three fields.
    #[error("line {line}: malformed m= line")]
    BadMedia {
        /// 1-based line number.
        line: usize,
    },
}

impl SdpError {
    /// The SIP status a request whose body is refused this way deserves: 413 for an oversize
    /// body, 488 (Not Acceptable Here) for a description beyond the other limits, 400 for
    /// malformed syntax.
    pub fn status(&self) -> u16 {
        match self {
            SdpError::TooLarge { .. } => 413,
            SdpError::TooManyLines { .. }
            | SdpError::TooManyMedia { .. }
            | SdpError::TooManyFormats { .. }
            | SdpError::UnsupportedVersion => 488,
            _ => 400,
        }
    }
}

/// Why offer/answer across the two legs failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The answer has a different number of `m=` lines than the offer (RFC 3264 section 6:
    /// they must match one to one).
    #[error("answer has {answer} media sections, offer has {offer}")]
    StreamCount {
        /// `m=` lines in the offer.
        offer: usize,
        /// `m=` lines in the answer.
        answer: usize,
    },
    /// No audio stream is left with a codec both sides accept; `stream` is the index of the
    /// first active audio `m=` line that had none.
    #[error("no common codec in audio stream {stream}")]
    NoCommonCodec {
        /// Index of the `m=` line.
        stream: usize,
    },
    /// Every stream is rejected or disabled: nothing would flow.
    #[error("every media stream is rejected")]
    AllRejected,
}

impl NegotiationError {
    /// The SIP status the offerer gets when its offer cannot be accepted: always 488 (Not
    /// Acceptable Here, RFC 3261 section 21.4.26). When the offer already went out in a 2xx
    /// (late offer), the call must be ended with BYE instead.
    pub fn status(&self) -> u16 {
        488
    }
}
