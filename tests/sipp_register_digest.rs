//! SIPp registers 50 users from a CSV with MD5 digest (challenged, then 200), unregisters them
//! (Expires: 0), and a registration shorter than Min-Expires gets 423 with Min-Expires, over
//! UDP and TCP.

mod common;

#[test]
fn sipp_registers_many_users_with_digest_and_unregisters() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::config_with_users("127.0.0.1", 50, "");
    let mut server = common::Server::start_with_config(&config, &[]);
    for tcp in [false, true] {
        let csv = ["-inf", "users.csv"];
        let reg = common::sipp_with(
            "register.xml",
            server.sip,
            tcp,
            50,
            &[&csv[..], &["-key", "expires", "3600"]].concat(),
        );
        assert!(reg.success, "register (tcp: {tcp}):\n{}", reg.output);
        let unreg = common::sipp_with(
            "register.xml",
            server.sip,
            tcp,
            50,
            &[&csv[..], &["-key", "expires", "0"]].concat(),
        );
        assert!(unreg.success, "unregister (tcp: {tcp}):\n{}", unreg.output);
        let brief = common::sipp_with(
            "register_too_brief.xml",
            server.sip,
            tcp,
            5,
            &[&csv[..], &["-key", "expires", "30"]].concat(),
        );
        assert!(brief.success, "423 (tcp: {tcp}):\n{}", brief.output);
    }
    assert!(server.alive());
}
