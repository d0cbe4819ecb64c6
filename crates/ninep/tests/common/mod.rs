//! Shared by the session tests: a session over the in-memory tree, and helpers that send one
//! message and decode the replies.

#![allow(dead_code)]

pub mod memtree;

use ninep::frame::{self, Frame};
use ninep::msg::{Fcall, Fid, Message, NOFID, NOTAG, OREAD, Tag, WalkNames};
use ninep::server::{Config, Session};

#[allow(unused_imports)]
pub use memtree::{Event, MemConn, MemTree, OPERATOR};

pub struct Harness {
    pub tree: MemTree,
    pub session: Session<MemTree>,
}

/// Leaked bytes: decoded messages then live as long as the test.
fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

impl Harness {
    /// A trusted connection (NOFID attaches are the operator), not versioned yet.
    pub fn new() -> Harness {
        Harness::with(MemConn { trusted: true }, Config::default(), 10)
    }

    /// An untrusted connection (TCP): every attach needs a validated afid.
    pub fn untrusted() -> Harness {
        Harness::with(MemConn { trusted: false }, Config::default(), 10)
    }

    pub fn with(conn: MemConn, config: Config, n: usize) -> Harness {
        Harness {
            tree: MemTree::new(n),
            session: Session::new(conn, config),
        }
    }

    /// Versioned at `msize`.
    pub fn versioned(msize: u32) -> Harness {
        let mut h = Harness::new();
        let r = h.rpc(
            NOTAG,
            Fcall::Tversion {
                msize,
                version: "9P2000",
            },
        );
        assert!(
            matches!(
                r.body,
                Fcall::Rversion {
                    version: "9P2000",
                    ..
                }
            ),
            "{r:?}"
        );
        h
    }

    /// Versioned at 8192 and attached as the operator on fid 0.
    pub fn attached() -> Harness {
        let mut h = Harness::versioned(8192);
        h.attach_operator(0);
        h
    }

    pub fn attach_operator(&mut self, fid: u32) {
        let r = self.rpc(
            1,
            Fcall::Tattach {
                fid: Fid(fid),
                afid: Fid(NOFID),
                uname: "glenda",
                aname: "",
            },
        );
        assert!(matches!(r.body, Fcall::Rattach { .. }), "{r:?}");
    }

    /// Feeds raw bytes (one frame) and returns every reply.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Message<'static>> {
        self.session.handle(&mut self.tree, bytes);
        self.drain()
    }

    /// Sends one message and returns every reply it caused.
    pub fn send(&mut self, tag: u16, body: Fcall<'_>) -> Vec<Message<'static>> {
        let bytes = Message::new(Tag(tag), body).to_bytes().expect("encodes");
        self.feed(&bytes)
    }

    /// Sends one message and returns its only reply.
    pub fn rpc(&mut self, tag: u16, body: Fcall<'_>) -> Message<'static> {
        let mut replies = self.send(tag, body);
        assert_eq!(replies.len(), 1, "one reply expected: {replies:?}");
        let r = replies.remove(0);
        assert_eq!(r.tag, Tag(tag), "reply tag");
        r
    }

    /// The Rerror text of a request that must fail.
    pub fn error(&mut self, tag: u16, body: Fcall<'_>) -> &'static str {
        match self.rpc(tag, body).body {
            Fcall::Rerror { ename } => ename,
            other => panic!("expected Rerror, got {other:?}"),
        }
    }

    /// Replies waiting in the session's output, decoded, in order.
    pub fn drain(&mut self) -> Vec<Message<'static>> {
        let out = leak(self.session.output().to_vec());
        self.session.clear_output();
        let mut replies = Vec::new();
        let mut rest = out;
        while !rest.is_empty() {
            let Frame::Message(n) = frame::check(rest, u32::MAX) else {
                panic!("output not framed: {rest:?}");
            };
            let (one, tail) = rest.split_at(n);
            replies.push(Message::decode(one).expect("the session's output decodes"));
            rest = tail;
        }
        replies
    }

    pub fn retry(&mut self) -> Vec<Message<'static>> {
        self.session.retry_pending(&mut self.tree);
        self.drain()
    }

    /// Walks `fid` to `newfid` through `path` ("a/b"); panics unless the walk is whole.
    pub fn walk(&mut self, fid: u32, newfid: u32, path: &str) {
        let names: Vec<&str> = path.split('/').filter(|n| !n.is_empty()).collect();
        let wnames = WalkNames::from_slice(&names).expect("at most 16 names");
        let r = self.rpc(
            2,
            Fcall::Twalk {
                fid: Fid(fid),
                newfid: Fid(newfid),
                wnames,
            },
        );
        match r.body {
            Fcall::Rwalk { wqids } if wqids.len() == names.len() => {}
            other => panic!("walk to {path}: {other:?}"),
        }
    }

    /// Walks from the operator's root fid 0 to `newfid` and opens it.
    pub fn open(&mut self, newfid: u32, path: &str, mode: u8) -> Message<'static> {
        self.walk(0, newfid, path);
        self.rpc(
            3,
            Fcall::Topen {
                fid: Fid(newfid),
                mode,
            },
        )
    }

    /// Opens for reading, panics on failure.
    pub fn open_read(&mut self, newfid: u32, path: &str) {
        let r = self.open(newfid, path, OREAD);
        assert!(matches!(r.body, Fcall::Ropen { .. }), "open {path}: {r:?}");
    }

    /// The data of an Rread, panics on anything else.
    pub fn read(&mut self, tag: u16, fid: u32, offset: u64, count: u32) -> &'static [u8] {
        match self
            .rpc(
                tag,
                Fcall::Tread {
                    fid: Fid(fid),
                    offset,
                    count,
                },
            )
            .body
        {
            Fcall::Rread { data } => data,
            other => panic!("expected Rread, got {other:?}"),
        }
    }

    pub fn fids(&self) -> usize {
        self.session.counters().fids
    }
}

pub fn names(wnames: &[&'static str]) -> WalkNames<'static> {
    WalkNames::from_slice(wnames).expect("at most 16 names")
}
