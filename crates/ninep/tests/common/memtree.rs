//! A small in-memory [`FileTree`] for the session tests and the `ninep_decode` fuzz target:
//!
//! ```text
//! /                 DMDIR|0775 adm
//!     big/          DMDIR|0555 adm, N read-only files f0000.. (N given to MemTree::new)
//!     readonly      0444 adm        "read only\n"
//!     writeonly     0222 adm        (write-only: reads are refused by the mode bits)
//!     pipe          0666 adm        reads pend until MemTree::push gives a packet
//!     home/         DMDIR|0777 adm  (for create, remove, wstat)
//!     users/        DMDIR|0555 adm
//!         alice/    DMDIR|0755 alice, with a file "notes" 0644 alice
//!         bob/      DMDIR|0755 bob
//! ```
//!
//! Authentication: the afid reads "challenge <uname>\n"; writing "secret\n" validates it,
//! anything else fails the write and kills the afid. An attach with a validated afid gets
//! `/users/<uname>/` (the operator "adm" gets `/`); on a trusted connection an attach with
//! NOFID is the operator whatever the uname; on an untrusted one it is refused.
//!
//! Every call the session makes that ends something (clunk, cancel, remove, auth_clunk) is
//! logged, so tests can check the tree was told.

#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};

use ninep::msg::{DMAPPEND, DMDIR, OTRUNC, QTAUTH, QTDIR};
use ninep::{Attached, DirWriter, FileTree, FsError, Qid, Read, Stat, Tag, Wstat};

/// Where a connection comes from.
#[derive(Debug, Clone, Copy)]
pub struct MemConn {
    /// The local Unix socket: NOFID attaches are the operator.
    pub trusted: bool,
}

#[derive(Debug)]
pub struct MemFile {
    pub name: String,
    pub parent: u64,
    pub mode: u32,
    pub uid: String,
    pub gid: String,
    pub mtime: u32,
    pub version: u32,
    pub content: Vec<u8>,
    pub children: BTreeMap<String, u64>,
    /// A packet file: reads take one packet each, or pend.
    pub packets: Option<VecDeque<Vec<u8>>>,
}

#[derive(Debug)]
pub struct MemHandle {
    pub path: u64,
    pub mode: u8,
}

#[derive(Debug)]
pub struct MemAuth {
    pub uname: String,
    pub ok: bool,
    pub dead: bool,
}

/// What the tree heard of the end of things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Clunk { path: u64, open: bool },
    Cancel { path: u64, tag: Tag },
    Remove { path: u64 },
    AuthClunk { uname: String },
}

#[derive(Debug)]
pub struct MemTree {
    pub files: HashMap<u64, MemFile>,
    next_path: u64,
    pub events: Vec<Event>,
    /// Reads that answered Pending and were not cancelled or answered since (by tag).
    pub waiting: Vec<Tag>,
}

pub const ROOT: u64 = 0;
pub const OPERATOR: &str = "adm";

impl MemTree {
    /// The tree above with `n` files in `big/`.
    pub fn new(n: usize) -> MemTree {
        let mut t = MemTree {
            files: HashMap::new(),
            next_path: 0,
            events: Vec::new(),
            waiting: Vec::new(),
        };
        let root = t.add(ROOT, "/", DMDIR | 0o775, OPERATOR);
        let big = t.add(root, "big", DMDIR | 0o555, OPERATOR);
        for i in 0..n {
            let f = t.add(big, &format!("f{i:04}"), 0o444, OPERATOR);
            t.file_mut(f).content = format!("file {i}\n").into_bytes();
        }
        let ro = t.add(root, "readonly", 0o444, OPERATOR);
        t.file_mut(ro).content = b"read only\n".to_vec();
        t.add(root, "writeonly", 0o222, OPERATOR);
        let pipe = t.add(root, "pipe", 0o666, OPERATOR);
        t.file_mut(pipe).packets = Some(VecDeque::new());
        t.add(root, "home", DMDIR | 0o777, OPERATOR);
        let users = t.add(root, "users", DMDIR | 0o555, OPERATOR);
        let alice = t.add(users, "alice", DMDIR | 0o755, "alice");
        let notes = t.add(alice, "notes", 0o644, "alice");
        t.file_mut(notes).content = b"alice's notes\n".to_vec();
        t.add(users, "bob", DMDIR | 0o755, "bob");
        t
    }

    fn add(&mut self, parent: u64, name: &str, mode: u32, owner: &str) -> u64 {
        let path = self.next_path;
        self.next_path += 1;
        self.files.insert(
            path,
            MemFile {
                name: name.to_owned(),
                parent,
                mode,
                uid: owner.to_owned(),
                gid: owner.to_owned(),
                mtime: 0,
                version: 0,
                content: Vec::new(),
                children: BTreeMap::new(),
                packets: None,
            },
        );
        if path != parent
            && let Some(p) = self.files.get_mut(&parent)
        {
            p.children.insert(name.to_owned(), path);
        }
        path
    }

