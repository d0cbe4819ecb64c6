//! Hold and resume across the B2BUA: after the answer the caller re-INVITEs with a=sendonly
//! (the callee answers recvonly), then with a=sendrecv. Both re-INVITEs get 200; the callee
//! sees sendonly and then sendrecv in what the PBX relays, each time with the relay's address
//! and a higher `o=` version of the PBX's own origin, and the caller sees recvonly and then
//! sendrecv. One CDR: answered, cause 200, hung up by the caller.

mod common;

use std::net::IpAddr;
use std::time::Duration;

const RTP_LO: u16 = 24700;
const RTP_HI: u16 = 24799;

/// The SDP of each distinct INVITE (by CSeq) that `run` received or of each 200 to one.
fn sdps(
    run: &common::SippRun,
    pick: impl Fn(&common::SippMessage) -> bool,
) -> Vec<common::SdpView> {
    let mut seen = std::collections::BTreeSet::new();
    common::sipp_messages(run)
        .into_iter()
        .filter(|m| m.received && pick(m))
        .filter(|m| seen.insert(m.header("CSeq").unwrap_or_default()))
        .map(|m| common::sdp_view(m.body()).unwrap_or_else(|| panic!("no SDP in\n{}", m.text)))
        .collect()
}

#[test]
fn reinvite_hold_and_resume_are_relayed_both_ways() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, &format!("{RTP_LO}-{RTP_HI}"), "");
    let server = common::Server::start_with_config(&config, &[]);
    let call = common::sipp_call(
        server.sip,
        "call_uas_hold_resume.xml",
        &[],
        "call_uac_hold_resume.xml",
        &[],
    );
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();

    // What the callee was offered: the call, hold, resume.
    let offers = sdps(&call.uas, |m| m.is_request("INVITE"));
    let directions: Vec<&str> = offers.iter().map(|s| s.direction.as_str()).collect();
    assert_eq!(
        directions,
        ["sendrecv", "sendonly", "sendrecv"],
        "{offers:?}"
    );
    for offer in &offers {
        assert_eq!(offer.address, Some(localhost), "{offer:?}");
        assert!(
            offer
                .audio_port
                .is_some_and(|p| (RTP_LO..=RTP_HI).contains(&p)),
            "{offer:?}"
        );
        assert_eq!(
            offer.origin_session, offers[0].origin_session,
            "one origin per leg"
        );
        assert_ne!(
            offer.origin_session.as_deref(),
            Some("1"),
            "the PBX's own o= line"
        );
    }
    let versions: Vec<u64> = offers.iter().filter_map(|s| s.origin_version).collect();
    assert!(
        versions.len() == 3 && versions.windows(2).all(|w| w[0] < w[1]),
        "o= versions must rise with each offer: {versions:?}"
    );

    // What the caller was answered.
    let answers = sdps(&call.uac, |m| {
        m.status() == 200 && m.cseq_method() == "INVITE"
    });
    let directions: Vec<&str> = answers.iter().map(|s| s.direction.as_str()).collect();
    assert_eq!(
        directions,
        ["sendrecv", "recvonly", "sendrecv"],
        "{answers:?}"
    );
    for answer in &answers {
        assert_eq!(answer.address, Some(localhost), "{answer:?}");
        assert!(
            answer
                .audio_port
                .is_some_and(|p| (RTP_LO..=RTP_HI).contains(&p)),
            "{answer:?}"
        );
    }
    let versions: Vec<u64> = answers.iter().filter_map(|s| s.origin_version).collect();
    assert!(
        versions.len() == 3 && versions.windows(2).all(|w| w[0] < w[1]),
        "each answer changes the SDP, so its o= version rises (RFC 3264 section 8): {versions:?}"
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (200, "caller"),
        "{cdr:?}"
    );
    assert!(cdr.answer.is_some(), "{cdr:?}");
}
