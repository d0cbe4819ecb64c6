//! HTTP Digest authentication for SIP (RFC 2617, RFC 7616, as RFC 8760 applies them to SIP):
//! the `WWW-Authenticate` / `Proxy-Authenticate` challenge, the `Authorization` /
//! `Proxy-Authorization` credentials, and the hash arithmetic that ties them together.
//!
//! Sans-IO like the rest of the crate: nonces, cnonces and the clock are the caller's. A
//! registrar stores HA1 values ([`ha1`]), never passwords, and checks an answer with
//! [`Credentials::verify`]; whether the nonce is one it issued, still fresh, and seen with this
//! `nc` before, is its own bookkeeping.
//!
//! ```text
//! WWW-Authenticate: Digest realm="pbx", nonce="x7Gd", algorithm=SHA-256, qop="auth"
//! Authorization: Digest username="alice", realm="pbx", nonce="x7Gd", uri="sip:pbx",
//!   response="5d1f...", algorithm=SHA-256, cnonce="0a4f113b", qop=auth, nc=00000001
//! ```

mod header;

use std::fmt;
use std::str::FromStr;

use md5::Md5;
use sha2::{Sha256, Sha512_256};

use crate::StatusCode;

pub use header::{Challenge, Credentials, MAX_PARAMS, MAX_VALUE_LEN};

/// A Digest `algorithm` from the IANA "Hash Algorithms for HTTP Digest Authentication"
/// registry (RFC 7616 section 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`, the default when a challenge or credentials name no algorithm.
    Md5,
    /// `MD5-sess`
    Md5Sess,
    /// `SHA-256`
    Sha256,
    /// `SHA-256-sess`
    Sha256Sess,
    /// `SHA-512-256` (SHA-512/256 of FIPS 180-4, not a truncated SHA-512).
    Sha512_256,
    /// `SHA-512-256-sess`
    Sha512_256Sess,
}

impl Algorithm {
    /// Every algorithm this crate computes, strongest first and plain before `-sess`: a
    /// sensible order for a UAS that challenges with several, since it lists them in its
    /// order of preference (RFC 8760 section 2.3).
    pub const ALL: [Algorithm; 6] = [
        Self::Sha512_256,
        Self::Sha256,
        Self::Md5,
        Self::Sha512_256Sess,
        Self::Sha256Sess,
        Self::Md5Sess,
    ];

    /// The token as the registry spells it (`MD5`, `SHA-256-sess`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
            Self::Sha512_256 => "SHA-512-256",
            Self::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Looks a token up, case-insensitively. `None` for an algorithm this crate cannot
    /// compute (`AKAv1-MD5`, anything unregistered).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// True for the `-sess` variants, whose HA1 also covers the nonce and the cnonce.
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Self::Md5Sess | Self::Sha256Sess | Self::Sha512_256Sess
        )
    }

    /// The length of one digest in hex digits: 32 for MD5, 64 for the SHA-2 family.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 | Self::Md5Sess => 32,
            _ => 64,
        }
    }

    /// `H(data)`: the hash of `data`, in lowercase hex.
    pub fn hash_hex(self, data: &[u8]) -> String {
        self.hash_joined(&[data])
    }

    /// `H(p1 ":" p2 ":" ...)`, in lowercase hex, without building the joined string.
    fn hash_joined(self, parts: &[&[u8]]) -> String {
        fn run<D: md5::Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex(&d.finalize())
        }
        match self {
            Self::Md5 | Self::Md5Sess => run::<Md5>(parts),
            Self::Sha256 | Self::Sha256Sess => run::<Sha256>(parts),
            Self::Sha512_256 | Self::Sha512_256Sess => run::<Sha512_256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| DigestError::UnknownAlgorithm {
            algorithm: bounded(s),
        })
    }
}

/// A quality of protection (`qop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: authentication only. The one [`response`] computes.
    Auth,
    /// `auth-int`: authentication with integrity protection of the body. Parsed and written,
    /// but not computed: nothing in SIP needs it, and [`response`] refuses it.
    AuthInt,
}

impl Qop {
    /// The token (`auth`, `auth-int`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }

