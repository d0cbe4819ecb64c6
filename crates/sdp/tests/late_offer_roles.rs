//! Late offer: the PBX sends B an INVITE without SDP, B's offer arrives in the 200 and goes to
//! A in A's 200, A's answer arrives in the ACK and goes to B in B's ACK. The same calls as
//! early offer serve, with the roles swapped: B is the offerer, A the answerer.

#[path = "common/samples.rs"]
mod samples;

use std::net::{IpAddr, Ipv4Addr};

use samples::*;
use sdp::{Direction, LegMedia, negotiate, rewrite};

const PBX: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

#[test]
fn offer_in_200_answer_in_ack() {
    let mut leg_a = LegMedia::new(PBX, vec![20000], 10);
    let mut leg_b = LegMedia::new(PBX, vec![20002], 20);

    // B's 200 OK carries B's offer (Asterisk: 0 8 9 101).
    let b_offer = parse(ASTERISK);
    // A's 200 OK carries it, rewritten for A: PBX address, A-side port, B's numbers.
    let to_a = rewrite(&b_offer, &mut leg_a);
    let text = to_a.to_string();
    assert!(
        text.contains("m=audio 20000 RTP/AVP 0 8 9 101\r\n"),
        "{text}"
    );
    assert!(
        text.contains("o=switchboard 10 1 IN IP4 127.0.0.1\r\n"),
        "{text}"
    );
    assert!(!text.contains("127.0.0.15"), "{text}");

    // A's ACK answers with G.722 and DTMF under its own number 96.
    let a_answer = sdp(
        "v=0|o=- 500 501 IN IP4 127.0.0.11|s=-|c=IN IP4 127.0.0.11|t=0 0|\
m=audio 10262 RTP/AVP 9 96|a=rtpmap:9 G722/8000|a=rtpmap:96 telephone-event/8000|a=fmtp:96 0-15|",
    );
    let n = negotiate(&b_offer, &a_answer, &mut leg_b).expect("negotiates");

    // B's ACK: B's numbers, B-side port, B's leg o=.
    let to_b = n.answer.to_string();
    assert!(to_b.contains("m=audio 20002 RTP/AVP 9 101\r\n"), "{to_b}");
    assert!(
        to_b.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"),
        "{to_b}"
    );
    assert!(
        to_b.contains("o=switchboard 20 1 IN IP4 127.0.0.1\r\n"),
        "{to_b}"
    );

    // Offerer is B now: B sends 101, A receives 96.
    let s = &n.streams[0];
    assert_eq!(s.offerer_to_answerer.get(101), Some(96));
    assert_eq!(s.offerer_to_answerer.get(9), Some(9));
    assert_eq!(s.answerer_to_offerer.get(101), Some(101));
    assert_eq!(s.answerer_to_offerer.get(96), Some(101));
    assert_eq!(s.offerer_rtp, Some("127.0.0.15:17382".parse().expect("B")));
    assert_eq!(s.answerer_rtp, Some("127.0.0.11:10262".parse().expect("A")));
    assert_eq!(n.codecs_in_use(), ["G722/8000"]);
}

#[test]
fn late_offer_from_a_browser_loses_its_ice_on_the_way_to_a() {
    let mut leg_a = LegMedia::new(PBX, vec![20000], 10);
    let mut leg_b = LegMedia::new(PBX, vec![20002], 20);
    let b_offer = parse(WEBRTC);
    let to_a = rewrite(&b_offer, &mut leg_a);
    let text = to_a.to_string();
    for gone in [
        "a=candidate",
        "a=ice-",
        "a=rtcp-mux",
        "127.0.0.17",
        "0.0.0.0",
    ] {
        assert!(!text.contains(gone), "{gone} left in\n{text}");
    }
    assert!(text.contains("a=rtcp:20001 IN IP4 127.0.0.1\r\n"), "{text}");
    assert_eq!(to_a.direction_for(&to_a.media[0]), Direction::SendRecv);

    // A answers on the transport it was offered (the PBX passes the proto through).
    let a_answer = parse(&BARESIP.replace(
        "m=audio 10262 RTP/AVP 96 9 0 8 101",
        "m=audio 10262 UDP/TLS/RTP/SAVPF 0 101",
    ));
    let n = negotiate(&b_offer, &a_answer, &mut leg_b).expect("PCMU shared");
    let to_b = n.answer.to_string();
    // Telephone-event at 8 kHz: B numbered it 126.
    assert!(
        to_b.contains("m=audio 20002 UDP/TLS/RTP/SAVPF 0 126\r\n"),
        "{to_b}"
    );
    assert_eq!(n.streams[0].offerer_to_answerer.get(126), Some(101));
}

#[test]
fn reinvite_from_the_callee_after_early_offer() {
    // Early offer set the call up; then B sends a re-INVITE (B offers, A answers).
    let mut leg_a = LegMedia::new(PBX, vec![20000], 10);
    let mut leg_b = LegMedia::new(PBX, vec![20002], 20);
    let a_offer = parse(SIPP_UAC_PCAP);
    let _ = rewrite(&a_offer, &mut leg_b);
    let b_answer = sdp(
        "v=0|o=- 1 1 IN IP4 127.0.0.14|s=-|c=IN IP4 127.0.0.14|t=0 0|\
m=audio 6000 RTP/AVP 8 101|a=rtpmap:101 telephone-event/8000|",
    );
    let first = negotiate(&a_offer, &b_answer, &mut leg_a).expect("call up");
    assert_eq!(first.answer.origin.version(), Some(1));

    let b_reoffer = sdp(
        "v=0|o=- 1 2 IN IP4 127.0.0.14|s=-|c=IN IP4 127.0.0.14|t=0 0|\
m=audio 6000 RTP/AVP 8 101|a=rtpmap:101 telephone-event/8000|a=sendonly|",
    );
    let to_a = rewrite(&b_reoffer, &mut leg_a);
    // Leg A's second description: version 2, on the same session id.
    assert_eq!(to_a.origin.to_string(), "switchboard 10 2 IN IP4 127.0.0.1");
    let a_answer = sdp(
        "v=0|o=user1 53655765 2353687638 IN IP4 127.0.0.13|s=-|c=IN IP4 127.0.0.13|\
t=0 0|m=audio 6000 RTP/AVP 8 101|a=rtpmap:101 telephone-event/8000|a=recvonly|",
    );
    let n = negotiate(&b_reoffer, &a_answer, &mut leg_b).expect("negotiates");
    // Leg B's second description (its first was the INVITE's offer).
    assert_eq!(
        n.answer.origin.to_string(),
        "switchboard 20 2 IN IP4 127.0.0.1"
    );
    assert_eq!(
        n.answer.direction_for(&n.answer.media[0]),
        Direction::RecvOnly
    );
}
