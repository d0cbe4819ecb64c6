use std::net::{Ipv6Addr, SocketAddr};

use super::*;

fn parse(text: &str) -> SessionDescription {
    SessionDescription::parse(text.replace('|', "\r\n").as_bytes()).expect("parses")
}

const HEAD: &str = "v=0|o=- 1 1 IN IP4 127.0.0.3|s=-|";

#[test]
fn connection_falls_back_to_session_level() {
    let sdp = parse(&format!(
        "{HEAD}c=IN IP4 127.0.0.3|t=0 0|m=audio 4000 RTP/AVP 0|m=audio 4002 RTP/AVP 0|c=IN IP6 ::1|"
    ));
    let (a, b) = (&sdp.media[0], &sdp.media[1]);
    assert_eq!(
        sdp.connection_for(a).and_then(Connection::ip),
        Some("127.0.0.3".parse().expect("ip"))
    );
    assert_eq!(
        sdp.rtp_addr(a),
        Some("127.0.0.3:4000".parse().expect("addr"))
    );
    assert_eq!(
        sdp.rtp_addr(b),
        Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 4002))
    );
    assert_eq!(
        sdp.rtcp_addr(a),
        Some("127.0.0.3:4001".parse().expect("addr"))
    );
}

#[test]
fn multicast_suffix_and_host_names() {
    let c = Connection {
        net_type: "IN".into(),
        addr_type: "IP4".into(),
        address: "127.0.0.9/127/2".into(),
    };
    assert_eq!(c.ip(), Some("127.0.0.9".parse().expect("ip")));
    let host = Connection {
        address: "media.example.invalid".into(),
        ..c
    };
    assert_eq!(host.ip(), None);
    assert!(!host.is_unspecified());
}

#[test]
fn rtcp_attribute_and_mux() {
    let sdp = parse(&format!(
        "{HEAD}c=IN IP4 127.0.0.3|t=0 0|m=audio 4000 RTP/AVP 0|a=rtcp:5001|\
m=audio 4002 RTP/AVP 0|a=rtcp:6001 IN IP4 127.0.0.4|m=audio 4004 RTP/AVP 0|a=rtcp-mux|\
m=audio 0 RTP/AVP 0|"
    ));
    assert_eq!(
        sdp.media[0].rtcp(),
        Some(Rtcp {
            port: 5001,
            address: None
        })
    );
    assert_eq!(
        sdp.rtcp_addr(&sdp.media[0]),
        Some("127.0.0.3:5001".parse().expect("a"))
    );
    assert_eq!(
        sdp.rtcp_addr(&sdp.media[1]),
        Some("127.0.0.4:6001".parse().expect("a"))
    );
    assert_eq!(
        sdp.rtcp_addr(&sdp.media[2]),
        Some("127.0.0.3:4004".parse().expect("a"))
    );
    assert_eq!(sdp.rtp_addr(&sdp.media[3]), None);
    assert_eq!(sdp.rtcp_addr(&sdp.media[3]), None);
    assert_eq!(Rtcp::parse("x"), None);
    assert_eq!(Rtcp::parse("70000"), None);
}

#[test]
fn direction_media_over_session_over_default() {
    let sdp = parse(&format!(
        "{HEAD}c=IN IP4 127.0.0.3|t=0 0|a=sendonly|m=audio 4000 RTP/AVP 0|\
m=audio 4002 RTP/AVP 0|a=inactive|m=audio 4004 RTP/AVP 0|a=recvonly:junk|"
    ));
    assert_eq!(sdp.direction_for(&sdp.media[0]), Direction::SendOnly);
    assert_eq!(sdp.direction_for(&sdp.media[1]), Direction::Inactive);
    // A direction attribute with a value is not a direction attribute.
    assert_eq!(sdp.direction_for(&sdp.media[2]), Direction::SendOnly);
    let plain = parse(&format!(
        "{HEAD}c=IN IP4 127.0.0.3|t=0 0|m=audio 4000 RTP/AVP 0|"
    ));
    assert_eq!(plain.direction_for(&plain.media[0]), Direction::SendRecv);
}

#[test]
fn zero_address_is_hold_unless_ice() {
    let old = parse(&format!(
        "{HEAD}c=IN IP4 0.0.0.0|t=0 0|m=audio 4000 RTP/AVP 0|"
    ));
    assert!(old.is_legacy_hold(&old.media[0]));
    assert_eq!(old.direction_for(&old.media[0]), Direction::SendOnly);
    assert_eq!(old.rtp_addr(&old.media[0]), None);
    let old_recv = parse(&format!(
        "{HEAD}t=0 0|m=audio 4000 RTP/AVP 0|c=IN IP6 ::|a=recvonly|"
    ));
    assert_eq!(
        old_recv.direction_for(&old_recv.media[0]),
        Direction::Inactive
    );
    let ice = parse(&format!(
        "{HEAD}t=0 0|a=ice-ufrag:abcd|m=audio 9 UDP/TLS/RTP/SAVPF 111|c=IN IP4 0.0.0.0|\
a=rtpmap:111 opus/48000/2|"
    ));
    assert!(!ice.is_legacy_hold(&ice.media[0]));
    assert_eq!(ice.direction_for(&ice.media[0]), Direction::SendRecv);
    assert_eq!(ice.ice_for(&ice.media[0]).ufrag, Some("abcd"));
}

