//! A call to a user of the domain with no registered contact: 480 once authenticated. One
//! CDR: cause 480.

mod common;

use std::time::Duration;

#[test]
fn call_to_unregistered_user_gets_480() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(3, "24500-24599", "");
    let server = common::Server::start_with_config(&config, &[]);
    let media = common::free_udp_ports(4).to_string();
    // user2 exists and has never registered.
    let uac = common::sipp_with(
        "call_uac_refused.xml",
        server.sip,
        false,
        1,
        &["-inf", "call_user1.csv", "-s", "user2", "-mp", &media],
    );
    assert!(uac.success, "caller:\n{}", uac.output);
    let finals: Vec<u16> = common::sipp_messages(&uac)
        .iter()
        .filter(|m| m.received && m.status() >= 200)
        .map(common::SippMessage::status)
        .collect();
    assert!(
        finals.first() == Some(&401) && finals.len() > 1 && finals[1..].iter().all(|s| *s == 480),
        "{finals:?}"
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(
        (cdrs[0].code, cdrs[0].to.as_str(), cdrs[0].answer),
        (480, "user2", None),
        "{cdrs:?}"
    );
}
