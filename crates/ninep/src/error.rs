//! The crate's errors: malformed bytes from a peer ([`DecodeError`]), values that cannot be
//! encoded ([`EncodeError`]), and what a file tree answers ([`FsError`]).

use std::borrow::Cow;

/// Why bytes are not one well-formed 9P2000 message. Peer misbehaviour, never a bug here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer than the seven bytes of `size[4] type[1] tag[2]`.
    #[error("message of {len} bytes is shorter than its header")]
    TooShort {
        /// Bytes given.
        len: usize,
    },
    /// The size field does not count the bytes given.
    #[error("size field says {size} bytes, message has {len}")]
    SizeMismatch {
        /// The size field.
        size: u32,
        /// Bytes given.
        len: usize,
    },
    /// A type byte that is no 9P2000 message (Terror, 106, included).
    #[error("unknown message type {ty}")]
    BadType {
        /// The type byte.
        ty: u8,
    },
    /// The message ends inside a field.
    #[error("message ends inside {field}")]
    Truncated {
        /// The field.
        field: &'static str,
    },
    /// Bytes left over after the last field.
    #[error("{extra} bytes after the last field")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A string that is not UTF-8.
    #[error("{field} is not UTF-8")]
    BadUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A string with a NUL byte, illegal in 9P (intro(5)).
    #[error("{field} contains NUL")]
    Nul {
        /// The field.
        field: &'static str,
    },
    /// More than MAXWELEM (16) names in a Twalk or qids in an Rwalk.
    #[error("{n} walk elements, at most 16")]
    TooManyWalkElements {
        /// The nwname or nwqid field.
        n: u16,
    },
    /// A count beyond the data that follows it.
    #[error("count {count} beyond the {left} bytes of data")]
    CountBeyondData {
        /// The count field.
        count: u32,
        /// Bytes actually left.
        left: usize,
    },
    /// A stat entry whose size does not match its fields.
    #[error("stat size {size} leaves {extra} bytes after the fields")]
    BadStatSize {
        /// The size field.
        size: u16,
        /// Bytes after muid.
        extra: usize,
    },
}

/// Why a value cannot be encoded. Misuse of the API (or a file tree's oversized names), not
/// peer misbehaviour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string longer than 65535 bytes.
    #[error("string of {len} bytes is longer than 65535")]
    StringTooLong {
        /// Its length.
        len: usize,
    },
    /// A stat entry longer than 65535 bytes.
    #[error("stat entry of {len} bytes is longer than 65535")]
    StatTooLong {
        /// Its length.
        len: usize,
    },
    /// A message longer than its `size[4]` can say.
    #[error("message of {len} bytes is too long")]
    MessageTooLong {
        /// Its length.
        len: usize,
    },
}

/// What a file tree answers instead of a result: becomes the `ename` of an Rerror.
///
/// The named variants carry Plan 9's usual texts ([`FsError::as_str`]); [`FsError::Other`]
/// any other.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsError {
    /// `file does not exist`
    NotFound,
    /// `permission denied`
    PermissionDenied,
    /// `file is a directory`
    IsDir,
    /// `not a directory`
    NotDir,
    /// `file already exists`
    Exists,
    /// `busy`: the file, or what it stands for, is in use (an extension with live calls).
    Busy,
    /// `file in use`: an exclusive-use file already open.
    InUse,
    /// `authentication failed`
    AuthFailed,
    /// `authentication required`: an attach without a validated afid where one is needed.
    AuthRequired,
    /// `authentication not required`: the answer to Tauth where none is needed (attach(5)).
    AuthNotRequired,
    /// `bad attach specifier`: an aname the tree does not serve.
    BadAname,
    /// `i/o error`
    Io,
    /// `operation not supported`
    NotSupported,
    /// `invalid argument`: a write the file cannot parse, a bad value.
    BadArg,
    /// Any other text.
    Other(Cow<'static, str>),
}

impl FsError {
    /// Free text.
    pub fn other(text: impl Into<Cow<'static, str>>) -> Self {
        FsError::Other(text.into())
    }

    /// The text of the Rerror.
    pub fn as_str(&self) -> &str {
        match self {
            FsError::Other(text) => text,
            named => named.literal(),
        }
    }

    /// The text of a named variant (empty for `Other`).
    fn literal(&self) -> &'static str {
        match self {
            FsError::NotFound => "file does not exist",
            FsError::PermissionDenied => "permission denied",
            FsError::IsDir => "file is a directory",
            FsError::NotDir => "not a directory",
            FsError::Exists => "file already exists",
            FsError::Busy => "busy",
            FsError::InUse => "file in use",
            FsError::AuthFailed => "authentication failed",
            FsError::AuthRequired => "authentication required",
            FsError::AuthNotRequired => "authentication not required",
            FsError::BadAname => "bad attach specifier",
            FsError::Io => "i/o error",
            FsError::NotSupported => "operation not supported",
            FsError::BadArg => "invalid argument",
            FsError::Other(_) => "",
        }
    }

    /// The text of the Rerror, without borrowing the error.
    pub fn into_ename(self) -> Cow<'static, str> {
        match self {
            FsError::Other(text) => text,
            named => Cow::Borrowed(named.literal()),
        }
    }
}

impl std::fmt::Display for FsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for FsError {}
