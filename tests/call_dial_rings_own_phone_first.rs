//! A call placed through the 9P tree: an extension (user1, a SIPp phone) writes
//! `dial user0` to its `ctl`; its own phone rings first (INVITE without SDP, From the
//! target) and answers with the offer in its 200 (a read of the `ctl` fid names the call); then the target (user0, another SIPp
//! phone) gets our INVITE with that offer rewritten, answers, and the extension's 200 is
//! ACKed with the answer (RFC 3725 flow I). The call shows under `ongoing/` as
//! `user1_user0`, is hung up through its `ctl` (both phones get BYE), and leaves one CDR from
//! user1 to user0.

mod common;

use std::time::{Duration, Instant};

use common::Json;

#[test]
fn dial_rings_the_extensions_phone_first_then_the_target() {
    if common::peer("sipp").is_none() || !common::py9p() {
        return;
    }
    let config = common::call_config(2, "25600-25699", "");
    let server = common::Server::start_with_config(&config, &[]);
    let sip = server.sip;

    // The target, user0, and the extension, user1: each a registered SIPp phone.
    let target_port = common::free_udp_port();
    common::sipp_register_from(sip, "users.csv", target_port);
    let target_media = common::free_udp_ports(4).to_string();
    let target = common::sipp_spawn(
        "call_uas_answer.xml",
        sip,
        target_port,
        &["-mp", &target_media, "-key", "rtp_port", &target_media],
    );
    let ext_port = common::free_udp_port();
    common::sipp_register_from(sip, "call_user1.csv", ext_port);
    let ext_media = common::free_udp_ports(4).to_string();
    let extension = common::sipp_spawn(
        "dial_extension_offers.xml",
        sip,
        ext_port,
        &["-mp", &ext_media, "-key", "rtp_port", &ext_media],
    );

    let addr = common::ninep_tcp(server.ninep);
    let user1 = Some(("user1@127.0.0.1", "pw1"));
    // The write places the call; a read of the same fid names it under ongoing/.
    let out = common::ninep_py(&addr, user1, &["writeread", "/ctl", "dial user0\n"]);
    assert!(out[1].get("ok").is_some_and(Json::is_true), "{out:?}");
    let name = out[1]
        .get("data")
        .and_then(Json::as_str)
        .unwrap_or_default();
    assert_eq!(name.trim_end(), "user1_user0", "{out:?}");

    // The call is up once both phones answered.
    let call_dir = format!("/ongoing/{}", name.trim_end());
    let end = Instant::now() + Duration::from_secs(20);
    let mut meta = None;
    while Instant::now() < end {
        let out = common::ninep_py(&addr, user1, &["cat", &format!("{call_dir}/metadata")]);
        let data = out[1].get("data").and_then(Json::as_str);
        if let Some(m) = data.as_deref().and_then(Json::parse)
            && m.get("state").and_then(Json::as_str).as_deref() == Some("up")
        {
            meta = Some(m);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let meta = meta.expect("the dialled call comes up");
    assert_eq!(
        meta.get("from").and_then(Json::as_str).as_deref(),
        Some("user1")
    );
    assert_eq!(
        meta.get("to").and_then(Json::as_str).as_deref(),
        Some("user0")
    );

    let out = common::ninep_py(
        &addr,
        user1,
        &["write", &format!("{call_dir}/ctl"), "hangup\n"],
    );
    assert!(out[1].get("ok").is_some_and(Json::is_true), "{out:?}");
    let extension = common::sipp_join(extension);
    let target = common::sipp_join(target);
    assert!(extension.success, "extension:\n{}", extension.output);
    assert!(target.success, "target:\n{}", target.output);

    // The extension's phone was called first, without an offer; the target got the
    // extension's offer rewritten to the relay, from user1.
    let ext_invite = common::sipp_find(&extension, true, |m| m.is_request("INVITE"))
        .expect("the extension's INVITE");
    assert!(ext_invite.body().trim().is_empty(), "{}", ext_invite.body());
    let target_invite =
        common::sipp_find(&target, true, |m| m.is_request("INVITE")).expect("the target's INVITE");
    assert!(
        target_invite
            .header("From")
            .is_some_and(|f| f.contains("user1@")),
        "{target_invite:?}"
    );
    let offer = common::sdp_view(target_invite.body()).expect("an offer to the target");
    assert!(
        offer
            .audio_port
            .is_some_and(|p| (25600..25700).contains(&p)),
        "the relay's port, not the extension's: {offer:?}"
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(
        (cdrs[0].from.as_str(), cdrs[0].to.as_str()),
        ("user1", "user0")
    );
    assert!(cdrs[0].answer.is_some(), "{cdrs:?}");
    assert_eq!(cdrs[0].hangup_by, "system", "{cdrs:?}");
}
