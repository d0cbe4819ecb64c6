//! A session interval below RFC 4028's 90 s floor (Session-Expires: 30) is refused with 422
//! and `Min-SE: 90`, after the digest challenge; no callee is called. One CDR: cause 422.

mod common;

use std::time::Duration;

#[test]
fn session_expires_30_gets_422_with_min_se_90() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, "24900-24999", "");
    let server = common::Server::start_with_config(&config, &[]);
    // user0 is registered, but from a port where nobody answers: it must not be called.
    let callee = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    callee
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let reg = common::Register {
        user: "user0",
        password: "pw0",
        call_id: "callee-422",
        cseq: 1,
        contact: Some(&format!("sip:user0@{}", callee.local_addr().unwrap())),
        via: None,
        extra: "",
    };
    let (_, ok) = common::register_udp(server.sip, &callee, &reg).expect("registered");
    assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");

    let media = common::free_udp_ports(4).to_string();
    let uac = common::sipp_with(
        "call_uac_session_too_small.xml",
        server.sip,
        false,
        1,
        &["-inf", "call_user1.csv", "-s", "user0", "-mp", &media],
    );
    assert!(uac.success, "caller:\n{}", uac.output);
    let refusal = common::sipp_find(&uac, true, |m| m.status() == 422).expect("422");
    assert_eq!(
        refusal.header("Min-SE").as_deref(),
        Some("90"),
        "{}",
        refusal.text
    );

    let mut buf = [0u8; 4096];
    while let Ok((n, _)) = callee.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            !text.starts_with("INVITE "),
            "the callee was called:\n{text}"
        );
    }

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!((cdrs[0].code, cdrs[0].answer), (422, None), "{cdrs:?}");
}
