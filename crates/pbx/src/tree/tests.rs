//! Directory listings of the tree: the cached listings of big directories show a change of
//! the directory at once.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use media::testing::FakeMedia;
use ninep::msg::{DirEntries, Qid};
use ninep::{DirWriter, FileTree, FsError, Read};

use super::{Backend, Env, Node, Taps, Tree, TreeFs};
use crate::calls::Command;
use crate::capture::CaptureHub;
use crate::cdr::CdrQuery;
use crate::directory::{Domain, Secret, User};
use crate::guard::GuardConfig;
use crate::registrar::State;

/// A backend nothing in these tests calls.
struct NoBackend;

impl Backend for NoBackend {
    fn create_domain(&self, _: Domain) -> Result<(), FsError> {
        Err(FsError::Io)
    }
    fn delete_domain(&self, _: &str) -> Result<(), FsError> {
        Err(FsError::Io)
    }
    fn create_user(&self, _: &str, _: User) -> Result<(), FsError> {
        Err(FsError::Io)
    }
    fn replace_user(&self, _: &str, _: User) -> Result<(), FsError> {
        Err(FsError::Io)
    }
    fn delete_user(&self, _: &str, _: &str) -> Result<(), FsError> {
        Err(FsError::Io)
    }
    fn cdr_days(&self, _: &str, _: Option<&str>) -> Result<Vec<u64>, FsError> {
        Ok(Vec::new())
    }
    fn cdrs(&self, _: &CdrQuery) -> Result<crate::CdrPage, FsError> {
        Err(FsError::Io)
    }
    fn command(&self, _: Command) -> Result<(), FsError> {
        Err(FsError::Io)
    }
    fn request(
        &self,
        _: Command,
        _: std::sync::mpsc::Receiver<Result<(), String>>,
    ) -> Result<(), String> {
        Err("no call manager".into())
    }
}

struct FixedEnv;

impl Env for FixedEnv {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn unix(&self) -> u64 {
        1_700_000_000
    }
    fn random(&self) -> [u8; 16] {
        [7; 16]
    }
}

fn user(name: &str) -> User {
    User {
        name: name.to_owned(),
        secret: Secret {
            md5: "a".into(),
            sha256: "b".into(),
        },
    }
}

/// A tree whose domain `big.example` has `users` extensions `u0`.., and `domains` more
/// domains `d0.example`...
fn tree(users: usize, domains: usize) -> (Arc<State>, TreeFs) {
    let state = Arc::new(State::default());
    {
        let mut dir = state.directory.write().expect("lock");
        let list = (0..users).map(|i| user(&format!("u{i}"))).collect();
        dir.put_domain(Domain::new("big.example"), Some(list));
        for i in 0..domains {
            dir.put_domain(Domain::new(&format!("d{i}.example")), Some(Vec::new()));
        }
    }
    let taps = Taps {
        media: Arc::new(FakeMedia::new()),
        capture: CaptureHub::new(),
        sip: None,
    };
    let tree = Tree::new(
        Arc::clone(&state),
        Arc::new(RwLock::new(Default::default())),
        Arc::new(NoBackend),
        Arc::new(FixedEnv),
        taps,
        GuardConfig::default(),
    );
    (state, tree.connection(Arc::new(|| {})))
}

/// The names and qids a directory read of `dir` returns.
fn list(fs: &mut TreeFs, dir: &Node) -> Result<Vec<(String, Qid)>, FsError> {
    let mut buf = Vec::new();
    fs.list(dir, &mut DirWriter::new(&mut buf))?;
    Ok(DirEntries::new(&buf)
        .map(|e| {
            let e = e.expect("entry decodes");
            (e.name.to_string(), e.qid)
        })
        .collect())
}

fn domain(fs: &mut TreeFs, name: &str) -> Node {
    fs.walk1(&Node::Root, name).expect("domain")
}

fn names(entries: &[(String, Qid)]) -> Vec<&str> {
    entries.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn a_big_domain_lists_the_same_as_built_afresh_every_time() {
    let (_state, mut fs) = tree(200, 0);
    let d = domain(&mut fs, "big.example");
    let first = list(&mut fs, &d).expect("list");
    assert_eq!(first.len(), 202);
    assert_eq!(names(&first)[..3], ["cdr", "call_recordings", "u0"]);
    let mut fresh = Vec::new();
    fs.tree
        .encode_listing(&d, &mut DirWriter::new(&mut fresh))
        .expect("encode");
    for _ in 0..3 {
        let mut again = Vec::new();
        fs.list(&d, &mut DirWriter::new(&mut again)).expect("list");
        assert_eq!(again, fresh);
    }
}

#[test]
fn a_user_created_or_removed_is_in_the_next_listing() {
    let (state, mut fs) = tree(100, 0);
    let d = domain(&mut fs, "big.example");
    assert_eq!(list(&mut fs, &d).expect("list").len(), 102);

    state
        .directory
        .write()
        .expect("lock")
        .put_user("big.example", user("new"));
    let after = list(&mut fs, &d).expect("list");
    assert_eq!(after.len(), 103);
    assert!(names(&after).contains(&"new"));

    assert!(
        state
            .directory
            .write()
            .expect("lock")
            .remove_user("big.example", "u7")
    );
    let after = list(&mut fs, &d).expect("list");
    assert_eq!(after.len(), 102);
    assert!(!names(&after).contains(&"u7"));
}

#[test]
fn a_user_removed_and_made_again_is_listed_as_a_new_file() {
    let (state, mut fs) = tree(100, 0);
    let d = domain(&mut fs, "big.example");
    let qid_of = |entries: &[(String, Qid)], name: &str| {
        entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, q)| *q)
            .expect(name)
    };
    let before = qid_of(&list(&mut fs, &d).expect("list"), "u5");
    {
        let mut dir = state.directory.write().expect("lock");
        dir.remove_user("big.example", "u5");
        dir.put_user("big.example", user("u5"));
    }
    // Same number of users, same names: only the serial tells the new u5 from the old.
    let after = list(&mut fs, &d).expect("list");
    assert_eq!(after.len(), 102);
    assert_ne!(qid_of(&after, "u5"), before);
}

