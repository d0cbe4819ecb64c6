//! A client at its cap of outstanding requests gets Rerror at once for the next one (and can
//! still flush); other clients are not affected.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::Net;
use ninep::msg::{Fcall, Fid, Tag};
use ninep::{mux, server};

#[test]
fn beyond_the_cap_requests_are_refused_locally() {
    let config = mux::Config {
        max_outstanding: 2,
        ..mux::Config::default()
    };
    let mut net = Net::with(config, server::Config::default(), true);
    let c = net.versioned();
    let other = net.versioned();
    net.attach_operator(c, 0);
    net.attach_operator(other, 0);
    net.open_read(c, 0, 1, "pipe");
    net.send(
        c,
        10,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 64,
        },
    );
    net.send(
        c,
        11,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 64,
        },
    );
    net.put(c, 12, Fcall::Tstat { fid: Fid(0) });
    assert!(
        net.mux.upstream_output().is_empty(),
        "refused without going upstream"
    );
    net.pump();
    let r = net.take(c);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].tag, &r[0].body),
        (
            Tag(12),
            &Fcall::Rerror {
                ename: server::ename::TOO_MANY_REQUESTS
            }
        )
    );
    // At the cap, a flush still goes through.
    let r = net.rpc(c, 13, Fcall::Tflush { oldtag: Tag(10) });
    assert_eq!(r.body, Fcall::Rflush);
    assert_eq!(net.stat_name(c, 14, 0), "/");
    assert_eq!(net.stat_name(other, 10, 0), "/");
}
