//! A 9P client that sends far more requests than the sockets can hold replies for, without
//! reading, stalls only its own connection: the server waits for room to write (and reads
//! nothing more from it meanwhile), another client is served all along, and once the first
//! client reads, every reply arrives, in order.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ninep::msg::{Fcall, Fid, Message, NOTAG, Tag};

/// Far more replies (each an Rstat of about 60 bytes) than the two sockets' buffers hold.
const REQUESTS: usize = 100_000;

fn encode(tag: u16, body: Fcall<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    Message::new(Tag(tag), body)
        .encode(&mut out)
        .expect("encode");
    out
}

fn read_message(s: &mut UnixStream) -> Vec<u8> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).expect("a reply's size");
    let mut buf = size.to_vec();
    buf.resize(u32::from_le_bytes(size) as usize, 0);
    s.read_exact(&mut buf[4..]).expect("a reply");
    buf
}

/// Versions the connection and attaches fid 0 as the operator (the Unix socket's trust).
fn login(s: &mut UnixStream) {
    s.write_all(&encode(
        NOTAG,
        Fcall::Tversion {
            msize: 8192,
            version: "9P2000",
        },
    ))
    .expect("Tversion");
    let reply = read_message(s);
    assert!(matches!(
        Message::decode(&reply).expect("decodes").body,
        Fcall::Rversion { .. }
    ));
    s.write_all(&encode(
        0,
        Fcall::Tattach {
            fid: Fid(0),
            afid: Fid::NOFID,
            uname: "operator",
            aname: "",
        },
    ))
    .expect("Tattach");
    let reply = read_message(s);
    assert!(
        matches!(
            Message::decode(&reply).expect("decodes").body,
            Fcall::Rattach { .. }
        ),
        "the operator attaches"
    );
}

/// The tag of the i-th request: Tstat is answered at once, so tags can cycle.
fn tag_of(i: usize) -> u16 {
    (i % 50_000) as u16 + 1
}

#[test]
fn unread_replies_wait_and_arrive() {
    let server = common::Server::start(&[]);
    let mut stalled = UnixStream::connect(&server.ninep_unix).expect("connect");
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    login(&mut stalled);

    let mut writer = stalled.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let mut batch = Vec::new();
        for i in 0..REQUESTS {
            batch.extend(encode(tag_of(i), Fcall::Tstat { fid: Fid(0) }));
            if batch.len() > 64 * 1024 || i + 1 == REQUESTS {
                writer
                    .write_all(&batch)
                    .expect("the server takes the requests in the end");
                batch.clear();
            }
        }
    });

    // Nothing of the first client's is read yet: its replies fill the sockets and the server
    // stops taking its requests. Another client is served meanwhile.
    let mut other = UnixStream::connect(&server.ninep_unix).expect("connect");
    other
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    login(&mut other);
    other
        .write_all(&encode(7, Fcall::Tstat { fid: Fid(0) }))
        .expect("Tstat");
    let reply = read_message(&mut other);
    let reply = Message::decode(&reply).expect("decodes");
    assert_eq!(reply.tag, Tag(7));
    assert!(
        matches!(reply.body, Fcall::Rstat { .. }),
        "{:?}",
        reply.body
    );

    // The first client reads now: every reply, in order, none lost.
    for i in 0..REQUESTS {
        let reply = read_message(&mut stalled);
        let reply = Message::decode(&reply).expect("decodes");
        assert_eq!(reply.tag, Tag(tag_of(i)), "reply {i} in order");
        assert!(
            matches!(reply.body, Fcall::Rstat { .. }),
            "reply {i}: {:?}",
            reply.body
        );
    }
    sender.join().expect("the sender finished");
}
