//! A SIPp caller calls a registered SIPp callee through the PBX and plays a G.711 tone
//! (`g711a.pcap`, PCMA); the packets reach the callee's media address, sent by the PBX's relay
//! port that the callee's SDP names (127.0.0.1, a port of the configured range), never the
//! caller's own port: media is anchored. One CDR: answered, cause 200 BYE, hung up by the
//! caller.

mod common;

use std::time::Duration;

const RTP_LO: u16 = 24000;
const RTP_HI: u16 = 24099;

#[test]
fn sipp_caller_tone_reaches_the_callee_through_the_relay() {
    if common::peer("sipp").is_none() {
        return;
    }
    let config = common::call_config(2, &format!("{RTP_LO}-{RTP_HI}"), "");
    let server = common::Server::start_with_config(&config, &[]);

    // user0 registers from the port its UAS then listens on; its media is a socket of ours.
    let callee_port = common::free_udp_port();
    common::sipp_register_from(server.sip, "users.csv", callee_port);
    let callee_media = common::RtpSocket::start(false);
    let callee_rtp = callee_media.addr.port().to_string();
    let callee_sipp_media = common::free_udp_ports(4).to_string();
    let uas = common::sipp_spawn(
        "call_uas_answer.xml",
        server.sip,
        callee_port,
        &["-key", "rtp_port", &callee_rtp, "-mp", &callee_sipp_media],
    );

    let caller_media = common::free_udp_ports(4);
    let uac = common::sipp_with(
        "call_uac_rtp.xml",
        server.sip,
        false,
        1,
        &[
            "-inf",
            "call_user1.csv",
            "-s",
            "user0",
            "-mp",
            &caller_media.to_string(),
        ],
    );
    let uas = common::sipp_join(uas);
    let seen = callee_media.finish();
    eprintln!("callee media: {seen:?}");
    assert!(uac.success, "caller:\n{}", uac.output);
    assert!(uas.success, "callee:\n{}", uas.output);

    // The callee was offered the PBX's relay, not the caller's media port.
    let invite = common::sipp_messages(&uas)
        .into_iter()
        .find(|m| m.received && m.is_request("INVITE"))
        .expect("the callee got an INVITE");
    let offer = common::sdp_view(invite.body()).expect("the INVITE has SDP");
    let relay_port = offer.audio_port.expect("m=audio");
    assert_eq!(
        offer.address,
        Some("127.0.0.1".parse().unwrap()),
        "{offer:?}"
    );
    assert!(
        (RTP_LO..=RTP_HI).contains(&relay_port) && relay_port != caller_media,
        "the callee's offer names port {relay_port}, outside {RTP_LO}-{RTP_HI}"
    );
    // And the caller was answered with a relay port too.
    let answer = common::sipp_messages(&uac)
        .into_iter()
        .find(|m| m.received && m.status() == 200 && m.cseq_method() == "INVITE")
        .expect("the caller got a 200");
    let answer = common::sdp_view(answer.body()).expect("the 200 has SDP");
    let caller_relay = answer.audio_port.expect("m=audio");
    assert!(
        (RTP_LO..=RTP_HI).contains(&caller_relay) && caller_relay != relay_port,
        "the caller's answer names port {caller_relay}"
    );

    // The tone (about 235 packets of 30 ms) came, PCMA, and only from the callee leg's relay
    // port.
    assert!(
        seen.packets >= 150,
        "only {} RTP packets reached the callee: {seen:?}",
        seen.packets
    );
    assert_eq!(
        seen.sources.iter().copied().collect::<Vec<_>>(),
        vec![std::net::SocketAddr::new(
            "127.0.0.1".parse().unwrap(),
            relay_port
        )],
        "RTP must come from the relay port offered to the callee"
    );
    assert_eq!(
        seen.payload_types.iter().copied().collect::<Vec<_>>(),
        vec![8]
    );

    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!((cdr.from.as_str(), cdr.to.as_str()), ("user1", "user0"));
    assert_eq!(
        (cdr.code, cdr.hangup_by.as_str()),
        (200, "caller"),
        "{cdr:?}"
    );
    assert!(cdr.answer.is_some() && cdr.end.is_some(), "{cdr:?}");
    // The caller hung up after 7.5 s of media.
    assert!(cdr.billsec >= 7 && cdr.billsec <= cdr.duration, "{cdr:?}");
}
