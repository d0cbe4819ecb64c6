//! sipvicious against the registrar: `svwar` enumerates no extension (every user, known or
//! not, gets the same challenge), and `svcrack` does not find a password that is the last of
//! 200 guesses, because the guard blocks its address after 10 failures, while a legitimate
//! phone on another address (127.0.0.2) keeps registering throughout. A control run with the
//! guard switched off lets svcrack find the password, so the test is seen to be able to fail.

mod common;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

const PASSWORD: &str = "Tr0ub4dor-last";

fn config(guard: bool) -> String {
    format!(
        "[guard]\nenabled = {guard}\n\n[[domain]]\nname = \"127.0.0.1\"\nusers = [\n  \
         {{ username = \"1005\", secret = \"{PASSWORD}\" }},\n  \
         {{ username = \"2000\", secret = \"phonepw\" }},\n]\n"
    )
}

/// One REGISTER from `sock` for user 2000, answering the challenge; true on 200.
fn legit_register(server: std::net::SocketAddr, sock: &UdpSocket, n: u32) -> bool {
    let Ok(local) = sock.local_addr() else {
        return false;
    };
    let contact = format!("sip:2000@{local}");
    let reg = common::Register {
        user: "2000",
        password: "phonepw",
        call_id: "legit",
        cseq: n * 2,
        contact: Some(&contact),
        via: None,
        extra: "Expires: 120\r\n",
    };
    common::register_udp(server, sock, &reg).is_some_and(|(_, a)| a.starts_with("SIP/2.0 200 "))
}

fn words() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipvicious/words.txt")
        .to_string_lossy()
        .into_owned()
}

fn svcrack(server: std::net::SocketAddr) -> String {
    let svcrack = common::peer("svcrack").expect("svcrack");
    let out = Command::new("timeout")
        .arg("60")
        .arg(svcrack)
        .args([
            "-u",
            "1005",
            "-d",
            &words(),
            "-b",
            "127.0.0.1",
            "-x",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &server.port().to_string(),
            "--maximumtime=8",
            "127.0.0.1",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run svcrack");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn svwar_finds_no_extension() {
    if common::peer("svwar").is_none() {
        return;
    }
    let server = common::Server::start_with_config(&config(true), &[]);
    let out = Command::new("timeout")
        .arg("60")
        .arg(common::peer("svwar").expect("svwar"))
        .args([
            "-b",
            "127.0.0.1",
            "-x",
            "127.0.0.1",
            "-p",
            &server.sip.port().to_string(),
        ])
        .args([
            "-e",
            "990-1010,1999-2001",
            "-m",
            "REGISTER",
            "--maximumtime=8",
            "127.0.0.1",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run svwar");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for ext in ["1005", "2000"] {
        assert!(
            !text.contains(&format!("| {ext} ")),
            "svwar found {ext}:\n{text}"
        );
    }
}

#[test]
fn svcrack_is_stopped_while_a_phone_keeps_registering() {
    if common::peer("svcrack").is_none() {
        return;
    }
    // With the guard: svcrack finds nothing; the phone on 127.0.0.2 registers throughout.
    let server = common::Server::start_with_config(&config(true), &[]);
    let sip = server.sip;
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let phone = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
            sock.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 200 {
                n += 1;
                let counter = if legit_register(sip, &sock, n) {
                    &ok
                } else {
                    &failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let guarded = svcrack(sip);
    stop.store(true, Ordering::Relaxed);
    phone.join().expect("phone thread");
    assert!(
        !guarded.contains(PASSWORD),
        "svcrack found the password through the guard:\n{guarded}"
    );
    // The block shows in /metrics.
    let (_, metrics) = common::http(server.http, "GET", "/metrics", None);
    assert!(
        metrics.contains("switchboard_blocked_sources 1\n"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("switchboard_auth_failures_total 0\n"),
        "{metrics}"
    );
    assert!(
        ok.load(Ordering::Relaxed) >= 5,
        "the phone barely registered: {ok:?}"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "the phone was hurt by the guard"
    );
    drop(server);

    // Control: without the guard svcrack finds it, so the assertion above can fail.
    let open = common::Server::start_with_config(&config(false), &[]);
    let unguarded = svcrack(open.sip);
    assert!(
        unguarded.contains(PASSWORD),
        "control run: svcrack should succeed:\n{unguarded}"
    );
}
