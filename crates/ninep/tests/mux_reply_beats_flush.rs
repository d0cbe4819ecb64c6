//! A reply that reaches the mux before the Rflush of its request is forwarded and honoured
//! (a walk's new fid is kept); the Rflush follows; the old tag stays taken until then.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::{Net, frames, names};
use ninep::msg::{Fcall, Fid, Tag};
use ninep::server::ename;

#[test]
fn a_walk_answered_before_the_flush_keeps_its_fid() {
    let mut net = Net::trusted();
    let c = net.versioned();
    net.attach_operator(c, 0);
    net.put(
        c,
        7,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(3),
            wnames: names("big"),
        },
    );
    net.put(c, 8, Fcall::Tflush { oldtag: Tag(7) });
    // The server answers the walk, then the flush (it has nothing left to abort).
    let replies = net.send_upstream();
    let replies = frames(&replies);
    assert_eq!(replies.len(), 2);
    net.mux.handle_upstream(replies[0]);
    net.deliver_clients();
    let r = net.take(c);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].tag, Tag(7));
    assert!(matches!(r[0].body, Fcall::Rwalk { .. }), "{r:?}");
    // Tag 7 is not free before the Rflush.
    net.put(c, 7, Fcall::Tclunk { fid: Fid(0) });
    net.deliver_clients();
    assert_eq!(
        net.take(c)[0].body,
        Fcall::Rerror {
            ename: ename::DUPLICATE_TAG
        }
    );
    net.mux.handle_upstream(replies[1]);
    net.pump();
    let r = net.take(c);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].tag, &r[0].body), (Tag(8), &Fcall::Rflush));
    // The walk happened: fid 3 is big/, upstream and here.
    assert_eq!(net.stat_name(c, 7, 3), "big");
    assert_eq!(net.up.fids(), 2);
    assert_eq!(net.mux.counters().fids, 2);
    assert_eq!(net.mux.counters().outstanding, 0);
}

#[test]
fn a_walk_flushed_before_it_ran_leaves_no_fid() {
    let mut net = Net::trusted();
    let c = net.versioned();
    net.attach_operator(c, 0);
    net.put(
        c,
        7,
        Fcall::Twalk {
            fid: Fid(0),
            newfid: Fid(3),
            wnames: names("big"),
        },
    );
    net.put(c, 8, Fcall::Tflush { oldtag: Tag(7) });
    // The upstream gets only the flush: the walk is lost on the way (as if the server
    // aborted it), so the Rflush comes without a reply.
    let up = net.mux.upstream_output().to_vec();
    net.mux.consume_upstream_output(up.len());
    let msgs = frames(&up);
    assert_eq!(msgs.len(), 2);
    let out = net.up.feed(msgs[1]);
    net.replies_from_upstream(&out);
    net.pump();
    let r = net.take(c);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].tag, &r[0].body), (Tag(8), &Fcall::Rflush));
    assert_eq!(net.mux.counters().fids, 1, "the new fid was dropped");
    let e = net.error(c, 9, Fcall::Tstat { fid: Fid(3) });
    assert_eq!(e, ename::UNKNOWN_FID);
}
