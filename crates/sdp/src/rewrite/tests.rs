use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::model::MediaDescription;

fn parse(text: &str) -> SessionDescription {
    SessionDescription::parse(text.replace('|', "\r\n").as_bytes()).expect("parses")
}

const PBX: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

fn leg(ports: &[u16]) -> LegMedia {
    LegMedia::new(PBX, ports.to_vec(), 42)
}

fn lines(sdp: &SessionDescription) -> Vec<String> {
    sdp.to_string().split("\r\n").map(str::to_owned).collect()
}

#[test]
fn addresses_ports_rtcp_and_origin() {
    let offer = parse(
        "v=0|o=alice 1 1 IN IP4 127.0.0.20|s=call|c=IN IP4 127.0.0.20|t=0 0|\
m=audio 7078 RTP/AVP 0 101|a=rtpmap:101 telephone-event/8000|a=rtcp:7079 IN IP4 127.0.0.20|\
m=video 9078 RTP/AVP 96|c=IN IP4 127.0.0.21|a=rtpmap:96 H264/90000|\
m=video 0 RTP/AVP 31|",
    );
    let out = rewrite(&offer, &mut leg(&[20000, 20002, 20004]));
    assert_eq!(
        lines(&out),
        [
            "v=0",
            "o=switchboard 42 1 IN IP4 127.0.0.1",
            "s=call",
            "c=IN IP4 127.0.0.1",
            "t=0 0",
            "m=audio 20000 RTP/AVP 0 101",
            "a=rtpmap:101 telephone-event/8000",
            "a=rtcp:20001 IN IP4 127.0.0.1",
            "m=video 20002 RTP/AVP 96",
            "c=IN IP4 127.0.0.1",
            "a=rtpmap:96 H264/90000",
            "m=video 0 RTP/AVP 31",
            "",
        ]
    );
}

#[test]
fn missing_port_rejects_and_missing_c_is_added() {
    let offer = parse(
        "v=0|o=- 1 1 IN IP4 127.0.0.20|s=-|m=audio 7078 RTP/AVP 0|c=IN IP4 127.0.0.20|\
a=rtcp:7079|m=audio 7080 RTP/AVP 8|",
    );
    let out = rewrite(&offer, &mut leg(&[20000]));
    assert_eq!(out.media[0].port, 20000);
    assert_eq!(out.media[1].port, 0);
    assert_eq!(out.connection(), Some(&Connection::new(PBX)));
    assert_eq!(out.values('t').next(), Some("0 0"));
    assert_eq!(
        lines(&out)[..5],
        [
            "v=0",
            "o=switchboard 42 1 IN IP4 127.0.0.1",
            "s=-",
            "c=IN IP4 127.0.0.1",
            "t=0 0"
        ]
    );
    assert_eq!(out.media[0].rtcp().map(|r| r.port), Some(20001));
}

#[test]
fn ipv6_pbx_address() {
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let offer = parse(
        "v=0|o=- 1 1 IN IP4 127.0.0.20|s=-|c=IN IP4 127.0.0.20|t=0 0|m=audio 7078 RTP/AVP 0|\
a=rtcp:7079 IN IP4 127.0.0.20|",
    );
    let mut leg = LegMedia::new(v6, vec![30000], 7);
    let out = rewrite(&offer, &mut leg);
    let text = out.to_string();
    assert!(text.contains("o=switchboard 7 1 IN IP6 ::1\r\n"), "{text}");
    assert!(text.contains("c=IN IP6 ::1\r\n"), "{text}");
    assert!(text.contains("a=rtcp:30001 IN IP6 ::1\r\n"), "{text}");
    assert_eq!(
        out.rtp_addr(&out.media[0]),
        Some(std::net::SocketAddr::new(v6, 30000))
    );
}

#[test]
fn ice_and_mux_removed_unless_kept() {
    let offer = parse(
        "v=0|o=- 1 1 IN IP4 127.0.0.20|s=-|t=0 0|a=ice-lite|a=ice-options:trickle|\
m=audio 9 RTP/AVP 0|c=IN IP4 0.0.0.0|a=ice-ufrag:u|a=ice-pwd:p|\
a=candidate:1 1 UDP 2130706431 127.0.0.20 7078 typ host|a=remote-candidates:1 127.0.0.1 1|\
a=end-of-candidates|a=ice-mismatch|a=rtcp-mux|a=mid:0|",
    );
    let mut l = leg(&[20000]);
    let out = rewrite(&offer, &mut l);
    assert!(
        !out.attributes()
            .chain(out.media[0].attributes())
            .any(Attribute::is_ice)
    );
    assert!(!out.media[0].rtcp_mux());
    assert!(out.media[0].has_attribute("mid"));
    // 0.0.0.0 under ICE was "no candidate yet", not hold: no direction is added.
    assert_eq!(out.media[0].direction(), None);
    l.rtcp_mux = true;
    assert!(rewrite(&offer, &mut l).media[0].rtcp_mux());
}

