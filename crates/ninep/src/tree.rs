//! The file tree a [`crate::server::Session`] serves: the trait the application implements,
//! and the small types it uses.
//!
//! The session owns the protocol (fids, tags, msize, walks above the root, open modes, mode
//! bits, directory reads, flushes); the tree owns the files. Every method is synchronous; a
//! read that has no data yet answers [`Read::Pending`] and is asked again later.

use std::borrow::Cow;

use crate::error::{EncodeError, FsError};
use crate::msg::{Qid, Stat, Tag};

/// A file tree served over 9P2000.
///
/// Contract:
/// - qid paths are unique among the tree's files and never reused, even after a remove;
/// - a `Node` is a value (cheap to clone) that names a file; the session clones it into fids
///   and tells the tree when each fid ends with [`FileTree::clunk`]. A node whose file has gone
///   must still answer [`FileTree::qid`], and fail the other calls;
/// - `..` never reaches the tree: the session walks up itself and stops at the attach's root,
///   so nothing above the root is reachable whatever the tree does. `.` is a name like any
///   other (refuse it);
/// - the session checks open modes and the stat's mode bits for the attach's user before
///   [`FileTree::open`], [`FileTree::create`], [`FileTree::remove`] and
///   [`FileTree::wstat`]; the tree may refuse more;
/// - the tree enforces exclusive use (`DMEXCL`) and append-only offsets (`DMAPPEND`).
pub trait FileTree {
    /// A file.
    type Node: Clone;
    /// The state of one open of a file (a packet queue, a snapshot of its content...).
    type Handle;
    /// The state of one authentication file (afid): the exchange so far, and its outcome.
    type Auth;
    /// What the driver knows of the connection (trusted Unix socket or TCP, the peer's
    /// address), given once to [`crate::server::Session::new`] and passed to
    /// [`FileTree::auth`] and [`FileTree::attach`].
    type Conn;

    /// Tauth: starts an authentication file for (uname, aname). The qid gets `QTAUTH` added.
    /// A tree that needs no authentication answers [`FsError::AuthNotRequired`].
    fn auth(
        &mut self,
        conn: &Self::Conn,
        uname: &str,
        aname: &str,
    ) -> Result<(Self::Auth, Qid), FsError>;

    /// Tread on an afid (no Topen needed): the next bytes of the exchange.
    fn auth_read(
        &mut self,
        auth: &mut Self::Auth,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, FsError>;

    /// Twrite on an afid: the client's part of the exchange. Answers the count taken.
    fn auth_write(
        &mut self,
        auth: &mut Self::Auth,
        offset: u64,
        data: &[u8],
    ) -> Result<u32, FsError>;

    /// The afid is clunked (or the session reset).
    fn auth_clunk(&mut self, auth: Self::Auth) {
        let _ = auth;
    }

    /// Tattach: decides whether (conn, afid state, uname, aname) may attach, and to which root
    /// and as which user. `auth` is `None` for afid NOFID; otherwise its Tauth had the same
    /// uname and aname (the session checked).
    fn attach(
        &mut self,
        conn: &Self::Conn,
        auth: Option<&mut Self::Auth>,
        uname: &str,
        aname: &str,
    ) -> Result<Attached<Self::Node>, FsError>;

    /// The node's qid (also for a node whose file has gone).
    fn qid(&mut self, node: &Self::Node) -> Qid;

    /// The node's directory entry.
    fn stat(&mut self, node: &Self::Node) -> Result<Stat<'_>, FsError>;

    /// One step of a walk: the child `name` of the directory `dir`. Never `..`; never a name
    /// with `/`.
    fn walk1(&mut self, dir: &Self::Node, name: &str) -> Result<Self::Node, FsError>;

    /// The entries of a directory, for a read at offset 0: push each one to `out`.
    fn list(&mut self, dir: &Self::Node, out: &mut DirWriter<'_>) -> Result<(), FsError>;

    /// Topen: the session has checked the mode against the stat for `user`.
    fn open(&mut self, node: &Self::Node, mode: u8, user: &str) -> Result<Self::Handle, FsError>;

    /// Tcreate: a new file `name` in `dir` with the permissions already masked by the
    /// directory's (open(5)), owned by `user`, opened with `mode`. The session has checked write
    /// permission in `dir` and the name (not empty, `.`, `..`, nor with `/`).
    fn create(
        &mut self,
        dir: &Self::Node,
        name: &str,
        perm: u32,
        mode: u8,
        user: &str,
    ) -> Result<(Self::Node, Self::Handle), FsError>;

    /// Tread on an open file (not a directory: the session reads those from
    /// [`FileTree::list`]). Fill the front of `buf` (its length is the count, capped to
    /// msize - IOHDRSZ) and say how much, or say [`Read::Pending`]: the session keeps the read
    /// and asks again on [`crate::server::Session::retry_pending`], or tells
    /// [`FileTree::cancel`] when it is flushed.
    fn read(
        &mut self,
        handle: &mut Self::Handle,
        tag: Tag,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<Read, FsError>;

    /// Twrite on a file open for writing. Answers the count written.
    fn write(
        &mut self,
        handle: &mut Self::Handle,
        offset: u64,
        data: &[u8],
    ) -> Result<u32, FsError>;

    /// A pending read (by its tag) will not be asked again: flushed, its fid clunked, or the
    /// session reset.
    fn cancel(&mut self, handle: &mut Self::Handle, tag: Tag) {
        let _ = (handle, tag);
    }

    /// A fid on `node` ends (Tclunk, Tremove, a version reset or the end of the connection),
    /// with its open state if it was open.
    fn clunk(&mut self, node: Self::Node, handle: Option<Self::Handle>) {
        let _ = (node, handle);
    }

    /// Tremove (or a clunk of a fid opened `ORCLOSE`): the session has checked write
    /// permission in the parent directory, and clunks the fid whatever the answer.
    fn remove(&mut self, node: &Self::Node, user: &str) -> Result<(), FsError>;

    /// Twstat: apply all of `changes` or none. The session has refused changes to type, dev,
    /// qid, uid, muid, atime and the directory bit, and checked the owner (mode, mtime, gid),
    /// write permission on the file (length) and in the parent (name). Empty changes ask that
    /// the file be committed to stable storage.
    fn wstat(&mut self, node: &Self::Node, changes: &Wstat<'_>, user: &str) -> Result<(), FsError>;
}

/// What an attach gets: a root, and the user the session checks mode bits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached<N> {
    /// The attach's root: nothing above it is reachable through its fids.
    pub root: N,
    /// The user whose owner bits apply (the stat's uid compared to it); usually the uname.
    pub user: String,
}

/// The answer to a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// This many bytes are at the front of the buffer (0: end of file).
    Ready(usize),
    /// No data yet: ask again later.
    Pending,
}

/// The changes a Twstat asks for, "don't touch" values left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wstat<'a> {
    /// A new name (in the same directory).
    pub name: Option<&'a str>,
    /// New permission and mode bits (the directory bit unchanged).
    pub mode: Option<u32>,
    /// A new modification time.
    pub mtime: Option<u32>,
    /// A new length (0 for a directory).
    pub length: Option<u64>,
    /// A new group.
    pub gid: Option<&'a str>,
}

impl Wstat<'_> {
    /// Whether nothing changes (a request to commit the file to stable storage).
    pub fn is_empty(&self) -> bool {
        *self == Wstat::default()
    }
}

