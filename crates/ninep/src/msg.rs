//! The 9P2000 messages, exactly as Plan 9 speaks them (intro(5) and the other pages of manual
//! section 5), and their byte encoding.
//!
//! ```text
//! size[4] type[1] tag[2] ...      little-endian; size counts itself
//! string: len[2] UTF-8 bytes      no NUL
//! qid:    type[1] vers[4] path[8]
//! ```
//!
//! Decoding works on one whole message (the `size[4]` included, as [`crate::frame::check`]
//! cuts it from a stream) and borrows strings and data from it; nothing is allocated, and no
//! length field is trusted before the bytes it announces are known to be there.

use std::borrow::Cow;
use std::fmt;

use bytes::BufMut;

use crate::error::{DecodeError, EncodeError};

/// `tag` of Tversion/Rversion: no tag.
pub const NOTAG: u16 = 0xFFFF;
/// `afid` of a Tattach without authentication, or any absent fid.
pub const NOFID: u32 = 0xFFFF_FFFF;
/// At most this many names in one Twalk (walk(5)).
pub const MAXWELEM: usize = 16;
/// Bytes of a Tread/Twrite/Rread header: an I/O of count bytes fits a message of count +
/// IOHDRSZ (version(5), fcall(2)).
pub const IOHDRSZ: u32 = 24;
/// Bytes of an Rread without its data (11).
pub const RREAD_HEADER: usize = 4 + 1 + 2 + 4;
/// Bytes of a Twrite without its data (23).
pub const TWRITE_HEADER: usize = 4 + 1 + 2 + 4 + 8 + 4;
/// The fixed part of a stat entry, its own `size[2]` included (49); four strings follow.
pub const STATFIXLEN: usize = 2 + 2 + 4 + 13 + 4 + 4 + 4 + 8 + 4 * 2;

/// Qid type: a directory.
pub const QTDIR: u8 = 0x80;
/// Qid type: append-only.
pub const QTAPPEND: u8 = 0x40;
/// Qid type: exclusive use.
pub const QTEXCL: u8 = 0x20;
/// Qid type: an authentication file (the afid of attach(5)).
pub const QTAUTH: u8 = 0x08;
/// Qid type: not backed up.
pub const QTTMP: u8 = 0x04;
/// Qid type: a plain file.
pub const QTFILE: u8 = 0x00;

/// Mode bit: a directory.
pub const DMDIR: u32 = 0x8000_0000;
/// Mode bit: append-only.
pub const DMAPPEND: u32 = 0x4000_0000;
/// Mode bit: exclusive use.
pub const DMEXCL: u32 = 0x2000_0000;
/// Mode bit: an authentication file.
pub const DMAUTH: u32 = 0x0800_0000;
/// Mode bit: not backed up.
pub const DMTMP: u32 = 0x0400_0000;

/// Open mode: read.
pub const OREAD: u8 = 0;
/// Open mode: write.
pub const OWRITE: u8 = 1;
/// Open mode: read and write.
pub const ORDWR: u8 = 2;
/// Open mode: execute (checked like read, with the x bit).
pub const OEXEC: u8 = 3;
/// Open mode bit: truncate (needs write permission).
pub const OTRUNC: u8 = 0x10;
/// Open mode bit: remove the file when the fid is clunked.
pub const ORCLOSE: u8 = 0x40;

/// The numbers of the message types (fcall.h). An R-message is its T-message plus one.
pub mod mtype {
    #![allow(missing_docs)]
    pub const TVERSION: u8 = 100;
    pub const RVERSION: u8 = 101;
    pub const TAUTH: u8 = 102;
    pub const RAUTH: u8 = 103;
    pub const TATTACH: u8 = 104;
    pub const RATTACH: u8 = 105;
    /// Terror does not exist: 106 is illegal.
    pub const TERROR: u8 = 106;
    pub const RERROR: u8 = 107;
    pub const TFLUSH: u8 = 108;
    pub const RFLUSH: u8 = 109;
    pub const TWALK: u8 = 110;
    pub const RWALK: u8 = 111;
    pub const TOPEN: u8 = 112;
    pub const ROPEN: u8 = 113;
    pub const TCREATE: u8 = 114;
    pub const RCREATE: u8 = 115;
    pub const TREAD: u8 = 116;
    pub const RREAD: u8 = 117;
    pub const TWRITE: u8 = 118;
    pub const RWRITE: u8 = 119;
    pub const TCLUNK: u8 = 120;
    pub const RCLUNK: u8 = 121;
    pub const TREMOVE: u8 = 122;
    pub const RREMOVE: u8 = 123;
    pub const TSTAT: u8 = 124;
    pub const RSTAT: u8 = 125;
    pub const TWSTAT: u8 = 126;
    pub const RWSTAT: u8 = 127;
}

