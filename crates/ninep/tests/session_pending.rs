//! Reads that pend, retry_pending, and flush(5): Rflush at once and never Rerror, no reply
//! to a flushed read ever after, the tree told.

mod common;

use common::{Event, Harness};
use ninep::msg::{Fcall, Fid, NOTAG, Tag};

fn pipe_open() -> (Harness, u64) {
    let mut h = Harness::attached();
    h.open_read(1, "pipe");
    let pipe = h.tree.lookup("/pipe").expect("pipe");
    (h, pipe)
}

#[test]
fn a_pending_read_is_answered_when_data_comes() {
    let (mut h, _) = pipe_open();
    assert!(
        h.send(
            9,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 100
            }
        )
        .is_empty()
    );
    assert!(h.retry().is_empty(), "nothing yet");
    h.tree.push(b"packet");
    let r = h.retry();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].tag, &r[0].body),
        (Tag(9), &Fcall::Rread { data: b"packet" })
    );
    assert_eq!(h.session.counters().outstanding, 0);
}

#[test]
fn pending_reads_are_answered_oldest_first() {
    let (mut h, _) = pipe_open();
    for tag in [9, 3, 7] {
        assert!(
            h.send(
                tag,
                Fcall::Tread {
                    fid: Fid(1),
                    offset: 0,
                    count: 100
                }
            )
            .is_empty()
        );
    }
    h.tree.push(b"one");
    h.tree.push(b"two");
    let r = h.retry();
    let got: Vec<(Tag, Fcall<'_>)> = r.into_iter().map(|m| (m.tag, m.body)).collect();
    assert_eq!(
        got,
        [
            (Tag(9), Fcall::Rread { data: b"one" }),
            (Tag(3), Fcall::Rread { data: b"two" })
        ]
    );
    assert_eq!(h.session.counters().outstanding, 1);
}

#[test]
fn flush_cancels_a_pending_read_for_good() {
    let (mut h, pipe) = pipe_open();
    assert!(
        h.send(
            9,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 100
            }
        )
        .is_empty()
    );
    let r = h.rpc(10, Fcall::Tflush { oldtag: Tag(9) });
    assert_eq!(r.body, Fcall::Rflush);
    assert!(h.tree.events.contains(&Event::Cancel {
        path: pipe,
        tag: Tag(9)
    }));
    assert!(h.tree.waiting.is_empty());
    h.tree.push(b"late");
    assert!(h.retry().is_empty(), "no Rread after the Rflush");
    // The tag is free again.
    assert!(
        h.send(
            9,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 100
            }
        )
        .len()
            == 1
    );
}

#[test]
fn flush_of_an_unknown_tag_gets_rflush() {
    let mut h = Harness::attached();
    let r = h.rpc(10, Fcall::Tflush { oldtag: Tag(1234) });
    assert_eq!(r.body, Fcall::Rflush);
}

#[test]
fn flush_after_the_reply_gets_rflush_only() {
    let (mut h, _) = pipe_open();
    assert!(
        h.send(
            9,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 100
            }
        )
        .is_empty()
    );
    h.tree.push(b"x");
    assert_eq!(h.retry().len(), 1);
    let r = h.rpc(10, Fcall::Tflush { oldtag: Tag(9) });
    assert_eq!(r.body, Fcall::Rflush);
    assert!(
        !h.tree
            .events
            .iter()
            .any(|e| matches!(e, Event::Cancel { .. }))
    );
}

#[test]
fn flush_is_never_rerror() {
    // Before version, with NOTAG, with its own tag as oldtag, with a tag in use.
    let mut h = Harness::new();
    assert_eq!(
        h.rpc(1, Fcall::Tflush { oldtag: Tag(1) }).body,
        Fcall::Rflush
    );
    let (mut h, _) = pipe_open();
    assert!(
        h.send(
            9,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 100
            }
        )
        .is_empty()
    );
    assert_eq!(
        h.rpc(NOTAG, Fcall::Tflush { oldtag: Tag(3) }).body,
        Fcall::Rflush
    );
    assert_eq!(
        h.rpc(9, Fcall::Tflush { oldtag: Tag(9) }).body,
        Fcall::Rflush
    );
    assert_eq!(h.session.counters().outstanding, 0);
}

#[test]
fn two_flushes_of_one_tag_are_both_answered_in_order() {
    let (mut h, _) = pipe_open();
    assert!(
        h.send(
            9,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 100
            }
        )
        .is_empty()
    );
    assert_eq!(
        h.rpc(10, Fcall::Tflush { oldtag: Tag(9) }).body,
        Fcall::Rflush
    );
    assert_eq!(
        h.rpc(11, Fcall::Tflush { oldtag: Tag(9) }).body,
        Fcall::Rflush
    );
    let cancels = h
        .tree
        .events
        .iter()
        .filter(|e| matches!(e, Event::Cancel { .. }))
        .count();
    assert_eq!(cancels, 1);
}

#[test]
fn clunk_with_a_pending_read_answers_it_with_rerror_first() {
    let (mut h, pipe) = pipe_open();
    assert!(
        h.send(
            9,
            Fcall::Tread {
                fid: Fid(1),
                offset: 0,
                count: 100
            }
        )
        .is_empty()
    );
    let r = h.send(10, Fcall::Tclunk { fid: Fid(1) });
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].tag, Tag(9));
    assert!(matches!(r[0].body, Fcall::Rerror { .. }));
    assert_eq!((r[1].tag, &r[1].body), (Tag(10), &Fcall::Rclunk));
    assert!(h.tree.events.contains(&Event::Cancel {
        path: pipe,
        tag: Tag(9)
    }));
    assert!(h.tree.events.contains(&Event::Clunk {
        path: pipe,
        open: true
    }));
    h.tree.push(b"late");
    assert!(h.retry().is_empty());
}

#[test]
fn a_read_that_is_answered_at_once_is_not_outstanding() {
    let (mut h, _) = pipe_open();
    h.tree.push(b"ready");
    assert_eq!(h.read(9, 1, 0, 100), b"ready");
    assert_eq!(h.session.counters().outstanding, 0);
}

#[test]
fn a_packet_larger_than_the_count_is_cut_to_it() {
    let (mut h, _) = pipe_open();
    h.tree.push(b"0123456789");
    assert_eq!(h.read(9, 1, 0, 4), b"0123");
}
