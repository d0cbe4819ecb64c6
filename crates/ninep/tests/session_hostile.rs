//! Bytes that are not well-formed requests: each gets an Rerror with its tag when it has
//! one, and the session keeps serving.

mod common;

use common::Harness;
use ninep::msg::{Fcall, Fid, Message, Tag, mtype};
use ninep::server::ename;

fn still_serving(h: &mut Harness) {
    let r = h.rpc(50, Fcall::Tstat { fid: Fid(0) });
    assert!(matches!(r.body, Fcall::Rstat { .. }), "{r:?}");
}

#[test]
fn an_oversized_message_gets_rerror() {
    let mut h = Harness::attached();
    let data = vec![0u8; 9000];
    let bytes = Message::new(
        Tag(5),
        Fcall::Twrite {
            fid: Fid(0),
            offset: 0,
            data: &data,
        },
    )
    .to_bytes()
    .expect("encodes");
    let r = h.feed(&bytes);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].tag, &r[0].body),
        (
            Tag(5),
            &Fcall::Rerror {
                ename: ename::TOO_BIG
            }
        )
    );
    still_serving(&mut h);
}

#[test]
fn an_oversized_decoded_message_gets_rerror_too() {
    let mut h = Harness::attached();
    let data = vec![0u8; 9000];
    let msg = Message::new(
        Tag(5),
        Fcall::Twrite {
            fid: Fid(0),
            offset: 0,
            data: &data,
        },
    );
    h.session.handle_message(&mut h.tree, &msg);
    let r = h.drain();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].tag, &r[0].body),
        (
            Tag(5),
            &Fcall::Rerror {
                ename: ename::TOO_BIG
            }
        )
    );
}

#[test]
fn a_truncated_message_gets_rerror_with_its_tag() {
    let mut h = Harness::attached();
    let bytes = Message::new(
        Tag(6),
        Fcall::Tattach {
            fid: Fid(1),
            afid: Fid::NOFID,
            uname: "glenda",
            aname: "",
        },
    )
    .to_bytes()
    .expect("encodes");
    for cut in 7..bytes.len() {
        // The size field is corrected to the cut, as a peer would send it.
        let mut short = bytes[..cut].to_vec();
        short[..4].copy_from_slice(&(cut as u32).to_le_bytes());
        let r = h.feed(&short);
        assert_eq!(r.len(), 1, "cut at {cut}");
        assert_eq!(r[0].tag, Tag(6));
        assert!(
            matches!(r[0].body, Fcall::Rerror { .. }),
            "cut at {cut}: {r:?}"
        );
    }
    assert_eq!(h.fids(), 1);
    still_serving(&mut h);
}

#[test]
fn trailing_bytes_get_rerror() {
    let mut h = Harness::attached();
    let mut bytes = Message::new(Tag(6), Fcall::Tclunk { fid: Fid(0) })
        .to_bytes()
        .expect("encodes");
    bytes.push(0);
    bytes[0] += 1;
    let r = h.feed(&bytes);
    assert!(matches!(r[0].body, Fcall::Rerror { .. }), "{r:?}");
    // The clunk did not happen.
    still_serving(&mut h);
}

#[test]
fn unknown_types_terror_and_replies_get_rerror() {
    let mut h = Harness::attached();
    for ty in [0u8, 99, mtype::TERROR, 128, 255] {
        let r = h.feed(&[7, 0, 0, 0, ty, 9, 0]);
        assert_eq!(r.len(), 1, "type {ty}");
        assert!(matches!(r[0].body, Fcall::Rerror { .. }), "type {ty}");
    }
    let r = h.rpc(9, Fcall::Rclunk);
    assert_eq!(
        r.body,
        Fcall::Rerror {
            ename: ename::NOT_REQUEST
        }
    );
    still_serving(&mut h);
}

#[test]
fn bad_utf8_and_nul_in_names_get_rerror() {
    let mut h = Harness::attached();
    // Twalk fid 0 newfid 1, one name of two bytes.
    for name in [[0xff, 0xfe], [b'a', 0]] {
        let mut m = vec![0, 0, 0, 0, mtype::TWALK, 3, 0];
        m.extend_from_slice(&0u32.to_le_bytes());
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(&1u16.to_le_bytes());
        m.extend_from_slice(&2u16.to_le_bytes());
        m.extend_from_slice(&name);
        let len = m.len() as u32;
        m[..4].copy_from_slice(&len.to_le_bytes());
        let r = h.feed(&m);
        assert!(matches!(r[0].body, Fcall::Rerror { .. }), "{r:?}");
    }
    assert_eq!(h.fids(), 1);
}

#[test]
fn a_frame_shorter_than_a_header_is_ignored() {
    let mut h = Harness::attached();
    assert!(h.feed(&[3, 0, 0]).is_empty());
    still_serving(&mut h);
}
