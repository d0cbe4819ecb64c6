//! The parser: bytes to [`SessionDescription`], bounded by [`Limits`].

use crate::error::SdpError;
use crate::model::{
    Attribute, Connection, Line, MediaDescription, MediaKind, Origin, SessionDescription, digits,
};

/// Bounds on what a peer can make the parser hold (STYLE.md section 2: name the limits of
/// protocol-legal abuse). The defaults fit every real phone and WebRTC offer with room to
/// spare; input beyond them is refused with a typed [`SdpError`], never allocated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, in bytes (default 64 KiB).
    pub max_bytes: usize,
    /// Most non-empty lines (default 1,024).
    pub max_lines: usize,
    /// Most `m=` sections (default 32).
    pub max_media: usize,
    /// Most formats on one `m=` line (default 128, one per RTP payload type).
    pub max_formats: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 * 1024,
            max_lines: 1024,
            max_media: 32,
            max_formats: 128,
        }
    }
}

impl Limits {
    /// No limits: for re-reading the crate's own output in tests, never for network input.
    pub fn unlimited() -> Self {
        Limits {
            max_bytes: usize::MAX,
            max_lines: usize::MAX,
            max_media: usize::MAX,
            max_formats: usize::MAX,
        }
    }
}

impl SessionDescription {
    /// Parses a description with the default [`Limits`].
    ///
    /// Accepts CRLF or bare LF line ends (RFC 8866 section 5 asks receivers to), skips empty
    /// lines, and keeps lines it does not know in order. Bytes that are not UTF-8 are read
    /// with replacement characters rather than refused: a phone that writes its session name
    /// in Latin-1 still gets its call.
    pub fn parse(input: &[u8]) -> Result<Self, SdpError> {
        Self::parse_with(input, &Limits::default())
    }

