//! Sans-IO 9P2000, exactly as Plan 9 speaks it: the codec, stream framing, the server side of
//! a connection over a file tree trait, and a client core.
//!
//! No sockets, no clock, no threads: the drivers (in `net`) feed bytes in and send what comes
//! out.
//!
//! - [`msg`]: [`Message`] = [`Tag`] + [`Fcall`] (every T- and R-message of 9P2000), [`Qid`],
//!   [`Stat`] (with the double size of Rstat/Twstat), the constants of fcall.h; decoding
//!   borrows from one whole message and never panics ([`DecodeError`]); encoding goes to any
//!   [`bytes::BufMut`], with [`msg::encode_rread_header`] / [`msg::encode_twrite_header`] for
//!   data that is not copied.
//! - [`frame::check`]: where the next message ends in a stream buffer, given msize.
//! - [`server::Session`]: one connection's fids and tags, msize, walks that stop at the
//!   attach's root, open modes and permissions, directory reads, pending reads and flushes,
//!   over a [`FileTree`].
//! - [`client::Client`]: allocates tags and fids, builds T-messages, matches R-messages.
//!
//! # Example: the server loop
//!
//! ```
//! use ninep::msg::{Fcall, Message, NOTAG, Tag};
//! use ninep::frame::{self, Frame};
//! use ninep::server::{Config, Session};
//! # use ninep::{Attached, DirWriter, FileTree, FsError, Qid, Read, Stat, Wstat};
//! # struct Tree;
//! # impl FileTree for Tree {
//! #     type Node = ();
//! #     type Handle = ();
//! #     type Auth = ();
//! #     type Conn = ();
//! #     fn auth(&mut self, _: &(), _: &str, _: &str) -> Result<((), Qid), FsError> {
//! #         Err(FsError::AuthNotRequired)
//! #     }
//! #     fn auth_read(&mut self, _: &mut (), _: u64, _: &mut [u8]) -> Result<usize, FsError> {
//! #         Ok(0)
//! #     }
//! #     fn auth_write(&mut self, _: &mut (), _: u64, _: &[u8]) -> Result<u32, FsError> {
//! #         Ok(0)
//! #     }
//! #     fn attach(&mut self, _: &(), _: Option<&mut ()>, u: &str, _: &str)
//! #         -> Result<Attached<()>, FsError> {
//! #         Ok(Attached { root: (), user: u.to_owned() })
//! #     }
//! #     fn qid(&mut self, _: &()) -> Qid { Qid { ty: ninep::msg::QTDIR, version: 0, path: 0 } }
//! #     fn stat(&mut self, _: &()) -> Result<Stat<'_>, FsError> {
//! #         Ok(Stat { name: "/".into(), mode: ninep::msg::DMDIR | 0o555, ..Stat::default() })
//! #     }
//! #     fn walk1(&mut self, _: &(), _: &str) -> Result<(), FsError> { Err(FsError::NotFound) }
//! #     fn list(&mut self, _: &(), _: &mut DirWriter<'_>) -> Result<(), FsError> { Ok(()) }
//! #     fn open(&mut self, _: &(), _: u8, _: &str) -> Result<(), FsError> { Ok(()) }
//! #     fn create(&mut self, _: &(), _: &str, _: u32, _: u8, _: &str)
//! #         -> Result<((), ()), FsError> { Err(FsError::PermissionDenied) }
//! #     fn read(&mut self, _: &mut (), _: Tag, _: u64, _: &mut [u8]) -> Result<Read, FsError> {
//! #         Ok(Read::Ready(0))
//! #     }
//! #     fn write(&mut self, _: &mut (), _: u64, _: &[u8]) -> Result<u32, FsError> {
//! #         Err(FsError::PermissionDenied)
//! #     }
//! #     fn remove(&mut self, _: &(), _: &str) -> Result<(), FsError> {
//! #         Err(FsError::PermissionDenied)
//! #     }
//! #     fn wstat(&mut self, _: &(), _: &Wstat<'_>, _: &str) -> Result<(), FsError> {
//! #         Err(FsError::PermissionDenied)
//! #     }
//! # }
//! let mut tree = Tree; // your FileTree
//! let mut session = Session::new((), Config::default());
//!
//! // Bytes as they arrived from the socket: a Tversion and a Tattach.
//! let mut input = Vec::new();
//! Message::new(Tag(NOTAG), Fcall::Tversion { msize: 8192, version: "9P2000" })
//!     .encode(&mut input)?;
//! Message::new(Tag(1), Fcall::Tattach {
//!     fid: ninep::Fid(0), afid: ninep::Fid::NOFID, uname: "glenda", aname: "",
//! })
//! .encode(&mut input)?;
//!
//! // The driver's loop: cut whole messages at the session's msize, handle each one, send the
//! // output. (Frame::TooBig / TooSmall: close the connection.)
//! let mut sent = Vec::new();
//! while let Frame::Message(n) = frame::check(&input, session.msize()) {
//!     session.handle(&mut tree, &input[..n]);
//!     input.drain(..n);
//!     sent.extend_from_slice(session.output()); // socket.write_all(...)
//!     session.clear_output();
//! }
//! // And when the tree signals that a blocked read may have data:
//! session.retry_pending(&mut tree);
//! // When the connection ends, so that the tree hears of every fid:
//! session.close(&mut tree);
//!
//! let n = frame::check(&sent, 8192);
//! let Frame::Message(n) = n else { panic!("{n:?}") };
//! let reply = Message::decode(&sent[..n])?;
//! assert_eq!(reply.body, Fcall::Rversion { msize: 8192, version: "9P2000" });
//! let attach = Message::decode(&sent[n..])?;
//! assert!(matches!(attach.body, Fcall::Rattach { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod error;
pub mod frame;
pub mod msg;
pub mod mux;
pub mod server;
pub mod tree;

pub use error::{DecodeError, EncodeError, FsError};
pub use msg::{Fcall, Fid, Message, Qid, Stat, Tag};
pub use server::Session;
pub use tree::{Attached, DirWriter, FileTree, Read, Wstat};
