//! What must hold for any input, shared by the `ninep_decode` fuzz target
//! (`fuzz/fuzz_targets/ninep_decode.rs`) and `tests/malformed_regressions.rs`.
//!
//! 1. The codec: `Message::decode` never panics; what decodes encodes back to the very same
//!    bytes (the encoding is canonical) and decodes again to the same value; the framer and
//!    the directory-entry reader never panic.
//! 2. The session: after a Tversion and an operator Tattach, the input is cut into frames
//!    as a stream and fed to a session over the in-memory test tree (`memtree.rs`), with a
//!    packet pushed to the pipe and pending reads retried after every odd-tagged message.
//!    Every output is a whole R-message that decodes and fits msize; fids and outstanding
//!    requests stay within their bounds; and after `close` nothing is left: no fid, no
//!    attach, no read the tree still thinks is waiting. The whole input is also handed to a
//!    session as one frame.

#![allow(dead_code)]

#[path = "memtree.rs"]
pub mod memtree;

use ninep::frame::{self, Frame};
use ninep::msg::{DirEntries, Fcall, Fid, Message, NOFID, NOTAG, Tag};
use ninep::server::{Config, Session};

use memtree::{MemConn, MemTree};

/// Everything, for one input.
pub fn run(data: &[u8]) -> Result<(), String> {
    codec(data)?;
    session_stream(data)?;
    session_one_frame(data)
}

/// The codec's invariants.
pub fn codec(data: &[u8]) -> Result<(), String> {
    let _ = frame::check(data, 8192);
    let _ = DirEntries::new(data).count();
    let Ok(msg) = Message::decode(data) else {
        return Ok(());
    };
    let bytes = msg
        .to_bytes()
        .map_err(|e| format!("{msg:?} does not encode: {e}"))?;
    if bytes != data {
        return Err(format!("{msg:?} encodes to {bytes:02x?}, not {data:02x?}"));
    }
    if msg.encoded_len() != data.len() {
        return Err(format!(
            "{msg:?}: encoded_len {} for {} bytes",
            msg.encoded_len(),
            data.len()
        ));
    }
    let again = Message::decode(&bytes).map_err(|e| format!("re-encoded {msg:?}: {e}"))?;
    if again != msg {
        return Err(format!("{msg:?} decodes again as {again:?}"));
    }
    Ok(())
}

fn config() -> Config {
    Config {
        max_fids: 32,
        max_outstanding: 4,
        ..Config::default()
    }
}

fn new_session() -> Result<(MemTree, Session<MemTree>), String> {
    let mut tree = MemTree::new(20);
    let mut s = Session::new(MemConn { trusted: true }, config());
    for m in [
        Message::new(
            Tag(NOTAG),
            Fcall::Tversion {
                msize: 8192,
                version: "9P2000",
            },
        ),
        Message::new(
            Tag(0),
            Fcall::Tattach {
                fid: Fid(0),
                afid: Fid(NOFID),
                uname: "glenda",
                aname: "",
            },
        ),
    ] {
        let bytes = m.to_bytes().map_err(|e| e.to_string())?;
        s.handle(&mut tree, &bytes);
    }
    drain(&mut s)?;
    Ok((tree, s))
}

/// Checks and forgets the session's output.
fn drain(s: &mut Session<MemTree>) -> Result<(), String> {
    let msize = s.msize();
    let mut rest = s.output();
    while !rest.is_empty() {
        let n = match frame::check(rest, msize) {
            Frame::Message(n) => n,
            other => return Err(format!("output framing: {other:?} in {rest:02x?}")),
        };
        let (one, tail) = rest.split_at(n);
        let reply = Message::decode(one).map_err(|e| format!("output does not decode: {e}"))?;
        if reply.body.is_request() {
            return Err(format!("the server sent a request: {reply:?}"));
        }
        rest = tail;
    }
    s.clear_output();
    let c = s.counters();
    let limits = config();
    if c.fids > limits.max_fids || c.outstanding > limits.max_outstanding || c.attaches > c.fids {
        return Err(format!("counters out of bounds: {c:?}"));
    }
    Ok(())
}

fn finish(mut tree: MemTree, mut s: Session<MemTree>) -> Result<(), String> {
    s.close(&mut tree);
    drain(&mut s)?;
    if s.counters() != Default::default() {
        return Err(format!("after close: {:?}", s.counters()));
    }
    if !tree.waiting.is_empty() {
        return Err(format!("reads the tree still waits on: {:?}", tree.waiting));
    }
    Ok(())
}

/// The input as a stream of frames.
pub fn session_stream(data: &[u8]) -> Result<(), String> {
    let (mut tree, mut s) = new_session()?;
    let mut rest = data;
    while let Frame::Message(n) = frame::check(rest, s.msize()) {
        let (one, tail) = rest.split_at(n);
        s.handle(&mut tree, one);
        drain(&mut s)?;
        if one.get(5).is_some_and(|t| t % 2 == 1) {
            tree.push(b"packet");
            s.retry_pending(&mut tree);
            drain(&mut s)?;
        }
        rest = tail;
    }
    finish(tree, s)
}

/// The whole input as one frame, whatever its size field says.
pub fn session_one_frame(data: &[u8]) -> Result<(), String> {
    let (mut tree, mut s) = new_session()?;
    s.handle(&mut tree, data);
    drain(&mut s)?;
    finish(tree, s)
}