    /// Parses a description within `limits`.
    pub fn parse_with(input: &[u8], limits: &Limits) -> Result<Self, SdpError> {
        if input.len() > limits.max_bytes {
            return Err(SdpError::TooLarge {
                len: input.len(),
                max: limits.max_bytes,
            });
        }
        let mut count = 0usize;
        let mut version = false;
        let mut origin = None;
        let mut session_name = None;
        let mut lines = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();

        for (index, raw) in input.split(|b| *b == b'\n').enumerate() {
            let number = index.saturating_add(1);
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.is_empty() {
                continue;
            }
            count = count.saturating_add(1);
            if count > limits.max_lines {
                return Err(SdpError::TooManyLines {
                    max: limits.max_lines,
                });
            }
            //= https://www.rfc-editor.org/rfc/rfc8866#section-9
            //# text = byte-string ; any byte except NUL, CR, or LF
            if raw.iter().any(|b| *b == 0 || *b == b'\r') {
                return Err(SdpError::ControlCharacter { line: number });
            }
            let text = String::from_utf8_lossy(raw);
            let (kind, value) = split_line(&text).ok_or(SdpError::BadLine { line: number })?;

            if !version {
                if kind != 'v' {
                    return Err(SdpError::MissingVersion);
                }
                if value.trim() != "0" {
                    return Err(SdpError::UnsupportedVersion);
                }
                version = true;
                continue;
            }
            match kind {
                'v' => return Err(SdpError::Repeated { kind, line: number }),
                'm' => {
                    if media.len() >= limits.max_media {
                        return Err(SdpError::TooManyMedia {
                            max: limits.max_media,
                        });
                    }
                    media.push(parse_media(value, number, limits)?);
                }
                _ if !media.is_empty() => {
                    if let Some(m) = media.last_mut() {
                        m.lines.push(parse_line(kind, value, number)?);
                    }
                }
                'o' => {
                    if origin.is_some() {
                        return Err(SdpError::Repeated { kind, line: number });
                    }
                    origin = Some(parse_origin(value).ok_or(SdpError::BadOrigin { line: number })?);
                }
                's' => {
                    if session_name.is_some() {
                        return Err(SdpError::Repeated { kind, line: number });
                    }
                    session_name = Some(value.to_owned());
                }
                _ => lines.push(parse_line(kind, value, number)?),
            }
        }
        if !version {
            return Err(SdpError::Empty);
        }
        Ok(SessionDescription {
            origin: origin.ok_or(SdpError::MissingOrigin)?,
            // RFC 8866 section 5.3 requires s=; a few stacks omit it, and "-" is what it
            // means when there is no name.
            session_name: session_name.unwrap_or_else(|| "-".to_owned()),
            lines,
            media,
        })
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, SdpError> {
        Self::parse(s.as_bytes())
    }
}

/// `<letter>=<value>`.
fn split_line(text: &str) -> Option<(char, &str)> {
    let mut chars = text.chars();
    let kind = chars.next().filter(char::is_ascii_alphabetic)?;
    let value = chars.as_str().strip_prefix('=')?;
    Some((kind, value))
}

fn parse_line(kind: char, value: &str, number: usize) -> Result<Line, SdpError> {
    Ok(match kind {
        // c=IN IP4 127.0.0.1
        'c' => Line::Connection(
            parse_connection(value).ok_or(SdpError::BadConnection { line: number })?,
        ),
        // a=rtpmap:101 telephone-event/8000
        'a' => Line::Attribute(match value.split_once(':') {
            Some((name, v)) => Attribute::new(name, v),
            None => Attribute::flag(value),
        }),
        _ => Line::Other {
            kind,
            value: value.to_owned(),
        },
    })
}

// o=- 3920000001 3920000001 IN IP4 127.0.0.1
fn parse_origin(value: &str) -> Option<Origin> {
    let tokens: Vec<&str> = value.split_whitespace().collect();
    // A few stacks put blanks in the user name; the last five fields are fixed.
    let split = tokens.len().checked_sub(5).filter(|n| *n >= 1)?;
    let (user, rest) = tokens.split_at(split);
    let [session_id, session_version, net_type, addr_type, address] = rest else {
        return None;
    };
    Some(Origin {
        username: user.join(" "),
        session_id: (*session_id).to_owned(),
        session_version: (*session_version).to_owned(),
        net_type: (*net_type).to_owned(),
        addr_type: (*addr_type).to_owned(),
        address: (*address).to_owned(),
    })
}

fn parse_connection(value: &str) -> Option<Connection> {
    let mut tokens = value.split_whitespace();
    let connection = Connection {
        net_type: tokens.next()?.to_owned(),
        addr_type: tokens.next()?.to_owned(),
        address: tokens.next()?.to_owned(),
    };
    tokens.next().is_none().then_some(connection)
}

// m=audio 49170 RTP/AVP 0 8 101
// m=video 49170/2 RTP/AVP 31
fn parse_media(value: &str, number: usize, limits: &Limits) -> Result<MediaDescription, SdpError> {
    let bad = SdpError::BadMedia { line: number };
    let mut tokens = value.split_whitespace();
    let kind = MediaKind::parse(tokens.next().ok_or(bad.clone())?);
    let ports = tokens.next().ok_or(bad.clone())?;
    let (port, port_count) = match ports.split_once('/') {
        Some((p, n)) => (digits(p), Some(digits(n).ok_or(bad.clone())?)),
        None => (digits(ports), None),
    };
    let port = port.ok_or(bad.clone())?;
    let proto = tokens.next().ok_or(bad)?.to_owned();
    let mut formats = Vec::new();
    for format in tokens {
        if formats.len() >= limits.max_formats {
            return Err(SdpError::TooManyFormats {
                line: number,
                max: limits.max_formats,
            });
        }
        formats.push(format.to_owned());
    }
    Ok(MediaDescription {
        kind,
        port,
        port_count,
        proto,
        formats,
        lines: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
