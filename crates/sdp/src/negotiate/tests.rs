use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn parse(text: &str) -> SessionDescription {
    SessionDescription::parse(text.replace('|', "\r\n").as_bytes()).expect("parses")
}

fn leg() -> LegMedia {
    LegMedia::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![20000, 20002, 20004],
        1,
    )
}

fn sdp(host: &str, media: &str) -> SessionDescription {
    parse(&format!(
        "v=0|o=- 1 1 IN IP4 {host}|s=-|c=IN IP4 {host}|t=0 0|{media}"
    ))
}

#[test]
fn answer_without_rtpmap_for_an_offered_dynamic_type() {
    let offer = sdp(
        "127.0.0.10",
        "m=audio 4000 RTP/AVP 96 101|a=rtpmap:96 opus/48000/2|a=rtpmap:101 telephone-event/48000|",
    );
    let answer = sdp("127.0.0.11", "m=audio 5000 RTP/AVP 96 101|");
    let n = negotiate(&offer, &answer, &mut leg()).expect("negotiates");
    let s = &n.streams[0];
    assert_eq!(s.codecs.len(), 2);
    assert!(s.offerer_to_answerer.is_identity());
    // The answer to the offerer gets the rtpmaps the answerer left out.
    assert_eq!(
        n.answer.media[0].codec(96),
        Some(Codec::parse("opus/48000/2").expect("c"))
    );
    assert_eq!(n.answer.media[0].telephone_event(), Some(101));
}

#[test]
fn one_codec_offered_twice_matches_the_same_number_first() {
    let offer = sdp(
        "127.0.0.10",
        "m=video 4000 RTP/AVP 96 97|a=rtpmap:96 H264/90000|a=fmtp:96 packetization-mode=0|\
a=rtpmap:97 H264/90000|a=fmtp:97 packetization-mode=1|m=audio 4002 RTP/AVP 0|",
    );
    let answer = sdp(
        "127.0.0.11",
        "m=video 5000 RTP/AVP 97|a=rtpmap:97 H264/90000|a=fmtp:97 packetization-mode=1|\
m=audio 5002 RTP/AVP 0|",
    );
    let n = negotiate(&offer, &answer, &mut leg()).expect("negotiates");
    assert_eq!(n.streams[0].codecs[0].offerer_pt, 97);
    assert_eq!(n.answer.media[0].fmtp(97), Some("packetization-mode=1"));
    assert_eq!(n.codecs_in_use(), ["H264/90000", "PCMU/8000"]);
}

#[test]
fn red_follows_what_it_protects() {
    let offer = sdp(
        "127.0.0.10",
        "m=audio 4000 RTP/AVP 111 63 0|a=rtpmap:111 opus/48000/2|a=rtpmap:63 red/48000/2|\
a=fmtp:63 111/111|",
    );
    let answer = sdp(
        "127.0.0.11",
        "m=audio 5000 RTP/AVP 100 120 0|a=rtpmap:100 opus/48000/2|a=rtpmap:120 red/48000/2|\
a=fmtp:120 100/100|",
    );
    let n = negotiate(&offer, &answer, &mut leg()).expect("negotiates");
    let m = &n.answer.media[0];
    assert_eq!(m.formats, ["111", "63", "0"]);
    assert_eq!(m.fmtp(63), Some("111/111"));
    assert_eq!(n.streams[0].offerer_to_answerer.get(63), Some(120));

    // Red whose protected codec is not shared is not shared either.
    let answer = sdp(
        "127.0.0.11",
        "m=audio 5000 RTP/AVP 120 0|a=rtpmap:120 red/48000/2|a=fmtp:120 100/100|",
    );
    let n = negotiate(&offer, &answer, &mut leg()).expect("negotiates");
    assert_eq!(n.answer.media[0].formats, ["0"]);
}

#[test]
fn non_rtp_stream_passes_and_disabled_stream_stays_off() {
    let offer = sdp(
        "127.0.0.10",
        "m=audio 4000 RTP/AVP 0|m=image 4002 udptl t38|a=T38FaxVersion:0|m=video 0 RTP/AVP 31|",
    );
    let answer = sdp(
        "127.0.0.11",
        "m=audio 5000 RTP/AVP 0|m=image 5002 udptl t38|a=T38FaxVersion:0|m=video 0 RTP/AVP 31|",
    );
    let n = negotiate(&offer, &answer, &mut leg()).expect("negotiates");
    let outcomes: Vec<_> = n.streams.iter().map(|s| s.outcome).collect();
    assert_eq!(
        outcomes,
        [
            StreamOutcome::Accepted,
            StreamOutcome::Accepted,
            StreamOutcome::Disabled
        ]
    );
    assert_eq!(n.answer.media[1].formats, ["t38"]);
    assert_eq!(n.answer.media[1].port, 20002);
    assert!(n.streams[1].offerer_to_answerer.is_empty());
    assert_eq!(n.answer.media[2].port, 0);
}

#[test]
fn stream_count_mismatch_is_refused_and_leg_untouched() {
    let offer = sdp(
        "127.0.0.10",
        "m=audio 4000 RTP/AVP 0|m=audio 4002 RTP/AVP 0|",
    );
    let answer = sdp("127.0.0.11", "m=audio 5000 RTP/AVP 0|");
    let mut l = leg();
    let before = l.clone();
    assert_eq!(
        negotiate(&offer, &answer, &mut l),
        Err(NegotiationError::StreamCount {
            offer: 2,
            answer: 1
        })
    );
    assert_eq!(l, before);
    assert_eq!(NegotiationError::AllRejected.status(), 488);
}

#[test]
fn an_offer_with_every_stream_disabled_is_answered() {
    let offer = sdp("127.0.0.10", "m=audio 0 RTP/AVP 0|");
    let answer = sdp("127.0.0.11", "m=audio 0 RTP/AVP 0|");
    let n = negotiate(&offer, &answer, &mut leg()).expect("nothing to refuse");
    assert_eq!(n.streams[0].outcome, StreamOutcome::Disabled);
    assert!(n.codecs_in_use().is_empty());
}

#[test]
fn addresses_of_both_sides() {
    let offer = sdp("127.0.0.10", "m=audio 4000 RTP/AVP 0|a=rtcp:4009|");
    let answer = sdp("127.0.0.11", "m=audio 5000 RTP/AVP 0|");
    let n = negotiate(&offer, &answer, &mut leg()).expect("negotiates");
    let s = &n.streams[0];
    assert_eq!(s.offerer_rtp, Some("127.0.0.10:4000".parse().expect("a")));
    assert_eq!(s.offerer_rtcp, Some("127.0.0.10:4009".parse().expect("a")));
    assert_eq!(s.answerer_rtp, Some("127.0.0.11:5000".parse().expect("a")));
    assert_eq!(s.answerer_rtcp, Some("127.0.0.11:5001".parse().expect("a")));
}
