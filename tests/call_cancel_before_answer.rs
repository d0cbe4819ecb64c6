//! A caller that hangs up while the callee rings: the caller's CANCEL gets 200 and its INVITE
//! 487; the PBX cancels the callee's ringing INVITE (the callee gets a CANCEL, answers 200 and
//! 487, and the PBX ACKs). One CDR: unanswered, cause 487, hung up by the caller.

mod common;

use std::time::Duration;

#[test]
fn caller_cancel_while_ringing_reaches_the_callee() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, "24100-24199", "");
    let server = common::Server::start_with_config(&config, &[]);
    let call = common::sipp_call(
        server.sip,
        "call_uas_ring.xml",
        &[],
        "call_uac_cancel.xml",
        &[],
    );
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);

    let got = |run: &common::SippRun, status: u16, method: &str| {
        common::sipp_find(run, true, |m| {
            m.status() == status && m.cseq_method() == method
        })
        .is_some()
    };
    assert!(
        got(&call.uac, 200, "CANCEL"),
        "caller:\n{}",
        call.uac.output
    );
    assert!(
        got(&call.uac, 487, "INVITE"),
        "caller:\n{}",
        call.uac.output
    );
    assert!(
        !got(&call.uac, 200, "INVITE"),
        "caller:\n{}",
        call.uac.output
    );
    let cancel = common::sipp_find(&call.uas, true, |m| m.is_request("CANCEL"))
        .expect("the callee got a CANCEL");
    let invite = common::sipp_find(&call.uas, true, |m| m.is_request("INVITE")).expect("INVITE");
    // The CANCEL matches the callee's INVITE transaction.
    assert_eq!(cancel.header("Via"), invite.header("Via"));
    assert_eq!(cancel.header("Call-ID"), invite.header("Call-ID"));
    assert!(
        common::sipp_find(&call.uas, true, |m| m.is_request("ACK")).is_some(),
        "the PBX ACKs the callee's 487"
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (487, "caller"),
        "{cdr:?}"
    );
    assert_eq!((cdr.answer, cdr.billsec), (None, 0), "{cdr:?}");
    assert!(cdr.end.is_some(), "{cdr:?}");
}
