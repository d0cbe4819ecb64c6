//! A Tflush whose oldtag the client has not outstanding is answered by the mux at once.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::Net;
use ninep::msg::{Fcall, Tag};

#[test]
fn an_unknown_oldtag_gets_rflush_at_once() {
    let mut net = Net::trusted();
    let c = net.versioned();
    net.attach_operator(c, 0);
    net.put(c, 3, Fcall::Tflush { oldtag: Tag(99) });
    assert!(
        net.mux.upstream_output().is_empty(),
        "nothing to flush upstream"
    );
    net.deliver_clients();
    let r = net.take(c);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].tag, Tag(3));
    assert_eq!(r[0].body, Fcall::Rflush);
    assert_eq!(net.mux.counters().outstanding, 0);
}
