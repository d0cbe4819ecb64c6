//! A malformed request from SIPp gets 400, and the server stays up and keeps answering, over
//! UDP and over TCP.

mod common;

#[test]
fn malformed_request_gets_400_and_server_stays_up() {
    if common::peer("sipp").is_none() {
        return;
    }
    // Ten malformed requests from one address within a minute would rightly get it blocked
    // by the brute-force guard (tests/sipvicious_guard.rs); this test is about the parser's
    // answers, so the guard is off.
    let mut server = common::Server::start_with_config("[guard]\nenabled = false\n", &[]);
    for tcp in [false, true] {
        let run = common::sipp("malformed.xml", server.sip, tcp, 5);
        assert!(run.success, "sipp (tcp: {tcp}) failed:\n{}", run.output);
    }
    assert!(server.alive());
    let ok = common::sipp("options.xml", server.sip, false, 1);
    assert!(ok.success, "server stopped answering:\n{}", ok.output);
}
