//! Descriptions as baresip, Linphone, SIPp, Asterisk, Polycom and a browser send them parse,
//! serialize back to the same bytes (CRLF even when they came with bare LF), and read as the
//! PBX needs them.

#[path = "common/checks.rs"]
mod checks;
#[path = "common/samples.rs"]
mod samples;

use std::net::SocketAddr;

use samples::*;
use sdp::{Codec, Direction, MediaKind, SessionDescription};

fn addr(text: &str) -> Option<SocketAddr> {
    Some(text.parse().expect("socket address"))
}

#[test]
fn every_sample_round_trips_byte_for_byte() {
    for (name, text) in ALL {
        let sdp = parse(text);
        assert_eq!(sdp.to_string(), *text, "{name}");
        assert_eq!(sdp.to_bytes(), text.as_bytes(), "{name}");
        let from_lf = SessionDescription::parse(lf(text).as_bytes()).expect("LF form parses");
        assert_eq!(from_lf, sdp, "{name}");
        assert_eq!(from_lf.to_string(), *text, "{name}: LF in, CRLF out");
        if let Err(e) = checks::parse_invariants(text.as_bytes()) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn baresip() {
    let sdp = parse(BARESIP);
    let m = &sdp.media[0];
    assert_eq!(m.kind, MediaKind::Audio);
    assert_eq!((m.port, m.proto.as_str()), (10262, "RTP/AVP"));
    assert_eq!(m.payload_types().collect::<Vec<_>>(), [96, 9, 0, 8, 101]);
    assert_eq!(
        m.codec(96).map(|c| c.to_string()).as_deref(),
        Some("opus/48000/2")
    );
    assert_eq!(m.fmtp(96), Some("stereo=1;sprop-stereo=1"));
    assert_eq!(m.telephone_event(), Some(101));
    assert_eq!(m.fmtp(101), Some("0-15"));
    assert_eq!(m.ptime(), Some(20));
    assert_eq!(m.bandwidth("AS"), Some(128));
    assert_eq!(sdp.direction_for(m), Direction::SendRecv);
    assert_eq!(sdp.rtp_addr(m), addr("127.0.0.11:10262"));
    assert_eq!(sdp.rtcp_addr(m), addr("127.0.0.11:10263"));
    assert_eq!(
        sdp.attribute("tool").and_then(|a| a.value.as_deref()),
        Some("baresip 3.10.1")
    );
}

#[test]
fn linphone() {
    let sdp = parse(LINPHONE);
    let m = &sdp.media[0];
    assert_eq!(m.codec(18), Some(Codec::new("G729", 8000)));
    assert_eq!(m.fmtp(18), Some("annexb=yes"));
    assert_eq!(
        m.codec(97).map(|c| c.to_string()).as_deref(),
        Some("speex/16000")
    );
    // Three telephone-event rates; the one for the first codec (Opus, 48 kHz) wins.
    assert_eq!(m.telephone_event(), Some(101));
    assert_eq!(sdp.rtcp_addr(m), addr("127.0.0.12:7079"));
    assert_eq!(sdp.session_name, "Talk");
    assert_eq!(sdp.origin.username, "alice");
}

#[test]
fn sipp() {
    let uac = parse(SIPP_UAC_PCAP);
    let m = &uac.media[0];
    assert_eq!(m.codec(8), Some(Codec::new("PCMA", 8000)));
    assert_eq!(m.telephone_event(), Some(101));
    assert_eq!(m.fmtp(101), Some("0-11,16"));
    assert_eq!(uac.rtp_addr(m), addr("127.0.0.13:6000"));
    let uas = parse(SIPP_UAS);
    assert_eq!(uas.media[0].codecs(), [(0, Some(Codec::new("PCMU", 8000)))]);
    assert_eq!(uas.media[0].telephone_event(), None);
    assert_eq!(uas.origin.version(), Some(2353687637));
}

#[test]
fn asterisk() {
    let sdp = parse(ASTERISK);
    let m = &sdp.media[0];
    assert_eq!(m.codec(9), Some(Codec::new("G722", 8000)));
    assert_eq!((m.ptime(), m.maxptime()), (Some(20), Some(150)));
    assert_eq!(m.direction(), Some(Direction::SendRecv));
    assert_eq!(sdp.session_name, "Asterisk");
}

#[test]
fn polycom() {
    let sdp = parse(POLYCOM);
    let m = &sdp.media[0];
    assert_eq!(m.direction(), None);
    assert_eq!(sdp.direction(), Some(Direction::SendRecv));
    assert_eq!(
        m.codec(115).map(|c| c.to_string()).as_deref(),
        Some("G7221/32000")
    );
    assert_eq!(m.fmtp(102), Some("bitrate=32000"));
    assert_eq!(m.telephone_event(), Some(127));
    assert_eq!(sdp.session_name, "Polycom IP Phone");
}

#[test]
fn webrtc_with_ice() {
    let sdp = parse(WEBRTC);
    let m = &sdp.media[0];
    assert_eq!(m.proto, "UDP/TLS/RTP/SAVPF");
    assert!(m.is_rtp() && m.rtcp_mux());
    assert_eq!(m.codec(13), Some(Codec::new("CN", 8000)));
    assert_eq!(
        m.codec(63).map(|c| c.to_string()).as_deref(),
        Some("red/48000/2")
    );
    assert_eq!(m.telephone_event(), Some(110));
    let ice = sdp.ice_for(m);
    assert_eq!(
        (ice.ufrag, ice.pwd),
        (Some("EsAw"), Some("P2uYro0UCOQ4zxjKXaWCBui1"))
    );
    assert_eq!(ice.options, Some("trickle"));
    assert_eq!(ice.candidates.len(), 2);
    assert!(!ice.lite);
    // rtcp-mux: RTCP goes to the RTP address, whatever a=rtcp says.
    assert_eq!(sdp.rtcp_addr(m), addr("127.0.0.17:51208"));
    assert_eq!(m.rtcp().map(|r| r.port), Some(9));
    assert_eq!(sdp.connection(), None);
    assert_eq!(sdp.direction_for(m), Direction::SendRecv);
}

#[test]
fn ipv6_audio_and_video() {
    let sdp = parse(IPV6_VIDEO);
    assert_eq!(sdp.media.len(), 2);
    assert_eq!(sdp.rtp_addr(&sdp.media[0]), addr("[::1]:49170"));
    assert_eq!(sdp.media[0].ptime(), Some(30));
    assert_eq!(sdp.bandwidth("AS"), Some(2048));
    let v = &sdp.media[1];
    assert_eq!(v.kind, MediaKind::Video);
    assert_eq!(v.proto, "RTP/AVPF");
    assert_eq!(v.codec(97), Some(Codec::new("VP8", 90000)));
    assert_eq!(v.bandwidth("TIAS"), Some(1920000));
    assert_eq!(sdp.rtp_addr(v), addr("[::1]:51372"));
}