#[test]
fn a_domain_made_again_is_another_directory() {
    let (state, mut fs) = tree(100, 0);
    let old = domain(&mut fs, "big.example");
    assert_eq!(list(&mut fs, &old).expect("list").len(), 102);
    {
        let mut dir = state.directory.write().expect("lock");
        dir.remove_domain("big.example");
        let users = (0..100).map(|i| user(&format!("u{i}"))).collect();
        dir.put_domain(Domain::new("big.example"), Some(users));
    }
    assert!(matches!(list(&mut fs, &old), Err(FsError::NotFound)));
    let new = domain(&mut fs, "big.example");
    let entries = list(&mut fs, &new).expect("list");
    assert_eq!(entries.len(), 102);
    assert_ne!(new.qid(), old.qid());
}

#[test]
fn a_domain_created_or_removed_is_in_the_next_root_listing() {
    let (state, mut fs) = tree(0, 100);
    assert_eq!(list(&mut fs, &Node::Root).expect("list").len(), 101);
    state
        .directory
        .write()
        .expect("lock")
        .put_domain(Domain::new("zz.example"), Some(Vec::new()));
    let after = list(&mut fs, &Node::Root).expect("list");
    assert_eq!(after.len(), 102);
    assert_eq!(names(&after).last(), Some(&"zz.example"));
    assert!(
        state
            .directory
            .write()
            .expect("lock")
            .remove_domain("d3.example")
    );
    let after = list(&mut fs, &Node::Root).expect("list");
    assert_eq!(after.len(), 101);
    assert!(!names(&after).contains(&"d3.example"));
}

#[test]
fn small_directories_change_at_once_too() {
    let (state, mut fs) = tree(3, 0);
    let d = domain(&mut fs, "big.example");
    assert_eq!(list(&mut fs, &d).expect("list").len(), 5);
    state
        .directory
        .write()
        .expect("lock")
        .put_user("big.example", user("new"));
    assert_eq!(list(&mut fs, &d).expect("list").len(), 6);
}

#[test]
fn the_cache_keeps_a_bounded_number_of_listings() {
    let (state, mut fs) = tree(0, 0);
    {
        let mut dir = state.directory.write().expect("lock");
        for i in 0..(super::LISTING_CACHE_DIRS + 4) {
            let users = (0..super::LISTING_CACHE_MIN)
                .map(|k| user(&format!("u{k}")))
                .collect();
            dir.put_domain(Domain::new(&format!("big{i}.example")), Some(users));
        }
    }
    for i in 0..(super::LISTING_CACHE_DIRS + 4) {
        let d = domain(&mut fs, &format!("big{i}.example"));
        assert_eq!(
            list(&mut fs, &d).expect("list").len(),
            super::LISTING_CACHE_MIN + 2
        );
    }
    let cached = super::lock(&fs.tree.listings).lru.len();
    assert_eq!(cached, super::LISTING_CACHE_DIRS);
}

/// An environment whose clock the test moves.
struct MovingEnv(std::sync::Mutex<Instant>);

impl Env for MovingEnv {
    fn now(&self) -> Instant {
        *self.0.lock().expect("lock")
    }
    fn unix(&self) -> u64 {
        1_700_000_000
    }
    fn random(&self) -> [u8; 16] {
        [7; 16]
    }
}

#[test]
fn a_hep_sock_still_gets_the_calls_last_sip_for_a_while_after_it_ended() {
    let start = Instant::now();
    let env = Arc::new(MovingEnv(std::sync::Mutex::new(start)));
    let tree = Tree::new(
        Arc::new(State::default()),
        Arc::new(RwLock::new(Default::default())),
        Arc::new(NoBackend),
        Arc::clone(&env) as Arc<dyn Env>,
        Taps {
            media: Arc::new(FakeMedia::new()),
            capture: CaptureHub::new(),
            sip: None,
        },
        GuardConfig::default(),
    );
    let socket = |leg| super::Socket {
        // No live call of this id: the call is over.
        call: "gone".into(),
        session: media::SessionId(1),
        leg,
        queue: media::PacketQueue::unwoken(4),
        too_big: Arc::default(),
        taps: Vec::new(),
        _sip: Vec::new(),
        ended: None,
    };
    let mut buf = [0u8; 64];

    // hep.sock: the 200 to the PBX's BYE comes after the call ended, and is read.
    let mut hep = socket(None);
    assert!(matches!(
        tree.read_socket(&mut hep, &mut buf),
        Read::Pending
    ));
    *env.0.lock().expect("lock") = start + Duration::from_millis(500);
    hep.queue.push(b"SIP/2.0 200 OK");
    assert!(matches!(
        tree.read_socket(&mut hep, &mut buf),
        Read::Ready(14)
    ));
    assert!(matches!(
        tree.read_socket(&mut hep, &mut buf),
        Read::Pending
    ));
    // Then end of file, counted from when the end was first seen.
    *env.0.lock().expect("lock") = start + Duration::from_secs(2);
    assert!(matches!(
        tree.read_socket(&mut hep, &mut buf),
        Read::Ready(0)
    ));

    // An RTP socket ends at once.
    let mut rtp = socket(Some(media::Leg::A));
    assert!(matches!(
        tree.read_socket(&mut rtp, &mut buf),
        Read::Ready(0)
    ));
}
