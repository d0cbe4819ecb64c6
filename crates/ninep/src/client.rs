//! The client side of one 9P2000 connection, sans-IO.
//!
//! [`Client`] allocates tags and fids, encodes T-messages into the caller's buffer, and
//! matches each R-message to its request by tag, keeping fids right: a fid whose attach, auth
//! or walk failed (a partial walk included) is free again, a clunked or removed fid too (even
//! when the remove failed), and a flushed tag is not reused before its Rflush.

use std::collections::{HashMap, HashSet};

use bytes::BufMut;

use crate::error::{DecodeError, EncodeError};
use crate::msg::{
    Fcall, Fid, IOHDRSZ, MAXWELEM, Message, NOFID, NOTAG, Stat, Tag, WalkNames,
    encode_twrite_header, mtype,
};

/// What went wrong on the client side: a reply that makes no sense, or a request that cannot
/// be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The reply does not decode.
    #[error("malformed reply: {0}")]
    Decode(#[from] DecodeError),
    /// A T-message came where replies were expected.
    #[error("not a reply (type {ty})")]
    NotReply {
        /// Its type byte.
        ty: u8,
    },
    /// A reply whose tag no request has.
    #[error("reply for unknown {0:?}")]
    UnknownTag(Tag),
    /// A reply of the wrong type for its request.
    #[error("reply type {got} to request type {sent}")]
    WrongReply {
        /// The request's type byte.
        sent: u8,
        /// The reply's type byte.
        got: u8,
    },
    /// An Rwalk with more qids than names.
    #[error("Rwalk with more qids than names")]
    LongWalk,
    /// Every tag is in use.
    #[error("too many outstanding requests")]
    TooManyOutstanding,
    /// A fid this client did not allocate, or already clunked.
    #[error("{0:?} is not live")]
    UnknownFid(Fid),
    /// A tag to flush that is not outstanding.
    #[error("{0:?} is not outstanding")]
    NotOutstanding(Tag),
    /// More than MAXWELEM (16) names in one walk.
    #[error("{0} names in one walk, at most 16")]
    TooManyNames(usize),
    /// Write data over msize - IOHDRSZ: split it.
    #[error("{len} bytes of data, at most {max} per message")]
    DataTooLong {
        /// The data's length.
        len: usize,
        /// The most one message carries.
        max: u32,
    },
    /// A request that cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// What a request was, kept to check and interpret its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Tversion.
    Version {
        /// The msize asked for.
        msize: u32,
    },
    /// Tauth.
    Auth {
        /// The afid it allocated.
        afid: Fid,
    },
    /// Tattach.
    Attach {
        /// The fid it allocated.
        fid: Fid,
    },
    /// Twalk.
    Walk {
        /// From.
        fid: Fid,
        /// The fid it allocated (or `fid` for a walk in place).
        newfid: Fid,
        /// How many names.
        nwname: u8,
    },
    /// Topen.
    Open {
        /// The fid.
        fid: Fid,
    },
    /// Tcreate.
    Create {
        /// The fid.
        fid: Fid,
    },
    /// Tread.
    Read {
        /// The fid.
        fid: Fid,
    },
    /// Twrite.
    Write {
        /// The fid.
        fid: Fid,
    },
    /// Tclunk.
    Clunk {
        /// The fid.
        fid: Fid,
    },
    /// Tremove.
    Remove {
        /// The fid.
        fid: Fid,
    },
    /// Tstat.
    Stat {
        /// The fid.
        fid: Fid,
    },
    /// Twstat.
    Wstat {
        /// The fid.
        fid: Fid,
    },
    /// Tflush.
    Flush {
        /// The tag flushed.
        oldtag: Tag,
    },
}

impl Request {
    fn type_byte(&self) -> u8 {
        use mtype::*;
        match self {
            Request::Version { .. } => TVERSION,
            Request::Auth { .. } => TAUTH,
            Request::Attach { .. } => TATTACH,
            Request::Walk { .. } => TWALK,
            Request::Open { .. } => TOPEN,
            Request::Create { .. } => TCREATE,
            Request::Read { .. } => TREAD,
            Request::Write { .. } => TWRITE,
            Request::Clunk { .. } => TCLUNK,
            Request::Remove { .. } => TREMOVE,
            Request::Stat { .. } => TSTAT,
            Request::Wstat { .. } => TWSTAT,
            Request::Flush { .. } => TFLUSH,
        }
    }
}

