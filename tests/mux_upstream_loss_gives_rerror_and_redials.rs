//! The upstream `switchboard serve` dies while a client of the mux has a request outstanding
//! there (a read of an open `sip.sock`, which waits for a SIP message): the client gets
//! Rerror (or its connection ends), and once a new server listens on the same port, a new
//! client through the same mux logs in and works (the mux dialled it again).

mod common;
mod mux_common;

use std::io::Write;
use std::time::{Duration, Instant};

use ninep::msg::ORDWR;

#[test]
fn upstream_loss_gives_rerror_and_redials() {
    let config = common::config_with_users("example.com", 2, "");
    let port = mux_common::free_tcp_port();
    let server = mux_common::ServeOnPort::start(&config, port);
    let mux = mux_common::MuxProc::start(&["--upstream", &format!("tcp!127.0.0.1!{port}")]);

    let mut c = mux_common::Conn::dial(&mux.path());
    let root = c.login("user0@example.com", "pw0").expect("login");
    c.mkdir(root, "uacs", "phone").expect("mkdir uacs/phone");
    let sock = c.walk(root, "uacs/phone/sip.sock").expect("walk sip.sock");
    c.rpc(|cl, out| cl.open(sock, ORDWR, out), |_| ())
        .expect("open sip.sock");
    // The read waits upstream: no SIP message comes.
    let mut out = Vec::new();
    let read = c.client.read(sock, 0, 8192, &mut out).expect("read");
    c.stream.write_all(&out).expect("send the read");
    std::thread::sleep(Duration::from_millis(200));
    drop(server);

    let got = c.rpc(|_, _| Ok(()), |_| ());
    assert!(
        got.is_err(),
        "the outstanding read (tag {read:?}) ends in Rerror or EOF, not {got:?}"
    );

    let _server = mux_common::ServeOnPort::start(&config, port);
    // The mux dials again with a backoff; a Tversion that comes first waits for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let stat = loop {
        let mut c = mux_common::Conn::dial(&mux.path());
        match c.login("user1@example.com", "pw1") {
            Ok(root) => break c.stat(root, "/"),
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("no session through the mux after the new server: {e}"),
        }
    };
    assert_eq!(
        stat,
        Ok(("user1".to_owned(), "user1@example.com".to_owned()))
    );
}
