//! A Tflush of a pending read is translated to the read's upstream tag; the read is
//! cancelled upstream, the client gets only the Rflush, and its old tag is not reused before
//! that Rflush.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::Net;
use ninep::msg::{Fcall, Fid, Tag};
use ninep::server::ename;

#[test]
fn a_flushed_read_is_cancelled_upstream() {
    let mut net = Net::trusted();
    let c = net.versioned();
    net.attach_operator(c, 0);
    net.open_read(c, 0, 1, "pipe");
    net.send(
        c,
        5,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 64,
        },
    );
    assert_eq!(net.up.tree.waiting.len(), 1);
    // The flush goes upstream but its answer is not back yet.
    net.put(c, 6, Fcall::Tflush { oldtag: Tag(5) });
    let replies = net.send_upstream();
    assert!(
        net.up.tree.waiting.is_empty(),
        "the upstream read was cancelled"
    );
    // Until the Rflush arrives, tag 5 is still taken.
    let e = net.error(c, 5, Fcall::Tstat { fid: Fid(0) });
    assert_eq!(e, ename::DUPLICATE_TAG);
    net.replies_from_upstream(&replies);
    net.pump();
    let r = net.take(c);
    assert_eq!(r.len(), 1, "only the Rflush: {r:?}");
    assert_eq!(r[0].tag, Tag(6));
    assert_eq!(r[0].body, Fcall::Rflush);
    // Now tag 5 is free, and data pushed later reaches no one.
    net.push(b"late");
    assert!(net.take(c).is_empty());
    assert_eq!(net.stat_name(c, 5, 0), "/");
    assert_eq!(net.mux.counters().outstanding, 0);
}
