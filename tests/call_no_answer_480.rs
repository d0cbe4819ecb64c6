//! A callee that rings and never answers: after `[calls] no_answer_secs` the PBX cancels the
//! callee's INVITE (the callee gets a CANCEL) and the caller gets 480. One CDR: unanswered,
//! cause 480, ended by the system.

mod common;

use std::time::Duration;

#[test]
fn unanswered_call_times_out_with_480_and_cancels_the_callee() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, "24300-24399", "[calls]\nno_answer_secs = 2\n");
    let server = common::Server::start_with_config(&config, &[]);
    let call = common::sipp_call(
        server.sip,
        "call_uas_ring.xml",
        &[],
        "call_uac_refused.xml",
        &[],
    );
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);

    let uac = common::sipp_messages(&call.uac);
    assert!(
        uac.iter().any(|m| m.received && m.status() == 180),
        "the caller heard ringing first:\n{}",
        call.uac.output
    );
    let finals: Vec<u16> = uac
        .iter()
        .filter(|m| m.received && m.status() >= 200 && m.cseq_method() == "INVITE")
        .map(common::SippMessage::status)
        .collect();
    assert!(
        finals.len() > 1 && finals[1..].iter().all(|s| *s == 480),
        "{finals:?}"
    );
    assert!(
        common::sipp_find(&call.uas, true, |m| m.is_request("CANCEL")).is_some(),
        "the callee's ringing is cancelled:\n{}",
        call.uas.output
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (480, "system"),
        "{cdr:?}"
    );
    assert_eq!((cdr.answer, cdr.billsec), (None, 0), "{cdr:?}");
    // It rang for the configured time.
    assert!(cdr.duration >= 1, "{cdr:?}");
}