    fn file_mut(&mut self, path: u64) -> &mut MemFile {
        self.files.get_mut(&path).expect("file just added")
    }

    /// The qid path of a file by its absolute path ("/users/alice").
    pub fn lookup(&self, path: &str) -> Option<u64> {
        let mut cur = ROOT;
        for name in path.split('/').filter(|n| !n.is_empty()) {
            cur = *self.files.get(&cur)?.children.get(name)?;
        }
        Some(cur)
    }

    /// A packet for the pipe's readers. Returns whether the pipe exists.
    pub fn push(&mut self, data: &[u8]) -> bool {
        let Some(pipe) = self.lookup("/pipe") else {
            return false;
        };
        match self.files.get_mut(&pipe).and_then(|f| f.packets.as_mut()) {
            Some(q) => {
                q.push_back(data.to_vec());
                true
            }
            None => false,
        }
    }

    fn get(&self, path: u64) -> Result<&MemFile, FsError> {
        self.files.get(&path).ok_or(FsError::NotFound)
    }

    fn stat_of(&self, path: u64) -> Result<Stat<'_>, FsError> {
        let f = self.get(path)?;
        Ok(Stat {
            ty: 0,
            dev: 0,
            qid: self.qid_of(path),
            mode: f.mode,
            atime: f.mtime,
            mtime: f.mtime,
            length: if f.mode & DMDIR != 0 {
                0
            } else {
                f.content.len() as u64
            },
            name: Cow::Borrowed(&f.name),
            uid: Cow::Borrowed(&f.uid),
            gid: Cow::Borrowed(&f.gid),
            muid: Cow::Borrowed(""),
        })
    }

    fn qid_of(&self, path: u64) -> Qid {
        match self.files.get(&path) {
            Some(f) => Qid {
                ty: (f.mode >> 24) as u8,
                version: f.version,
                path,
            },
            // A removed file keeps its path; its type is unknown now.
            None => Qid {
                ty: 0,
                version: 0,
                path,
            },
        }
    }
}

impl FileTree for MemTree {
    type Node = u64;
    type Handle = MemHandle;
    type Auth = MemAuth;
    type Conn = MemConn;

    fn auth(
        &mut self,
        _conn: &MemConn,
        uname: &str,
        _aname: &str,
    ) -> Result<(MemAuth, Qid), FsError> {
        let path = self.next_path;
        self.next_path += 1;
        let auth = MemAuth {
            uname: uname.to_owned(),
            ok: false,
            dead: false,
        };
        Ok((
            auth,
            Qid {
                ty: QTAUTH,
                version: 0,
                path,
            },
        ))
    }

