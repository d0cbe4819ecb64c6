//! SIPp sends OPTIONS over UDP to a running `switchboard serve` and gets 200, with Allow,
//! Accept, Supported, a To tag, and its Via echoed with received and rport.

mod common;

#[test]
fn sipp_options_over_udp() {
    if common::peer("sipp").is_none() {
        return;
    }
    let mut server = common::Server::start(&[]);
    let run = common::sipp("options.xml", server.sip, false, 20);
    assert!(run.success, "sipp failed:\n{}", run.output);
    assert!(server.alive());
}