/// A message tag, chosen by the client, unique among its outstanding requests.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u16);

impl Tag {
    /// The tag of Tversion.
    pub const NOTAG: Tag = Tag(NOTAG);
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == NOTAG {
            write!(f, "Tag(NOTAG)")
        } else {
            write!(f, "Tag({})", self.0)
        }
    }
}

/// A fid: the client's name for a file on one connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fid(pub u32);

impl Fid {
    /// No fid (the afid of an attach without authentication).
    pub const NOFID: Fid = Fid(NOFID);
}

impl fmt::Debug for Fid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == NOFID {
            write!(f, "Fid(NOFID)")
        } else {
            write!(f, "Fid({})", self.0)
        }
    }
}

/// The server's unique identity of a file: two files are the same iff their qids are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Qid {
    /// `QTDIR`, `QTAPPEND`, ... bits: the high byte of the file's mode.
    pub ty: u8,
    /// Version, usually bumped on each change.
    pub version: u32,
    /// Unique among the files of the server, never reused.
    pub path: u64,
}

impl Qid {
    /// The wire size of a qid.
    pub const LEN: usize = 13;
    /// The all-ones qid of a wstat that does not touch it.
    pub const DONT_TOUCH: Qid = Qid {
        ty: u8::MAX,
        version: u32::MAX,
        path: u64::MAX,
    };

    /// Whether the qid is a directory's.
    pub fn is_dir(&self) -> bool {
        self.ty & QTDIR != 0
    }
}

/// A machine-independent directory entry (stat(5)), as a stat reply and a directory read
/// carry it.
///
/// The strings are `Cow` so that a decoded entry borrows from the message while a file tree
/// can hand out entries with owned or borrowed names alike.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stat<'a> {
    /// For kernel use.
    pub ty: u16,
    /// For kernel use.
    pub dev: u32,
    /// The file's qid.
    pub qid: Qid,
    /// Permissions (0o777) and `DM*` bits.
    pub mode: u32,
    /// Last access, Unix seconds.
    pub atime: u32,
    /// Last modification, Unix seconds.
    pub mtime: u32,
    /// Length in bytes (0 for directories and most devices).
    pub length: u64,
    /// The file's name; `/` for the server's root.
    pub name: Cow<'a, str>,
    /// Owner.
    pub uid: Cow<'a, str>,
    /// Group.
    pub gid: Cow<'a, str>,
    /// The user who last modified the file.
    pub muid: Cow<'a, str>,
}

impl<'a> Stat<'a> {
    /// A wstat entry that touches nothing: all-ones integers and empty strings.
    pub fn dont_touch() -> Stat<'static> {
        Stat {
            ty: u16::MAX,
            dev: u32::MAX,
            qid: Qid::DONT_TOUCH,
            mode: u32::MAX,
            atime: u32::MAX,
            mtime: u32::MAX,
            length: u64::MAX,
            name: Cow::Borrowed(""),
            uid: Cow::Borrowed(""),
            gid: Cow::Borrowed(""),
            muid: Cow::Borrowed(""),
        }
    }

    /// The same entry with owned strings.
    pub fn into_owned(self) -> Stat<'static> {
        Stat {
            ty: self.ty,
            dev: self.dev,
            qid: self.qid,
            mode: self.mode,
            atime: self.atime,
            mtime: self.mtime,
            length: self.length,
            name: Cow::Owned(self.name.into_owned()),
            uid: Cow::Owned(self.uid.into_owned()),
            gid: Cow::Owned(self.gid.into_owned()),
            muid: Cow::Owned(self.muid.into_owned()),
        }
    }

    /// Bytes of the encoded entry, its own `size[2]` included.
    pub fn encoded_len(&self) -> usize {
        STATFIXLEN + self.name.len() + self.uid.len() + self.gid.len() + self.muid.len()
    }

    /// Appends the entry (`size[2]` first) to `out`.
    pub fn encode<B: BufMut>(&self, out: &mut B) -> Result<(), EncodeError> {
        let len = self.encoded_len();
        let size = u16::try_from(len - 2).map_err(|_| EncodeError::StatTooLong { len })?;
        for s in [&self.name, &self.uid, &self.gid, &self.muid] {
            check_str(s)?;
        }
        out.put_u16_le(size);
        out.put_u16_le(self.ty);
        out.put_u32_le(self.dev);
        put_qid(out, &self.qid);
        out.put_u32_le(self.mode);
        out.put_u32_le(self.atime);
        out.put_u32_le(self.mtime);
        out.put_u64_le(self.length);
        for s in [&self.name, &self.uid, &self.gid, &self.muid] {
            put_str(out, s);
        }
        Ok(())
    }

    /// Decodes one entry that fills `buf` exactly (its `size[2]` first).
    pub fn decode(buf: &'a [u8]) -> Result<Stat<'a>, DecodeError> {
        let mut r = Reader::new(buf);
        let stat = r.stat()?;
        r.finish()?;
        Ok(stat)
    }
}

