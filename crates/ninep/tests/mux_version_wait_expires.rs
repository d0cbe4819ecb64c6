//! A client's Tversion that waits for an upstream that is not there does not wait forever:
//! once the driver expires it, the client gets Rerror, stays connected without a session, and
//! a later Tversion is answered once the upstream is versioned.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::{Server, decode_all, enc};
use ninep::msg::{Fcall, NOTAG, Tag};
use ninep::mux::{Config, Mux, ename};
use ninep::server;

fn version(tag: u16) -> Vec<u8> {
    enc(
        tag,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    )
}

#[test]
fn a_pending_version_expires_with_rerror_and_may_be_sent_again() {
    let mut mux = Mux::new(Config::default());
    let c = mux.add_client();
    mux.handle_client(c, &version(NOTAG));
    assert!(
        mux.version_pending(c),
        "no upstream yet: the Tversion waits"
    );
    assert!(mux.client_output(c).is_empty());

    mux.expire_version(c);
    assert!(!mux.version_pending(c));
    let out = decode_all(mux.client_output(c));
    let n = mux.client_output(c).len();
    mux.consume_client_output(c, n);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].tag, Tag::NOTAG);
    assert_eq!(
        out[0].body,
        Fcall::Rerror {
            ename: ename::UPSTREAM_DOWN
        }
    );
    assert_eq!(mux.poll_event(), None, "the client is not disconnected");
    // A second expiry has nothing left to answer.
    mux.expire_version(c);
    assert!(mux.client_output(c).is_empty());

    // The client asks again; the upstream comes and answers it.
    mux.handle_client(c, &version(NOTAG));
    assert!(mux.version_pending(c));
    let mut up = Server::new(true, server::Config::default(), 1);
    mux.upstream_connected();
    let replies = up.feed(mux.upstream_output());
    let n = mux.upstream_output().len();
    mux.consume_upstream_output(n);
    for f in mux_net::frames(&replies) {
        mux.handle_upstream(f);
    }
    assert!(!mux.version_pending(c));
    let out = decode_all(mux.client_output(c));
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        matches!(
            out[0].body,
            Fcall::Rversion {
                version: "9P2000",
                ..
            }
        ),
        "{out:?}"
    );
}