/// Where [`FileTree::list`] puts a directory's entries: encoded as a directory read returns
/// them.
#[derive(Debug)]
pub struct DirWriter<'b> {
    buf: &'b mut Vec<u8>,
}

impl<'b> DirWriter<'b> {
    /// Entries appended to `buf`.
    pub fn new(buf: &'b mut Vec<u8>) -> Self {
        DirWriter { buf }
    }

    /// Appends one entry.
    pub fn push(&mut self, stat: &Stat<'_>) -> Result<(), EncodeError> {
        stat.encode(self.buf)
    }

    /// Appends entries encoded earlier by [`DirWriter::push`] (a tree's cached listing):
    /// whole entries, as they were written, nothing else.
    pub fn push_encoded(&mut self, entries: &[u8]) {
        self.buf.extend_from_slice(entries);
    }
}

/// Read permission (the r bit, shifted to the "other" position).
pub const PERM_READ: u32 = 4;
/// Write permission.
pub const PERM_WRITE: u32 = 2;
/// Execute (search) permission.
pub const PERM_EXEC: u32 = 1;

/// Whether `user` has all of `want` (`PERM_*` bits) on a file of this mode, owner and group:
/// the owner bits if `user` is the owner, else the group bits if the group has `user`'s
/// name, else the other bits (intro(5)).
pub fn has_perm(mode: u32, uid: &str, gid: &str, user: &str, want: u32) -> bool {
    let bits = if uid == user {
        mode >> 6
    } else if gid == user {
        mode >> 3
    } else {
        mode
    } & 7;
    bits & want == want
}

/// Whether a name can be created or renamed to: not empty, not `.` or `..` (open(5)), no `/`.
/// (NUL never gets this far: the decoder refuses it.)
pub fn valid_name(name: &str) -> bool {
    !(name.is_empty() || name == "." || name == ".." || name.contains('/'))
}

/// The text of an error, owned or static.
pub(crate) type Ename = Cow<'static, str>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_bits_for_the_owner_other_bits_for_the_rest() {
        assert!(has_perm(0o200, "alice", "g", "alice", PERM_WRITE));
        assert!(!has_perm(0o200, "alice", "g", "alice", PERM_READ));
        assert!(!has_perm(0o604, "alice", "g", "bob", PERM_WRITE));
        assert!(has_perm(0o604, "alice", "g", "bob", PERM_READ));
        assert!(has_perm(0o040, "alice", "bob", "bob", PERM_READ));
        assert!(!has_perm(
            0o644,
            "alice",
            "g",
            "bob",
            PERM_READ | PERM_WRITE
        ));
    }

    #[test]
    fn dot_dotdot_slash_and_empty_names_are_refused() {
        for bad in ["", ".", "..", "a/b", "/"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name("...") && valid_name(".hidden") && valid_name("1001"));
    }
}
