//! Losing the upstream: every client gets Rerror for each outstanding request (Rflush for a
//! flush) and is disconnected; the mux asks for a new upstream, versions it, and serves new
//! clients over it.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::{Net, Server};
use ninep::msg::{Fcall, Fid, Tag};
use ninep::mux::{DisconnectReason, Event, ename};
use ninep::server;

#[test]
fn clients_get_rerror_and_are_disconnected_then_a_new_upstream_serves() {
    let mut net = Net::trusted();
    let a = net.versioned();
    let b = net.versioned();
    let idle = net.versioned();
    for &c in &[a, b] {
        net.attach_operator(c, 0);
        net.open_read(c, 0, 1, "pipe");
    }
    net.send(
        a,
        10,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 64,
        },
    );
    net.send(
        a,
        11,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 64,
        },
    );
    net.send(
        b,
        10,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 64,
        },
    );
    net.put(b, 12, Fcall::Tflush { oldtag: Tag(10) });
    net.mux.upstream_gone();
    net.pump();
    let lost = Fcall::Rerror {
        ename: ename::UPSTREAM_LOST,
    };
    let ra: Vec<_> = net.take(a).into_iter().map(|m| (m.tag.0, m.body)).collect();
    assert_eq!(ra, [(10, lost.clone()), (11, lost.clone())]);
    let rb: Vec<_> = net.take(b).into_iter().map(|m| (m.tag.0, m.body)).collect();
    assert_eq!(rb, [(10, lost.clone()), (12, Fcall::Rflush)]);
    assert!(net.take(idle).is_empty());
    let disconnected: Vec<_> = net
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Disconnect { client, reason } => Some((*client, *reason)),
            _ => None,
        })
        .collect();
    let up_lost = DisconnectReason::UpstreamLost;
    assert_eq!(disconnected, [(a, up_lost), (b, up_lost), (idle, up_lost)]);
    assert_eq!(net.events.last(), Some(&Event::Redial));
    // A disconnected client's input is ignored.
    net.put(a, 13, Fcall::Tstat { fid: Fid(0) });
    net.deliver_clients();
    assert!(net.take(a).is_empty());
    for c in [a, b, idle] {
        net.mux.client_gone(c);
    }
    assert_eq!(net.mux.counters(), Default::default());

    // A new client waits for the new upstream; its Tversion is answered once that is
    // versioned.
    let late = net.client();
    net.send(
        late,
        0xFFFF,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    );
    assert!(net.take(late).is_empty());
    net.up = Server::new(true, server::Config::default(), 10);
    net.mux.upstream_connected();
    net.pump();
    let r = net.take(late);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].body,
        Fcall::Rversion {
            msize: 8192,
            version: "9P2000"
        }
    );
    net.attach_operator(late, 0);
    assert_eq!(net.stat_name(late, 2, 0), "/");
    assert_eq!(net.up.fids(), 1);
}

#[test]
fn a_malformed_reply_closes_the_upstream() {
    let mut net = Net::trusted();
    let c = net.versioned();
    net.attach_operator(c, 0);
    net.put(c, 3, Fcall::Tstat { fid: Fid(0) });
    // An Rstat whose body is cut short.
    net.mux.handle_upstream(&[9, 0, 0, 0, 125, 0, 0, 1, 0]);
    net.pump();
    assert!(net.events.contains(&Event::CloseUpstream));
    let r = net.take(c);
    assert_eq!(
        r[0].body,
        Fcall::Rerror {
            ename: ename::UPSTREAM_LOST
        }
    );
}
