//! A session timer whose refresh never comes (RFC 4028 section 10): the caller asks for
//! Session-Expires: 90;refresher=uac, the callee does no timers, so the caller is made the
//! refresher; it never refreshes, and the PBX ends the call with a BYE to both sides before
//! the session expires (at 90 - min(32, 90/3) = 60 s). One CDR: answered, cause 408 Session
//! Expired, ended by the system. This test takes about a minute.

mod common;

use std::time::Duration;

#[test]
fn call_without_refresh_is_ended_by_the_pbx() {
    if common::peer("sipp").is_none() {
        return;
    }
    // No media flows in this call: the media timeout must not end it first.
    let config = common::call_config(2, "25100-25199", "[calls]\nmedia_timeout_secs = 0\n");
    let server = common::Server::start_with_config(&config, &[]);
    // Later arguments win over sipp_with's 30 s bounds.
    let long = ["-timeout", "100", "-recv_timeout", "90000"];
    let callee_media = common::free_udp_port().to_string();
    let call = common::sipp_call(
        server.sip,
        "call_uas_answer.xml",
        &[&long[..], &["-key", "rtp_port", &callee_media]].concat(),
        "call_uac_session_no_refresh.xml",
        &long,
    );
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);
    let ok = common::sipp_find(&call.uac, true, |m| {
        m.status() == 200 && m.cseq_method() == "INVITE"
    })
    .expect("200");
    assert!(
        ok.header("Session-Expires")
            .is_some_and(|se| se.starts_with("90") && se.contains("refresher=uac")),
        "the caller is made the refresher:\n{}",
        ok.text
    );
    for (side, run) in [("caller", &call.uac), ("callee", &call.uas)] {
        assert!(
            common::sipp_find(run, true, |m| m.is_request("BYE")).is_some(),
            "the PBX sends BYE to the {side}"
        );
    }

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (408, "system"),
        "{cdr:?}"
    );
    // Ended before the 90 s expiry, not before the RFC's last refresh point.
    assert!(
        cdr.answer.is_some() && (55..90).contains(&cdr.billsec),
        "{cdr:?}"
    );
}