/// Whole stat entries one after another, as a directory read returns them.
///
/// Yields an error (and then stops) on an entry that does not decode.
#[derive(Debug, Clone)]
pub struct DirEntries<'a> {
    reader: Reader<'a>,
    failed: bool,
}

impl<'a> DirEntries<'a> {
    /// The entries of the data of an Rread on a directory.
    pub fn new(data: &'a [u8]) -> Self {
        DirEntries {
            reader: Reader::new(data),
            failed: false,
        }
    }
}

impl<'a> Iterator for DirEntries<'a> {
    type Item = Result<Stat<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.remaining() == 0 {
            return None;
        }
        let r = self.reader.stat();
        self.failed = r.is_err();
        Some(r)
    }
}

/// At most [`MAXWELEM`] elements kept inline: the names of a Twalk, the qids of an Rwalk.
#[derive(Clone, Copy)]
pub struct WalkVec<T: Copy + Default> {
    len: u8,
    items: [T; MAXWELEM],
}

/// The names of a Twalk.
pub type WalkNames<'a> = WalkVec<&'a str>;
/// The qids of an Rwalk.
pub type WalkQids = WalkVec<Qid>;

impl<T: Copy + Default> WalkVec<T> {
    /// No elements.
    pub fn new() -> Self {
        WalkVec {
            len: 0,
            items: [T::default(); MAXWELEM],
        }
    }

    /// The elements of `items`, or `None` when there are more than [`MAXWELEM`].
    pub fn from_slice(items: &[T]) -> Option<Self> {
        let mut v = Self::new();
        for &item in items {
            v.push(item).ok()?;
        }
        Some(v)
    }

    /// Appends an element; `Err` gives it back when the vector is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        match self.items.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = item;
                self.len += 1;
                Ok(())
            }
            None => Err(item),
        }
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        self.items.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl<T: Copy + Default> Default for WalkVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default> std::ops::Deref for WalkVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Default + PartialEq> PartialEq for WalkVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy + Default + Eq> Eq for WalkVec<T> {}

