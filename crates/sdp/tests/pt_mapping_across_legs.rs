//! A payload type number on one leg is never assumed on the other: codecs are matched by name,
//! clock rate and channels; the offerer's answer speaks the offerer's numbers; the relay gets
//! one table per direction, telephone-event included.

#[path = "common/samples.rs"]
mod samples;

use std::net::{IpAddr, Ipv4Addr};

use samples::*;
use sdp::{CodecMatch, LegMedia, negotiate, rewrite};

const PBX: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn legs() -> (LegMedia, LegMedia) {
    (
        LegMedia::new(PBX, vec![20000], 100),
        LegMedia::new(PBX, vec![20002], 200),
    )
}

/// B's answer to Linphone's offer, written by a stack that numbers Opus 111 and 48 kHz events
/// 126 (a browser-derived one), and prefers PCMU.
const B_ANSWER_OWN_NUMBERS: &str = "v=0|o=- 5 5 IN IP4 127.0.0.30|s=-|c=IN IP4 127.0.0.30|t=0 0|\
m=audio 40000 RTP/AVP 0 111 126|a=rtpmap:0 PCMU/8000|a=rtpmap:111 OPUS/48000/2|\
a=fmtp:111 useinbandfec=1;usedtx=1|a=rtpmap:126 telephone-event/48000|a=fmtp:126 0-15|\
a=ptime:20|a=sendrecv|";