/// A reply matched to its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The tag (free again, unless it was flushed and its Rflush has not come).
    pub tag: Tag,
    /// What was asked.
    pub request: Request,
    /// The R-message of the request's type, or Rerror.
    pub body: Fcall<'a>,
}

impl<'a> Reply<'a> {
    /// The reply, or the Rerror's text.
    pub fn result(self) -> Result<Fcall<'a>, &'a str> {
        match self.body {
            Fcall::Rerror { ename } => Err(ename),
            body => Ok(body),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    request: Request,
    /// Answered, but a Tflush for it is outstanding: the tag waits for the Rflush.
    answered: bool,
}

/// The protocol state of one 9P2000 connection, client side.
///
/// Each request method encodes one T-message into `out` and returns its tag (and the fid it
/// allocated); [`Client::handle`] takes one whole R-message (cut with
/// [`crate::frame::check`] and [`Client::msize`]).
#[derive(Debug)]
pub struct Client {
    msize: u32,
    max_outstanding: usize,
    outstanding: HashMap<u16, Outstanding>,
    /// Tags of Tflushes sent, by the tag they flush.
    flushes: HashMap<u16, Vec<u16>>,
    next_tag: u16,
    free_fids: Vec<u32>,
    next_fid: u32,
    fids: HashSet<u32>,
}

impl Client {
    /// A client that will ask for `msize`, with at most 64 outstanding requests.
    pub fn new(msize: u32) -> Self {
        Client {
            msize,
            max_outstanding: 64,
            outstanding: HashMap::new(),
            flushes: HashMap::new(),
            next_tag: 0,
            free_fids: Vec::new(),
            next_fid: 0,
            fids: HashSet::new(),
        }
    }

    /// The same with another bound on outstanding requests (at most 65535).
    pub fn with_max_outstanding(mut self, max: usize) -> Self {
        self.max_outstanding = max.min(usize::from(NOTAG));
        self
    }

    /// The msize: asked for, then as the server answered.
    pub fn msize(&self) -> u32 {
        self.msize
    }

    /// The most data one Tread or Twrite carries: msize - IOHDRSZ.
    pub fn max_io(&self) -> u32 {
        self.msize.saturating_sub(IOHDRSZ)
    }

    /// Requests not answered yet (flushed ones waiting for their Rflush included).
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Live fids.
    pub fn live_fids(&self) -> usize {
        self.fids.len()
    }

    fn alloc_tag(&mut self) -> Result<Tag, ClientError> {
        if self.outstanding.len() >= self.max_outstanding {
            return Err(ClientError::TooManyOutstanding);
        }
        // The table holds fewer than 65535 tags, so a free one is found within that many.
        for _ in 0..=u16::MAX {
            let t = self.next_tag;
            self.next_tag = if t >= NOTAG - 1 { 0 } else { t + 1 };
            if !self.outstanding.contains_key(&t) {
                return Ok(Tag(t));
            }
        }
        Err(ClientError::TooManyOutstanding)
    }

    fn alloc_fid(&mut self) -> Fid {
        let f = self.free_fids.pop().unwrap_or_else(|| {
            let f = self.next_fid;
            // NOFID is never handed out; 4 billion fids at once are not a concern.
            self.next_fid = self.next_fid.saturating_add(1).min(NOFID - 1);
            f
        });
        self.fids.insert(f);
        Fid(f)
    }

    fn free_fid(&mut self, fid: Fid) {
        if self.fids.remove(&fid.0) {
            self.free_fids.push(fid.0);
        }
    }

    fn live(&self, fid: Fid) -> Result<(), ClientError> {
        if self.fids.contains(&fid.0) {
            Ok(())
        } else {
            Err(ClientError::UnknownFid(fid))
        }
    }

    fn send<B: BufMut>(
        &mut self,
        out: &mut B,
        tag: Tag,
        request: Request,
        body: Fcall<'_>,
    ) -> Result<Tag, ClientError> {
        Message { tag, body }.encode(out)?;
        self.outstanding.insert(
            tag.0,
            Outstanding {
                request,
                answered: false,
            },
        );
        Ok(tag)
    }

    /// Tversion (tag NOTAG): starts a new session; every fid and request of the old one is
    /// forgotten (version(5)).
    pub fn version<B: BufMut>(&mut self, out: &mut B) -> Result<Tag, ClientError> {
        self.outstanding.clear();
        self.flushes.clear();
        self.fids.clear();
        self.free_fids.clear();
        self.next_fid = 0;
        let msize = self.msize;
        let body = Fcall::Tversion {
            msize,
            version: "9P2000",
        };
        self.send(out, Tag::NOTAG, Request::Version { msize }, body)
    }

    /// Tauth: allocates the afid.
    pub fn auth<B: BufMut>(
        &mut self,
        uname: &str,
        aname: &str,
        out: &mut B,
    ) -> Result<(Tag, Fid), ClientError> {
        let tag = self.alloc_tag()?;
        let afid = self.alloc_fid();
        let body = Fcall::Tauth { afid, uname, aname };
        match self.send(out, tag, Request::Auth { afid }, body) {
            Ok(tag) => Ok((tag, afid)),
            Err(e) => {
                self.free_fid(afid);
                Err(e)
            }
        }
    }

    /// Tattach with an afid (validated through [`Client::auth`]) or none: allocates the fid.
    pub fn attach<B: BufMut>(
        &mut self,
        afid: Option<Fid>,
        uname: &str,
        aname: &str,
        out: &mut B,
    ) -> Result<(Tag, Fid), ClientError> {
        if let Some(a) = afid {
            self.live(a)?;
        }
        let tag = self.alloc_tag()?;
        let fid = self.alloc_fid();
        let body = Fcall::Tattach {
            fid,
            afid: afid.unwrap_or(Fid::NOFID),
            uname,
            aname,
        };
        match self.send(out, tag, Request::Attach { fid }, body) {
            Ok(tag) => Ok((tag, fid)),
            Err(e) => {
                self.free_fid(fid);
                Err(e)
            }
        }
    }

    /// Twalk from `fid` to a new fid (allocated); no names clones `fid`.
    pub fn walk<B: BufMut>(
        &mut self,
        fid: Fid,
        names: &[&str],
        out: &mut B,
    ) -> Result<(Tag, Fid), ClientError> {
        self.live(fid)?;
        let wnames = WalkNames::from_slice(names).ok_or(ClientError::TooManyNames(names.len()))?;
        let tag = self.alloc_tag()?;
        let newfid = self.alloc_fid();
        // from_slice kept at most MAXWELEM names.
        let nwname = names.len().min(MAXWELEM) as u8;
        let body = Fcall::Twalk {
            fid,
            newfid,
            wnames,
        };
        match self.send(
            out,
            tag,
            Request::Walk {
                fid,
                newfid,
                nwname,
            },
            body,
        ) {
            Ok(tag) => Ok((tag, newfid)),
            Err(e) => {
                self.free_fid(newfid);
                Err(e)
            }
        }
    }

    /// Topen.
    pub fn open<B: BufMut>(&mut self, fid: Fid, mode: u8, out: &mut B) -> Result<Tag, ClientError> {
        self.live(fid)?;
        let tag = self.alloc_tag()?;
        self.send(out, tag, Request::Open { fid }, Fcall::Topen { fid, mode })
    }

    /// Tcreate: on success `fid` is the new file, open.
    pub fn create<B: BufMut>(
        &mut self,
        fid: Fid,
        name: &str,
        perm: u32,
        mode: u8,
        out: &mut B,
    ) -> Result<Tag, ClientError> {
        self.live(fid)?;
        let tag = self.alloc_tag()?;
        let body = Fcall::Tcreate {
            fid,
            name,
            perm,
            mode,
        };
        self.send(out, tag, Request::Create { fid }, body)
    }

    /// Tread; a count over [`Client::max_io`] is cut down to it.
    pub fn read<B: BufMut>(
        &mut self,
        fid: Fid,
        offset: u64,
        count: u32,
        out: &mut B,
    ) -> Result<Tag, ClientError> {
        self.live(fid)?;
        let tag = self.alloc_tag()?;
        let count = count.min(self.max_io());
        self.send(
            out,
            tag,
            Request::Read { fid },
            Fcall::Tread { fid, offset, count },
        )
    }

    /// Twrite of at most [`Client::max_io`] bytes.
    pub fn write<B: BufMut>(
        &mut self,
        fid: Fid,
        offset: u64,
        data: &[u8],
        out: &mut B,
    ) -> Result<Tag, ClientError> {
        let tag = self.write_header(fid, offset, data.len(), out)?;
        out.put_slice(data);
        Ok(tag)
    }

    /// The header of a Twrite of `len` bytes: the caller appends the data itself.
    pub fn write_header<B: BufMut>(
        &mut self,
        fid: Fid,
        offset: u64,
        len: usize,
        out: &mut B,
    ) -> Result<Tag, ClientError> {
        self.live(fid)?;
        let max = self.max_io();
        let count = u32::try_from(len)
            .ok()
            .filter(|&c| c <= max)
            .ok_or(ClientError::DataTooLong { len, max })?;
        let tag = self.alloc_tag()?;
        encode_twrite_header(out, tag, fid, offset, count)?;
        let request = Request::Write { fid };
        self.outstanding.insert(
            tag.0,
            Outstanding {
                request,
                answered: false,
            },
        );
        Ok(tag)
    }

    /// Tclunk: the fid is free once the reply comes, whatever it is.
    pub fn clunk<B: BufMut>(&mut self, fid: Fid, out: &mut B) -> Result<Tag, ClientError> {
        self.live(fid)?;
        let tag = self.alloc_tag()?;
        self.send(out, tag, Request::Clunk { fid }, Fcall::Tclunk { fid })
    }

    /// Tremove: the fid is free once the reply comes, even an Rerror (remove(5)).
    pub fn remove<B: BufMut>(&mut self, fid: Fid, out: &mut B) -> Result<Tag, ClientError> {
        self.live(fid)?;
        let tag = self.alloc_tag()?;
        self.send(out, tag, Request::Remove { fid }, Fcall::Tremove { fid })
    }

    /// Tstat.
    pub fn stat<B: BufMut>(&mut self, fid: Fid, out: &mut B) -> Result<Tag, ClientError> {
        self.live(fid)?;
        let tag = self.alloc_tag()?;
        self.send(out, tag, Request::Stat { fid }, Fcall::Tstat { fid })
    }

    /// Twstat (start from [`Stat::dont_touch`]).
    pub fn wstat<B: BufMut>(
        &mut self,
        fid: Fid,
        stat: &Stat<'_>,
        out: &mut B,
    ) -> Result<Tag, ClientError> {
        self.live(fid)?;
        let tag = self.alloc_tag()?;
        let body = Fcall::Twstat {
            fid,
            stat: stat.clone(),
        };
        self.send(out, tag, Request::Wstat { fid }, body)
    }

    /// Tflush of an outstanding request. Its tag stays taken until the Rflush, and a reply
    /// to it that comes first is still handed over.
    pub fn flush<B: BufMut>(&mut self, oldtag: Tag, out: &mut B) -> Result<Tag, ClientError> {
        if !self.outstanding.contains_key(&oldtag.0) || oldtag.0 == NOTAG {
            return Err(ClientError::NotOutstanding(oldtag));
        }
        let tag = self.alloc_tag()?;
        self.send(
            out,
            tag,
            Request::Flush { oldtag },
            Fcall::Tflush { oldtag },
        )?;
        self.flushes.entry(oldtag.0).or_default().push(tag.0);
        Ok(tag)
    }

    /// One whole R-message: matched to its request, fids and tags updated.
    pub fn handle<'a>(&mut self, frame: &'a [u8]) -> Result<Reply<'a>, ClientError> {
        let msg = Message::decode(frame)?;
        let got = msg.body.type_byte();
        if msg.body.is_request() {
            return Err(ClientError::NotReply { ty: got });
        }
        let tag = msg.tag;
        let Some(o) = self
            .outstanding
            .get(&tag.0)
            .copied()
            .filter(|o| !o.answered)
        else {
            return Err(ClientError::UnknownTag(tag));
        };
        let request = o.request;
        let sent = request.type_byte();
        let is_error = matches!(msg.body, Fcall::Rerror { .. });
        if got != sent + 1 && !is_error {
            return Err(ClientError::WrongReply { sent, got });
        }
        if let (Fcall::Rwalk { wqids }, Request::Walk { nwname, .. }) = (&msg.body, request)
            && wqids.len() > usize::from(nwname)
        {
            return Err(ClientError::LongWalk);
        }
        self.settle(tag, request, &msg.body);
        Ok(Reply {
            tag,
            request,
            body: msg.body,
        })
    }