impl<T: Copy + Default + fmt::Debug> fmt::Debug for WalkVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The body of a 9P2000 message: its type and fields after `size[4] type[1] tag[2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fcall<'a> {
    /// `msize[4] version[s]` (version(5)).
    Tversion {
        /// The largest message the client will send or accept.
        msize: u32,
        /// `9P2000`.
        version: &'a str,
    },
    /// `msize[4] version[s]`.
    Rversion {
        /// Negotiated: at most the client's.
        msize: u32,
        /// `9P2000` or `unknown`.
        version: &'a str,
    },
    /// `afid[4] uname[s] aname[s]` (attach(5)).
    Tauth {
        /// The fid the authentication file gets.
        afid: Fid,
        /// User name.
        uname: &'a str,
        /// The file tree to attach to.
        aname: &'a str,
    },
    /// `aqid[13]`.
    Rauth {
        /// The authentication file's qid (type QTAUTH).
        aqid: Qid,
    },
    /// `fid[4] afid[4] uname[s] aname[s]`.
    Tattach {
        /// The fid the root gets.
        fid: Fid,
        /// An authenticated afid, or NOFID.
        afid: Fid,
        /// User name.
        uname: &'a str,
        /// The file tree to attach to.
        aname: &'a str,
    },
    /// `qid[13]`.
    Rattach {
        /// The root's qid.
        qid: Qid,
    },
    /// `ename[s]` (error(5)); there is no Terror.
    Rerror {
        /// The error text.
        ename: &'a str,
    },
    /// `oldtag[2]` (flush(5)).
    Tflush {
        /// The tag of the request to abort.
        oldtag: Tag,
    },
    /// No fields.
    Rflush,
    /// `fid[4] newfid[4] nwname[2] nwname*(wname[s])` (walk(5)).
    Twalk {
        /// Where the walk starts; must not be open.
        fid: Fid,
        /// The fid the walk's result gets (may equal fid).
        newfid: Fid,
        /// At most 16 names.
        wnames: WalkNames<'a>,
    },
    /// `nwqid[2] nwqid*(qid[13])`.
    Rwalk {
        /// One per name walked; fewer than asked means the walk stopped there.
        wqids: WalkQids,
    },
    /// `fid[4] mode[1]` (open(5)).
    Topen {
        /// The fid to open.
        fid: Fid,
        /// `OREAD`.. `OEXEC`, with `OTRUNC` and `ORCLOSE`.
        mode: u8,
    },
    /// `qid[13] iounit[4]`.
    Ropen {
        /// The file's qid.
        qid: Qid,
        /// The largest atomic I/O, or 0.
        iounit: u32,
    },
    /// `fid[4] name[s] perm[4] mode[1]`.
    Tcreate {
        /// A directory, not open; becomes the new file, open.
        fid: Fid,
        /// The new file's name.
        name: &'a str,
        /// Permissions, `DMDIR` for a directory.
        perm: u32,
        /// Open mode of the new file.
        mode: u8,
    },
    /// `qid[13] iounit[4]`.
    Rcreate {
        /// The new file's qid.
        qid: Qid,
        /// The largest atomic I/O, or 0.
        iounit: u32,
    },
    /// `fid[4] offset[8] count[4]` (read(5)).
    Tread {
        /// An open fid (or an afid).
        fid: Fid,
        /// Where to read.
        offset: u64,
        /// At most this many bytes.
        count: u32,
    },
    /// `count[4] data[count]`.
    Rread {
        /// The bytes read; empty at the end of the file.
        data: &'a [u8],
    },
    /// `fid[4] offset[8] count[4] data[count]`.
    Twrite {
        /// An open fid (or an afid).
        fid: Fid,
        /// Where to write.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// `count[4]`.
    Rwrite {
        /// Bytes written.
        count: u32,
    },
    /// `fid[4]` (clunk(5)).
    Tclunk {
        /// The fid to forget.
        fid: Fid,
    },
    /// No fields.
    Rclunk,
    /// `fid[4]` (remove(5)).
    Tremove {
        /// The file to remove; the fid is clunked even when the remove fails.
        fid: Fid,
    },
    /// No fields.
    Rremove,
    /// `fid[4]` (stat(5)).
    Tstat {
        /// The file to describe.
        fid: Fid,
    },
    /// `n[2] stat[n]`: the entry's size appears twice.
    Rstat {
        /// The entry.
        stat: Stat<'a>,
    },
    /// `fid[4] n[2] stat[n]`.
    Twstat {
        /// The file to change.
        fid: Fid,
        /// The new values, "don't touch" values for the rest.
        stat: Stat<'a>,
    },
    /// No fields.
    Rwstat,
}

impl Fcall<'_> {
    /// The type byte on the wire.
    pub fn type_byte(&self) -> u8 {
        use mtype::*;
        match self {
            Fcall::Tversion { .. } => TVERSION,
            Fcall::Rversion { .. } => RVERSION,
            Fcall::Tauth { .. } => TAUTH,
            Fcall::Rauth { .. } => RAUTH,
            Fcall::Tattach { .. } => TATTACH,
            Fcall::Rattach { .. } => RATTACH,
            Fcall::Rerror { .. } => RERROR,
            Fcall::Tflush { .. } => TFLUSH,
            Fcall::Rflush => RFLUSH,
            Fcall::Twalk { .. } => TWALK,
            Fcall::Rwalk { .. } => RWALK,
            Fcall::Topen { .. } => TOPEN,
            Fcall::Ropen { .. } => ROPEN,
            Fcall::Tcreate { .. } => TCREATE,
            Fcall::Rcreate { .. } => RCREATE,
            Fcall::Tread { .. } => TREAD,
            Fcall::Rread { .. } => RREAD,
            Fcall::Twrite { .. } => TWRITE,
            Fcall::Rwrite { .. } => RWRITE,
            Fcall::Tclunk { .. } => TCLUNK,
            Fcall::Rclunk => RCLUNK,
            Fcall::Tremove { .. } => TREMOVE,
            Fcall::Rremove => RREMOVE,
            Fcall::Tstat { .. } => TSTAT,
            Fcall::Rstat { .. } => RSTAT,
            Fcall::Twstat { .. } => TWSTAT,
            Fcall::Rwstat => RWSTAT,
        }
    }

    /// Whether this is a T-message (a request).
    pub fn is_request(&self) -> bool {
        self.type_byte().is_multiple_of(2)
    }
}

/// One 9P2000 message: a tag and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The request's tag; a reply carries its request's.
    pub tag: Tag,
    /// Type and fields.
    pub body: Fcall<'a>,
}

/// The first seven bytes of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `size[4]`: the whole message, these bytes included.
    pub size: u32,
    /// `type[1]`.
    pub ty: u8,
    /// `tag[2]`.
    pub tag: Tag,
}

impl Header {
    /// Bytes of the header.
    pub const LEN: usize = 7;

    /// Reads the header at the front of `buf`, if there are seven bytes.
    pub fn peek(buf: &[u8]) -> Option<Header> {
        let h: &[u8; 7] = buf.get(..7)?.try_into().ok()?;
        Some(Header {
            size: u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
            ty: h[4],
            tag: Tag(u16::from_le_bytes([h[5], h[6]])),
        })
    }
}

impl<'a> Message<'a> {
    /// A message.
    pub fn new(tag: Tag, body: Fcall<'a>) -> Self {
        Message { tag, body }
    }

    /// Decodes `buf`, which must hold exactly one message, its `size[4]` included.
    pub fn decode(buf: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        let header = Header::peek(buf).ok_or(DecodeError::TooShort { len: buf.len() })?;
        if usize::try_from(header.size).ok() != Some(buf.len()) {
            return Err(DecodeError::SizeMismatch {
                size: header.size,
                len: buf.len(),
            });
        }
        let mut r = Reader::new(buf.get(Header::LEN..).unwrap_or(&[]));
        let body = decode_body(header.ty, &mut r)?;
        r.finish()?;
        Ok(Message {
            tag: header.tag,
            body,
        })
    }

    /// Bytes of the encoded message, `size[4]` included.
    pub fn encoded_len(&self) -> usize {
        Header::LEN + body_len(&self.body)
    }

    /// Appends the encoded message to `out`; returns its length.
    ///
    /// Checked first, so that nothing is written on error: strings up to 65535 bytes, a stat
    /// entry up to 65535, a message up to 4 GiB.
    pub fn encode<B: BufMut>(&self, out: &mut B) -> Result<usize, EncodeError> {
        check_body(&self.body)?;
        let len = self.encoded_len();
        let size = u32::try_from(len).map_err(|_| EncodeError::MessageTooLong { len })?;
        out.put_u32_le(size);
        out.put_u8(self.body.type_byte());
        out.put_u16_le(self.tag.0);
        encode_body(&self.body, out)?;
        Ok(len)
    }

    /// The encoded message in a new vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v)?;
        Ok(v)
    }
}

/// Appends the header of an Rread of `count` bytes; the caller appends the data itself.
pub fn encode_rread_header<B: BufMut>(
    out: &mut B,
    tag: Tag,
    count: u32,
) -> Result<(), EncodeError> {
    let size = u32::try_from(RREAD_HEADER)
        .ok()
        .and_then(|h| h.checked_add(count))
        .ok_or(EncodeError::MessageTooLong {
            len: RREAD_HEADER + count as usize,
        })?;
    out.put_u32_le(size);
    out.put_u8(mtype::RREAD);
    out.put_u16_le(tag.0);
    out.put_u32_le(count);
    Ok(())
}

/// Appends the header of a Twrite of `count` bytes; the caller appends the data itself.
pub fn encode_twrite_header<B: BufMut>(
    out: &mut B,
    tag: Tag,
    fid: Fid,
    offset: u64,
    count: u32,
) -> Result<(), EncodeError> {
    let size = u32::try_from(TWRITE_HEADER)
        .ok()
        .and_then(|h| h.checked_add(count))
        .ok_or(EncodeError::MessageTooLong {
            len: TWRITE_HEADER + count as usize,
        })?;
    out.put_u32_le(size);
    out.put_u8(mtype::TWRITE);
    out.put_u16_le(tag.0);
    out.put_u32_le(fid.0);
    out.put_u64_le(offset);
    out.put_u32_le(count);
    Ok(())
}

fn str_len(s: &str) -> usize {
    2 + s.len()
}

fn body_len(body: &Fcall<'_>) -> usize {
    match body {
        Fcall::Tversion { version, .. } | Fcall::Rversion { version, .. } => 4 + str_len(version),
        Fcall::Tauth { uname, aname, .. } => 4 + str_len(uname) + str_len(aname),
        Fcall::Rauth { .. } | Fcall::Rattach { .. } => Qid::LEN,
        Fcall::Tattach { uname, aname, .. } => 8 + str_len(uname) + str_len(aname),
        Fcall::Rerror { ename } => str_len(ename),
        Fcall::Tflush { .. } => 2,
        Fcall::Rflush | Fcall::Rclunk | Fcall::Rremove | Fcall::Rwstat => 0,
        Fcall::Twalk { wnames, .. } => 10 + wnames.iter().map(|n| str_len(n)).sum::<usize>(),
        Fcall::Rwalk { wqids } => 2 + Qid::LEN * wqids.len(),
        Fcall::Topen { .. } => 5,
        Fcall::Ropen { .. } | Fcall::Rcreate { .. } => Qid::LEN + 4,
        Fcall::Tcreate { name, .. } => 4 + str_len(name) + 5,
        Fcall::Tread { .. } => 16,
        Fcall::Rread { data } => 4 + data.len(),
        Fcall::Twrite { data, .. } => 16 + data.len(),
        Fcall::Rwrite { .. } => 4,
        Fcall::Tclunk { .. } | Fcall::Tremove { .. } | Fcall::Tstat { .. } => 4,
        Fcall::Rstat { stat } => 2 + stat.encoded_len(),
        Fcall::Twstat { stat, .. } => 4 + 2 + stat.encoded_len(),
    }
}

fn check_str(s: &str) -> Result<(), EncodeError> {
    if s.len() > usize::from(u16::MAX) {
        return Err(EncodeError::StringTooLong { len: s.len() });
    }
    Ok(())
}

fn check_stat(stat: &Stat<'_>) -> Result<(), EncodeError> {
    // The outer n[2] of Rstat/Twstat counts the entry with its own size[2].
    let len = stat.encoded_len();
    if len > usize::from(u16::MAX) {
        return Err(EncodeError::StatTooLong { len });
    }
    for s in [&stat.name, &stat.uid, &stat.gid, &stat.muid] {
        check_str(s)?;
    }
    Ok(())
}

fn check_body(body: &Fcall<'_>) -> Result<(), EncodeError> {
    match body {
        Fcall::Tversion { version: s, .. }
        | Fcall::Rversion { version: s, .. }
        | Fcall::Rerror { ename: s }
        | Fcall::Tcreate { name: s, .. } => check_str(s),
        Fcall::Tauth { uname, aname, .. } | Fcall::Tattach { uname, aname, .. } => {
            check_str(uname)?;
            check_str(aname)
        }
        Fcall::Twalk { wnames, .. } => wnames.iter().try_for_each(|n| check_str(n)),
        Fcall::Rread { data } | Fcall::Twrite { data, .. } => {
            u32::try_from(data.len())
                .map_err(|_| EncodeError::MessageTooLong { len: data.len() })?;
            Ok(())
        }
        Fcall::Rstat { stat } | Fcall::Twstat { stat, .. } => check_stat(stat),
        _ => Ok(()),
    }
}

fn put_str<B: BufMut>(out: &mut B, s: &str) {
    // Lengths were checked by check_body/check_stat before anything was written.
    out.put_u16_le(s.len() as u16);
    out.put_slice(s.as_bytes());
}

fn put_qid<B: BufMut>(out: &mut B, q: &Qid) {
    out.put_u8(q.ty);
    out.put_u32_le(q.version);
    out.put_u64_le(q.path);
}

fn encode_body<B: BufMut>(body: &Fcall<'_>, out: &mut B) -> Result<(), EncodeError> {
    match body {
        Fcall::Tversion { msize, version } | Fcall::Rversion { msize, version } => {
            out.put_u32_le(*msize);
            put_str(out, version);
        }
        Fcall::Tauth { afid, uname, aname } => {
            out.put_u32_le(afid.0);
            put_str(out, uname);
            put_str(out, aname);
        }
        Fcall::Rauth { aqid: q } | Fcall::Rattach { qid: q } => put_qid(out, q),
        Fcall::Tattach {
            fid,
            afid,
            uname,
            aname,
        } => {
            out.put_u32_le(fid.0);
            out.put_u32_le(afid.0);
            put_str(out, uname);
            put_str(out, aname);
        }
        Fcall::Rerror { ename } => put_str(out, ename),
        Fcall::Tflush { oldtag } => out.put_u16_le(oldtag.0),
        Fcall::Rflush | Fcall::Rclunk | Fcall::Rremove | Fcall::Rwstat => {}
        Fcall::Twalk {
            fid,
            newfid,
            wnames,
        } => {
            out.put_u32_le(fid.0);
            out.put_u32_le(newfid.0);
            out.put_u16_le(wnames.len() as u16);
            for n in wnames.iter() {
                put_str(out, n);
            }
        }
        Fcall::Rwalk { wqids } => {
            out.put_u16_le(wqids.len() as u16);
            for q in wqids.iter() {
                put_qid(out, q);
            }
        }
        Fcall::Topen { fid, mode } => {
            out.put_u32_le(fid.0);
            out.put_u8(*mode);
        }
        Fcall::Ropen { qid, iounit } | Fcall::Rcreate { qid, iounit } => {
            put_qid(out, qid);
            out.put_u32_le(*iounit);
        }
        Fcall::Tcreate {
            fid,
            name,
            perm,
            mode,
        } => {
            out.put_u32_le(fid.0);
            put_str(out, name);
            out.put_u32_le(*perm);
            out.put_u8(*mode);
        }
        Fcall::Tread { fid, offset, count } => {
            out.put_u32_le(fid.0);
            out.put_u64_le(*offset);
            out.put_u32_le(*count);
        }
        Fcall::Rread { data } => {
            out.put_u32_le(data.len() as u32);
            out.put_slice(data);
        }
        Fcall::Twrite { fid, offset, data } => {
            out.put_u32_le(fid.0);
            out.put_u64_le(*offset);
            out.put_u32_le(data.len() as u32);
            out.put_slice(data);
        }
        Fcall::Rwrite { count } => out.put_u32_le(*count),
        Fcall::Tclunk { fid } | Fcall::Tremove { fid } | Fcall::Tstat { fid } => {
            out.put_u32_le(fid.0)
        }
        Fcall::Rstat { stat } => {
            out.put_u16_le(stat.encoded_len() as u16);
            stat.encode(out)?;
        }
        Fcall::Twstat { fid, stat } => {
            out.put_u32_le(fid.0);
            out.put_u16_le(stat.encoded_len() as u16);
            stat.encode(out)?;
        }
    }
    Ok(())
}

fn decode_body<'a>(ty: u8, r: &mut Reader<'a>) -> Result<Fcall<'a>, DecodeError> {
    use mtype::*;
    Ok(match ty {
        TVERSION => Fcall::Tversion {
            msize: r.u32("msize")?,
            version: r.str("version")?,
        },
        RVERSION => Fcall::Rversion {
            msize: r.u32("msize")?,
            version: r.str("version")?,
        },
        TAUTH => Fcall::Tauth {
            afid: Fid(r.u32("afid")?),
            uname: r.str("uname")?,
            aname: r.str("aname")?,
        },
        RAUTH => Fcall::Rauth {
            aqid: r.qid("aqid")?,
        },
        TATTACH => Fcall::Tattach {
            fid: Fid(r.u32("fid")?),
            afid: Fid(r.u32("afid")?),
            uname: r.str("uname")?,
            aname: r.str("aname")?,
        },
        RATTACH => Fcall::Rattach { qid: r.qid("qid")? },
        RERROR => Fcall::Rerror {
            ename: r.str("ename")?,
        },
        TFLUSH => Fcall::Tflush {
            oldtag: Tag(r.u16("oldtag")?),
        },
        RFLUSH => Fcall::Rflush,
        TWALK => {
            let fid = Fid(r.u32("fid")?);
            let newfid = Fid(r.u32("newfid")?);
            let n = r.u16("nwname")?;
            if usize::from(n) > MAXWELEM {
                return Err(DecodeError::TooManyWalkElements { n });
            }
            let mut wnames = WalkNames::new();
            for _ in 0..n {
                // Cannot overflow: n <= MAXWELEM.
                let _ = wnames.push(r.str("wname")?);
            }
            Fcall::Twalk {
                fid,
                newfid,
                wnames,
            }
        }
        RWALK => {
            let n = r.u16("nwqid")?;
            if usize::from(n) > MAXWELEM {
                return Err(DecodeError::TooManyWalkElements { n });
            }
            let mut wqids = WalkQids::new();
            for _ in 0..n {
                let _ = wqids.push(r.qid("wqid")?);
            }
            Fcall::Rwalk { wqids }
        }
        TOPEN => Fcall::Topen {
            fid: Fid(r.u32("fid")?),
            mode: r.u8("mode")?,
        },
        ROPEN => Fcall::Ropen {
            qid: r.qid("qid")?,
            iounit: r.u32("iounit")?,
        },
        TCREATE => Fcall::Tcreate {
            fid: Fid(r.u32("fid")?),
            name: r.str("name")?,
            perm: r.u32("perm")?,
            mode: r.u8("mode")?,
        },
        RCREATE => Fcall::Rcreate {
            qid: r.qid("qid")?,
            iounit: r.u32("iounit")?,
        },
        TREAD => Fcall::Tread {
            fid: Fid(r.u32("fid")?),
            offset: r.u64("offset")?,
            count: r.u32("count")?,
        },
        RREAD => Fcall::Rread { data: r.data()? },
        TWRITE => {
            let fid = Fid(r.u32("fid")?);
            let offset = r.u64("offset")?;
            Fcall::Twrite {
                fid,
                offset,
                data: r.data()?,
            }
        }
        RWRITE => Fcall::Rwrite {
            count: r.u32("count")?,
        },
        TCLUNK => Fcall::Tclunk {
            fid: Fid(r.u32("fid")?),
        },
        RCLUNK => Fcall::Rclunk,
        TREMOVE => Fcall::Tremove {
            fid: Fid(r.u32("fid")?),
        },
        RREMOVE => Fcall::Rremove,
        TSTAT => Fcall::Tstat {
            fid: Fid(r.u32("fid")?),
        },
        RSTAT => Fcall::Rstat {
            stat: r.sized_stat()?,
        },
        TWSTAT => {
            let fid = Fid(r.u32("fid")?);
            Fcall::Twstat {
                fid,
                stat: r.sized_stat()?,
            }
        }
        RWSTAT => Fcall::Rwstat,
        _ => return Err(DecodeError::BadType { ty }),
    })
}

/// A cursor over little-endian fields; every read is bounds-checked.
#[derive(Debug, Clone)]
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated { field });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let b = self.take(N, field)?;
        b.try_into().map_err(|_| DecodeError::Truncated { field })
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    fn qid(&mut self, field: &'static str) -> Result<Qid, DecodeError> {
        Ok(Qid {
            ty: self.u8(field)?,
            version: self.u32(field)?,
            path: self.u64(field)?,
        })
    }

    /// `len[2]` then UTF-8 without NUL.
    fn str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let n = self.u16(field)?;
        let bytes = self.take(usize::from(n), field)?;
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::BadUtf8 { field })?;
        if s.contains('\0') {
            return Err(DecodeError::Nul { field });
        }
        Ok(s)
    }

    /// `count[4] data[count]`: the data of an Rread or a Twrite.
    fn data(&mut self) -> Result<&'a [u8], DecodeError> {
        let count = self.u32("count")?;
        let left = self.buf.len();
        match usize::try_from(count) {
            Ok(n) if n <= left => self.take(n, "data"),
            _ => Err(DecodeError::CountBeyondData { count, left }),
        }
    }

    /// One stat entry: `size[2]` and exactly that many bytes of fields.
    fn stat(&mut self) -> Result<Stat<'a>, DecodeError> {
        let size = self.u16("stat size")?;
        let body = self.take(usize::from(size), "stat")?;
        let mut r = Reader::new(body);
        let stat = Stat {
            ty: r.u16("stat type")?,
            dev: r.u32("stat dev")?,
            qid: r.qid("stat qid")?,
            mode: r.u32("stat mode")?,
            atime: r.u32("stat atime")?,
            mtime: r.u32("stat mtime")?,
            length: r.u64("stat length")?,
            name: Cow::Borrowed(r.str("stat name")?),
            uid: Cow::Borrowed(r.str("stat uid")?),
            gid: Cow::Borrowed(r.str("stat gid")?),
            muid: Cow::Borrowed(r.str("stat muid")?),
        };
        if r.remaining() != 0 {
            return Err(DecodeError::BadStatSize {
                size,
                extra: r.remaining(),
            });
        }
        Ok(stat)
    }

    /// `n[2] stat[n]` of Rstat and Twstat: the entry's size appears twice, and they must
    /// agree.
    fn sized_stat(&mut self) -> Result<Stat<'a>, DecodeError> {
        let n = self.u16("n")?;
        let body = self.take(usize::from(n), "stat")?;
        let mut r = Reader::new(body);
        let stat = r.stat()?;
        if r.remaining() != 0 {
            return Err(DecodeError::BadStatSize {
                size: n,
                extra: r.remaining(),
            });
        }
        Ok(stat)
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
}