    /// Looks a token up, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("auth") {
            Some(Self::Auth)
        } else if s.eq_ignore_ascii_case("auth-int") {
            Some(Self::AuthInt)
        } else {
            None
        }
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a challenge or credentials value was refused, or a response could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// An authentication scheme other than Digest (`Basic`, RFC 4475's
    /// `NoOneKnowsThisScheme`...). The scheme is cut to 64 bytes.
    #[error("unsupported authentication scheme {scheme:?}")]
    UnsupportedScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// The value does not follow the `auth-param` list grammar (unterminated quote, a
    /// parameter without `=`, a missing comma...).
    #[error("malformed auth-param list at byte {offset}")]
    Syntax {
        /// Byte offset in the value where the grammar broke.
        offset: usize,
    },
    /// A parameter that must be present is absent.
    #[error("missing {name} parameter")]
    Missing {
        /// The parameter name.
        name: &'static str,
    },
    /// A parameter appears twice (names compare case-insensitively).
    #[error("{name} parameter repeated")]
    Duplicate {
        /// The parameter name, lowercased, cut to 64 bytes.
        name: String,
    },
    /// A parameter whose value breaks its grammar (`nc` not 8 hex digits, a `response` that
    /// is not hex of the algorithm's length, an unknown `qop`...).
    #[error("malformed {name} parameter")]
    Invalid {
        /// The parameter name.
        name: &'static str,
    },
    /// An `algorithm` this crate cannot compute. RFC 7616 section 3.3 has a client ignore
    /// such a challenge.
    #[error("unknown digest algorithm {algorithm:?}")]
    UnknownAlgorithm {
        /// The algorithm as written, cut to 64 bytes.
        algorithm: String,
    },
    /// A parameter value longer than [`MAX_VALUE_LEN`].
    #[error("{name} parameter too long")]
    TooLong {
        /// The parameter name, lowercased, cut to 64 bytes.
        name: String,
    },
    /// More parameters than [`MAX_PARAMS`].
    #[error("too many auth-params")]
    TooManyParams,
    /// [`response`] was asked for `qop=auth-int`, which needs the body: misuse of this API,
    /// or credentials that chose a qop the challenge never offered.
    #[error("qop {qop} is not supported")]
    UnsupportedQop {
        /// The qop asked for.
        qop: Qop,
    },
}

impl DigestError {
    /// The answer a registrar or proxy gives to a request whose `Authorization` (or
    /// `Proxy-Authorization`) value failed with this error: 400 for malformed credentials;
    /// 401 (the caller sends 407 to `Proxy-Authorization`) with a fresh challenge for a
    /// scheme, algorithm or qop we do not offer, since the client may hold another we do.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnsupportedScheme { .. }
            | Self::UnknownAlgorithm { .. }
            | Self::UnsupportedQop { .. } => StatusCode::UNAUTHORIZED,
            Self::Syntax { .. }
            | Self::Missing { .. }
            | Self::Duplicate { .. }
            | Self::Invalid { .. }
            | Self::TooLong { .. }
            | Self::TooManyParams => StatusCode::BAD_REQUEST,
        }
    }
}