    /// Frees what the answered request no longer holds.
    fn settle(&mut self, tag: Tag, request: Request, body: &Fcall<'_>) {
        let failed = matches!(body, Fcall::Rerror { .. });
        match request {
            Request::Version { msize } => {
                if let Fcall::Rversion { msize: theirs, .. } = body {
                    self.msize = msize.min(*theirs);
                }
            }
            Request::Auth { afid: fid } | Request::Attach { fid } if failed => self.free_fid(fid),
            Request::Walk {
                fid,
                newfid,
                nwname,
            } => {
                //= walk(5)
                //# If the first element cannot be walked for any reason, Rerror is
                //# returned. Otherwise, the walk will return an Rwalk message containing
                //# nwqid qids ... and newfid will not be affected
                let short = match body {
                    Fcall::Rwalk { wqids } => wqids.len() < usize::from(nwname),
                    _ => true,
                };
                if short && newfid != fid {
                    self.free_fid(newfid);
                }
            }
            Request::Clunk { fid } | Request::Remove { fid } => self.free_fid(fid),
            Request::Flush { oldtag } => {
                // flush(5): after the Rflush the old request is over. If it was not answered,
                // it never happened: fids it would have created are free.
                if let Some(old) = self.outstanding.get(&oldtag.0).copied() {
                    let flushes = self.flushes.entry(oldtag.0).or_default();
                    flushes.retain(|&t| t != tag.0);
                    let last = flushes.is_empty();
                    if last {
                        self.flushes.remove(&oldtag.0);
                    }
                    if !old.answered {
                        match old.request {
                            Request::Auth { afid: fid } | Request::Attach { fid } => {
                                self.free_fid(fid)
                            }
                            Request::Walk { fid, newfid, .. } if newfid != fid => {
                                self.free_fid(newfid)
                            }
                            _ => {}
                        }
                    }
                    // The last Rflush frees the old tag; until then no reply to it is taken.
                    if last {
                        self.outstanding.remove(&oldtag.0);
                    } else if let Some(o) = self.outstanding.get_mut(&oldtag.0) {
                        o.answered = true;
                    }
                }
            }
            _ => {}
        }
        if self.flushes.contains_key(&tag.0) {
            // Answered while a Tflush for it is outstanding: the tag waits for the Rflush.
            if let Some(o) = self.outstanding.get_mut(&tag.0) {
                o.answered = true;
            }
        } else {
            self.outstanding.remove(&tag.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{OREAD, Qid, WalkQids};

    fn reply(tag: Tag, body: Fcall<'_>) -> Vec<u8> {
        Message { tag, body }.to_bytes().expect("encodes")
    }

    fn versioned() -> Client {
        let mut c = Client::new(8192);
        let mut out = Vec::new();
        c.version(&mut out).expect("version");
        let r = reply(
            Tag::NOTAG,
            Fcall::Rversion {
                msize: 4096,
                version: "9P2000",
            },
        );
        c.handle(&r).expect("rversion");
        c
    }

    fn attached(c: &mut Client) -> Fid {
        let mut out = Vec::new();
        let (tag, fid) = c.attach(None, "glenda", "", &mut out).expect("attach");
        c.handle(&reply(
            tag,
            Fcall::Rattach {
                qid: Qid::default(),
            },
        ))
        .expect("rattach");
        fid
    }

    #[test]
    fn msize_is_the_smaller_of_both() {
        let c = versioned();
        assert_eq!(c.msize(), 4096);
        assert_eq!(c.max_io(), 4096 - 24);
    }

    #[test]
    fn partial_walk_frees_the_new_fid() {
        let mut c = versioned();
        let root = attached(&mut c);
        let mut out = Vec::new();
        let (tag, newfid) = c.walk(root, &["a", "b"], &mut out).expect("walk");
        assert_eq!(c.live_fids(), 2);
        let wqids = WalkQids::from_slice(&[Qid::default()]).expect("one qid");
        let bytes = reply(tag, Fcall::Rwalk { wqids });
        let r = c.handle(&bytes).expect("rwalk");
        assert_eq!(
            r.request,
            Request::Walk {
                fid: root,
                newfid,
                nwname: 2
            }
        );
        assert_eq!(c.live_fids(), 1);
        assert_eq!(c.outstanding(), 0);
    }

    #[test]
    fn failed_remove_still_frees_the_fid() {
        let mut c = versioned();
        let root = attached(&mut c);
        let mut out = Vec::new();
        let tag = c.remove(root, &mut out).expect("remove");
        let bytes = reply(
            tag,
            Fcall::Rerror {
                ename: "permission denied",
            },
        );
        let r = c.handle(&bytes);
        assert_eq!(r.expect("rerror").result(), Err("permission denied"));
        assert_eq!(c.live_fids(), 0);
        assert_eq!(
            c.open(root, OREAD, &mut out),
            Err(ClientError::UnknownFid(root))
        );
    }

    #[test]
    fn flushed_tag_is_not_reused_before_rflush_and_a_reply_that_beats_it_is_honoured() {
        let mut c = versioned().with_max_outstanding(3);
        let root = attached(&mut c);
        let mut out = Vec::new();
        let (wtag, newfid) = c.walk(root, &["x"], &mut out).expect("walk");
        let ftag = c.flush(wtag, &mut out).expect("flush");
        // The walk's answer comes first: honoured, the new fid lives.
        let wqids = WalkQids::from_slice(&[Qid::default()]).expect("one qid");
        c.handle(&reply(wtag, Fcall::Rwalk { wqids }))
            .expect("rwalk");
        assert_eq!(c.live_fids(), 2);
        // Its tag is still taken: a third request gets a different one.
        let t3 = c.stat(newfid, &mut out).expect("stat");
        assert!(t3 != wtag && t3 != ftag);
        assert_eq!(c.outstanding(), 3);
        c.handle(&reply(ftag, Fcall::Rflush)).expect("rflush");
        assert_eq!(c.outstanding(), 1);
        assert_eq!(
            c.handle(&reply(wtag, Fcall::Rclunk)),
            Err(ClientError::UnknownTag(wtag))
        );
    }

    #[test]
    fn flushed_unanswered_attach_frees_its_fid() {
        let mut c = versioned();
        let mut out = Vec::new();
        let (atag, _) = c.attach(None, "glenda", "", &mut out).expect("attach");
        let ftag = c.flush(atag, &mut out).expect("flush");
        c.handle(&reply(ftag, Fcall::Rflush)).expect("rflush");
        assert_eq!(c.live_fids(), 0);
        assert_eq!(c.outstanding(), 0);
    }

    #[test]
    fn wrong_reply_type_is_refused() {
        let mut c = versioned();
        let mut out = Vec::new();
        let (tag, _) = c.attach(None, "glenda", "", &mut out).expect("attach");
        let bytes = reply(tag, Fcall::Rclunk);
        let e = c.handle(&bytes);
        assert_eq!(
            e,
            Err(ClientError::WrongReply {
                sent: mtype::TATTACH,
                got: mtype::RCLUNK
            })
        );
    }

    #[test]
    fn write_over_max_io_is_refused() {
        let mut c = versioned();
        let root = attached(&mut c);
        let mut out = Vec::new();
        let data = vec![0u8; 4096];
        assert!(matches!(
            c.write(root, 0, &data, &mut out),
            Err(ClientError::DataTooLong { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn seventeen_names_are_refused() {
        let mut c = versioned();
        let root = attached(&mut c);
        let mut out = Vec::new();
        let names = ["a"; 17];
        assert_eq!(
            c.walk(root, &names, &mut out),
            Err(ClientError::TooManyNames(17))
        );
        assert_eq!(c.live_fids(), 1);
    }
}
