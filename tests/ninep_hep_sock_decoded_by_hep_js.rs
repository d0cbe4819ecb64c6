//! A live call's `hep.sock`: py9p (an independent 9P client) opens it, hangs the call up
//! through `ctl`, and reads HEP3 frames one per read; an independent decoder (npm's hep-js)
//! decodes every one, and they hold both directions of the call's SIP on both legs: the BYEs
//! the PBX sent to the caller and to the callee, and the 200s that came back, each with its
//! leg's Call-ID as correlation id.

mod common;

use std::time::{Duration, Instant};

use common::Json;

#[test]
fn hep_sock_frames_hold_both_directions_of_the_call_sip() {
    if common::peer("sipp").is_none() || !common::py9p() {
        return;
    }
    let Some(script) = common::hep_js() else {
        return;
    };
    let config = common::call_config(2, "25400-25499", "");
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
    let dir = "/ongoing/user1_user0";

    let end = Instant::now() + Duration::from_secs(20);
    let mut call_ids = Vec::new();
    while Instant::now() < end && call_ids.len() < 2 {
        let out = common::ninep_py(&addr, caller, &["cat", &format!("{dir}/metadata")]);
        let meta = out[1]
            .get("data")
            .and_then(Json::as_str)
            .and_then(|d| Json::parse(&d))
            .filter(|m| m.get("state").and_then(Json::as_str).as_deref() == Some("up"));
        if let Some(Json::Array(ids)) = meta.as_ref().and_then(|m| m.get("sip_call_ids")) {
            call_ids = ids.iter().filter_map(Json::as_str).collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(call_ids.len(), 2, "the call is up with both legs");

    // Open hep.sock, then hang up: the BYEs and their 200s are captured for this reader.
    let hep = format!("{dir}/hep.sock");
    let out = common::ninep_py(
        &addr,
        caller,
        &[
            "sockopen",
            &hep,
            "write",
            &format!("{dir}/ctl"),
            "hangup",
            "sockread",
            &hep,
            "4",
        ],
    );
    assert!(out[2].get("ok").is_some_and(Json::is_true), "{out:?}");
    let frames: Vec<Vec<u8>> = match out[3].get("packets") {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(Json::as_str)
            .map(|h| {
                (0..h.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex"))
                    .collect()
            })
            .collect(),
        _ => Vec::new(),
    };
    assert_eq!(frames.len(), 4, "{out:?}");
    let call = call.join().expect("sipp thread");
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);

    let decoded = common::hep_js_decode(&script, &frames);
    assert_eq!(decoded.len(), 4);
    let pbx = (sip.ip().to_string(), u64::from(sip.port()));
    let mut seen = Vec::new();
    for d in &decoded {
        assert_eq!(
            d.get("ok"),
            Some(&Json::Bool(true)),
            "hep-js refused a frame"
        );
        let info = d.get("rcinfo").expect("rcinfo");
        let text = |k: &str| info.get(k).and_then(Json::as_str).unwrap_or_default();
        let num = |k: &str| info.get(k).and_then(Json::as_u64).unwrap_or(u64::MAX);
        assert_eq!(num("payloadType"), 1, "SIP");
        let payload = d.get("payload").and_then(Json::as_str).unwrap_or_default();
        let first = payload.lines().next().unwrap_or_default().to_owned();
        let outbound = (text("srcIp"), num("srcPort")) == pbx;
        let inbound = (text("dstIp"), num("dstPort")) == pbx;
        assert!(outbound != inbound, "one end is the PBX: {info:?}");
        let correlation = text("correlation_id");
        assert!(
            call_ids.contains(&correlation),
            "{correlation} not in {call_ids:?}"
        );
        assert!(
            payload.contains(&format!("Call-ID: {correlation}"))
                || payload.contains(&format!("i: {correlation}")),
            "the frame's own Call-ID is its correlation id"
        );
        seen.push((
            outbound,
            first.starts_with("BYE ") || first.starts_with("SIP/2.0 200"),
            correlation,
        ));
    }
    for id in &call_ids {
        assert!(
            seen.iter().any(|(out, ok, c)| *out && *ok && c == id),
            "a BYE sent on leg {id}: {seen:?}"
        );
        assert!(
            seen.iter().any(|(out, ok, c)| !*out && *ok && c == id),
            "its 200 received on leg {id}: {seen:?}"
        );
    }
}