#[test]
fn legacy_hold_becomes_explicit() {
    let hold = parse(
        "v=0|o=- 1 2 IN IP4 127.0.0.20|s=-|c=IN IP4 0.0.0.0|t=0 0|m=audio 7078 RTP/AVP 0|\
a=sendrecv|m=audio 7080 RTP/AVP 0|a=recvonly|m=audio 7082 RTP/AVP 0|c=IN IP4 127.0.0.20|",
    );
    let out = rewrite(&hold, &mut leg(&[1000, 1002, 1004]));
    assert_eq!(out.media[0].direction(), Some(Direction::SendOnly));
    assert_eq!(out.media[1].direction(), Some(Direction::Inactive));
    assert_eq!(out.media[2].direction(), None);
    assert_eq!(out.direction_for(&out.media[0]), Direction::SendOnly);
    assert_eq!(out.direction_for(&out.media[2]), Direction::SendRecv);
    assert_eq!(
        out.media[0]
            .attributes()
            .filter(|a| Direction::from_name(&a.name).is_some())
            .count(),
        1
    );
}

#[test]
fn origin_version_follows_content() {
    let mut state = OriginState::with_username("pbx user", 9);
    let mut a = SessionDescription::new(Origin::new("x", 1, 1, PBX));
    state.stamp(&mut a, PBX);
    assert_eq!(a.origin.to_string(), "pbx_user 9 1 IN IP4 127.0.0.1");
    let mut same = SessionDescription::new(Origin::new("y", 5, 5, PBX));
    state.stamp(&mut same, PBX);
    assert_eq!(same.origin.version(), Some(1));
    let mut changed = same.clone();
    changed.media.push(MediaDescription::new(
        MediaKind::Audio,
        1,
        "RTP/AVP",
        &["0"],
    ));
    state.stamp(&mut changed, PBX);
    assert_eq!(changed.origin.version(), Some(2));
    state.stamp(&mut same, PBX);
    assert_eq!(state.version(), 3);
    assert_eq!(state.session_id(), 9);
    assert_eq!(OriginState::with_username("", 1).username, "-");
}

#[test]
fn retain_codecs_by_name_or_full_form() {
    let offer = parse(
        "v=0|o=- 1 1 IN IP4 127.0.0.20|s=-|c=IN IP4 127.0.0.20|t=0 0|\
m=audio 7078 RTP/AVP 96 0 8 63 101 13|a=rtpmap:96 opus/48000/2|a=fmtp:96 useinbandfec=1|\
a=rtpmap:63 red/48000/2|a=fmtp:63 96/96|a=rtpmap:101 telephone-event/8000|a=rtcp-fb:96 nack|\
a=rtcp-fb:* trr-int 100|m=video 9000 RTP/AVP 31|",
    );
    let only_g711 = retain_codecs(&offer, &["pcma", "PCMU/8000"]).expect("some left");
    let m = &only_g711.media[0];
    assert_eq!(m.formats, ["0", "8", "101", "13"]);
    assert_eq!(m.rtpmap(96), None);
    assert_eq!(m.fmtp(63), None);
    assert!(
        m.attributes()
            .all(|a| !a.value.as_deref().unwrap_or("").starts_with("96"))
    );
    assert!(
        m.attributes()
            .any(|a| a.value.as_deref() == Some("* trr-int 100"))
    );
    assert_eq!(only_g711.media[1], offer.media[1]);

    let opus = retain_codecs(&offer, &["opus/48000/2"]).expect("opus left");
    assert_eq!(opus.media[0].formats, ["96", "63", "101", "13"]);

    assert_eq!(
        retain_codecs(&offer, &["G722"]),
        Err(NegotiationError::NoCommonCodec { stream: 0 })
    );
}

#[test]
fn retain_codecs_disables_one_of_two_audio_streams() {
    let offer = parse(
        "v=0|o=- 1 1 IN IP4 127.0.0.20|s=-|c=IN IP4 127.0.0.20|t=0 0|m=audio 7078 RTP/AVP 0|\
m=audio 7080 RTP/AVP 9|",
    );
    let out = retain_codecs(&offer, &["PCMU"]).expect("first stream left");
    assert_eq!(out.media[0].port, 7078);
    assert_eq!(out.media[1].port, 0);
    assert_eq!(out.media[1].formats, ["9"]);
}
