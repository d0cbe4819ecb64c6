//! `uacs/<name>/sip.sock`: SIP over a 9P file (DESIGN.md sections 9 and 15).
//!
//! A phone that speaks 9P makes `uacs/<name>/` with `mkdir` in its own extension directory,
//! opens `sip.sock` and writes SIP messages to it, one per write, and reads the messages
//! addressed to it, one whole message per read. Each open is a virtual connection of the SIP
//! endpoint, like a TCP connection: opening it binds the extension (the attach already
//! authenticated it), answers and requests for that binding come back through the file's
//! queue, and the clunk ends the binding. The endpoint is reached through [`SipSockets`],
//! which the binary gives the tree (the `net` crate implements it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use media::PacketQueue;
use ninep::FsError;

/// The SIP endpoint as `sip.sock` files reach it. Calls never block: a full endpoint queue
/// is an error the writer may retry.
pub trait SipSockets: Send + Sync {
    /// Opens a virtual connection for `open`: the endpoint binds `open.contact` for the
    /// extension at once and from then on pushes every message for the connection into
    /// `open.queue`. Returns the connection id.
    fn open(&self, open: SipSockOpen) -> Result<u64, FsError>;
    /// One SIP message written to the file: refused unless it is exactly one whole message.
    fn write(&self, conn: u64, message: &[u8]) -> Result<(), FsError>;
    /// The file was clunked: the connection and its bindings end.
    fn close(&self, conn: u64);
}

/// What the endpoint needs to open a `sip.sock` connection.
#[derive(Debug, Clone)]
pub struct SipSockOpen {
    /// The extension's domain.
    pub domain: Arc<str>,
    /// The extension.
    pub user: Arc<str>,
    /// The contact bound at open.
    pub contact: String,
    /// The User-Agent the binding shows.
    pub agent: String,
    /// The 9P client's address (127.0.0.1:0 on the Unix socket): the binding's `remote`,
    /// and the signalling address media latching accepts.
    pub remote: SocketAddr,
    /// Where the endpoint puts the messages for this connection; the file's reads take them.
    pub queue: PacketQueue,
}

/// Most `uacs/` directories one extension may make.
pub const MAX_MADE_UACS: usize = 16;

/// Longest name of a made `uacs/` directory.
pub const MAX_UAC_NAME: usize = 64;

/// A `uacs/<name>/` directory made with `mkdir`.
#[derive(Debug, Clone)]
pub(crate) struct MadeUac {
    /// Its name.
    pub name: Arc<str>,
    /// The low bits of its qids.
    pub key: u64,
    /// The 9P connection that made it: it goes when that connection ends.
    pub owner: u64,
    /// While `sip.sock` is open: the endpoint's connection, its queue and the count of
    /// messages discarded as larger than a read.
    pub open: Option<OpenSock>,
}

/// An open `sip.sock`.
#[derive(Debug, Clone)]
pub(crate) struct OpenSock {
    pub conn: u64,
    pub queue: PacketQueue,
    pub too_big: Arc<AtomicU64>,
}

/// Whether `name` may name a made `uacs/` directory: the tree's name characters
/// (`[A-Za-z0-9+._-]`), not hidden, not too long.
pub(crate) fn valid_uac_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_UAC_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'_' | b'-'))
}

/// The contact bound when `sip.sock` of `uacs/<name>/` opens. The `.invalid` host (RFC
/// 2606) can never resolve: requests for it go over the virtual connection only.
pub(crate) fn contact(user: &str, name: &str) -> String {
    format!("sip:{user}@9p.invalid;transport=tcp;uac={name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uac_names_follow_the_tree_rules() {
        assert!(valid_uac_name("phone1"));
        assert!(valid_uac_name("desk+2_a-b.c"));
        assert!(!valid_uac_name(""));
        assert!(!valid_uac_name(".hidden"));
        assert!(!valid_uac_name("a b"));
        assert!(!valid_uac_name("a/b"));
        assert!(!valid_uac_name("caf\u{e9}"));
        assert!(!valid_uac_name(&"x".repeat(MAX_UAC_NAME + 1)));
    }

    #[test]
    fn the_contact_parses_as_a_sip_uri() {
        let uri = sip::Uri::parse(&contact("1001", "desk+2_a-b.c")).expect("uri");
        assert_eq!(uri.to_string(), contact("1001", "desk+2_a-b.c"));
    }
}
