//! The multiplexer tests' network, driven synchronously: a `Mux` whose upstream is a
//! `server::Session` over the in-memory tree (`memtree.rs`), clients that are just inboxes,
//! and `pump` moving bytes until nothing moves. Deterministic: no threads, no clock.
//!
//! Include it with `mod common; #[path = "common/mux_net.rs"] mod mux_net;`.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use ninep::frame::{self, Frame};
use ninep::msg::{Fcall, Fid, Message, NOFID, NOTAG, OREAD, Tag, WalkNames};
use ninep::mux::{self, ClientId, Event, Mux};
use ninep::server::{self, Session};

use crate::common::{MemConn, MemTree};

/// Leaked bytes: decoded messages then live as long as the test.
pub fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

/// Whole messages of `buf`, each as its own slice.
pub fn frames(buf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = buf;
    while let Frame::Message(n) = frame::check(rest, u32::MAX) {
        let (one, tail) = rest.split_at(n);
        out.push(one);
        rest = tail;
    }
    assert!(rest.is_empty(), "unframed bytes: {rest:02x?}");
    out
}

pub fn decode_all(buf: &[u8]) -> Vec<Message<'static>> {
    frames(leak(buf.to_vec()))
        .into_iter()
        .map(|f| Message::decode(f).expect("decodes"))
        .collect()
}

pub fn enc(tag: u16, body: Fcall<'_>) -> Vec<u8> {
    Message::new(Tag(tag), body).to_bytes().expect("encodes")
}

pub fn names(path: &str) -> WalkNames<'_> {
    let v: Vec<&str> = path.split('/').filter(|n| !n.is_empty()).collect();
    WalkNames::from_slice(&v).expect("at most 16 names")
}

/// A 9P server over the in-memory tree: the upstream, or an export server.
pub struct Server {
    pub tree: MemTree,
    pub session: Session<MemTree>,
}

impl Server {
    pub fn new(trusted: bool, config: server::Config, n: usize) -> Server {
        Server {
            tree: MemTree::new(n),
            session: Session::new(MemConn { trusted }, config),
        }
    }

    /// Feeds whole messages, returns the replies' bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        for f in frames(bytes) {
            self.session.handle(&mut self.tree, f);
        }
        self.take()
    }

    pub fn take(&mut self) -> Vec<u8> {
        let out = self.session.output().to_vec();
        self.session.clear_output();
        out
    }

    /// A packet to the pipe, and the pending reads retried.
    pub fn push(&mut self, data: &[u8]) -> Vec<u8> {
        self.tree.push(data);
        self.session.retry_pending(&mut self.tree);
        self.take()
    }

    pub fn fids(&self) -> usize {
        self.session.counters().fids
    }
}

/// A mux, its upstream server, and what each client received.
pub struct Net {
    pub mux: Mux,
    pub up: Server,
    pub inbox: BTreeMap<ClientId, Vec<Message<'static>>>,
    /// Clients that do not read: their output stays in the mux.
    pub stalled: BTreeSet<ClientId>,
    pub events: Vec<Event>,
}

impl Net {
    /// An untrusted upstream (every attach needs an afid) with default limits.
    pub fn new() -> Net {
        Net::with(mux::Config::default(), server::Config::default(), false)
    }

    /// A trusted upstream: NOFID attaches are the operator.
    pub fn trusted() -> Net {
        Net::with(mux::Config::default(), server::Config::default(), true)
    }

    pub fn with(config: mux::Config, up: server::Config, trusted: bool) -> Net {
        let mut net = Net {
            mux: Mux::new(config),
            up: Server::new(trusted, up, 10),
            inbox: BTreeMap::new(),
            stalled: BTreeSet::new(),
            events: Vec::new(),
        };
        net.mux.upstream_connected();
        net.pump();
        assert!(net.mux.upstream_msize().is_some(), "upstream versioned");
        net
    }

