//! The server side of one 9P2000 connection, sans-IO.
//!
//! [`Session`] keeps the protocol state (msize, fids and what they point at, outstanding
//! reads) and asks a [`FileTree`] about files. The driver feeds it whole messages (cut from the
//! stream with [`crate::frame::check`] and [`Session::msize`]), sends what [`Session::output`]
//! holds, and calls [`Session::retry_pending`] when the tree says data may have arrived for a
//! pending read. It never touches a socket or a clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::error::FsError;
use crate::msg::{
    DMDIR, Fcall, Fid, Header, IOHDRSZ, Message, NOFID, NOTAG, OEXEC, ORCLOSE, ORDWR, OREAD,
    OTRUNC, OWRITE, QTAUTH, Qid, Stat, Tag, WalkQids, encode_rread_header,
};
use crate::tree::{
    Attached, DirWriter, Ename, FileTree, PERM_EXEC, PERM_READ, PERM_WRITE, Read, Wstat, has_perm,
    valid_name,
};

/// The smallest msize a client may ask for: below it not even a stat fits.
pub const MIN_MSIZE: u32 = 256;

/// The Rerror texts the session itself answers (the tree's come from [`FsError`]).
pub mod ename {
    /// A request before a successful Tversion.
    pub const NOT_VERSIONED: &str = "version not negotiated";
    /// Tversion with an msize under [`super::MIN_MSIZE`].
    pub const MSIZE_TOO_SMALL: &str = "msize too small";
    /// A message longer than the negotiated msize.
    pub const TOO_BIG: &str = "message too big";
    /// A request (other than Tversion) tagged NOTAG.
    pub const NOTAG: &str = "NOTAG is only for Tversion";
    /// A tag already outstanding.
    pub const DUPLICATE_TAG: &str = "duplicate tag";
    /// An R-message sent to the server.
    pub const NOT_REQUEST: &str = "not a request";
    /// A fid the connection does not have.
    pub const UNKNOWN_FID: &str = "unknown fid";
    /// A new fid (attach, auth, walk's newfid) the connection already has.
    pub const FID_IN_USE: &str = "fid in use";
    /// More fids than [`super::Config::max_fids`].
    pub const TOO_MANY_FIDS: &str = "too many fids";
    /// More pending reads than [`super::Config::max_outstanding`].
    pub const TOO_MANY_REQUESTS: &str = "too many outstanding requests";
    /// Walk from, open of, or create on a fid that is already open.
    pub const FID_OPEN: &str = "fid already open";
    /// Read on a fid not open for reading.
    pub const NOT_OPEN_READ: &str = "fid not open for reading";
    /// Write on a fid not open for writing.
    pub const NOT_OPEN_WRITE: &str = "fid not open for writing";
    /// Open mode bits outside OREAD..OEXEC, OTRUNC and ORCLOSE.
    pub const BAD_MODE: &str = "bad open mode";
    /// A walk step from something that is not a directory.
    pub const WALK_NOT_DIR: &str = "walk in non-directory";
    /// A walk deeper than [`super::Config::max_depth`] below the root.
    pub const TOO_DEEP: &str = "path too deep";
    /// A directory read at an offset other than 0 or the end of the previous read.
    pub const BAD_OFFSET: &str = "bad offset in directory read";
    /// A directory read whose count does not hold the next entry.
    pub const SHORT_COUNT: &str = "i/o count too small";
    /// A walk, open, stat, wstat or remove of an afid.
    pub const AUTH_FID: &str = "operation on auth fid";
    /// An attach whose afid is not an auth fid.
    pub const NOT_AUTH_FID: &str = "not an auth fid";
    /// An attach whose afid was made for another uname or aname.
    pub const AUTH_MISMATCH: &str = "auth fid is for another uname or aname";
    /// NOFID as the new fid of Tauth, Tattach or Twalk.
    pub const NOFID: &str = "NOFID cannot be a fid";
    /// A name that cannot be created or renamed to.
    pub const BAD_NAME: &str = "illegal name";
    /// A stat entry that does not fit msize.
    pub const STAT_TOO_BIG: &str = "stat too big for msize";
    /// A wstat that changes what cannot change (type, dev, qid, uid, muid, atime).
    pub const WSTAT_IMMUTABLE: &str = "wstat: attempt to change an immutable field";
    /// A wstat that flips the directory bit.
    pub const WSTAT_DIR_BIT: &str = "wstat: attempt to change the directory bit";
    /// A wstat that gives a directory a length.
    pub const WSTAT_DIR_LENGTH: &str = "wstat: directory length must be 0";
    /// A pending read whose fid was clunked or removed.
    pub const CLUNKED: &str = "fid clunked";
}

/// The limits of one session (STYLE.md section 2: protocol-legal abuse has a bound).
#[derive(Debug, Clone)]
pub struct Config {
    /// The largest msize answered; a larger one is capped, never refused.
    pub max_msize: u32,
    /// Fids per connection.
    pub max_fids: usize,
    /// Pending (blocked) reads per connection; the next one gets Rerror.
    pub max_outstanding: usize,
    /// Levels below an attach's root a fid may walk.
    pub max_depth: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_msize: 256 * 1024 + IOHDRSZ,
            max_fids: 4096,
            max_outstanding: 64,
            max_depth: 64,
        }
    }
}

