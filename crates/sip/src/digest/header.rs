//! The two header values of Digest: the challenge a server sends and the credentials a client
//! answers with, both lists of `auth-param`s after the scheme name.

use std::fmt;

use super::{Algorithm, DigestError, Qop, bounded, constant_time_eq, response};
use crate::scan::{Scanner, quote, unquote};

/// Most `auth-param`s one value may carry. A full set of credentials has eleven; the rest is
/// room for extensions.
pub const MAX_PARAMS: usize = 32;

/// Longest `auth-param` value, in bytes after unquoting. Nonces, usernames and URIs that a
/// PBX deals in are far shorter.
pub const MAX_VALUE_LEN: usize = 1024;

/// A Digest challenge: the value of `WWW-Authenticate` (401) or `Proxy-Authenticate` (407).
///
/// ```text
/// Digest realm="pbx.example", nonce="x7Gd", algorithm=SHA-256, qop="auth", stale=true
/// ```
///
/// Values are kept unquoted. Values set by hand must not hold CR or LF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`: the protection space, shown to the user and part of HA1.
    pub realm: String,
    /// `nonce`: server-chosen, opaque to the client.
    pub nonce: String,
    /// `opaque`: returned unchanged by the client.
    pub opaque: Option<String>,
    /// `algorithm`; MD5 when the challenge names none.
    pub algorithm: Algorithm,
    /// `qop` options offered, in order, unknown ones left out. Empty: an RFC 2069 challenge,
    /// answered without qop (RFC 8760 makes `qop` required in SIP).
    pub qop: Vec<Qop>,
    /// `stale=true`: the nonce was refused as expired while the response was right, so the
    /// client may retry with the new nonce without asking the user again.
    pub stale: bool,
}

impl Challenge {
    /// A challenge offering `qop="auth"` with `algorithm`, as a registrar sends it.
    pub fn new(realm: &str, nonce: &str, algorithm: Algorithm) -> Self {
        Self {
            realm: realm.to_owned(),
            nonce: nonce.to_owned(),
            opaque: None,
            algorithm,
            qop: vec![Qop::Auth],
            stale: false,
        }
    }

