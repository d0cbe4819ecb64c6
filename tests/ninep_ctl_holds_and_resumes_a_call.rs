//! The PBX holds and resumes a live call through its 9P `ctl`: py9p writes `hold`, both SIPp
//! phones get a re-INVITE whose audio is `a=inactive` (RFC 3264 section 8.4) and answer it,
//! and `metadata` says "held"; `unhold` brings `a=sendrecv` and "up" again; a second
//! `unhold` is refused with the reason; `hangup` ends the call with one CDR.

mod common;

use std::time::{Duration, Instant};

use common::Json;

const CALL_DIR: &str = "/ongoing/user1_user0";

/// The call's `metadata` state, once it is `want` (or what it was at the deadline).
fn wait_state(addr: &str, caller: Option<(&str, &str)>, want: &str) -> String {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let out = common::ninep_py(addr, caller, &["cat", &format!("{CALL_DIR}/metadata")]);
        let state = out
            .get(1)
            .and_then(|o| o.get("data"))
            .and_then(Json::as_str)
            .and_then(|m| Json::parse(&m))
            .and_then(|m| m.get("state").and_then(Json::as_str))
            .unwrap_or_default();
        if state == want || Instant::now() >= end {
            return state;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn write_ctl(addr: &str, caller: Option<(&str, &str)>, text: &str) -> Json {
    let out = common::ninep_py(addr, caller, &["write", &format!("{CALL_DIR}/ctl"), text]);
    out.get(1).cloned().expect("an answer to the write")
}

#[test]
fn ninep_ctl_holds_and_resumes_a_call() {
    if common::peer("sipp").is_none() || !common::py9p() {
        return;
    }
    let config = common::call_config(2, "25800-25899", "");
    let server = common::Server::start_with_config(&config, &[]);
    let sip = server.sip;
    let callee_media = common::free_udp_port().to_string();
    let call = std::thread::spawn(move || {
        common::sipp_call(
            sip,
            "hold_uas_held_resumed.xml",
            &["-key", "rtp_port", &callee_media],
            "hold_uac_held_resumed.xml",
            &[],
        )
    });
    let addr = common::ninep_tcp(server.ninep);
    let caller = Some(("user1@127.0.0.1", "pw1"));
    assert_eq!(wait_state(&addr, caller, "up"), "up");

    // Hold: both phones answer the re-INVITE (their scenarios check a=inactive).
    let out = write_ctl(&addr, caller, "hold\n");
    assert!(out.get("ok").is_some_and(Json::is_true), "{out:?}");
    assert_eq!(wait_state(&addr, caller, "held"), "held");
    let out = write_ctl(&addr, caller, "hold\n");
    assert_eq!(
        out.get("error").and_then(Json::as_str).as_deref(),
        Some("hold: the call is already held"),
        "{out:?}"
    );

    // Resume: a=sendrecv to both, "up" again; a second unhold is refused.
    let out = write_ctl(&addr, caller, "unhold\n");
    assert!(out.get("ok").is_some_and(Json::is_true), "{out:?}");
    assert_eq!(wait_state(&addr, caller, "up"), "up");
    let out = write_ctl(&addr, caller, "unhold\n");
    assert_eq!(
        out.get("error").and_then(Json::as_str).as_deref(),
        Some("unhold: the call is not held"),
        "{out:?}"
    );

    let out = write_ctl(&addr, caller, "hangup\n");
    assert!(out.get("ok").is_some_and(Json::is_true), "{out:?}");
    let call = call.join().expect("sipp thread");
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);
    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(cdrs[0].hangup_by, "system", "{cdrs:?}");
}