/// What the driver can read for its gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Live fids (attached, walked, opened, afids).
    pub fids: usize,
    /// Attaches with at least one live fid.
    pub attaches: usize,
    /// Requests not answered yet (pending reads).
    pub outstanding: usize,
}

/// One attach: its identity, shared by every fid walked from it. (Its root is the first of
/// each fid's ancestors, or the fid's node.)
#[derive(Debug)]
struct AttachInfo {
    user: String,
}

struct AuthFid<F: FileTree> {
    auth: F::Auth,
    qid: Qid,
    uname: String,
    aname: String,
}

struct FileFid<F: FileTree> {
    attach: Arc<AttachInfo>,
    node: F::Node,
    /// From the attach's root (first) to the node's parent (last); empty at the root.
    ancestors: Vec<F::Node>,
    qid: Qid,
    open: Option<OpenFid<F>>,
}

struct OpenFid<F: FileTree> {
    handle: F::Handle,
    mode: u8,
    dir: Option<DirListing>,
}

/// A directory being read: its entries as listed at offset 0, and how far the reads got.
#[derive(Debug, Default)]
struct DirListing {
    entries: Vec<u8>,
    pos: usize,
}

enum FidEntry<F: FileTree> {
    Auth(AuthFid<F>),
    File(FileFid<F>),
}

/// A read the tree answered [`Read::Pending`].
#[derive(Debug, Clone, Copy)]
struct Pending {
    tag: Tag,
    fid: Fid,
    offset: u64,
    count: u32,
}

/// The protocol state of one 9P2000 connection, server side.
///
/// Calling order: [`Session::handle`] (or [`Session::handle_message`]) for each message in;
/// then send [`Session::output`] and [`Session::clear_output`] (or
/// [`Session::swap_output`]); [`Session::retry_pending`] when the tree signals data; and
/// [`Session::close`] when the connection ends, so that the tree hears of every fid.
///
/// Every request is answered at once except a read the tree leaves pending; those are at
/// most [`Config::max_outstanding`], so the only queue is bounded. The driver need not stop
/// reading for them (and must not: a Tflush has to get through), only while output is not
/// drained ([`Session::wants_input`]).
pub struct Session<F: FileTree> {
    conn: F::Conn,
    config: Config,
    msize: u32,
    versioned: bool,
    fids: HashMap<u32, FidEntry<F>>,
    pending: VecDeque<Pending>,
    attaches: usize,
    out: Vec<u8>,
    scratch: Vec<u8>,
}

