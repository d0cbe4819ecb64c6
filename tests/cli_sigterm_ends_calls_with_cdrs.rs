//! SIGTERM with a call up: both phones get BYE, the call's CDR is committed (cause 503, hung up
//! by the system) before the process exits 0, and it is there after a restart.

mod common;

use std::time::{Duration, Instant};

#[test]
fn sigterm_byes_live_calls_and_keeps_their_cdrs() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, "25300-25399", "");
    let mut server = common::Server::start_with_config(&config, &[]);
    let sip = server.sip;
    let callee_media = common::free_udp_port().to_string();
    let call = std::thread::spawn(move || {
        common::sipp_call(
            sip,
            "call_uas_answer.xml",
            &["-key", "rtp_port", &callee_media],
            "call_uac_hung_up.xml",
            &[],
        )
    });
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        let (_, listing) = common::http(server.http, "GET", "/call", None);
        if listing.contains(r#""state":"up""#) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    assert_eq!(server.signal_and_wait(15), Some(0), "clean exit");
    let call = call.join().expect("sipp thread");
    assert!(call.uac.success, "caller got no BYE:\n{}", call.uac.output);
    assert!(call.uas.success, "callee got no BYE:\n{}", call.uas.output);

    let server = server.restart_stopped(&[]);
    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(
        (cdrs[0].code, cdrs[0].hangup_by.as_str()),
        (503, "system"),
        "{cdrs:?}"
    );
    assert!(cdrs[0].answer.is_some(), "{cdrs:?}");
}
