//! A client that sends many reads and never reads its socket: once the replies the mux holds
//! for it pass `--max-queued` (the socket's own buffer being full), the mux disconnects it,
//! while another client on the same mux keeps working, during the stall and after.

mod common;
mod mux_common;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use ninep::msg::OREAD;

#[test]
fn slow_reader_disconnected() {
    // 300 users: `presence` is about 4 KB, so each read's reply is.
    let server =
        common::Server::start_with_config(&common::config_with_users("example.com", 300, ""), &[]);
    let upstream = common::ninep_tcp(server.ninep);
    let mux = mux_common::MuxProc::start(&["--upstream", &upstream, "--max-queued", "65536"]);

    let mut other = mux_common::Conn::dial(&mux.path());
    let other_root = other.login("user1@example.com", "pw1").expect("login");

    let mut slow = mux_common::Conn::dial(&mux.path());
    let root = slow.login("user0@example.com", "pw0").expect("login");
    let presence = slow.walk(root, "presence").expect("walk");
    slow.rpc(|c, out| c.open(presence, OREAD, out), |_| ())
        .expect("open");

    // Batches of reads, never reading a reply, until the mux closes the connection (a
    // write fails) or far more than the cap and any socket buffer has been asked for.
    let mut asked = 0usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tag: u16 = 1000;
    let closed = loop {
        let mut out = Vec::new();
        for _ in 0..32 {
            let body = ninep::msg::Fcall::Tread {
                fid: presence,
                offset: 0,
                count: 8192,
            };
            ninep::msg::Message::new(ninep::msg::Tag(tag), body)
                .encode(&mut out)
                .expect("encode");
            tag = if tag == 60000 { 1000 } else { tag + 1 };
        }
        if slow.stream.write_all(&out).is_err() {
            break true;
        }
        asked += 32;
        if asked > 20_000 || Instant::now() > deadline {
            break false;
        }
        if asked.is_multiple_of(256) {
            // The other client is not held up by the stalled one.
            assert_eq!(
                other.stat(other_root, "/"),
                Ok(("user1".to_owned(), "user1@example.com".to_owned()))
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    };

    // Whatever the socket held, then the end: the mux closed it.
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0usize;
    let ended = loop {
        match slow.stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => received += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("read: {e}");
                break false;
            }
        }
    };
    assert!(
        ended,
        "the slow reader was disconnected (write failed: {closed}, {asked} reads asked, \
         {received} bytes were waiting)"
    );
    assert_eq!(
        other.stat(other_root, "/"),
        Ok(("user1".to_owned(), "user1@example.com".to_owned())),
        "the other client goes on"
    );
}
