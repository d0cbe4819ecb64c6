//! A malformed request from SIPp gets 400, and the server stays up and keeps answering, over
//! UDP and over TCP.

mod common;

#[test]
fn malformed_request_gets_400_and_server_stays_up() {
    if common::peer("sipp").is_none() {
        return;
    }
    let mut server = common::Server::start(&[]);
    for tcp in [false, true] {
        let run = common::sipp("malformed.xml", server.sip, tcp, 5);
        assert!(run.success, "sipp (tcp: {tcp}) failed:\n{}", run.output);
    }
    assert!(server.alive());
    let ok = common::sipp("options.xml", server.sip, false, 1);
    assert!(ok.success, "server stopped answering:\n{}", ok.output);
}
