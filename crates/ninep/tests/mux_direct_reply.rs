//! A large reply to a client with nothing queued is left to the driver
//! (`handle_upstream_direct`): not copied into the client's output, returned with the
//! client's tag, the same bytes as the queued path gives once that tag is written in; with
//! output already queued for the client, or when small, it is queued behind, in order.

mod common;
#[path = "common/mux_net.rs"]
mod mux_net;

use mux_net::{Net, decode_all, frames};
use ninep::msg::{Fcall, Fid, Message, Tag};
use ninep::mux::{self, Direct};
use ninep::server;

/// A Tread of the open directory `big/` (fid 1) sent upstream; the server's reply bytes.
fn read_big(net: &mut Net, c: mux::ClientId, tag: u16) -> Vec<u8> {
    net.put(
        c,
        tag,
        Fcall::Tread {
            fid: Fid(1),
            offset: 0,
            count: 4096,
        },
    );
    net.send_upstream()
}

#[test]
fn a_large_reply_to_an_idle_client_is_left_to_the_driver() {
    let config = mux::Config {
        direct_min: 200,
        ..mux::Config::default()
    };
    let mut net = Net::with(config, server::Config::default(), true);
    let c = net.versioned();
    net.attach_operator(c, 0);
    net.open_read(c, 0, 1, "big");

    // Queued path first, for the bytes to compare with.
    let reply = read_big(&mut net, c, 9);
    net.replies_from_upstream(&reply);
    let queued = net.mux.client_output(c).to_vec();
    net.take(c);
    let [m] = &decode_all(&queued)[..] else {
        panic!("one reply: {queued:02x?}")
    };
    assert!(
        matches!(m.body, Fcall::Rread { data } if data.len() >= 200),
        "{m:?}"
    );

    // Direct: nothing queued, the frame and the client's tag handed back.
    let reply = read_big(&mut net, c, 10);
    let [frame] = &frames(&reply)[..] else {
        panic!("one frame")
    };
    let direct = net.mux.handle_upstream_direct(frame);
    assert_eq!(direct, Some(Direct { client: c, tag: 10 }));
    assert!(net.mux.client_output(c).is_empty(), "not copied");
    let mut sent = frame.to_vec();
    sent[5..7].copy_from_slice(&10u16.to_le_bytes());
    assert_eq!(&sent[7..], &queued[7..], "same reply");
    assert_eq!(Message::decode(&sent).map(|m| m.tag), Ok(Tag(10)));
    assert_eq!(
        net.mux.counters().outstanding,
        0,
        "its tag is free upstream"
    );

    // What the socket does not take goes to the client's output, and the client is ready.
    net.mux.push_client_output(c, &sent[100..]);
    assert_eq!(net.mux.poll_client_ready(), Some(c));
    assert_eq!(net.mux.client_output(c), &sent[100..]);
    let n = net.mux.client_output(c).len();
    net.mux.consume_client_output(c, n);
}

#[test]
fn with_output_queued_or_when_small_the_reply_is_queued_in_order() {
    let config = mux::Config {
        direct_min: 200,
        ..mux::Config::default()
    };
    let mut net = Net::with(config, server::Config::default(), true);
    let c = net.versioned();
    net.attach_operator(c, 0);
    net.open_read(c, 0, 1, "big");

    let reply = read_big(&mut net, c, 10);
    // A Tflush of an unknown tag is answered at once: the client has output queued.
    net.put(c, 11, Fcall::Tflush { oldtag: Tag(99) });
    assert!(!net.mux.client_output(c).is_empty());
    let [frame] = &frames(&reply)[..] else {
        panic!("one frame")
    };
    assert_eq!(net.mux.handle_upstream_direct(frame), None);
    let got = decode_all(net.mux.client_output(c));
    let tags: Vec<Tag> = got.iter().map(|m| m.tag).collect();
    assert_eq!(tags, [Tag(11), Tag(10)], "Rflush, then the Rread");
    net.take(c);

    // A small reply is queued even to an idle client.
    net.put(c, 12, Fcall::Tstat { fid: Fid(0) });
    let reply = net.send_upstream();
    let [frame] = &frames(&reply)[..] else {
        panic!("one frame")
    };
    assert!(frame.len() < 200);
    assert_eq!(net.mux.handle_upstream_direct(frame), None);
    let got = decode_all(net.mux.client_output(c));
    assert!(
        matches!(&got[..], [m] if m.tag == Tag(12) && matches!(m.body, Fcall::Rstat { .. })),
        "{got:?}"
    );
}
