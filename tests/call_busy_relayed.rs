//! A busy callee's 486 reaches the caller, and the PBX ACKs the callee's 486. One CDR:
//! unanswered, cause 486, hung up by the callee.

mod common;

use std::time::Duration;

#[test]
fn callee_busy_486_reaches_the_caller() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, "24200-24299", "");
    let server = common::Server::start_with_config(&config, &[]);
    let call = common::sipp_call(
        server.sip,
        "call_uas_busy.xml",
        &[],
        "call_uac_refused.xml",
        &[],
    );
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);
    let finals: Vec<u16> = common::sipp_messages(&call.uac)
        .iter()
        .filter(|m| m.received && m.status() >= 200 && m.cseq_method() == "INVITE")
        .map(common::SippMessage::status)
        .collect();
    // The first INVITE's 401, then the relayed 486 (retransmissions aside).
    assert_eq!(finals.first(), Some(&401), "{finals:?}");
    assert!(
        finals[1..].iter().all(|s| *s == 486) && finals.len() > 1,
        "{finals:?}"
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (486, "callee"),
        "{cdr:?}"
    );
    assert_eq!((cdr.answer, cdr.billsec), (None, 0), "{cdr:?}");
}
