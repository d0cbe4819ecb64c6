//! A call to a user the domain does not have: challenged like any INVITE (401), then 404
//! once authenticated. One CDR: cause 404.

mod common;

use std::time::Duration;

#[test]
fn call_to_unknown_user_gets_404() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, "24400-24499", "");
    let server = common::Server::start_with_config(&config, &[]);
    let media = common::free_udp_ports(4).to_string();
    let uac = common::sipp_with(
        "call_uac_refused.xml",
        server.sip,
        false,
        1,
        &["-inf", "call_user1.csv", "-s", "nobody", "-mp", &media],
    );
    assert!(uac.success, "caller:\n{}", uac.output);
    let finals: Vec<u16> = common::sipp_messages(&uac)
        .iter()
        .filter(|m| m.received && m.status() >= 200)
        .map(common::SippMessage::status)
        .collect();
    assert!(
        finals.first() == Some(&401) && finals.len() > 1 && finals[1..].iter().all(|s| *s == 404),
        "{finals:?}"
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(
        (cdrs[0].code, cdrs[0].to.as_str(), cdrs[0].answer),
        (404, "nobody", None),
        "{cdrs:?}"
    );
}
