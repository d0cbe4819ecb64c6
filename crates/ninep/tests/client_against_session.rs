//! The client core and the server session talk to each other: every request the client
//! builds is understood, every reply is matched, and fids and tags come out even.

mod common;

use common::{MemConn, MemTree};
use ninep::client::{Client, Reply};
use ninep::frame::{self, Frame};
use ninep::msg::{DirEntries, Fcall, ORDWR, OREAD, Stat};
use ninep::server::{Config, Session};

struct Pair {
    client: Client,
    session: Session<MemTree>,
    tree: MemTree,
    wire: Vec<u8>,
}

impl Pair {
    fn new(trusted: bool) -> Pair {
        Pair {
            client: Client::new(65536),
            session: Session::new(MemConn { trusted }, Config::default()),
            tree: MemTree::new(50),
            wire: Vec::new(),
        }
    }

    /// Delivers what the client wrote and returns the replies, matched. The bytes are leaked
    /// so that the replies can borrow them for the rest of the test.
    fn exchange(&mut self) -> Vec<Reply<'static>> {
        let mut input = std::mem::take(&mut self.wire);
        while let Frame::Message(n) = frame::check(&input, self.session.msize()) {
            self.session.handle(&mut self.tree, &input[..n]);
            input.drain(..n);
        }
        assert!(input.is_empty(), "client wrote a partial frame");
        self.replies()
    }

    fn replies(&mut self) -> Vec<Reply<'static>> {
        let out: &'static [u8] = Box::leak(self.session.output().to_vec().into_boxed_slice());
        self.session.clear_output();
        let mut rest = out;
        let mut replies = Vec::new();
        while let Frame::Message(n) = frame::check(rest, self.client.msize()) {
            let (one, tail) = rest.split_at(n);
            replies.push(self.client.handle(one).expect("a reply the client expects"));
            rest = tail;
        }
        assert!(rest.is_empty());
        replies
    }

    fn one(&mut self) -> Fcall<'static> {
        let mut r = self.exchange();
        assert_eq!(r.len(), 1, "{r:?}");
        r.remove(0).body
    }
}

#[test]
fn version_auth_attach_walk_read_write_stat_and_clunk() {
    let mut p = Pair::new(false);
    p.client.version(&mut p.wire).expect("version");
    assert!(matches!(
        p.one(),
        Fcall::Rversion {
            msize: 65536,
            version: "9P2000"
        }
    ));

    let (_, afid) = p.client.auth("alice", "", &mut p.wire).expect("auth");
    assert!(matches!(p.one(), Fcall::Rauth { .. }));
    p.client.read(afid, 0, 100, &mut p.wire).expect("read afid");
    assert_eq!(
        p.one(),
        Fcall::Rread {
            data: b"challenge alice\n"
        }
    );
    p.client
        .write(afid, 0, b"secret\n", &mut p.wire)
        .expect("write afid");
    assert_eq!(p.one(), Fcall::Rwrite { count: 7 });
    let (_, root) = p
        .client
        .attach(Some(afid), "alice", "", &mut p.wire)
        .expect("attach");
    assert!(matches!(p.one(), Fcall::Rattach { .. }));

    let (_, notes) = p.client.walk(root, &["notes"], &mut p.wire).expect("walk");
    assert!(matches!(p.one(), Fcall::Rwalk { .. }));
    p.client.open(notes, ORDWR, &mut p.wire).expect("open");
    assert!(matches!(p.one(), Fcall::Ropen { .. }));
    p.client
        .write(notes, 0, b"ALICE", &mut p.wire)
        .expect("write");
    assert_eq!(p.one(), Fcall::Rwrite { count: 5 });
    p.client.read(notes, 0, 1000, &mut p.wire).expect("read");
    assert_eq!(
        p.one(),
        Fcall::Rread {
            data: b"ALICE's notes\n"
        }
    );
    p.client.stat(notes, &mut p.wire).expect("stat");
    let Fcall::Rstat { stat } = p.one() else {
        panic!()
    };
    assert_eq!((stat.name.as_ref(), stat.uid.as_ref()), ("notes", "alice"));

    // A walk that fails part-way: the client frees the new fid as the server never made it.
    let (_, gone) = p
        .client
        .walk(root, &["..", "nope"], &mut p.wire)
        .expect("walk");
    let Fcall::Rwalk { wqids } = p.one() else {
        panic!()
    };
    assert_eq!(wqids.len(), 1);
    assert!(p.client.stat(gone, &mut p.wire).is_err());

    for fid in [notes, root, afid] {
        p.client.clunk(fid, &mut p.wire).expect("clunk");
    }
    assert_eq!(p.exchange().len(), 3);
    assert_eq!(p.client.live_fids(), 0);
    assert_eq!(p.client.outstanding(), 0);
    assert_eq!(p.session.counters(), Default::default());
}

#[test]
fn directory_listing_through_the_client() {
    let mut p = Pair::new(true);
    p.client.version(&mut p.wire).expect("version");
    p.one();
    let (_, root) = p
        .client
        .attach(None, "glenda", "", &mut p.wire)
        .expect("attach");
    p.one();
    let (_, big) = p.client.walk(root, &["big"], &mut p.wire).expect("walk");
    p.one();
    p.client.open(big, OREAD, &mut p.wire).expect("open");
    p.one();
    let mut offset = 0;
    let mut names = Vec::new();
    loop {
        p.client.read(big, offset, 512, &mut p.wire).expect("read");
        let Fcall::Rread { data } = p.one() else {
            panic!()
        };
        if data.is_empty() {
            break;
        }
        offset += data.len() as u64;
        let entries: Vec<Stat<'_>> = DirEntries::new(data)
            .collect::<Result<_, _>>()
            .expect("entries");
        names.extend(entries.into_iter().map(|s| s.name.into_owned()));
    }
    assert_eq!(names.len(), 50);
    assert_eq!(names[49], "f0049");
}

#[test]
fn flush_of_a_blocked_read_through_the_client() {
    let mut p = Pair::new(true);
    p.client.version(&mut p.wire).expect("version");
    p.one();
    let (_, root) = p
        .client
        .attach(None, "glenda", "", &mut p.wire)
        .expect("attach");
    p.one();
    let (_, pipe) = p.client.walk(root, &["pipe"], &mut p.wire).expect("walk");
    p.one();
    p.client.open(pipe, OREAD, &mut p.wire).expect("open");
    p.one();
    let rtag = p.client.read(pipe, 0, 100, &mut p.wire).expect("read");
    assert!(p.exchange().is_empty());
    let ftag = p.client.flush(rtag, &mut p.wire).expect("flush");
    let r = p.exchange();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].tag, &r[0].body), (ftag, &Fcall::Rflush));
    assert_eq!(p.client.outstanding(), 0);
    // Data that comes later goes nowhere; the next read gets it.
    p.tree.push(b"pkt");
    p.session.retry_pending(&mut p.tree);
    assert!(p.replies().is_empty());
    p.client.read(pipe, 0, 100, &mut p.wire).expect("read");
    assert_eq!(p.one(), Fcall::Rread { data: b"pkt" });
}
