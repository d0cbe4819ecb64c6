//! The invariants that the fuzz targets (`fuzz/fuzz_targets/`) and the regression test
//! (`tests/malformed_regressions.rs`) both check, written once.
//!
//! The fuzz targets include this file with `#[path = ...] mod checks;`, so it depends on
//! nothing but the public API of `sip` and the standard library. Each check returns `Err`
//! with a description instead of panicking, so that the regression test can name the file;
//! the fuzz targets turn an `Err` into a panic, which libFuzzer records as a crash.

// Each includer uses a different subset of these functions.
#![allow(dead_code)]

use sip::framing::{self, Frame};
use sip::{Limits, Message, ParseError, reject};

/// Limits for re-parsing our own serialization. Serializing expands a message (compact names
/// become long ones, a comma list of Via values becomes one line per value, Content-Length is
/// always written), so an input just under the abuse limits can serialize to something just
/// over them; the round trip is about equality, not about those bounds.
const UNLIMITED: Limits = Limits {
    max_message: usize::MAX,
    max_headers: usize::MAX,
};

/// The `sip_parse` invariants on one datagram:
///
/// - parsing never panics (the caller sees the panic);
/// - a message that parses serializes to bytes that parse to an equal message, serializing
///   is deterministic, and the serialization is a fixed point (serializing the re-parsed
///   message gives the same bytes);
/// - the stream framer does not refuse what the parser accepts;
/// - a message that is refused gets, from [`reject`], either nothing or a well-framed answer:
///   it starts with `SIP/2.0 `, ends with the only empty line, and every CR and LF in it is
///   part of a CRLF line end (nothing from the peer can inject a line).
pub fn parse_invariants(data: &[u8]) -> Result<(), String> {
    match Message::parse(data) {
        Ok(msg) => {
            round_trip(&msg)?;
            framer_agrees(data, &msg)
        }
        Err(err) => reject_is_well_formed(data, &err),
    }
}

/// A datagram that the parser accepts is never a framing error on a stream, and the frame
/// the framer cuts from it is the same message: the framer reads Content-Length with the
/// parser's rules (folding included), or a legal message sent over TCP would close the
/// connection or be cut in the wrong place.
fn framer_agrees(data: &[u8], msg: &Message) -> Result<(), String> {
    match framing::check(data, &Limits::default()) {
        Err(e) => Err(format!(
            "the parser accepts this datagram, the framer refuses it: {e:?}"
        )),
        Ok(Frame::Message(n)) => {
            let framed = data.get(..n).ok_or("frame longer than the datagram")?;
            match Message::parse(framed) {
                // Without Content-Length a datagram's body is the rest of it (RFC 3261
                // section 18.3), a stream's is empty.
                Ok(m)
                    if m.head() == msg.head() && (body(&m) == body(msg) || body(&m).is_empty()) =>
                {
                    serialized_frames_whole(msg)
                }
                other => Err(format!(
                    "the framer cut {n} bytes that parse as {other:?}, not as the datagram did"
                )),
            }
        }
        // Leading CRLFs, or no empty line after the headers: nothing to compare.
        Ok(_) => serialized_frames_whole(msg),
    }
}

fn body(m: &Message) -> &[u8] {
    match m {
        Message::Request(r) => &r.body,
        Message::Response(r) => &r.body,
    }
}

fn round_trip(msg: &Message) -> Result<(), String> {
    let wire = msg.to_bytes();
    if msg.to_bytes() != wire {
        return Err("serializing twice gave different bytes".into());
    }
    let again = Message::parse_with(&wire, &UNLIMITED).map_err(|e| {
        format!(
            "serialized message does not parse ({e:?}):\n{}",
            String::from_utf8_lossy(&wire)
        )
    })?;
    if &again != msg {
        return Err(format!(
            "round trip changed the message:\n  first:  {msg:?}\n  second: {again:?}\n  wire:\n{}",
            String::from_utf8_lossy(&wire)
        ));
    }
    if again.to_bytes() != wire {
        return Err("serialization is not a fixed point".into());
    }
    Ok(())
}

fn reject_is_well_formed(data: &[u8], err: &ParseError) -> Result<(), String> {
    // Must not panic, whatever the error.
    let _ = err.status();
    let _ = err.reason();
    let Some(answer) = reject(data, err, "t") else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&answer);
    if !answer.starts_with(b"SIP/2.0 ") {
        return Err(format!(
            "answer does not start with a status line: {text:?}"
        ));
    }
    if !answer.ends_with(b"\r\n\r\n") {
        return Err(format!("answer does not end with an empty line: {text:?}"));
    }
    for (i, &b) in answer.iter().enumerate() {
        let crlf = match b {
            b'\r' => answer.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && answer.get(i - 1) == Some(&b'\r'),
            _ => true,
        };
        if !crlf {
            return Err(format!("bare CR or LF at byte {i} of the answer: {text:?}"));
        }
    }
    let first_empty_line = answer.windows(4).position(|w| w == b"\r\n\r\n");
    if first_empty_line != Some(answer.len() - 4) {
        return Err(format!("answer has an empty line before its end: {text:?}"));
    }
    Ok(())
}

/// What the framer made of a stream: the frames in order, then how it stopped (`Ok(())`:
/// waiting for more bytes; `Err`: the stream cannot be resynchronised).
#[derive(Debug, PartialEq, Eq)]
pub struct Framing {
    /// Every frame, in order.
    pub frames: Vec<Frame>,
    /// How the stream ended.
    pub end: Result<(), ParseError>,
}

