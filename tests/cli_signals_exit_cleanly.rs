//! SIGTERM and SIGINT stop the server cleanly: exit status 0, and a log line saying so.

mod common;

#[test]
fn sigterm_exits_zero() {
    let mut server = common::Server::start(&[]);
    assert_eq!(server.signal_and_wait(15), Some(0));
    assert!(server.stderr().iter().any(|l| l.contains("shutting down")));
}

#[test]
fn sigint_exits_zero() {
    let mut server = common::Server::start(&[]);
    assert_eq!(server.signal_and_wait(2), Some(0));
}

#[test]
fn flags_override_the_config_file() {
    // The config asks for a fixed port; --sip 127.0.0.1:0 (added by Server::start) wins,
    // or this would collide with the listener below.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let config = format!("[sip]\nlisten = \"127.0.0.1:{port}\"\n");
    let mut server = common::Server::start_with_config(&config, &[]);
    assert_ne!(server.sip.port(), port);
    assert!(server.alive());
}