impl<F: FileTree> Session<F> {
    /// A session on a new connection; `conn` goes to the tree's auth and attach.
    pub fn new(conn: F::Conn, config: Config) -> Self {
        let msize = config.max_msize.max(MIN_MSIZE);
        Session {
            conn,
            config,
            msize,
            versioned: false,
            fids: HashMap::new(),
            pending: VecDeque::new(),
            attaches: 0,
            out: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The msize to frame the input with: the negotiated one, or the maximum before Tversion.
    pub fn msize(&self) -> u32 {
        self.msize
    }

    /// The connection context given to [`Session::new`].
    pub fn conn(&self) -> &F::Conn {
        &self.conn
    }

    /// Live fids, attaches, outstanding requests.
    pub fn counters(&self) -> Counters {
        Counters {
            fids: self.fids.len(),
            attaches: self.attaches,
            outstanding: self.pending.len(),
        }
    }

    /// Whether there are pending reads for [`Session::retry_pending`] to try.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the driver should read more input: false while more than two messages' worth
    /// of replies wait to be sent (the client is not reading its replies).
    pub fn wants_input(&self) -> bool {
        self.out.len() <= 2 * self.msize as usize
    }

    /// Encoded replies to send, in order.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Forgets the output (it was sent).
    pub fn clear_output(&mut self) {
        self.out.clear();
    }

    /// Swaps the output with `buf` (cleared first), so that the driver keeps both buffers'
    /// capacity.
    pub fn swap_output(&mut self, buf: &mut Vec<u8>) {
        buf.clear();
        std::mem::swap(&mut self.out, buf);
    }

    /// The connection ended: pending reads are cancelled and every fid is clunked through the
    /// tree (files opened ORCLOSE removed). The session can be versioned again afterwards.
    pub fn close(&mut self, fs: &mut F) {
        self.reset(fs);
        self.versioned = false;
    }

    /// One whole message, its `size[4]` included. A message that does not decode gets Rerror
    /// when its header has a tag; a frame too short for a header is ignored (the framer never
    /// cuts one).
    pub fn handle(&mut self, fs: &mut F, frame: &[u8]) {
        let Some(header) = Header::peek(frame) else {
            return;
        };
        if frame.len() > self.msize as usize {
            self.error(header.tag, ename::TOO_BIG);
            return;
        }
        match Message::decode(frame) {
            Ok(msg) => self.handle_message(fs, &msg),
            Err(e) => {
                let text = format!("malformed message: {e}");
                self.error(header.tag, &text);
            }
        }
    }

    /// One decoded message (over msize, it gets Rerror as [`Session::handle`] gives it).
    pub fn handle_message(&mut self, fs: &mut F, msg: &Message<'_>) {
        let tag = msg.tag;
        if msg.encoded_len() > self.msize as usize {
            self.error(tag, ename::TOO_BIG);
            return;
        }
        if !msg.body.is_request() {
            self.error(tag, ename::NOT_REQUEST);
            return;
        }
        // flush(5): answered at once and never with Rerror, whatever the state.
        if let Fcall::Tflush { oldtag } = msg.body {
            self.flush(fs, tag, oldtag);
            return;
        }
        if let Fcall::Tversion { msize, version } = msg.body {
            self.version(fs, tag, msize, version);
            return;
        }
        if !self.versioned {
            self.error(tag, ename::NOT_VERSIONED);
            return;
        }
        if tag.0 == NOTAG {
            self.error(tag, ename::NOTAG);
            return;
        }
        if self.pending.iter().any(|p| p.tag == tag) {
            self.error(tag, ename::DUPLICATE_TAG);
            return;
        }
        let result = match &msg.body {
            Fcall::Tauth { afid, uname, aname } => self.auth(fs, tag, *afid, uname, aname),
            Fcall::Tattach {
                fid,
                afid,
                uname,
                aname,
            } => self.attach(fs, tag, *fid, *afid, uname, aname),
            Fcall::Twalk {
                fid,
                newfid,
                wnames,
            } => self.walk(fs, tag, *fid, *newfid, wnames),
            Fcall::Topen { fid, mode } => self.open(fs, tag, *fid, *mode),
            Fcall::Tcreate {
                fid,
                name,
                perm,
                mode,
            } => self.create(fs, tag, *fid, name, *perm, *mode),
            Fcall::Tread { fid, offset, count } => self.read(fs, tag, *fid, *offset, *count),
            Fcall::Twrite { fid, offset, data } => self.write(fs, tag, *fid, *offset, data),
            Fcall::Tclunk { fid } => self.clunk(fs, tag, *fid),
            Fcall::Tremove { fid } => self.remove(fs, tag, *fid),
            Fcall::Tstat { fid } => self.stat(fs, tag, *fid),
            Fcall::Twstat { fid, stat } => self.wstat(fs, tag, *fid, stat),
            // Tversion and Tflush were answered above; R-messages refused.
            _ => Err(ename::NOT_REQUEST.into()),
        };
        if let Err(e) = result {
            self.error(tag, &e);
        }
    }

    /// Asks the tree again for each pending read, oldest first, and answers those that have
    /// data (or an error). Call it when the tree signals that data may be there.
    pub fn retry_pending(&mut self, fs: &mut F) {
        let mut i = 0;
        while let Some(p) = self.pending.get(i).copied() {
            match self.try_read(fs, p) {
                Ok(true) => {
                    self.pending.remove(i);
                }
                Ok(false) => i += 1,
                Err(e) => {
                    self.pending.remove(i);
                    self.error(p.tag, &e);
                }
            }
        }
    }

    fn reply(&mut self, tag: Tag, body: Fcall<'_>) {
        if let Err(e) = (Message { tag, body }).encode(&mut self.out) {
            // Only a tree's oversized strings get here (a stat is checked before); the client
            // still gets an answer for its tag.
            let text = format!("cannot encode reply: {e}");
            self.error(tag, &text);
        }
    }

    fn error(&mut self, tag: Tag, text: &str) {
        // error(5): only an Rerror string may be truncated to fit, at a UTF-8 boundary.
        let max = (self.msize as usize)
            .saturating_sub(Header::LEN + 2)
            .min(usize::from(u16::MAX));
        let mut end = text.len().min(max);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let ename = text.get(..end).unwrap_or("");
        let _ = (Message {
            tag,
            body: Fcall::Rerror { ename },
        })
        .encode(&mut self.out);
    }

    fn iounit(&self) -> u32 {
        self.msize - IOHDRSZ
    }

    /// Ends every fid and pending read (version(5): "aborts all outstanding I/O and clunks all
    /// fids").
    fn reset(&mut self, fs: &mut F) {
        for p in std::mem::take(&mut self.pending) {
            if let Some(FidEntry::File(FileFid { open: Some(o), .. })) = self.fids.get_mut(&p.fid.0)
            {
                fs.cancel(&mut o.handle, p.tag);
            }
        }
        for (_, entry) in std::mem::take(&mut self.fids) {
            end_fid(fs, entry, true);
        }
        self.attaches = 0;
    }

    fn version(&mut self, fs: &mut F, tag: Tag, msize: u32, version: &str) {
        self.reset(fs);
        self.versioned = false;
        if msize < MIN_MSIZE {
            self.error(tag, ename::MSIZE_TOO_SMALL);
            return;
        }
        let msize = msize.min(self.config.max_msize.max(MIN_MSIZE));
        //= version(5)
        //# If the client's version string contains one or more period characters, the
        //# initial substring up to but not including any single period in the version
        //# string defines a version of the protocol.
        let ours = version.split('.').next() == Some("9P2000");
        if ours {
            self.msize = msize;
            self.versioned = true;
        }
        let version = if ours { "9P2000" } else { "unknown" };
        self.reply(tag, Fcall::Rversion { msize, version });
    }

    fn flush(&mut self, fs: &mut F, tag: Tag, oldtag: Tag) {
        if let Some(i) = self.pending.iter().position(|p| p.tag == oldtag)
            && let Some(p) = self.pending.remove(i)
            && let Some(FidEntry::File(FileFid { open: Some(o), .. })) = self.fids.get_mut(&p.fid.0)
        {
            fs.cancel(&mut o.handle, oldtag);
        }
        self.reply(tag, Fcall::Rflush);
    }

    fn new_fid_ok(&self, fid: Fid) -> Result<(), Ename> {
        if self.fids.contains_key(&fid.0) {
            return Err(ename::FID_IN_USE.into());
        }
        if fid.0 == NOFID {
            return Err(ename::NOFID.into());
        }
        if self.fids.len() >= self.config.max_fids {
            return Err(ename::TOO_MANY_FIDS.into());
        }
        Ok(())
    }

    fn file(&mut self, fid: Fid) -> Result<&mut FileFid<F>, Ename> {
        match self.fids.get_mut(&fid.0) {
            Some(FidEntry::File(f)) => Ok(f),
            Some(FidEntry::Auth(_)) => Err(ename::AUTH_FID.into()),
            None => Err(ename::UNKNOWN_FID.into()),
        }
    }

    fn auth(
        &mut self,
        fs: &mut F,
        tag: Tag,
        afid: Fid,
        uname: &str,
        aname: &str,
    ) -> Result<(), Ename> {
        self.new_fid_ok(afid)?;
        let (auth, mut aqid) = fs
            .auth(&self.conn, uname, aname)
            .map_err(FsError::into_ename)?;
        aqid.ty |= QTAUTH;
        let entry = AuthFid {
            auth,
            qid: aqid,
            uname: uname.to_owned(),
            aname: aname.to_owned(),
        };
        self.fids.insert(afid.0, FidEntry::Auth(entry));
        self.reply(tag, Fcall::Rauth { aqid });
        Ok(())
    }

    fn attach(
        &mut self,
        fs: &mut F,
        tag: Tag,
        fid: Fid,
        afid: Fid,
        uname: &str,
        aname: &str,
    ) -> Result<(), Ename> {
        self.new_fid_ok(fid)?;
        let auth = if afid.0 == NOFID {
            None
        } else {
            match self.fids.get_mut(&afid.0) {
                // attach(5): the afid was made by a Tauth with the same uname and aname.
                Some(FidEntry::Auth(a)) if a.uname == uname && a.aname == aname => {
                    Some(&mut a.auth)
                }
                Some(FidEntry::Auth(_)) => return Err(ename::AUTH_MISMATCH.into()),
                Some(FidEntry::File(_)) => return Err(ename::NOT_AUTH_FID.into()),
                None => return Err(ename::UNKNOWN_FID.into()),
            }
        };
        let Attached { root, user } = fs
            .attach(&self.conn, auth, uname, aname)
            .map_err(FsError::into_ename)?;
        let qid = fs.qid(&root);
        let attach = Arc::new(AttachInfo { user });
        let entry = FileFid {
            attach,
            node: root,
            ancestors: Vec::new(),
            qid,
            open: None,
        };
        self.fids.insert(fid.0, FidEntry::File(entry));
        self.attaches += 1;
        self.reply(tag, Fcall::Rattach { qid });
        Ok(())
    }

    fn walk(
        &mut self,
        fs: &mut F,
        tag: Tag,
        fid: Fid,
        newfid: Fid,
        wnames: &[&str],
    ) -> Result<(), Ename> {
        if newfid != fid {
            self.new_fid_ok(newfid)?;
        }
        let max_depth = self.config.max_depth;
        let f = self.file(fid)?;
        if f.open.is_some() {
            return Err(ename::FID_OPEN.into());
        }
        let mut node = f.node.clone();
        let mut ancestors = f.ancestors.clone();
        let mut qid = f.qid;
        let mut wqids = WalkQids::new();
        let mut failure: Option<Ename> = None;
        for name in wnames {
            //= walk(5)
            //# The fid must represent a directory unless zero path name elements are
            //# specified.
            if !qid.is_dir() {
                failure = Some(ename::WALK_NOT_DIR.into());
                break;
            }
            if *name == ".." {
                // Up, but never above the attach's root: the root's `..` is the root.
                if let Some(parent) = ancestors.pop() {
                    node = parent;
                    qid = fs.qid(&node);
                }
            } else if name.contains('/') {
                failure = Some(FsError::NotFound.into_ename());
                break;
            } else if ancestors.len() >= max_depth {
                failure = Some(ename::TOO_DEEP.into());
                break;
            } else {
                match fs.walk1(&node, name) {
                    Ok(child) => {
                        ancestors.push(std::mem::replace(&mut node, child));
                        qid = fs.qid(&node);
                    }
                    Err(e) => {
                        failure = Some(e.into_ename());
                        break;
                    }
                }
            }
            // Cannot overflow: the decoder allows at most MAXWELEM names.
            let _ = wqids.push(qid);
        }
        if let Some(e) = failure {
            if wqids.is_empty() {
                return Err(e);
            }
            // A walk that fails part-way: the qids so far, and neither fid changes.
            self.reply(tag, Fcall::Rwalk { wqids });
            return Ok(());
        }
        if newfid == fid {
            f.node = node;
            f.ancestors = ancestors;
            f.qid = qid;
        } else {
            let entry = FileFid {
                attach: f.attach.clone(),
                node,
                ancestors,
                qid,
                open: None,
            };
            self.fids.insert(newfid.0, FidEntry::File(entry));
        }
        self.reply(tag, Fcall::Rwalk { wqids });
        Ok(())
    }

    fn open(&mut self, fs: &mut F, tag: Tag, fid: Fid, mode: u8) -> Result<(), Ename> {
        let iounit = self.iounit();
        if let Some(FidEntry::Auth(a)) = self.fids.get(&fid.0) {
            // An afid needs no open; accept one as a no-op for clients that send it.
            let qid = a.qid;
            self.reply(tag, Fcall::Ropen { qid, iounit });
            return Ok(());
        }
        let f = self.file(fid)?;
        if f.open.is_some() {
            return Err(ename::FID_OPEN.into());
        }
        if mode & !(3 | OTRUNC | ORCLOSE) != 0 {
            return Err(ename::BAD_MODE.into());
        }
        let user = f.attach.user.as_str();
        let is_dir = {
            let st = fs.stat(&f.node).map_err(FsError::into_ename)?;
            let is_dir = st.mode & DMDIR != 0 || f.qid.is_dir();
            //= open(5)
            //# It is illegal to write a directory, truncate it, or attempt to remove it on
            //# close.
            if is_dir && (matches!(mode & 3, OWRITE | ORDWR) || mode & (OTRUNC | ORCLOSE) != 0) {
                return Err(FsError::IsDir.into_ename());
            }
            let mut want = match mode & 3 {
                OREAD => PERM_READ,
                OWRITE => PERM_WRITE,
                ORDWR => PERM_READ | PERM_WRITE,
                _ => PERM_EXEC,
            };
            if mode & OTRUNC != 0 {
                want |= PERM_WRITE;
            }
            if !has_perm(st.mode, &st.uid, &st.gid, user, want) {
                return Err(FsError::PermissionDenied.into_ename());
            }
            is_dir
        };
        if mode & ORCLOSE != 0 {
            //# if the mode has the ORCLOSE (0x40) bit set, the file is to be removed when
            //# the fid is clunked, which requires permission to remove the file from its
            //# directory.
            can_remove(fs, f)?;
        }
        let handle = fs.open(&f.node, mode, user).map_err(FsError::into_ename)?;
        let qid = fs.qid(&f.node);
        f.qid = qid;
        let dir = is_dir.then(DirListing::default);
        f.open = Some(OpenFid { handle, mode, dir });
        self.reply(tag, Fcall::Ropen { qid, iounit });
        Ok(())
    }

    fn create(
        &mut self,
        fs: &mut F,
        tag: Tag,
        fid: Fid,
        name: &str,
        perm: u32,
        mode: u8,
    ) -> Result<(), Ename> {
        let iounit = self.iounit();
        let max_depth = self.config.max_depth;
        let f = self.file(fid)?;
        if f.open.is_some() {
            return Err(ename::FID_OPEN.into());
        }
        if !f.qid.is_dir() {
            return Err(FsError::NotDir.into_ename());
        }
        //# The names . and .. are special; it is illegal to create files with these names.
        if !valid_name(name) {
            return Err(ename::BAD_NAME.into());
        }
        if mode & !(3 | OTRUNC | ORCLOSE) != 0 {
            return Err(ename::BAD_MODE.into());
        }
        let is_dir = perm & DMDIR != 0;
        if is_dir && (matches!(mode & 3, OWRITE | ORDWR) || mode & (OTRUNC | ORCLOSE) != 0) {
            return Err(FsError::IsDir.into_ename());
        }
        if f.ancestors.len() >= max_depth {
            return Err(ename::TOO_DEEP.into());
        }
        let user = f.attach.user.as_str();
        let dir_perm = {
            let st = fs.stat(&f.node).map_err(FsError::into_ename)?;
            //# requires write permission in the directory.
            if !has_perm(st.mode, &st.uid, &st.gid, user, PERM_WRITE) {
                return Err(FsError::PermissionDenied.into_ename());
            }
            st.mode
        };
        //# perm & (~0666 | (dir.perm & 0666)) if a regular file is being created and
        //# perm & (~0777 | (dir.perm & 0777)) if a directory is being created.
        let mask = if is_dir { 0o777 } else { 0o666 };
        let perm = perm & (!mask | (dir_perm & mask));
        let (node, handle) = fs
            .create(&f.node, name, perm, mode, user)
            .map_err(FsError::into_ename)?;
        let qid = fs.qid(&node);
        f.ancestors.push(std::mem::replace(&mut f.node, node));
        f.qid = qid;
        let dir = is_dir.then(DirListing::default);
        f.open = Some(OpenFid { handle, mode, dir });
        self.reply(tag, Fcall::Rcreate { qid, iounit });
        Ok(())
    }

    fn read(
        &mut self,
        fs: &mut F,
        tag: Tag,
        fid: Fid,
        offset: u64,
        count: u32,
    ) -> Result<(), Ename> {
        // read(5): the reply must fit msize; a larger count is cut down, not refused.
        let count = count.min(self.iounit());
        match self.fids.get_mut(&fid.0) {
            None => Err(ename::UNKNOWN_FID.into()),
            Some(FidEntry::Auth(a)) => {
                let buf = scratch(&mut self.scratch, count);
                let n = fs
                    .auth_read(&mut a.auth, offset, buf)
                    .map_err(FsError::into_ename)?;
                push_rread(&mut self.out, tag, buf.get(..n).unwrap_or(buf));
                Ok(())
            }
            Some(FidEntry::File(f)) => {
                let Some(open) = f
                    .open
                    .as_mut()
                    .filter(|o| matches!(o.mode & 3, OREAD | ORDWR | OEXEC))
                else {
                    return Err(ename::NOT_OPEN_READ.into());
                };
                if let Some(dir) = open.dir.as_mut() {
                    return read_dir(fs, &f.node, dir, &mut self.out, tag, offset, count);
                }
                let p = Pending {
                    tag,
                    fid,
                    offset,
                    count,
                };
                if self.try_read(fs, p)? {
                    return Ok(());
                }
                if self.pending.len() >= self.config.max_outstanding {
                    if let Some(FidEntry::File(FileFid { open: Some(o), .. })) =
                        self.fids.get_mut(&fid.0)
                    {
                        fs.cancel(&mut o.handle, tag);
                    }
                    return Err(ename::TOO_MANY_REQUESTS.into());
                }
                self.pending.push_back(p);
                Ok(())
            }
        }
    }

    /// Asks the tree for a file read; Ok(true) when answered (Rread written).
    fn try_read(&mut self, fs: &mut F, p: Pending) -> Result<bool, Ename> {
        let Some(FidEntry::File(FileFid {
            open: Some(open), ..
        })) = self.fids.get_mut(&p.fid.0)
        else {
            return Err(ename::CLUNKED.into());
        };
        let buf = scratch(&mut self.scratch, p.count);
        match fs.read(&mut open.handle, p.tag, p.offset, buf) {
            Ok(Read::Ready(n)) => {
                push_rread(&mut self.out, p.tag, buf.get(..n).unwrap_or(buf));
                Ok(true)
            }
            Ok(Read::Pending) => Ok(false),
            Err(e) => Err(e.into_ename()),
        }
    }

    fn write(
        &mut self,
        fs: &mut F,
        tag: Tag,
        fid: Fid,
        offset: u64,
        data: &[u8],
    ) -> Result<(), Ename> {
        // The framer and handle() keep the message within msize.
        let n = match self.fids.get_mut(&fid.0) {
            None => return Err(ename::UNKNOWN_FID.into()),
            Some(FidEntry::Auth(a)) => fs.auth_write(&mut a.auth, offset, data),
            Some(FidEntry::File(f)) => {
                let Some(open) = f
                    .open
                    .as_mut()
                    .filter(|o| matches!(o.mode & 3, OWRITE | ORDWR))
                else {
                    return Err(ename::NOT_OPEN_WRITE.into());
                };
                fs.write(&mut open.handle, offset, data)
            }
        }
        .map_err(FsError::into_ename)?;
        // A tree cannot claim more than it was given.
        let count = n.min(data.len() as u32);
        self.reply(tag, Fcall::Rwrite { count });
        Ok(())
    }

    /// Answers (Rerror) and cancels the pending reads of a fid about to go.
    fn abort_pending(&mut self, fs: &mut F, fid: Fid) {
        let mut i = 0;
        while let Some(p) = self.pending.get(i).copied() {
            if p.fid != fid {
                i += 1;
                continue;
            }
            self.pending.remove(i);
            if let Some(FidEntry::File(FileFid { open: Some(o), .. })) = self.fids.get_mut(&fid.0) {
                fs.cancel(&mut o.handle, p.tag);
            }
            self.error(p.tag, ename::CLUNKED);
        }
    }

    /// Removes a fid from the table (keeping the attach count right).
    fn take_fid(&mut self, fid: Fid) -> Option<FidEntry<F>> {
        let entry = self.fids.remove(&fid.0)?;
        if let FidEntry::File(f) = &entry
            && Arc::strong_count(&f.attach) == 1
        {
            self.attaches = self.attaches.saturating_sub(1);
        }
        Some(entry)
    }

    fn clunk(&mut self, fs: &mut F, tag: Tag, fid: Fid) -> Result<(), Ename> {
        if !self.fids.contains_key(&fid.0) {
            return Err(ename::UNKNOWN_FID.into());
        }
        self.abort_pending(fs, fid);
        if let Some(entry) = self.take_fid(fid) {
            end_fid(fs, entry, true);
        }
        self.reply(tag, Fcall::Rclunk);
        Ok(())
    }

    fn remove(&mut self, fs: &mut F, tag: Tag, fid: Fid) -> Result<(), Ename> {
        if !self.fids.contains_key(&fid.0) {
            return Err(ename::UNKNOWN_FID.into());
        }
        self.abort_pending(fs, fid);
        //= remove(5)
        //# The remove request asks the file server both to remove the file represented by
        //# fid and to clunk the fid, even if the remove fails.
        let result = match self.take_fid(fid) {
            None => Err(ename::UNKNOWN_FID.into()),
            Some(FidEntry::Auth(a)) => {
                fs.auth_clunk(a.auth);
                Err(ename::AUTH_FID.into())
            }
            Some(FidEntry::File(f)) => {
                let removed = can_remove(fs, &f).and_then(|()| {
                    fs.remove(&f.node, &f.attach.user)
                        .map_err(FsError::into_ename)
                });
                // Already removed (or refused): the clunk must not remove it again.
                end_fid(fs, FidEntry::File(f), false);
                removed
            }
        };
        result?;
        self.reply(tag, Fcall::Rremove);
        Ok(())
    }

    fn stat(&mut self, fs: &mut F, tag: Tag, fid: Fid) -> Result<(), Ename> {
        let msize = self.msize as usize;
        let f = self.file(fid)?;
        let stat = fs.stat(&f.node).map_err(FsError::into_ename)?;
        //= stat(5)
        //# (4+1+2+2+n)[4] Rstat tag[2] n[2] (n-2)[2] type[2] dev[4]...
        if Header::LEN + 2 + stat.encoded_len() > msize {
            return Err(ename::STAT_TOO_BIG.into());
        }
        let result = (Message {
            tag,
            body: Fcall::Rstat { stat },
        })
        .encode(&mut self.out);
        result
            .map(|_| ())
            .map_err(|e| format!("cannot encode stat: {e}").into())
    }

    fn wstat(&mut self, fs: &mut F, tag: Tag, fid: Fid, new: &Stat<'_>) -> Result<(), Ename> {
        let f = self.file(fid)?;
        let user = f.attach.user.as_str();
        let changes = {
            let cur = fs.stat(&f.node).map_err(FsError::into_ename)?;
            wstat_changes(&cur, new, user)?
        };
        if let Some(name) = changes.name {
            if !valid_name(name) {
                return Err(ename::BAD_NAME.into());
            }
            //= stat(5)
            //# The name can be changed by anyone with write permission in the parent
            //# directory
            let parent = f
                .ancestors
                .last()
                .ok_or(FsError::PermissionDenied.into_ename())?;
            let st = fs.stat(parent).map_err(FsError::into_ename)?;
            if !has_perm(st.mode, &st.uid, &st.gid, user, PERM_WRITE) {
                return Err(FsError::PermissionDenied.into_ename());
            }
        }
        fs.wstat(&f.node, &changes, user)
            .map_err(FsError::into_ename)?;
        self.reply(tag, Fcall::Rwstat);
        Ok(())
    }
}

/// Ends a fid in the tree: an afid's auth state, a file's open handle. `rclose`: remove a
/// file opened ORCLOSE first.
fn end_fid<F: FileTree>(fs: &mut F, entry: FidEntry<F>, rclose: bool) {
    match entry {
        FidEntry::Auth(a) => fs.auth_clunk(a.auth),
        FidEntry::File(f) => {
            let FileFid {
                attach, node, open, ..
            } = f;
            if rclose && open.as_ref().is_some_and(|o| o.mode & ORCLOSE != 0) {
                // Permission was checked at open; a failure has no one to answer to.
                let _ = fs.remove(&node, &attach.user);
            }
            fs.clunk(node, open.map(|o| o.handle));
        }
    }
}

/// remove(5): "requires write permission in the parent directory". An attach's root has no
/// parent the client may see, so it cannot be removed.
fn can_remove<F: FileTree>(fs: &mut F, f: &FileFid<F>) -> Result<(), Ename> {
    let parent = f
        .ancestors
        .last()
        .ok_or(FsError::PermissionDenied.into_ename())?;
    let st = fs.stat(parent).map_err(FsError::into_ename)?;
    if has_perm(st.mode, &st.uid, &st.gid, &f.attach.user, PERM_WRITE) {
        Ok(())
    } else {
        Err(FsError::PermissionDenied.into_ename())
    }
}

/// The changes of a Twstat against the current entry, refused where stat(5) says they cannot
/// be made (or need the owner, or write permission on the file). A value equal to the current
/// one is no change.
fn wstat_changes<'n>(cur: &Stat<'_>, new: &'n Stat<'_>, user: &str) -> Result<Wstat<'n>, Ename> {
    //# None of the other data can be altered by a wstat and attempts to change them will
    //# trigger an error. In particular, it is illegal to attempt to change the owner of a
    //# file.
    let immutable = (new.ty != u16::MAX && new.ty != cur.ty)
        || (new.dev != u32::MAX && new.dev != cur.dev)
        || (new.qid.ty != u8::MAX && new.qid.ty != cur.qid.ty)
        || (new.qid.version != u32::MAX && new.qid.version != cur.qid.version)
        || (new.qid.path != u64::MAX && new.qid.path != cur.qid.path)
        || (new.atime != u32::MAX && new.atime != cur.atime)
        || (!new.uid.is_empty() && new.uid != cur.uid)
        || (!new.muid.is_empty() && new.muid != cur.muid);
    if immutable {
        return Err(ename::WSTAT_IMMUTABLE.into());
    }
    let is_dir = cur.mode & DMDIR != 0;
    let name: &'n str = &new.name;
    let gid: &'n str = &new.gid;
    let changes = Wstat {
        name: (!name.is_empty() && name != cur.name).then_some(name),
        mode: (new.mode != u32::MAX && new.mode != cur.mode).then_some(new.mode),
        mtime: (new.mtime != u32::MAX && new.mtime != cur.mtime).then_some(new.mtime),
        length: (new.length != u64::MAX && new.length != cur.length).then_some(new.length),
        gid: (!gid.is_empty() && gid != cur.gid).then_some(gid),
    };
    //# The directory bit cannot be changed by a wstat
    if changes.mode.is_some_and(|m| (m ^ cur.mode) & DMDIR != 0) {
        return Err(ename::WSTAT_DIR_BIT.into());
    }
    //# It is an error to attempt to set the length of a directory to a non-zero value
    if is_dir && changes.length.is_some_and(|l| l != 0) {
        return Err(ename::WSTAT_DIR_LENGTH.into());
    }
    //# The mode and mtime can be changed by the owner of the file or the group leader of
    //# the file's current group.
    let owner = cur.uid == user || cur.gid == user;
    if (changes.mode.is_some() || changes.mtime.is_some() || changes.gid.is_some()) && !owner {
        return Err(FsError::PermissionDenied.into_ename());
    }
    //# The length can be changed ... by anyone with write permission on the file.
    if changes.length.is_some() && !has_perm(cur.mode, &cur.uid, &cur.gid, user, PERM_WRITE) {
        return Err(FsError::PermissionDenied.into_ename());
    }
    Ok(changes)
}

