//! An independent 9P client (py9p, from PyPI) authenticates as an extension with the afid
//! exchange, lists and reads its tree, finds the call it is in under `ongoing/`, reads its
//! `metadata`, sees itself busy in `presence`, hangs the call up by writing `hangup` to the
//! call's `ctl` (both SIPp phones get BYE), and then reads the call's CDR under `cdr/`.

mod common;

use std::time::{Duration, Instant};

use common::Json;

#[test]
fn py9p_reads_a_live_call_and_hangs_it_up() {
    if common::peer("sipp").is_none() || !common::py9p() {
        return;
    }
    let config = common::call_config(2, "25100-25199", "");
    let server = common::Server::start_with_config(&config, &[]);
    let sip = server.sip;
    let callee_media = common::free_udp_port().to_string();
    let call = std::thread::spawn(move || {
        common::sipp_call(
            sip,
            "call_uas_answer.xml",
            &["-key", "rtp_port", &callee_media],
            "call_uac_hung_up.xml",
            &[],
        )
    });
    let addr = common::ninep_tcp(server.ninep);
    let caller = Some(("user1@127.0.0.1", "pw1"));

    // The extension's root, and the call once it is up.
    let end = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while Instant::now() < end {
        out = common::ninep_py(&addr, caller, &["ls", "/", "ls", "/ongoing"]);
        if out[2].entry_names() == ["user1_user0"] {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(out[0].get("ok").is_some_and(Json::is_true), "{out:?}");
    let challenge = out[0]
        .get("challenge")
        .and_then(Json::as_str)
        .unwrap_or_default();
    assert!(
        challenge.starts_with("digest realm=\"127.0.0.1\" nonce=\"")
            && challenge.ends_with("\" algorithm=SHA-256\n"),
        "{challenge:?}"
    );
    let mut root = out[1].entry_names();
    root.sort();
    assert_eq!(
        root,
        [
            "call_recordings",
            "cdr",
            "credential",
            "ctl",
            "ongoing",
            "presence",
            "uacs"
        ],
        "{out:?}"
    );
    assert_eq!(out[2].entry_names(), ["user1_user0"], "{out:?}");

    let call_dir = "/ongoing/user1_user0";
    let out = common::ninep_py(
        &addr,
        caller,
        &[
            "ls",
            call_dir,
            "cat",
            &format!("{call_dir}/metadata"),
            "cat",
            "/presence",
            "cat",
            "/credential",
        ],
    );
    let mut files = out[1].entry_names();
    files.sort();
    assert_eq!(
        files,
        [
            "ctl",
            "hep.sock",
            "metadata",
            "rtp_dest.sock",
            "rtp_src.sock"
        ],
        "{out:?}"
    );
    let metadata = out[2]
        .get("data")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let meta = Json::parse(&metadata).expect("metadata is JSON");
    assert_eq!(
        meta.get("from").and_then(Json::as_str).as_deref(),
        Some("user1")
    );
    assert_eq!(
        meta.get("to").and_then(Json::as_str).as_deref(),
        Some("user0")
    );
    assert_eq!(
        meta.get("state").and_then(Json::as_str).as_deref(),
        Some("up")
    );
    assert!(
        meta.get("media")
            .and_then(|m| m.get("caller_port"))
            .and_then(Json::as_u64)
            .is_some_and(|p| (25100..25200).contains(&p)),
        "{metadata}"
    );
    assert_eq!(
        out[3].get("data").and_then(Json::as_str).as_deref(),
        Some("user0 busy\nuser1 busy\n"),
        "{out:?}"
    );
    assert_eq!(
        out[4].get("error").and_then(Json::as_str).as_deref(),
        Some("permission denied"),
        "credential is write-only: {out:?}"
    );

    // Hang up through the call's ctl.
    let out = common::ninep_py(
        &addr,
        caller,
        &["write", &format!("{call_dir}/ctl"), "hangup\n"],
    );
    assert!(out[1].get("ok").is_some_and(Json::is_true), "{out:?}");
    let call = call.join().expect("sipp thread");
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);

    // The call is gone from ongoing/ and its CDR is under cdr/<day>/.
    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(cdrs[0].hangup_by, "system", "{cdrs:?}");
    let out = common::ninep_py(
        &addr,
        caller,
        &["ls", "/ongoing", "ls", "/cdr", "cat", "/presence"],
    );
    assert!(out[1].entry_names().is_empty(), "{out:?}");
    let days = out[2].entry_names();
    assert_eq!(days.len(), 1, "{out:?}");
    assert_eq!(
        out[3].get("data").and_then(Json::as_str).as_deref(),
        Some("user0 idle\nuser1 idle\n")
    );
    let day = format!("/cdr/{}", days[0]);
    let out = common::ninep_py(&addr, caller, &["ls", &day]);
    let files = out[1].entry_names();
    assert_eq!(files.len(), 1, "{out:?}");
    assert!(files[0].ends_with("_user1_user0.cdr"), "{files:?}");
    let out = common::ninep_py(&addr, caller, &["cat", &format!("{day}/{}", files[0])]);
    let cdr = Json::parse(
        &out[1]
            .get("data")
            .and_then(Json::as_str)
            .unwrap_or_default(),
    )
    .expect("CDR is JSON");
    assert_eq!(
        cdr.get("call_id").and_then(Json::as_str),
        Some(cdrs[0].call_id.clone())
    );
    assert_eq!(
        cdr.get("hangup_by").and_then(Json::as_str).as_deref(),
        Some("system")
    );
}