    /// Parses one challenge (SIP header fields carry one each, RFC 3261 section 25.1).
    ///
    /// # Errors
    ///
    /// [`DigestError::UnsupportedScheme`] for a scheme other than Digest,
    /// [`DigestError::UnknownAlgorithm`] for an algorithm this crate cannot compute (a client
    /// ignores such a challenge and uses another), the grammar errors otherwise.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let params = auth_params(s)?;
        //= https://www.rfc-editor.org/rfc/rfc2617#section-3.2.1
        //# If this is not present it is assumed to be "MD5".
        let algorithm = match get(&params, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => a.parse()?,
        };
        let qop = match get(&params, "qop") {
            None => Vec::new(),
            Some(list) => {
                let mut qop: Vec<Qop> = Vec::new();
                for q in list.split(',').filter_map(|q| Qop::parse(q.trim())) {
                    if !qop.contains(&q) {
                        qop.push(q);
                    }
                }
                // Only options we do not know: answering as if none were offered would be an
                // RFC 2069 response the server did not ask for.
                if qop.is_empty() {
                    return Err(DigestError::Invalid { name: "qop" });
                }
                qop
            }
        };
        Ok(Self {
            realm: required(&params, "realm")?,
            nonce: required(&params, "nonce")?,
            opaque: get(&params, "opaque").map(str::to_owned),
            algorithm,
            qop,
            //= https://www.rfc-editor.org/rfc/rfc2617#section-3.2.1
            //# If stale is FALSE, or anything other
            //# than TRUE, or the stale directive is not present, the username
            //# and/or password are invalid, and new values must be obtained.
            stale: get(&params, "stale").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm={}, nonce={}, algorithm={}",
            quote(&self.realm),
            quote(&self.nonce),
            self.algorithm
        )?;
        if !self.qop.is_empty() {
            let list: Vec<&str> = self.qop.iter().map(|q| q.as_str()).collect();
            // qop-options is always a quoted-string, even with one option.
            write!(f, ", qop=\"{}\"", list.join(","))?;
        }
        if let Some(opaque) = &self.opaque {
            write!(f, ", opaque={}", quote(opaque))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

/// Digest credentials: the value of `Authorization` or `Proxy-Authorization`.
///
/// ```text
/// Digest username="alice", realm="pbx.example", nonce="x7Gd", uri="sip:pbx.example",
///   response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b",
///   qop=auth, nc=00000001
/// ```
///
/// Values are kept unquoted. A parsed value is consistent: `response` is lowercase hex of the
/// algorithm's length, and `qop` comes with `cnonce` and `nc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `username` (or the decoded `username*` of RFC 7616 section 3.4).
    pub username: String,
    /// `realm`, echoed from the challenge.
    pub realm: String,
    /// `nonce`, echoed from the challenge.
    pub nonce: String,
    /// `uri`: the digest-uri, normally the Request-URI as the client sent it.
    pub uri: String,
    /// `response`, lowercase hex.
    pub response: String,
    /// `algorithm`; MD5 when the credentials name none.
    pub algorithm: Algorithm,
    /// `cnonce`: client-chosen; present with a qop and with a `-sess` algorithm.
    pub cnonce: Option<String>,
    /// `opaque`, echoed from the challenge.
    pub opaque: Option<String>,
    /// `qop`: the option the client chose; `None` for an RFC 2069 response.
    pub qop: Option<Qop>,
    /// `nc`: how many requests the client has sent with this nonce, this one included.
    pub nc: Option<u32>,
}

impl Credentials {
    /// The credentials a client sends in answer to `challenge`, from the stored HA1 of the
    /// user (see [`ha1`](super::ha1)): `qop=auth` when offered, the RFC 2069 form when the
    /// challenge offers no qop. `cnonce` and `nc` are the client's to choose.
    ///
    /// # Errors
    ///
    /// [`DigestError::UnsupportedQop`] when the challenge offers only `auth-int`.
    pub fn answer(
        challenge: &Challenge,
        username: &str,
        ha1_hex: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> Result<Self, DigestError> {
        let qop = match challenge.qop.as_slice() {
            [] => None,
            offered if offered.contains(&Qop::Auth) => Some(Qop::Auth),
            _ => return Err(DigestError::UnsupportedQop { qop: Qop::AuthInt }),
        };
        let alg = challenge.algorithm;
        let response = response(alg, ha1_hex, &challenge.nonce, nc, cnonce, qop, method, uri)?;
        let with_cnonce = qop.is_some() || alg.is_session();
        Ok(Self {
            username: username.to_owned(),
            realm: challenge.realm.clone(),
            nonce: challenge.nonce.clone(),
            uri: uri.to_owned(),
            response,
            algorithm: alg,
            cnonce: with_cnonce.then(|| cnonce.to_owned()),
            opaque: challenge.opaque.clone(),
            qop,
            nc: qop.map(|_| nc),
        })
    }

    /// Parses one credentials value.
    ///
    /// # Errors
    ///
    /// [`DigestError::UnsupportedScheme`] for a scheme other than Digest (RFC 4475 section
    /// 3.3.7), [`DigestError::UnknownAlgorithm`], [`DigestError::Missing`] for an absent
    /// `username`, `realm`, `nonce`, `uri` or `response` (or `cnonce` / `nc` with a qop),
    /// and the grammar errors.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let params = auth_params(s)?;
        let username = match (get(&params, "username"), get(&params, "username*")) {
            (Some(u), None) => u.to_owned(),
            // RFC 7616 section 3.4: `username*` (RFC 8187 encoding) carries a name that a
            // quoted-string cannot, and is never sent together with `username`.
            (None, Some(ext)) => {
                ext_value(ext).ok_or(DigestError::Invalid { name: "username*" })?
            }
            (None, None) => return Err(DigestError::Missing { name: "username" }),
            (Some(_), Some(_)) => return Err(DigestError::Invalid { name: "username*" }),
        };
        let algorithm = match get(&params, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => a.parse()?,
        };
        let response = required(&params, "response")?.to_ascii_lowercase();
        if response.len() != algorithm.hex_len() || !response.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(DigestError::Invalid { name: "response" });
        }
        // Some phones quote qop and nc although the grammar has tokens; the unquoted value is
        // the same either way.
        let qop = match get(&params, "qop") {
            None => None,
            Some(q) => Some(Qop::parse(q).ok_or(DigestError::Invalid { name: "qop" })?),
        };
        let nc = match get(&params, "nc") {
            None => None,
            Some(nc) => Some(parse_nc(nc).ok_or(DigestError::Invalid { name: "nc" })?),
        };
        let cnonce = get(&params, "cnonce").map(str::to_owned);
        //= https://www.rfc-editor.org/rfc/rfc2617#section-3.2.2
        //# cnonce
        //#   This MUST be specified if a qop directive is sent (see above), and
        //#   MUST NOT be specified if the server did not send a qop directive in
        //#   the WWW-Authenticate header field.
        if (qop.is_some() || algorithm.is_session()) && cnonce.is_none() {
            return Err(DigestError::Missing { name: "cnonce" });
        }
        if qop.is_some() && nc.is_none() {
            return Err(DigestError::Missing { name: "nc" });
        }
        Ok(Self {
            username,
            realm: required(&params, "realm")?,
            nonce: required(&params, "nonce")?,
            uri: required(&params, "uri")?,
            response,
            algorithm,
            cnonce,
            opaque: get(&params, "opaque").map(str::to_owned),
            qop,
            nc,
        })
    }

    /// True when `response` is right for `method` and the stored HA1 of the user
    /// (`H(username:realm:password)` for this algorithm's hash), compared in constant time.
    ///
    /// This is the arithmetic only. The caller still checks that the nonce is one it issued
    /// and still fresh, that `nc` grows, that `realm` is its own and that `uri` names the
    /// Request-URI. False for `qop=auth-int` (not computed) and for an HA1 of the wrong
    /// length for the algorithm.
    pub fn verify(&self, method: &str, ha1_hex: &str) -> bool {
        if ha1_hex.len() != self.algorithm.hex_len() {
            return false;
        }
        let ha1 = ha1_hex.to_ascii_lowercase();
        let Ok(expected) = response(
            self.algorithm,
            &ha1,
            &self.nonce,
            self.nc.unwrap_or(0),
            self.cnonce.as_deref().unwrap_or(""),
            self.qop,
            method,
            &self.uri,
        ) else {
            return false;
        };
        constant_time_eq(expected.as_bytes(), self.response.as_bytes())
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            quote(&self.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(&self.uri),
            quote(&self.response),
            self.algorithm
        )?;
        if let Some(cnonce) = &self.cnonce {
            write!(f, ", cnonce={}", quote(cnonce))?;
        }
        if let Some(opaque) = &self.opaque {
            write!(f, ", opaque={}", quote(opaque))?;
        }
        // qop and nc are tokens in credentials, never quoted.
        if let Some(qop) = self.qop {
            write!(f, ", qop={qop}")?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={nc:08x}")?;
        }
        Ok(())
    }
}

/// One `auth-param`: the name as written and the value unquoted.
type AuthParam<'a> = (&'a str, String);