    fn auth_read(
        &mut self,
        auth: &mut MemAuth,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, FsError> {
        if auth.dead {
            return Err(FsError::AuthFailed);
        }
        let text = format!("challenge {}\n", auth.uname);
        let rest = usize::try_from(offset)
            .ok()
            .and_then(|o| text.as_bytes().get(o..))
            .unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    fn auth_write(
        &mut self,
        auth: &mut MemAuth,
        _offset: u64,
        data: &[u8],
    ) -> Result<u32, FsError> {
        if auth.dead || data != b"secret\n" {
            auth.dead = true;
            auth.ok = false;
            return Err(FsError::AuthFailed);
        }
        auth.ok = true;
        Ok(data.len() as u32)
    }

    fn auth_clunk(&mut self, auth: MemAuth) {
        self.events.push(Event::AuthClunk { uname: auth.uname });
    }

    fn attach(
        &mut self,
        conn: &MemConn,
        auth: Option<&mut MemAuth>,
        uname: &str,
        _aname: &str,
    ) -> Result<Attached<u64>, FsError> {
        match auth {
            None if conn.trusted => Ok(Attached {
                root: ROOT,
                user: OPERATOR.to_owned(),
            }),
            None => Err(FsError::AuthRequired),
            Some(a) if a.ok && !a.dead => {
                if uname == OPERATOR {
                    return Ok(Attached {
                        root: ROOT,
                        user: OPERATOR.to_owned(),
                    });
                }
                let root = self
                    .lookup(&format!("/users/{uname}"))
                    .ok_or(FsError::BadAname)?;
                Ok(Attached {
                    root,
                    user: uname.to_owned(),
                })
            }
            Some(_) => Err(FsError::AuthFailed),
        }
    }

    fn qid(&mut self, node: &u64) -> Qid {
        self.qid_of(*node)
    }

    fn stat(&mut self, node: &u64) -> Result<Stat<'_>, FsError> {
        self.stat_of(*node)
    }

    fn walk1(&mut self, dir: &u64, name: &str) -> Result<u64, FsError> {
        let d = self.get(*dir)?;
        if d.mode & DMDIR == 0 {
            return Err(FsError::NotDir);
        }
        d.children.get(name).copied().ok_or(FsError::NotFound)
    }

    fn list(&mut self, dir: &u64, out: &mut DirWriter<'_>) -> Result<(), FsError> {
        let d = self.get(*dir)?;
        for &child in d.children.values() {
            let st = self.stat_of(child)?;
            out.push(&st).map_err(|e| FsError::other(e.to_string()))?;
        }
        Ok(())
    }

    fn open(&mut self, node: &u64, mode: u8, _user: &str) -> Result<MemHandle, FsError> {
        let f = self.files.get_mut(node).ok_or(FsError::NotFound)?;
        if mode & OTRUNC != 0 && f.mode & DMAPPEND == 0 {
            f.content.clear();
            f.version += 1;
        }
        Ok(MemHandle { path: *node, mode })
    }

    fn create(
        &mut self,
        dir: &u64,
        name: &str,
        perm: u32,
        mode: u8,
        user: &str,
    ) -> Result<(u64, MemHandle), FsError> {
        let d = self.get(*dir)?;
        if d.children.contains_key(name) {
            return Err(FsError::Exists);
        }
        let path = self.add(*dir, name, perm, user);
        Ok((path, MemHandle { path, mode }))
    }

    fn read(
        &mut self,
        handle: &mut MemHandle,
        tag: Tag,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<Read, FsError> {
        // Answered or failed now: no longer waiting (Pending below adds it back).
        self.waiting.retain(|&t| t != tag);
        let f = self.files.get_mut(&handle.path).ok_or(FsError::NotFound)?;
        if let Some(q) = f.packets.as_mut() {
            return Ok(match q.pop_front() {
                Some(p) => {
                    // One whole packet per read; what does not fit is dropped.
                    let n = p.len().min(buf.len());
                    buf[..n].copy_from_slice(&p[..n]);
                    Read::Ready(n)
                }
                None => {
                    if !self.waiting.contains(&tag) {
                        self.waiting.push(tag);
                    }
                    Read::Pending
                }
            });
        }
        let rest = usize::try_from(offset)
            .ok()
            .and_then(|o| f.content.get(o..))
            .unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(Read::Ready(n))
    }

    fn write(&mut self, handle: &mut MemHandle, offset: u64, data: &[u8]) -> Result<u32, FsError> {
        let f = self.files.get_mut(&handle.path).ok_or(FsError::NotFound)?;
        if f.packets.is_some() {
            return Ok(data.len() as u32);
        }
        let at = if f.mode & DMAPPEND != 0 {
            f.content.len()
        } else {
            usize::try_from(offset).map_err(|_| FsError::BadArg)?
        };
        // Keep the fuzzer from growing files without bound.
        let end = at
            .checked_add(data.len())
            .filter(|&e| e <= 1 << 20)
            .ok_or(FsError::BadArg)?;
        if f.content.len() < end {
            f.content.resize(end, 0);
        }
        f.content[at..end].copy_from_slice(data);
        f.version += 1;
        Ok(data.len() as u32)
    }

    fn cancel(&mut self, handle: &mut MemHandle, tag: Tag) {
        self.waiting.retain(|&t| t != tag);
        self.events.push(Event::Cancel {
            path: handle.path,
            tag,
        });
    }

    fn clunk(&mut self, node: u64, handle: Option<MemHandle>) {
        self.events.push(Event::Clunk {
            path: node,
            open: handle.is_some(),
        });
    }

    fn remove(&mut self, node: &u64, _user: &str) -> Result<(), FsError> {
        let f = self.get(*node)?;
        if !f.children.is_empty() {
            return Err(FsError::other("directory not empty"));
        }
        if *node == ROOT {
            return Err(FsError::PermissionDenied);
        }
        let (parent, name) = (f.parent, f.name.clone());
        self.files.remove(node);
        if let Some(p) = self.files.get_mut(&parent) {
            p.children.remove(&name);
        }
        self.events.push(Event::Remove { path: *node });
        Ok(())
    }

    fn wstat(&mut self, node: &u64, changes: &Wstat<'_>, _user: &str) -> Result<(), FsError> {
        // All or nothing: check everything first.
        let f = self.get(*node)?;
        let parent = f.parent;
        if let Some(name) = changes.name {
            let siblings = &self.get(parent)?.children;
            if siblings.contains_key(name) {
                return Err(FsError::Exists);
            }
        }
        if changes.length.is_some_and(|l| l > 1 << 20) {
            return Err(FsError::BadArg);
        }
        let old_name = f.name.clone();
        let f = self.files.get_mut(node).ok_or(FsError::NotFound)?;
        if let Some(mode) = changes.mode {
            f.mode = mode;
        }
        if let Some(mtime) = changes.mtime {
            f.mtime = mtime;
        }
        if let Some(length) = changes.length {
            f.content.resize(length as usize, 0);
        }
        if let Some(gid) = changes.gid {
            f.gid = gid.to_owned();
        }
        if let Some(name) = changes.name {
            f.name = name.to_owned();
            if let Some(p) = self.files.get_mut(&parent) {
                p.children.remove(&old_name);
                p.children.insert(name.to_owned(), *node);
            }
        }
        Ok(())
    }
}

/// Whether a qid is a directory's (for readability in tests).
pub fn is_dir(q: &Qid) -> bool {
    q.ty & QTDIR != 0
}