/// The `sip_framer` invariants. The first byte of `data` chooses the chunk sizes (see
/// [`chunk_sizes`]); the rest is the stream.
pub fn framer_invariants(data: &[u8]) -> Result<(), String> {
    let Some((&seed, stream)) = data.split_first() else {
        return Ok(());
    };
    framer_invariants_split(stream, &chunk_sizes(seed, stream.len()))
}

/// Chunk sizes (each at least 1) that cover `len` bytes, drawn from a small xorshift
/// generator seeded by `seed`: seeds with a low nibble of 0 feed byte by byte, others mix short
/// and long reads.
pub fn chunk_sizes(seed: u8, len: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut covered = 0;
    let mut x = u32::from(seed) | 0x9e37_7900;
    // The low nibble bounds the chunk size: 1, 2, 4, 8... 4096 bytes; large enough to cross
    // line ends and whole messages, small enough to split most of them. Every read re-checks
    // the whole buffer, so a stream is cut into about 256 reads at most: a long one is
    // still split at arbitrary points, without the fuzzer spending its time on one input.
    let max = (1usize << (seed & 0x0f).min(12)).max(len / 128);
    while covered < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let n = 1 + (x as usize) % max;
        let n = n.min(len - covered);
        sizes.push(n);
        covered += n;
    }
    sizes
}

/// Frames `stream` whole and again fed in chunks of `sizes`, and checks that:
///
/// - a `Message(n)` has `0 < n <= buffer length`, a `Ping`/`Pong` fits in the buffer;
/// - feeding the chunks one by one, as a driver reading a socket would, yields exactly the
///   frames and the ending that framing the whole stream gives (a partial message is
///   `Incomplete`, never an error);
/// - a framed message that parses serializes to bytes that frame as one whole message.
pub fn framer_invariants_split(stream: &[u8], sizes: &[usize]) -> Result<(), String> {
    let whole = frame_whole(stream)?;
    let chunked = frame_chunked(stream, sizes)?;
    if whole != chunked {
        return Err(format!(
            "fed in chunks {sizes:?} the stream frames differently:\n  whole:   {whole:?}\n  \
             chunked: {chunked:?}"
        ));
    }
    let mut at = 0;
    for frame in &whole.frames {
        let n = match *frame {
            Frame::Message(n) => {
                let bytes = stream.get(at..at + n).ok_or("frame out of bounds")?;
                if let Ok(msg) = Message::parse(bytes) {
                    serialized_frames_whole(&msg)?;
                }
                n
            }
            Frame::Ping(n) | Frame::Pong(n) => n,
            Frame::Incomplete => return Err("Incomplete recorded as a frame".into()),
        };
        at += n;
    }
    Ok(())
}

/// One call of [`framing::check`], with the bounds checked.
fn check_bounded(buf: &[u8]) -> Result<Result<Frame, ParseError>, String> {
    let res = framing::check(buf, &Limits::default());
    match res {
        Ok(Frame::Message(n) | Frame::Ping(n) | Frame::Pong(n)) if n == 0 || n > buf.len() => {
            Err(format!("{res:?} on a buffer of {} bytes", buf.len()))
        }
        _ => Ok(res),
    }
}

/// Frames a stream that has fully arrived.
pub fn frame_whole(stream: &[u8]) -> Result<Framing, String> {
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        let rest = stream.get(at..).unwrap_or_default();
        match check_bounded(rest)? {
            Ok(Frame::Incomplete) => {
                return Ok(Framing {
                    frames,
                    end: Ok(()),
                });
            }
            Ok(f @ (Frame::Message(n) | Frame::Ping(n) | Frame::Pong(n))) => {
                frames.push(f);
                at += n;
            }
            Err(e) => {
                return Ok(Framing {
                    frames,
                    end: Err(e),
                });
            }
        }
    }
}

/// Frames a stream that arrives in chunks, checking the buffer after each read.
pub fn frame_chunked(stream: &[u8], sizes: &[usize]) -> Result<Framing, String> {
    let mut frames = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut read = 0;
    for &size in sizes {
        let chunk = stream
            .get(read..read + size)
            .ok_or("chunk sizes overrun the stream")?;
        read += size;
        buf.extend_from_slice(chunk);
        loop {
            match check_bounded(&buf)? {
                Ok(Frame::Incomplete) => break,
                Ok(f @ (Frame::Message(n) | Frame::Ping(n) | Frame::Pong(n))) => {
                    frames.push(f);
                    buf.drain(..n);
                }
                Err(e) => {
                    return Ok(Framing {
                        frames,
                        end: Err(e),
                    });
                }
            }
        }
    }
    if read != stream.len() {
        return Err("chunk sizes do not cover the stream".into());
    }
    Ok(Framing {
        frames,
        end: Ok(()),
    })
}

/// A message that the parser accepted is something we may forward on a stream: its
/// serialization must frame as exactly one message.
fn serialized_frames_whole(msg: &Message) -> Result<(), String> {
    let wire = msg.to_bytes();
    let limits = Limits {
        max_headers: usize::MAX,
        max_message: usize::MAX,
    };
    match framing::check(&wire, &limits) {
        Ok(Frame::Message(n)) if n == wire.len() => Ok(()),
        other => Err(format!(
            "our serialization of a framed message frames as {other:?}, not Message({}):\n{}",
            wire.len(),
            String::from_utf8_lossy(&wire)
        )),
    }
}