#[test]
fn direction_helpers() {
    assert_eq!(Direction::from_name("SendOnly"), Some(Direction::SendOnly));
    assert_eq!(Direction::from_name("sendrecvx"), None);
    assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
    assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
    assert!(Direction::SendRecv.sends() && Direction::SendRecv.receives());
    assert!(!Direction::SendOnly.receives() && !Direction::RecvOnly.sends());
    assert_eq!(Direction::RecvOnly.without_receive(), Direction::Inactive);
    assert_eq!(Direction::SendRecv.to_string(), "sendrecv");
}

#[test]
fn codecs_static_explicit_and_unknown() {
    let sdp = parse(&format!(
        "{HEAD}c=IN IP4 127.0.0.3|t=0 0|m=audio 4000 RTP/AVP 0 8 96 97 18 101 x|\
a=rtpmap:0 pcmu/8000|a=rtpmap:96 opus/48000/2|a=fmtp:96 useinbandfec=1|\
a=rtpmap:101 telephone-event/8000|a=fmtp:101  0-16|a=fmtp:18 annexb=no|\
a=ptime:20.0|a=maxptime:40|"
    ));
    let m = &sdp.media[0];
    assert_eq!(
        m.payload_types().collect::<Vec<_>>(),
        [0, 8, 96, 97, 18, 101]
    );
    assert_eq!(m.codec(0), Some(Codec::new("pcmu", 8000)));
    assert_eq!(m.codec(8), Some(Codec::new("PCMA", 8000)));
    assert_eq!(m.codec(18), Some(Codec::new("G729", 8000)));
    assert_eq!(m.codec(97), None);
    assert_eq!(
        m.codec(96).map(|c| c.to_string()).as_deref(),
        Some("opus/48000/2")
    );
    assert_eq!(m.fmtp(96), Some("useinbandfec=1"));
    assert_eq!(m.fmtp(101), Some("0-16"));
    assert_eq!(m.fmtp(18), Some("annexb=no"));
    assert_eq!(m.fmtp(0), None);
    assert_eq!(m.telephone_event(), Some(101));
    assert_eq!(m.ptime(), Some(20));
    assert_eq!(m.maxptime(), Some(40));
    assert!(m.is_rtp());
}

#[test]
fn telephone_event_at_the_codec_rate() {
    let sdp = parse(&format!(
        "{HEAD}c=IN IP4 127.0.0.3|t=0 0|m=audio 4000 RTP/AVP 96 101 100|\
a=rtpmap:96 opus/48000/2|a=rtpmap:101 telephone-event/8000|a=rtpmap:100 telephone-event/48000|\
m=audio 4002 RTP/AVP 9 101|a=rtpmap:101 telephone-event/16000|m=audio 4004 RTP/AVP 0|"
    ));
    assert_eq!(sdp.media[0].telephone_event(), Some(100));
    assert_eq!(sdp.media[1].telephone_event(), Some(101));
    assert_eq!(sdp.media[2].telephone_event(), None);
}

#[test]
fn ice_attributes() {
    let sdp = parse(&format!(
        "{HEAD}t=0 0|a=ice-lite|a=ice-ufrag:sess|a=ice-pwd:sesspwd|m=audio 4000 RTP/AVP 0|\
c=IN IP4 127.0.0.3|a=ice-ufrag:med|a=candidate:1 1 UDP 1 127.0.0.3 4000 typ host|\
a=end-of-candidates|"
    ));
    let ice = sdp.ice_for(&sdp.media[0]);
    assert_eq!(ice.ufrag, Some("med"));
    assert_eq!(ice.pwd, Some("sesspwd"));
    assert!(ice.lite && ice.end_of_candidates && ice.is_present());
    assert_eq!(ice.candidates, ["1 1 UDP 1 127.0.0.3 4000 typ host"]);
    for name in [
        "candidate",
        "ICE-UFRAG",
        "ice-pacing",
        "remote-candidates",
        "end-of-candidates",
    ] {
        assert!(Attribute::flag(name).is_ice(), "{name}");
    }
    for name in ["rtcp", "icecream", "candidates"] {
        assert!(!Attribute::flag(name).is_ice(), "{name}");
    }
}

#[test]
fn media_kinds_and_protos() {
    for (token, kind) in [
        ("audio", MediaKind::Audio),
        ("VIDEO", MediaKind::Video),
        ("image", MediaKind::Image),
        ("text", MediaKind::Text),
        ("message", MediaKind::Message),
        ("application", MediaKind::Application),
    ] {
        assert_eq!(MediaKind::parse(token), kind);
    }
    assert_eq!(MediaKind::parse("x-foo"), MediaKind::Other("x-foo".into()));
    assert_eq!(MediaKind::parse("x-foo").to_string(), "x-foo");
    let m = |proto: &str| MediaDescription::new(MediaKind::Audio, 1, proto, &["0"]);
    assert!(m("RTP/AVP").is_rtp() && m("RTP/SAVPF").is_rtp() && m("UDP/TLS/RTP/SAVP").is_rtp());
    assert!(!m("udptl").is_rtp() && !m("TCP/MSRP").is_rtp());
}
