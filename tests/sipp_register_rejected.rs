//! SIPp answers the challenge with a wrong password, and as a user that does not exist: both
//! get a second 401, never a 403 or 404 that would tell them apart (the byte-for-byte
//! comparison is tests/register_no_user_enumeration.rs).

mod common;

#[test]
fn wrong_password_and_unknown_user_are_challenged_again() {
    if common::peer("sipp").is_none() {
        return;
    }
    // Four failures each, eight in all, stay under the guard's threshold of ten.
    let config = common::config_with_users("127.0.0.1", 5, "");
    let mut server = common::Server::start_with_config(&config, &[]);
    for csv in ["users_wrong_password.csv", "users_unknown.csv"] {
        let run = common::sipp_with(
            "register_rejected.xml",
            server.sip,
            false,
            4,
            &["-inf", csv, "-key", "expires", "3600"],
        );
        assert!(run.success, "{csv}:\n{}", run.output);
    }
    assert!(server.alive());
}
