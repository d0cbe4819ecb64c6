//! A late-offer call (INVITE without SDP): the callee gets an INVITE without SDP and offers in
//! its 200; the caller's 200 carries an offer naming the PBX's relay (not the callee's media
//! address); the caller answers in its ACK, and the ACK the callee gets carries the answer,
//! again naming the relay. Then the caller's tone reaches the callee through the relay. One
//! CDR: answered, cause 200, hung up by the caller.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

const RTP_LO: u16 = 24600;
const RTP_HI: u16 = 24699;

#[test]
fn late_offer_is_made_in_the_200_and_answered_in_the_ack() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, &format!("{RTP_LO}-{RTP_HI}"), "");
    let server = common::Server::start_with_config(&config, &[]);
    let callee_media = common::RtpSocket::start(false);
    let rtp_port = callee_media.addr.port().to_string();
    let call = common::sipp_call(
        server.sip,
        "call_uas_late_offer.xml",
        &["-key", "rtp_port", &rtp_port],
        "call_uac_late_offer.xml",
        &[],
    );
    let seen = callee_media.finish();
    eprintln!("callee media: {seen:?}");
    assert!(call.uac.success, "caller:\n{}", call.uac.output);
    assert!(call.uas.success, "callee:\n{}", call.uas.output);
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    let in_range = |p: Option<u16>| p.is_some_and(|p| (RTP_LO..=RTP_HI).contains(&p));

    let invite = common::sipp_find(&call.uas, true, |m| m.is_request("INVITE")).expect("INVITE");
    assert!(
        common::sdp_view(invite.body()).is_none(),
        "the callee's INVITE has no offer:\n{}",
        invite.text
    );
    let ok = common::sipp_find(&call.uac, true, |m| {
        m.status() == 200 && m.cseq_method() == "INVITE"
    })
    .expect("the caller got a 200");
    let offer = common::sdp_view(ok.body()).expect("the caller's 200 carries the offer");
    assert!(
        offer.address == Some(localhost) && in_range(offer.audio_port),
        "{offer:?}"
    );
    assert!(offer.payload_types.contains(&8), "{offer:?}");
    let ack = common::sipp_find(&call.uas, true, |m| m.is_request("ACK")).expect("ACK");
    let answer = common::sdp_view(ack.body()).expect("the callee's ACK carries the answer");
    assert!(
        answer.address == Some(localhost)
            && in_range(answer.audio_port)
            && answer.audio_port != offer.audio_port,
        "{answer:?}"
    );
    assert!(answer.payload_types.contains(&8), "{answer:?}");

    // Media flows on what the ACK settled: the callee leg's relay port sends PCMA.
    assert!(seen.packets >= 20, "{seen:?}");
    let relay = SocketAddr::new(localhost, answer.audio_port.unwrap());
    assert_eq!(
        seen.sources.iter().copied().collect::<Vec<_>>(),
        vec![relay]
    );
    assert_eq!(
        seen.payload_types.iter().copied().collect::<Vec<_>>(),
        vec![8]
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (200, "caller"),
        "{cdr:?}"
    );
    assert!(cdr.answer.is_some() && cdr.billsec >= 2, "{cdr:?}");
}
