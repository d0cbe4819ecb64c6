//! Hostile 9P over TCP, message by message: every attempt is refused, nothing outside an
//! extension's root is reached, and the server keeps serving others.
//!
//! Walking `..` past the root stays at the root; a sibling extension and the domain's `cdr/`
//! are out of reach; forged fids get Rerror; an afid cannot be used to attach as another user,
//! a wrong answer kills the afid, and an attach without auth is refused over TCP; a huge
//! msize is capped; a truncated message gets Rerror; a message larger than msize closes only
//! that connection.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ninep::msg::{Fcall, Fid, Message, NOTAG, Qid, Tag, WalkNames};
use sip::digest::Algorithm;

struct Conn {
    s: TcpStream,
    tag: u16,
}

/// A reply, decoded and owned enough for the checks.
#[derive(Debug)]
enum Reply {
    Error(String),
    Version(u32),
    Qid(Qid),
    Walk(Vec<Qid>),
    Data(Vec<u8>),
    Other,
}

impl Conn {
    fn open(addr: SocketAddr, msize: u32) -> (Conn, u32) {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut c = Conn { s, tag: 0 };
        let Reply::Version(m) = c.rpc_tag(
            Tag(NOTAG),
            Fcall::Tversion {
                msize,
                version: "9P2000",
            },
        ) else {
            panic!("no Rversion")
        };
        (c, m)
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    fn recv(&mut self) -> Option<Reply> {
        let mut size = [0u8; 4];
        self.s.read_exact(&mut size).ok()?;
        let n = u32::from_le_bytes(size) as usize;
        let mut buf = size.to_vec();
        buf.resize(n, 0);
        self.s.read_exact(&mut buf[4..]).ok()?;
        let msg = Message::decode(&buf).expect("server replies decode");
        Some(match msg.body {
            Fcall::Rerror { ename } => Reply::Error(ename.to_owned()),
            Fcall::Rversion { msize, .. } => Reply::Version(msize),
            Fcall::Rauth { aqid: qid } | Fcall::Rattach { qid } => Reply::Qid(qid),
            Fcall::Rwalk { wqids } => Reply::Walk(wqids.to_vec()),
            Fcall::Rread { data } => Reply::Data(data.to_vec()),
            _ => Reply::Other,
        })
    }

    fn rpc_tag(&mut self, tag: Tag, body: Fcall<'_>) -> Reply {
        let mut out = Vec::new();
        Message::new(tag, body).encode(&mut out).expect("encode");
        self.send_raw(&out);
        self.recv().expect("a reply")
    }

    fn rpc(&mut self, body: Fcall<'_>) -> Reply {
        self.tag += 1;
        self.rpc_tag(Tag(self.tag), body)
    }

    fn walk(&mut self, fid: u32, newfid: u32, names: &[&str]) -> Reply {
        self.rpc(Fcall::Twalk {
            fid: Fid(fid),
            newfid: Fid(newfid),
            wnames: WalkNames::from_slice(names).expect("names"),
        })
    }

    /// The afid exchange on `afid` as `uname` with `secret` (wrong on purpose when asked).
    fn auth(&mut self, afid: u32, uname: &str, secret: &str) -> Reply {
        let Reply::Qid(_) = self.rpc(Fcall::Tauth {
            afid: Fid(afid),
            uname,
            aname: "",
        }) else {
            panic!("no Rauth")
        };
        let Reply::Data(challenge) = self.rpc(Fcall::Tread {
            fid: Fid(afid),
            offset: 0,
            count: 512,
        }) else {
            panic!("no challenge")
        };
        let challenge = String::from_utf8(challenge).expect("utf-8");
        let nonce = challenge
            .split("nonce=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("nonce");
        let (user, realm) = uname.split_once('@').expect("user@domain");
        let ha1 = Algorithm::Sha256.hash_hex(format!("{user}:{realm}:{secret}").as_bytes());
        let response = Algorithm::Sha256.hash_hex(format!("{ha1}:{nonce}").as_bytes());
        let line = format!("response=\"{response}\"\n");
        self.rpc(Fcall::Twrite {
            fid: Fid(afid),
            offset: 0,
            data: line.as_bytes(),
        })
    }

    fn attach(&mut self, fid: u32, afid: u32, uname: &str) -> Reply {
        self.rpc(Fcall::Tattach {
            fid: Fid(fid),
            afid: Fid(afid),
            uname,
            aname: "",
        })
    }
}

fn is_error(r: &Reply) -> bool {
    matches!(r, Reply::Error(_))
}

#[test]
fn hostile_9p_is_refused_and_others_are_served() {
    let config = common::config_with_users("127.0.0.1", 2, "");
    let server = common::Server::start_with_config(&config, &[]);
    let (mut c, msize) = Conn::open(server.ninep, u32::MAX);
    assert!(
        (256 * 1024..=1024 * 1024).contains(&msize),
        "a huge msize is capped, not refused: {msize}"
    );

    // No attach without auth over TCP.
    let r = c.attach(1, ninep::msg::NOFID, "user0@127.0.0.1");
    assert!(
        matches!(r, Reply::Error(ref e) if e == "authentication required"),
        "{r:?}"
    );

    // A wrong answer fails and kills the afid.
    let r = c.auth(10, "user0@127.0.0.1", "wrong");
    assert!(
        matches!(r, Reply::Error(ref e) if e == "authentication failed"),
        "{r:?}"
    );
    let r = c.attach(1, 10, "user0@127.0.0.1");
    assert!(is_error(&r), "attach with a dead afid: {r:?}");

    // A good exchange, then an attempt to attach as someone else with it.
    let r = c.auth(11, "user0@127.0.0.1", "pw0");
    assert!(matches!(r, Reply::Other), "{r:?}");
    let r = c.attach(2, 11, "user1@127.0.0.1");
    assert!(
        is_error(&r),
        "another user's attach with user0's afid: {r:?}"
    );
    let Reply::Qid(root) = c.attach(3, 11, "user0@127.0.0.1") else {
        panic!("user0's own attach")
    };

    // `..` at the root is the root, however many times.
    let Reply::Walk(q) = c.walk(3, 4, &[".."; 16]) else {
        panic!("walk ..")
    };
    assert_eq!(q.len(), 16);
    assert!(q.iter().all(|q| *q == root), "{q:?} vs {root:?}");
    // The sibling extension is not reachable: the walk stops at the root and makes no fid.
    let r = c.walk(3, 5, &["..", "user1"]);
    let Reply::Walk(q) = r else { panic!("{r:?}") };
    assert_eq!(q.len(), 1, "stopped after ..: {q:?}");
    let r = c.rpc(Fcall::Tclunk { fid: Fid(5) });
    assert!(is_error(&r), "a partial walk made no fid: {r:?}");
    // `cdr` from above the root is the extension's own, not the domain's.
    let Reply::Walk(own) = c.walk(3, 6, &["cdr"]) else {
        panic!("own cdr")
    };
    let Reply::Walk(via_up) = c.walk(3, 7, &["..", "..", "cdr"]) else {
        panic!("../../cdr")
    };
    assert_eq!(via_up.last(), own.last());

    // Forged fids.
    for body in [
        Fcall::Twalk {
            fid: Fid(999),
            newfid: Fid(1000),
            wnames: WalkNames::new(),
        },
        Fcall::Tread {
            fid: Fid(3),
            offset: 0,
            count: 100,
        },
        Fcall::Tread {
            fid: Fid(12345),
            offset: 0,
            count: 100,
        },
        Fcall::Tclunk { fid: Fid(4242) },
    ] {
        let r = c.rpc(body);
        assert!(is_error(&r), "{r:?}");
    }
    // A fid in use cannot be attached over.
    let r = c.attach(3, 11, "user0@127.0.0.1");
    assert!(is_error(&r), "{r:?}");

    // A truncated message: a Twalk that announces two names and carries none.
    let mut bytes = Vec::new();
    let body: [u8; 10] = [1, 0, 0, 0, 9, 0, 0, 0, 2, 0];
    bytes.extend_from_slice(&(4u32 + 1 + 2 + body.len() as u32).to_le_bytes());
    bytes.push(ninep::msg::mtype::TWALK);
    bytes.extend_from_slice(&77u16.to_le_bytes());
    bytes.extend_from_slice(&body);
    c.send_raw(&bytes);
    let r = c.recv().expect("an answer to a truncated message");
    assert!(is_error(&r), "{r:?}");
    // The connection still works.
    let r = c.walk(3, 8, &["presence"]);
    assert!(matches!(r, Reply::Walk(ref q) if q.len() == 1), "{r:?}");

    // A message larger than msize: that connection is closed.
    let mut big = (msize + 1).to_le_bytes().to_vec();
    big.extend_from_slice(&[ninep::msg::mtype::TWRITE, 1, 0]);
    c.send_raw(&big);
    assert!(c.recv().is_none(), "connection closed");

    // Everyone else is still served.
    let (mut other, _) = Conn::open(server.ninep, 8192);
    let r = other.auth(1, "user1@127.0.0.1", "pw1");
    assert!(matches!(r, Reply::Other), "{r:?}");
    let r = other.attach(2, 1, "user1@127.0.0.1");
    assert!(matches!(r, Reply::Qid(_)), "{r:?}");
}
