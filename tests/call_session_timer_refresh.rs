//! Session timers (RFC 4028) across the B2BUA: a caller asking for Session-Expires:
//! 90;refresher=uac gets a 200 with `Require: timer` and Session-Expires naming itself the
//! refresher; the callee is asked for a session timer too; the caller's refresh (an UPDATE)
//! reaches the callee and is answered with 200 and Session-Expires; the call goes on until
//! the caller's BYE. One CDR: answered, cause 200, hung up by the caller.

mod common;

use std::time::Duration;

/// The interval and the refresher of a Session-Expires value.
fn session_expires(value: &str) -> (u32, Option<String>) {
    let mut parts = value.split(';').map(str::trim);
    let interval = parts.next().and_then(|i| i.parse().ok()).unwrap_or(0);
    let refresher = parts.find_map(|p| p.strip_prefix("refresher=").map(str::to_owned));
    (interval, refresher)
}

#[test]
fn session_refresh_is_relayed_and_the_call_goes_on() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, "24800-24899", "");
    let server = common::Server::start_with_config(&config, &[]);
    let call = common::sipp_call(
        server.sip,
        "call_uas_session_timer.xml",
        &[],
        "call_uac_session_timer.xml",
        &[],
    );
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);

    // The callee is asked for a session timer no shorter than the caller's floor.
    let invite = common::sipp_find(&call.uas, true, |m| m.is_request("INVITE")).expect("INVITE");
    let se = invite
        .header("Session-Expires")
        .unwrap_or_else(|| panic!("no Session-Expires towards the callee:\n{}", invite.text));
    assert!(session_expires(&se).0 >= 90, "{se}");

    // The caller is told that it refreshes, every 90 s at most.
    let ok = common::sipp_find(&call.uac, true, |m| {
        m.status() == 200 && m.cseq_method() == "INVITE"
    })
    .expect("200");
    let se = ok
        .header("Session-Expires")
        .unwrap_or_else(|| panic!("no Session-Expires in the caller's 200:\n{}", ok.text));
    assert_eq!(session_expires(&se), (90, Some("uac".into())), "{se}");
    assert!(
        ok.header("Require")
            .is_some_and(|r| r.split(',').any(|t| t.trim() == "timer")),
        "{}",
        ok.text
    );

    // The refresh went through to the callee and back.
    let refresh = common::sipp_find(&call.uas, true, |m| m.is_request("UPDATE"))
        .expect("the callee got the refresh");
    assert!(
        refresh.header("Session-Expires").is_some(),
        "{}",
        refresh.text
    );
    let refreshed = common::sipp_find(&call.uac, true, |m| {
        m.status() == 200 && m.cseq_method() == "UPDATE"
    })
    .expect("200 to the refresh");
    let se = refreshed.header("Session-Expires").unwrap_or_else(|| {
        panic!(
            "no Session-Expires in the refresh's 200:\n{}",
            refreshed.text
        )
    });
    assert_eq!(session_expires(&se).0, 90, "{se}");
    assert!(
        common::sipp_find(&call.uas, true, |m| m.is_request("BYE")).is_some(),
        "the caller's BYE reaches the callee"
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (200, "caller"),
        "{cdr:?}"
    );
    assert!(cdr.answer.is_some() && cdr.billsec >= 3, "{cdr:?}");
}
