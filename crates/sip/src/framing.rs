//! Cutting a byte stream (SIP over TCP or TLS) into messages.
//!
//! On a stream, `Content-Length` decides where a message ends (RFC 3261 section 18.3), and
//! CRLFs between messages are keepalives (RFC 5626 section 3.5.1): a double CRLF "ping" is
//! answered by a single CRLF "pong". A partial message is not an error: [`check`] says
//! [`Frame::Incomplete`] and the driver reads more.

use crate::error::ParseError;
use crate::header::HeaderName;
use crate::message::{Limits, header_end, logical_lines};

/// What the front of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet to know.
    Incomplete,
    /// A whole message of this many bytes (headers and body).
    Message(usize),
    /// A double-CRLF keepalive ping of this many bytes: answer with one CRLF.
    Ping(usize),
    /// A lone CRLF (a pong, or stray line ends before a message) of this many bytes: skip it.
    Pong(usize),
}

/// Examines the front of `buf`.
///
/// Errors mean the stream cannot be resynchronised (no usable Content-Length, or a message
/// over the limit): the driver answers if it can and closes the connection.
pub fn check(buf: &[u8], limits: &Limits) -> Result<Frame, ParseError> {
    match buf {
        [] | [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => {
            return Ok(if buf.is_empty() {
                Frame::Incomplete
            } else {
                incomplete_crlf(buf)
            });
        }
        [b'\r', b'\n', b'\r', b'\n', ..] => return Ok(Frame::Ping(4)),
        [b'\r', b'\n', ..] => return Ok(Frame::Pong(2)),
        // A stray CR or LF: the parser skips any run of them before a start line (RFC 3261
        // section 7.5), so the framer skips them one by one instead of cutting them into the
        // front of a message (where "\r\r\n\n" would end an empty header section).
        [b'\n', ..] | [b'\r', ..] => return Ok(Frame::Pong(1)),
        _ => {}
    }
    let Some(end) = header_end(buf) else {
        if buf.len() > limits.max_message {
            return Err(ParseError::TooLarge);
        }
        return Ok(Frame::Incomplete);
    };
    if end > limits.max_message {
        // The header section alone is over the limit: that is 513 Message Too Large, as the
        // parser says, and as a prefix of this stream without its empty line already said.
        return Err(ParseError::TooLarge);
    }
    let head = buf.get(..end).unwrap_or(buf);
    let len = content_length(head)?.unwrap_or(0);
    let total = end.checked_add(len).ok_or(ParseError::BodyTooLarge)?;
    if total > limits.max_message {
        return Err(ParseError::BodyTooLarge);
    }
    Ok(if buf.len() >= total {
        Frame::Message(total)
    } else {
        Frame::Incomplete
    })
}

fn incomplete_crlf(_buf: &[u8]) -> Frame {
    // "\r", "\r\n" or "\r\n\r": wait for the next byte to tell a ping from a pong. A lone
    // "\r\n" pong followed by nothing is consumed with the next read.
    Frame::Incomplete
}

/// Finds Content-Length (or `l`) in a header section, with the same rules as the parser:
/// digits only, and repeated values must agree.
fn content_length(head: &[u8]) -> Result<Option<usize>, ParseError> {
    //= https://www.rfc-editor.org/rfc/rfc3261#section-7.3.1
    //# Header fields can be extended over multiple lines by preceding each extra line
    //# with at least one SP or horizontal tab (HT).
    // The parser's own header lines, unfolded the parser's way, so that the two can never
    // disagree on where a message ends (a folded "Content-Length\r\n : 5" is 5 to both). A
    // head that is not UTF-8 is refused by the parser; decoding it lossily keeps this total.
    let text = String::from_utf8_lossy(head);
    let mut found: Option<usize> = None;
    for line in logical_lines(&text).skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if HeaderName::parse(name.trim_end_matches([' ', '\t'])) != HeaderName::ContentLength {
            continue;
        }
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::Header {
                name: "Content-Length",
            });
        }
        let n: usize = value.parse().map_err(|_| ParseError::BodyTooLarge)?;
        match found {
            Some(prev) if prev != n => {
                return Err(ParseError::Repeated {
                    name: "Content-Length",
                });
            }
            _ => found = Some(n),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbody";

    #[test]
    fn partial_is_incomplete_not_error() {
        let lim = Limits::default();
        for n in 0..MSG.len() {
            assert_eq!(check(&MSG[..n], &lim), Ok(Frame::Incomplete), "prefix {n}");
        }
        assert_eq!(check(MSG, &lim), Ok(Frame::Message(MSG.len())));
        let mut two = MSG.to_vec();
        two.extend_from_slice(MSG);
        assert_eq!(check(&two, &lim), Ok(Frame::Message(MSG.len())));
    }

    #[test]
    fn keepalives() {
        let lim = Limits::default();
        assert_eq!(check(b"\r\n\r\n", &lim), Ok(Frame::Ping(4)));
        assert_eq!(check(b"\r\nOPTIONS", &lim), Ok(Frame::Pong(2)));
        assert_eq!(check(b"\r\n", &lim), Ok(Frame::Incomplete));
    }

    #[test]
    fn missing_length_means_empty_body() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\nNEXT";
        assert_eq!(
            check(m, &Limits::default()),
            Ok(Frame::Message(m.len() - 4))
        );
    }

    #[test]
    fn folded_length_is_unfolded_like_the_parser_does() {
        for m in [
            &b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n \t4\r\n\r\nbodyNEXT"[..],
            // Folding before the colon: the parser unfolds it too.
            b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length\r\n : 4\r\n\r\nbodyNEXT",
        ] {
            assert_eq!(
                check(m, &Limits::default()),
                Ok(Frame::Message(m.len() - 4))
            );
        }
    }

    #[test]
    fn stray_line_ends_before_a_message_are_skipped_one_by_one() {
        let lim = Limits::default();
        assert_eq!(check(b"\r\r\n\nOPTIONS", &lim), Ok(Frame::Pong(1)));
        assert_eq!(check(b"\rOPTIONS", &lim), Ok(Frame::Pong(1)));
        assert_eq!(check(b"\r", &lim), Ok(Frame::Incomplete));
    }

    #[test]
    fn bad_or_conflicting_lengths() {
        let lim = Limits::default();
        assert!(check(b"A sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n", &lim).is_err());
        assert!(
            check(
                b"A sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\n",
                &lim
            )
            .is_err()
        );
        assert_eq!(
            check(b"A sip:a SIP/2.0\r\nl: 99999999\r\n\r\n", &lim),
            Err(ParseError::BodyTooLarge)
        );
        let huge = vec![b'a'; lim.max_message + 1];
        assert_eq!(check(&huge, &lim), Err(ParseError::TooLarge));
    }

    #[test]
    fn oversize_header_section_is_too_large_however_it_arrives() {
        let lim = Limits::default();
        let mut m = b"OPTIONS sip:a@b SIP/2.0\r\nX-Pad: ".to_vec();
        m.resize(lim.max_message + 10, b'a');
        m.extend_from_slice(b"\r\n\r\n");
        // Whole, or cut before its empty line: the same error (513, not 413).
        assert_eq!(check(&m, &lim), Err(ParseError::TooLarge));
        assert_eq!(
            check(&m[..lim.max_message + 1], &lim),
            Err(ParseError::TooLarge)
        );
    }
}
