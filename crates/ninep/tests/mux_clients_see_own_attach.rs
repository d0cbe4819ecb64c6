//! Many clients through one mux, each authenticating as its own user with the very same tags
//! and fids: each sees exactly its own tree, and the upstream sees one attach per client.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::{Net, names};
use ninep::msg::{Fcall, Fid};

const CLIENTS: usize = 20;

fn user(i: usize) -> &'static str {
    if i.is_multiple_of(2) { "alice" } else { "bob" }
}

#[test]
fn colliding_tags_and_fids_each_see_their_own_attach() {
    let mut net = Net::new();
    let clients: Vec<_> = (0..CLIENTS).map(|_| net.versioned()).collect();
    // Every client: afid 100, root fid 0, tags 1..4.
    for (i, &c) in clients.iter().enumerate() {
        net.login(c, 100, 0, user(i));
    }
    assert_eq!(net.up.session.counters().attaches, CLIENTS);
    // Interleaved: every client sends the same request under the same tag before any reply
    // comes back, then each gets its own answer.
    for &c in &clients {
        net.put(c, 9, Fcall::Tstat { fid: Fid(0) });
    }
    net.pump();
    for (i, &c) in clients.iter().enumerate() {
        let r = net.take(c);
        assert_eq!(r.len(), 1, "{r:?}");
        match &r[0].body {
            Fcall::Rstat { stat } => assert_eq!(stat.name, user(i)),
            other => panic!("client {i}: {other:?}"),
        }
    }
    // Alice's tree has "notes"; bob's does not: same fid, same tag, different answers.
    for &c in &clients {
        net.put(
            c,
            10,
            Fcall::Twalk {
                fid: Fid(0),
                newfid: Fid(1),
                wnames: names("notes"),
            },
        );
    }
    net.pump();
    for (i, &c) in clients.iter().enumerate() {
        let r = net.take(c);
        assert_eq!(r.len(), 1, "{r:?}");
        match (&r[0].body, user(i)) {
            (Fcall::Rwalk { wqids }, "alice") => assert_eq!(wqids.len(), 1),
            (Fcall::Rerror { .. }, "bob") => {}
            (other, u) => panic!("client {i} ({u}): {other:?}"),
        }
    }
    // Alice's fid 1 reads her notes.
    let alice = clients[0];
    let r = net.rpc(
        alice,
        11,
        Fcall::Topen {
            fid: Fid(1),
            mode: 0,
        },
    );
    assert!(matches!(r.body, Fcall::Ropen { .. }), "{r:?}");
    let r = net.rpc(
        alice,
        12,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 100,
        },
    );
    assert_eq!(
        r.body,
        Fcall::Rread {
            data: b"alice's notes\n"
        }
    );
    // Upstream fids: afid and root of every client, and alice's walks.
    let alices = CLIENTS.div_ceil(2);
    assert_eq!(net.up.fids(), 2 * CLIENTS + alices);
    assert_eq!(net.mux.counters().fids, net.up.fids());
}