/// Splits `Digest name=value, name="value", ...` into its parameters.
///
/// ```text
/// challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
/// auth-param  = token BWS "=" BWS ( token / quoted-string )
/// ```
///
/// Names compare case-insensitively and may appear once each. Empty list elements (`, ,`)
/// are skipped, as the `#rule` asks of recipients.
//= https://www.rfc-editor.org/rfc/rfc7235#section-2.1
//# auth-param     = token BWS "=" BWS ( token / quoted-string )
fn auth_params(s: &str) -> Result<Vec<AuthParam<'_>>, DigestError> {
    let mut sc = Scanner::new(s);
    let syntax = |sc: &Scanner<'_>| DigestError::Syntax {
        offset: s.len().saturating_sub(sc.rest().len()),
    };
    sc.skip_ws();
    let scheme = sc.token().ok_or_else(|| syntax(&sc))?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::UnsupportedScheme {
            scheme: bounded(scheme),
        });
    }
    if !sc.at_end() && !matches!(sc.peek(), Some(b' ' | b'\t')) {
        return Err(syntax(&sc));
    }
    let mut params: Vec<AuthParam<'_>> = Vec::new();
    loop {
        sc.skip_ws();
        while sc.eat_sep(b',') {}
        if sc.at_end() {
            break;
        }
        let name = sc.token().ok_or_else(|| syntax(&sc))?;
        if !sc.eat_sep(b'=') {
            return Err(syntax(&sc));
        }
        let value = if sc.peek() == Some(b'"') {
            sc.quoted_string().map(unquote)
        } else {
            sc.token().map(str::to_owned)
        }
        .ok_or_else(|| syntax(&sc))?;
        if value.len() > MAX_VALUE_LEN {
            return Err(DigestError::TooLong {
                name: bounded(&name.to_ascii_lowercase()),
            });
        }
        if params.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(DigestError::Duplicate {
                name: bounded(&name.to_ascii_lowercase()),
            });
        }
        if params.len() >= MAX_PARAMS {
            return Err(DigestError::TooManyParams);
        }
        params.push((name, value));
        sc.skip_ws();
        if sc.at_end() {
            break;
        }
        if !sc.eat_sep(b',') {
            return Err(syntax(&sc));
        }
    }
    Ok(params)
}

