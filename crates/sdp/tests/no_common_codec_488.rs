//! When the legs share no codec the PBX answers 488: a typed error, per stream and for the
//! whole offer; a second stream without a codec is only rejected while audio still flows.

#[path = "common/samples.rs"]
mod samples;

use std::net::{IpAddr, Ipv4Addr};

use samples::*;
use sdp::{LegMedia, NegotiationError, StreamOutcome, negotiate, retain_codecs};

fn leg() -> LegMedia {
    LegMedia::new(IpAddr::V4(Ipv4Addr::LOCALHOST), vec![20000, 20002], 1)
}

fn head(host: &str) -> String {
    format!("v=0|o=- 1 1 IN IP4 {host}|s=-|c=IN IP4 {host}|t=0 0|")
}

#[test]
fn answer_with_only_foreign_codecs_is_488() {
    let offer = parse(SIPP_UAS); // PCMU only
    let answer = sdp(&format!(
        "{}m=audio 5000 RTP/AVP 8 101|a=rtpmap:101 telephone-event/8000|",
        head("127.0.0.21")
    ));
    let mut l = leg();
    let before = l.clone();
    let err = negotiate(&offer, &answer, &mut l).expect_err("nothing shared");
    assert_eq!(err, NegotiationError::NoCommonCodec { stream: 0 });
    assert_eq!(err.status(), 488);
    assert_eq!(l, before, "no o= version spent on a failed negotiation");
}

#[test]
fn telephone_event_alone_is_not_a_common_codec() {
    let offer = parse(SIPP_UAC_PCAP); // PCMA + telephone-event
    let answer = sdp(&format!(
        "{}m=audio 5000 RTP/AVP 0 101|a=rtpmap:101 telephone-event/8000|",
        head("127.0.0.21")
    ));
    assert_eq!(
        negotiate(&offer, &answer, &mut leg()),
        Err(NegotiationError::NoCommonCodec { stream: 0 })
    );
}

#[test]
fn answerer_rejecting_the_only_audio_stream_is_488() {
    let offer = parse(ASTERISK);
    let answer = sdp(&format!("{}m=audio 0 RTP/AVP 0|", head("127.0.0.21")));
    let err = negotiate(&offer, &answer, &mut leg()).expect_err("rejected");
    assert_eq!(err, NegotiationError::AllRejected);
    assert_eq!(err.status(), 488);
}

#[test]
fn a_second_audio_stream_without_codec_is_rejected_alone() {
    let offer = sdp(&format!(
        "{}m=audio 4000 RTP/AVP 0|m=audio 4002 RTP/AVP 9|",
        head("127.0.0.20")
    ));
    let answer = sdp(&format!(
        "{}m=audio 5000 RTP/AVP 0|m=audio 5002 RTP/AVP 8|",
        head("127.0.0.21")
    ));
    let n = negotiate(&offer, &answer, &mut leg()).expect("first stream flows");
    assert_eq!(n.streams[0].outcome, StreamOutcome::Accepted);
    assert_eq!(n.streams[1].outcome, StreamOutcome::NoCommonCodec);
    assert!(n.streams[1].codecs.is_empty() && n.streams[1].offerer_to_answerer.is_empty());
    let m = &n.answer.media[1];
    assert_eq!(
        (m.port, m.formats.as_slice()),
        (0, ["9".to_owned()].as_slice())
    );
}

#[test]
fn video_without_codec_is_rejected_while_audio_flows() {
    let offer = parse(IPV6_VIDEO);
    let answer = sdp(
        "v=0|o=- 1 1 IN IP6 ::1|s=-|c=IN IP6 ::1|t=0 0|m=audio 5000 RTP/AVP 8|\
m=video 5002 RTP/AVP 100|a=rtpmap:100 AV1/90000|",
    );
    let n = negotiate(&offer, &answer, &mut leg()).expect("audio flows");
    assert_eq!(n.streams[1].outcome, StreamOutcome::NoCommonCodec);
    assert_eq!(n.answer.media[1].port, 0);
    assert_eq!(n.answer.media[1].formats, ["96", "97"]);
    assert_eq!(n.answer.media[1].rtpmap(100), None);
}

#[test]
fn a_codec_filter_leaving_nothing_is_488_before_the_other_leg_is_called() {
    let err = retain_codecs(&parse(POLYCOM), &["opus", "GSM"]).expect_err("nothing allowed");
    assert_eq!(err, NegotiationError::NoCommonCodec { stream: 0 });
    assert_eq!(err.status(), 488);
    let kept = retain_codecs(&parse(POLYCOM), &["G722", "g729"]).expect("two left");
    assert_eq!(kept.media[0].formats, ["9", "18", "127"]);
    assert_eq!(kept.media[0].fmtp(18), Some("annexb=no"));
    assert_eq!(kept.media[0].rtpmap(115), None);
}