    /// Moves bytes between the mux, the upstream and the clients until nothing moves.
    pub fn pump(&mut self) {
        loop {
            let mut moved = self.deliver_clients();
            let up = self.mux.upstream_output().to_vec();
            self.mux.consume_upstream_output(up.len());
            if !up.is_empty() {
                moved = true;
                let replies = self.up.feed(&up);
                self.replies_from_upstream(&replies);
            }
            while let Some(e) = self.mux.poll_event() {
                self.events.push(e);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// Only what the mux holds for the clients: nothing goes upstream.
    pub fn deliver_clients(&mut self) -> bool {
        let mut moved = false;
        let mut later = Vec::new();
        while let Some(id) = self.mux.poll_client_ready() {
            if self.stalled.contains(&id) {
                later.push(id);
                continue;
            }
            let out = self.mux.client_output(id).to_vec();
            self.mux.consume_client_output(id, out.len());
            if !out.is_empty() {
                moved = true;
                self.inbox.entry(id).or_default().extend(decode_all(&out));
            }
        }
        moved
    }

    /// Bytes from the upstream server to the mux.
    pub fn replies_from_upstream(&mut self, bytes: &[u8]) {
        for f in frames(bytes) {
            self.mux.handle_upstream(f);
        }
    }

    /// Sends the mux's upstream output to the server without pumping its replies back;
    /// returns them.
    pub fn send_upstream(&mut self) -> Vec<u8> {
        let up = self.mux.upstream_output().to_vec();
        self.mux.consume_upstream_output(up.len());
        self.up.feed(&up)
    }

    pub fn client(&mut self) -> ClientId {
        self.mux.add_client()
    }

    /// One message from a client, without pumping.
    pub fn put(&mut self, c: ClientId, tag: u16, body: Fcall<'_>) {
        let bytes = enc(tag, body);
        self.mux.handle_client(c, &bytes);
    }

    /// One message from a client, pumped.
    pub fn send(&mut self, c: ClientId, tag: u16, body: Fcall<'_>) {
        self.put(c, tag, body);
        self.pump();
    }

    /// Everything the client received since the last take.
    pub fn take(&mut self, c: ClientId) -> Vec<Message<'static>> {
        self.deliver_clients();
        self.inbox.remove(&c).unwrap_or_default()
    }

    /// Sends one message and returns its only reply (which must carry its tag).
    pub fn rpc(&mut self, c: ClientId, tag: u16, body: Fcall<'_>) -> Message<'static> {
        self.send(c, tag, body);
        let mut r = self.take(c);
        assert_eq!(r.len(), 1, "one reply expected: {r:?}");
        let r = r.remove(0);
        assert_eq!(r.tag, Tag(tag), "reply tag: {r:?}");
        r
    }

    /// The Rerror text of a request that must fail.
    pub fn error(&mut self, c: ClientId, tag: u16, body: Fcall<'_>) -> &'static str {
        match self.rpc(c, tag, body).body {
            Fcall::Rerror { ename } => ename,
            other => panic!("expected Rerror, got {other:?}"),
        }
    }

    /// Tversion at `msize`; returns the msize answered.
    pub fn version(&mut self, c: ClientId, msize: u32) -> u32 {
        let r = self.rpc(
            c,
            NOTAG,
            Fcall::Tversion {
                msize,
                version: "9P2000",
            },
        );
        match r.body {
            Fcall::Rversion {
                msize,
                version: "9P2000",
            } => msize,
            other => panic!("expected Rversion, got {other:?}"),
        }
    }

    /// A new client, versioned at 8192.
    pub fn versioned(&mut self) -> ClientId {
        let c = self.client();
        self.version(c, 8192);
        c
    }

    /// The memtree's afid exchange on `afid`, then an attach of `fid` as `uname`; the afid
    /// stays.
    pub fn login(&mut self, c: ClientId, afid: u32, fid: u32, uname: &str) {
        let r = self.rpc(
            c,
            1,
            Fcall::Tauth {
                afid: Fid(afid),
                uname,
                aname: "",
            },
        );
        assert!(matches!(r.body, Fcall::Rauth { .. }), "{r:?}");
        let r = self.rpc(
            c,
            2,
            Fcall::Tread {
                fid: Fid(afid),
                offset: 0,
                count: 100,
            },
        );
        let expected = format!("challenge {uname}\n");
        assert_eq!(
            r.body,
            Fcall::Rread {
                data: expected.as_bytes()
            }
        );
        let r = self.rpc(
            c,
            3,
            Fcall::Twrite {
                fid: Fid(afid),
                offset: 0,
                data: b"secret\n",
            },
        );
        assert!(matches!(r.body, Fcall::Rwrite { count: 7 }), "{r:?}");
        let r = self.rpc(
            c,
            4,
            Fcall::Tattach {
                fid: Fid(fid),
                afid: Fid(afid),
                uname,
                aname: "",
            },
        );
        assert!(matches!(r.body, Fcall::Rattach { .. }), "{r:?}");
    }

    /// An attach without auth (the operator, on a trusted upstream).
    pub fn attach_operator(&mut self, c: ClientId, fid: u32) {
        let r = self.rpc(
            c,
            1,
            Fcall::Tattach {
                fid: Fid(fid),
                afid: Fid(NOFID),
                uname: "adm",
                aname: "",
            },
        );
        assert!(matches!(r.body, Fcall::Rattach { .. }), "{r:?}");
    }

    /// Walks `fid` to `newfid` through `path`; panics unless the walk is whole.
    pub fn walk(&mut self, c: ClientId, fid: u32, newfid: u32, path: &str) {
        let r = self.rpc(
            c,
            5,
            Fcall::Twalk {
                fid: Fid(fid),
                newfid: Fid(newfid),
                wnames: names(path),
            },
        );
        match r.body {
            Fcall::Rwalk { wqids } if wqids.len() == names(path).len() => {}
            other => panic!("walk to {path}: {other:?}"),
        }
    }

    /// Walks from `root` to `newfid` and opens it for reading.
    pub fn open_read(&mut self, c: ClientId, root: u32, newfid: u32, path: &str) {
        self.walk(c, root, newfid, path);
        let r = self.rpc(
            c,
            6,
            Fcall::Topen {
                fid: Fid(newfid),
                mode: OREAD,
            },
        );
        assert!(matches!(r.body, Fcall::Ropen { .. }), "open {path}: {r:?}");
    }

    /// The name in the stat of `fid`.
    pub fn stat_name(&mut self, c: ClientId, tag: u16, fid: u32) -> String {
        match self.rpc(c, tag, Fcall::Tstat { fid: Fid(fid) }).body {
            Fcall::Rstat { stat } => stat.name.into_owned(),
            other => panic!("expected Rstat, got {other:?}"),
        }
    }

    /// A packet to the upstream's pipe, the pending reads retried, the replies pumped.
    pub fn push(&mut self, data: &[u8]) {
        let out = self.up.push(data);
        self.replies_from_upstream(&out);
        self.pump();
    }
}