/// Peer text kept in an error, cut so that an error never holds a whole header.
fn bounded(s: &str) -> String {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

/// Lowercase hex of `bytes`, the encoding of every digest value (RFC 8760 section 2.2: "the
/// characters 0123456789abcdef").
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Compares two byte strings in time that depends only on their lengths, so that a client
/// probing responses learns nothing from how fast a wrong one is refused.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimizer from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// HA1 as a registrar stores it: `H(username ":" realm ":" password)`, in hex.
///
/// The same value serves the `-sess` variant of the algorithm's hash, whose per-nonce HA1
/// [`session_ha1`] derives from it; [`response`] applies that step itself.
///
//= https://www.rfc-editor.org/rfc/rfc7616#section-3.4.2
//# A1       = unq(username) ":" unq(realm) ":" passwd
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hash_joined(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
}

/// The HA1 that enters the response: `ha1_hex` itself for the plain algorithms, and
/// `H(ha1_hex ":" nonce ":" cnonce)` for the `-sess` ones.
///
//= https://www.rfc-editor.org/rfc/rfc7616#section-3.4.2
//# A1       = H( unq(username) ":" unq(realm) ":" passwd )
//#                ":" unq(nonce-prime) ":" unq(cnonce-prime)
pub fn session_ha1(alg: Algorithm, ha1_hex: &str, nonce: &str, cnonce: &str) -> String {
    if alg.is_session() {
        alg.hash_joined(&[ha1_hex.as_bytes(), nonce.as_bytes(), cnonce.as_bytes()])
    } else {
        ha1_hex.to_owned()
    }
}

/// HA2 for `qop=auth` or no qop: `H(method ":" digest-uri)`, in hex.
///
//= https://www.rfc-editor.org/rfc/rfc7616#section-3.4.3
//# If the qop parameter's value is "auth" or is unspecified, then A2 is:
//#
//#    A2       = Method ":" request-uri
pub fn ha2(alg: Algorithm, method: &str, digest_uri: &str) -> String {
    alg.hash_joined(&[method.as_bytes(), digest_uri.as_bytes()])
}

/// The `response` value, in hex, from the stored HA1 (`H(username:realm:password)`; the
/// `-sess` step is applied here).
///
/// With `qop: Some(Qop::Auth)` it is `KD(HA1, nonce:nc:cnonce:auth:HA2)`; with `qop: None`
/// the RFC 2069 form `KD(HA1, nonce:HA2)`, where `nc` is ignored (and `cnonce` too, unless
/// the algorithm is a `-sess` one). `nc` is written as 8 lowercase hex digits.
///
/// # Errors
///
/// [`DigestError::UnsupportedQop`] for `auth-int`, which would need the body.
///
//= https://www.rfc-editor.org/rfc/rfc7616#section-3.4.1
//# If the qop value is "auth" or "auth-int":
//#
//#    response = <"> < KD ( H(A1), unq(nonce)
//#                                 ":" nc
//#                                 ":" unq(cnonce)
//#                                 ":" unq(qop)
//#                                 ":" H(A2)
//#                        ) <">
//
//= https://www.rfc-editor.org/rfc/rfc2617#section-3.2.2.1
//# If the "qop" directive is not present (this construction is for
//# compatibility with RFC 2069):
//#
//#    request-digest  =
//#               <"> < KD ( H(A1), unq(nonce-value) ":" H(A2) ) >
//#    <">
#[allow(clippy::too_many_arguments)] // the RFC's own inputs, in the RFC's order
pub fn response(
    alg: Algorithm,
    ha1_hex: &str,
    nonce: &str,
    nc: u32,
    cnonce: &str,
    qop: Option<Qop>,
    method: &str,
    uri: &str,
) -> Result<String, DigestError> {
    let ha1 = session_ha1(alg, ha1_hex, nonce, cnonce);
    let ha2 = ha2(alg, method, uri);
    match qop {
        None => Ok(alg.hash_joined(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()])),
        Some(Qop::Auth) => {
            let nc = format!("{nc:08x}");
            Ok(alg.hash_joined(&[
                ha1.as_bytes(),
                nonce.as_bytes(),
                nc.as_bytes(),
                cnonce.as_bytes(),
                b"auth",
                ha2.as_bytes(),
            ]))
        }
        Some(qop @ Qop::AuthInt) => Err(DigestError::UnsupportedQop { qop }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_tokens_round_trip_case_insensitively() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::parse(alg.as_str()), Some(alg));
            assert_eq!(
                Algorithm::parse(&alg.as_str().to_ascii_lowercase()),
                Some(alg)
            );
            assert_eq!(alg.to_string().parse::<Algorithm>(), Ok(alg));
        }
        assert_eq!(Algorithm::parse("AKAv1-MD5"), None);
        assert!(matches!(
            "SHA-1".parse::<Algorithm>(),
            Err(DigestError::UnknownAlgorithm { .. })
        ));
    }

    #[test]
    fn hash_lengths() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.hash_hex(b"").len(), alg.hex_len());
        }
        // FIPS 180-4 SHA-512/256 of "abc" (its own IV, not SHA-512 cut short).
        assert_eq!(
            Algorithm::Sha512_256.hash_hex(b"abc"),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn bounded_cuts_on_char_boundaries() {
        let s = "é".repeat(40);
        let b = bounded(&s);
        assert!(b.len() <= 64);
        assert!(s.starts_with(&b));
    }
}