fn get<'p>(params: &'p [AuthParam<'_>], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn required(params: &[AuthParam<'_>], name: &'static str) -> Result<String, DigestError> {
    get(params, name)
        .map(str::to_owned)
        .ok_or(DigestError::Missing { name })
}

/// `nc-value = 8LHEX`. Uppercase hex digits are taken too; anything else, or another
/// length, is refused.
//= https://www.rfc-editor.org/rfc/rfc2617#section-3.2.2
//# The nc-value is the hexadecimal count of the number of requests
//# (including the current request) that the client has sent with the
//# nonce value in this request.
fn parse_nc(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Decodes an RFC 8187 `ext-value` in UTF-8: `UTF-8'[language]'percent-encoded`.
fn ext_value(s: &str) -> Option<String> {
    let mut parts = s.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    if !charset.eq_ignore_ascii_case("UTF-8") {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|&h| char::from(h).to_digit(16))?;
            let lo = bytes.get(i + 2).and_then(|&l| char::from(l).to_digit(16))?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_allow_lws_and_empty_elements() {
        let p = auth_params("Digest  a = b ,, c=\"d, e\" ,").expect("parses");
        assert_eq!(p, vec![("a", "b".to_owned()), ("c", "d, e".to_owned())]);
        assert_eq!(auth_params("Digest").expect("parses"), vec![]);
    }

    #[test]
    fn scheme_must_be_followed_by_space() {
        assert!(matches!(
            auth_params("Digest,realm=x"),
            Err(DigestError::Syntax { offset: 6 })
        ));
    }

    #[test]
    fn nc_is_eight_hex_digits() {
        assert_eq!(parse_nc("00000001"), Some(1));
        assert_eq!(parse_nc("FFFFFFFF"), Some(u32::MAX));
        assert_eq!(parse_nc("0000001"), None);
        assert_eq!(parse_nc("+0000001"), None);
        assert_eq!(parse_nc("000000001"), None);
    }

    #[test]
    fn ext_values_decode() {
        assert_eq!(
            ext_value("UTF-8''J%C3%A4s%C3%B8n%20Doe").as_deref(),
            Some("Jäsøn Doe")
        );
        assert_eq!(ext_value("ISO-8859-1''abc"), None);
        assert_eq!(ext_value("UTF-8''%FF"), None);
        assert_eq!(ext_value("UTF-8''%4"), None);
    }
}