#[test]
fn answer_to_offerer_uses_offerer_numbers_and_maps_both_directions() {
    let (mut leg_a, mut leg_b) = legs();
    let a_offer = parse(LINPHONE);
    let b_offer = rewrite(&a_offer, &mut leg_b);
    // The INVITE to B keeps A's numbers: nothing is renumbered on the way out.
    assert_eq!(b_offer.media[0].formats, a_offer.media[0].formats);

    let b_answer = sdp(B_ANSWER_OWN_NUMBERS);
    let n = negotiate(&a_offer, &b_answer, &mut leg_a).expect("codecs in common");
    let s = &n.streams[0];
    let pairs: Vec<(String, u8, u8)> = s
        .codecs
        .iter()
        .map(|c| (c.codec.to_string(), c.offerer_pt, c.answerer_pt))
        .collect();
    assert_eq!(
        pairs,
        [
            ("PCMU/8000".to_owned(), 0, 0),
            ("opus/48000/2".to_owned(), 96, 111),
            ("telephone-event/48000".to_owned(), 101, 126),
        ]
    );

    // A's 200 OK: B's preference order, A's numbers and spelling, B's parameters.
    let answer = n.answer.to_string();
    assert!(
        answer.contains("m=audio 20000 RTP/AVP 0 96 101\r\n"),
        "{answer}"
    );
    assert!(answer.contains("a=rtpmap:96 opus/48000/2\r\n"), "{answer}");
    assert!(
        answer.contains("a=fmtp:96 useinbandfec=1;usedtx=1\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("a=rtpmap:101 telephone-event/48000\r\n"),
        "{answer}"
    );
    assert!(answer.contains("a=fmtp:101 0-15\r\n"), "{answer}");
    assert!(
        !answer.contains(":111") && !answer.contains(":126"),
        "{answer}"
    );

    // A sends with A's numbers, B must receive B's.
    assert_eq!(s.offerer_to_answerer.get(0), Some(0));
    assert_eq!(s.offerer_to_answerer.get(96), Some(111));
    assert_eq!(s.offerer_to_answerer.get(101), Some(126));
    assert_eq!(
        s.offerer_to_answerer.get(97),
        None,
        "speex was not accepted"
    );
    // B sends with the numbers of the offer it got, which are A's: identity; B's own numbers
    // are mapped too, for answerers that send with them.
    assert_eq!(s.answerer_to_offerer.get(96), Some(96));
    assert_eq!(s.answerer_to_offerer.get(101), Some(101));
    assert_eq!(s.answerer_to_offerer.get(111), Some(96));
    assert_eq!(s.answerer_to_offerer.get(126), Some(101));
    assert!(!s.offerer_to_answerer.is_identity());
    assert!(
        s.answerer_to_offerer
            .iter()
            .all(|(from, to)| from == to || from > 110)
    );
}

#[test]
fn swapped_numbers_on_the_two_legs() {
    let (mut leg_a, _) = legs();
    let a_offer = sdp(
        "v=0|o=- 1 1 IN IP4 127.0.0.20|s=-|c=IN IP4 127.0.0.20|t=0 0|\
m=audio 4000 RTP/AVP 96 97|a=rtpmap:96 opus/48000/2|a=rtpmap:97 telephone-event/48000|",
    );
    let b_answer = sdp(
        "v=0|o=- 1 1 IN IP4 127.0.0.21|s=-|c=IN IP4 127.0.0.21|t=0 0|\
m=audio 5000 RTP/AVP 97 96|a=rtpmap:97 opus/48000/2|a=rtpmap:96 telephone-event/48000|",
    );
    let n = negotiate(&a_offer, &b_answer, &mut leg_a).expect("negotiates");
    let m = &n.answer.media[0];
    assert_eq!(m.formats, ["96", "97"]);
    assert_eq!(m.codec(96).map(|c| c.name), Some("opus".to_owned()));
    assert_eq!(
        m.codec(97).map(|c| c.name),
        Some("telephone-event".to_owned())
    );
    let s = &n.streams[0];
    assert_eq!(s.offerer_to_answerer.get(96), Some(97));
    assert_eq!(s.offerer_to_answerer.get(97), Some(96));
    // 96 and 97 are the offer's own numbers, so the fallback for B's numbers stays out.
    assert!(s.answerer_to_offerer.is_identity());
}

#[test]
fn telephone_event_on_its_negotiated_type() {
    let (mut leg_a, mut leg_b) = legs();
    let a_offer = parse(SIPP_UAC_PCAP);
    let _to_b = rewrite(&a_offer, &mut leg_b);
    let b_answer = sdp(
        "v=0|o=- 1616 1616 IN IP4 127.0.0.16|s=Polycom IP Phone|c=IN IP4 127.0.0.16|\
t=0 0|a=sendrecv|m=audio 2236 RTP/AVP 8 127|a=rtpmap:8 PCMA/8000|a=rtpmap:127 telephone-event/8000|",
    );
    let n = negotiate(&a_offer, &b_answer, &mut leg_a).expect("negotiates");
    let s = &n.streams[0];
    let te = s.telephone_event().expect("DTMF shared");
    assert_eq!((te.offerer_pt, te.answerer_pt), (101, 127));
    assert_eq!(s.offerer_to_answerer.get(101), Some(127));
    assert_eq!(n.answer.media[0].telephone_event(), Some(101));
    assert_eq!(n.codecs_in_use(), ["PCMA/8000"]);
}

#[test]
fn static_types_match_by_name_not_number() {
    let (mut leg_a, _) = legs();
    // A names PCMU with a dynamic number; B uses the static 0 without rtpmap.
    let a_offer = sdp(
        "v=0|o=- 1 1 IN IP4 127.0.0.20|s=-|c=IN IP4 127.0.0.20|t=0 0|\
m=audio 4000 RTP/AVP 98 8|a=rtpmap:98 PCMU/8000|",
    );
    let b_answer = sdp(
        "v=0|o=- 1 1 IN IP4 127.0.0.21|s=-|c=IN IP4 127.0.0.21|t=0 0|\
m=audio 5000 RTP/AVP 0|",
    );
    let n = negotiate(&a_offer, &b_answer, &mut leg_a).expect("negotiates");
    assert_eq!(
        n.streams[0].codecs,
        [CodecMatch {
            codec: sdp::Codec::new("PCMU", 8000),
            offerer_pt: 98,
            answerer_pt: 0
        }]
    );
    let text = n.answer.to_string();
    assert!(
        text.contains("m=audio 20000 RTP/AVP 98\r\na=rtpmap:98 PCMU/8000\r\n"),
        "{text}"
    );
}

#[test]
fn the_relay_applies_a_map_to_the_payload_type_bits_only() {
    let (mut leg_a, _) = legs();
    let n = negotiate(&parse(LINPHONE), &sdp(B_ANSWER_OWN_NUMBERS), &mut leg_a).expect("ok");
    let map = n.streams[0].offerer_to_answerer;
    // Second RTP header byte: marker bit set, PT 101 (an RFC 4733 event's first packet).
    let byte = 0x80 | 101u8;
    let out = (byte & 0x80) | map.apply(byte & 0x7f);
    assert_eq!(out, 0x80 | 126);
    // A type nobody negotiated passes unchanged; whether to drop it is the relay's call.
    assert_eq!(map.apply(13), 13);
    assert_eq!(map.get(13), None);
}