/// The first `count` bytes of the session's scratch buffer, for a tree to read into. Kept
/// between reads (grown at most to msize once), so that a read costs no allocation and no
/// zeroing of its whole count: pending reads are retried often and usually answer small.
fn scratch(scratch: &mut Vec<u8>, count: u32) -> &mut [u8] {
    let count = count as usize;
    if scratch.len() < count {
        scratch.resize(count, 0);
    }
    scratch.get_mut(..count).unwrap_or_default()
}

/// Appends an Rread of `data`.
fn push_rread(out: &mut Vec<u8>, tag: Tag, data: &[u8]) {
    // data.len() <= count <= msize - IOHDRSZ: the header cannot fail.
    let _ = encode_rread_header(out, tag, data.len() as u32);
    out.extend_from_slice(data);
}

/// A directory read: the entries listed at offset 0, served whole and in order.
fn read_dir<F: FileTree>(
    fs: &mut F,
    node: &F::Node,
    dir: &mut DirListing,
    out: &mut Vec<u8>,
    tag: Tag,
    offset: u64,
    count: u32,
) -> Result<(), Ename> {
    if offset == 0 {
        dir.entries.clear();
        dir.pos = 0;
        fs.list(node, &mut DirWriter::new(&mut dir.entries))
            .map_err(FsError::into_ename)?;
    } else if offset != dir.pos as u64 {
        //= read(5)
        //# the offset must be zero or the offset of the end of the previous read.
        return Err(ename::BAD_OFFSET.into());
    }
    let rest = dir.entries.get(dir.pos..).unwrap_or_default();
    let mut end = 0usize;
    while let Some(size) = rest
        .get(end..end + 2)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
    {
        let len = 2 + usize::from(u16::from_le_bytes(size));
        if end + len > count as usize {
            break;
        }
        end += len;
    }
    if end == 0 && !rest.is_empty() {
        return Err(ename::SHORT_COUNT.into());
    }
    let data = rest.get(..end).unwrap_or_default();
    let _ = encode_rread_header(out, tag, end as u32);
    out.extend_from_slice(data);
    dir.pos += end;
    Ok(())
}
