//! 9P `sip.sock` files as virtual connections of the SIP endpoint (DESIGN.md section 9).
//!
//! [`SipLinks`] is the endpoint's side of [`pbx::tree::SipSockets`]: each open of a
//! `sip.sock` gets a connection id from [`pbx::registrar::VIRTUAL_CONNS`] up (TCP counts from
//! 1 and never gets there), and from then on the endpoint treats it like a TCP connection:
//! answers and requests for its binding go back over it, into the file's queue, and its
//! clunk ends the binding as a closed connection does (RFC 5626 section 5.3). Writes reach the
//! endpoint through the same bounded queue as TCP's framed messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use ninep::FsError;
use pbx::Caller;
use pbx::tree::{SipSockOpen, SipSockets};
use sip::framing::{self, Frame};
use tokio::sync::mpsc;

use crate::endpoint::{ConnId, Inbound};

/// The SIP endpoint as the 9P tree's `sip.sock` files reach it. Cloning gives another handle
/// to the same endpoint.
#[derive(Clone)]
pub struct SipLinks {
    endpoint: mpsc::Sender<Inbound>,
    next: Arc<AtomicU64>,
    limits: sip::Limits,
}

impl std::fmt::Debug for SipLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipLinks").finish_non_exhaustive()
    }
}

impl SipLinks {
    pub(crate) fn new(endpoint: mpsc::Sender<Inbound>, limits: sip::Limits) -> Self {
        Self {
            endpoint,
            next: Arc::new(AtomicU64::new(pbx::registrar::VIRTUAL_CONNS)),
            limits,
        }
    }

    /// Hands `msg` to the endpoint without waiting; a full queue is the writer's to retry.
    fn offer(&self, msg: Inbound) -> Result<(), FsError> {
        self.endpoint.try_send(msg).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => FsError::other("SIP endpoint busy, try again"),
            mpsc::error::TrySendError::Closed(_) => FsError::other("SIP endpoint stopped"),
        })
    }
}

impl SipSockets for SipLinks {
    fn open(&self, open: SipSockOpen) -> Result<u64, FsError> {
        let conn = self.next.fetch_add(1, Ordering::Relaxed);
        self.offer(Inbound::SockOpened {
            conn: ConnId(conn),
            queue: open.queue,
            caller: Caller {
                domain: open.domain.to_string(),
                user: open.user.to_string(),
            },
            contact: open.contact,
            agent: open.agent,
            remote: open.remote,
        })?;
        Ok(conn)
    }

    fn write(&self, conn: u64, message: &[u8]) -> Result<(), FsError> {
        // One write, one whole message: a partial or doubled message is refused, and the
        // file stays usable (there is no stream to resynchronise).
        match framing::check(message, &self.limits) {
            Ok(Frame::Message(n)) if n == message.len() => self.offer(Inbound::SockWrite {
                conn: ConnId(conn),
                bytes: Bytes::copy_from_slice(message),
            }),
            Ok(Frame::Message(_)) => Err(FsError::other(
                "more than one SIP message: write one per write",
            )),
            Ok(_) => Err(FsError::other("not a whole SIP message")),
            Err(e) => Err(FsError::other(format!("not a SIP message: {e}"))),
        }
    }

    fn close(&self, conn: u64) {
        let msg = Inbound::Closed { conn: ConnId(conn) };
        match self.endpoint.try_send(msg) {
            Ok(()) => {}
            // The binding must end: wait for room, after whatever this file wrote before.
            Err(mpsc::error::TrySendError::Full(msg)) => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let endpoint = self.endpoint.clone();
                    runtime.spawn(async move {
                        let _ = endpoint.send(msg).await;
                    });
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> (SipLinks, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(4);
        (SipLinks::new(tx, sip::Limits::default()), rx)
    }

    const OPTIONS: &[u8] =
        b"OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/TCP 9p.invalid;branch=z9hG4bK1\r\n\
        From: <sip:1001@pbx.test>;tag=1\r\nTo: <sip:pbx.test>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn a_whole_message_reaches_the_endpoint() {
        let (links, mut rx) = links();
        links.write(VIRTUAL, OPTIONS).expect("accepted");
        match rx.try_recv() {
            Ok(Inbound::SockWrite { conn, bytes }) => {
                assert_eq!(conn, ConnId(VIRTUAL));
                assert_eq!(&bytes[..], OPTIONS);
            }
            _ => panic!("no SockWrite"),
        }
    }

    #[test]
    fn part_of_a_message_or_two_of_them_are_refused() {
        let (links, mut rx) = links();
        assert!(links.write(VIRTUAL, &OPTIONS[..40]).is_err());
        let two = [OPTIONS, OPTIONS].concat();
        assert!(links.write(VIRTUAL, &two).is_err());
        assert!(links.write(VIRTUAL, b"\r\n\r\n").is_err());
        assert!(rx.try_recv().is_err());
        // The file stays usable.
        assert!(links.write(VIRTUAL, OPTIONS).is_ok());
    }

    #[test]
    fn open_numbers_connections_apart_from_tcp() {
        let (links, mut rx) = links();
        let open = || SipSockOpen {
            domain: "pbx.test".into(),
            user: "1001".into(),
            contact: "sip:1001@9p.invalid".into(),
            agent: "9P test".into(),
            remote: "127.0.0.1:0".parse().expect("addr"),
            queue: media::PacketQueue::unwoken(4),
        };
        let a = links.open(open()).expect("open");
        let b = links.open(open()).expect("open");
        assert!(a >= pbx::registrar::VIRTUAL_CONNS && b > a);
        assert!(matches!(rx.try_recv(), Ok(Inbound::SockOpened { .. })));
    }

    #[test]
    fn a_full_endpoint_refuses_writes() {
        let (tx, _rx) = mpsc::channel(1);
        let links = SipLinks::new(tx, sip::Limits::default());
        links.write(VIRTUAL, OPTIONS).expect("room for one");
        assert!(links.write(VIRTUAL, OPTIONS).is_err());
    }

    const VIRTUAL: u64 = pbx::registrar::VIRTUAL_CONNS + 7;
}
