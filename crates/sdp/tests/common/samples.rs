//! Session descriptions as real phones and test tools write them, with their addresses moved
//! to loopback (127.0.0.x, ::1) so that nothing a test builds could send media elsewhere.
//! Each is CRLF-terminated; `lf()` gives the bare-LF form some stacks send.

#![allow(dead_code)]

use sdp::SessionDescription;

/// baresip 3.x offering Opus, G.722 and G.711 with DTMF on 101.
pub const BARESIP: &str = "v=0\r
o=- 1402939542 3720839498 IN IP4 127.0.0.11\r
s=-\r
c=IN IP4 127.0.0.11\r
t=0 0\r
a=tool:baresip 3.10.1\r
m=audio 10262 RTP/AVP 96 9 0 8 101\r
b=AS:128\r
a=rtpmap:96 opus/48000/2\r
a=fmtp:96 stereo=1;sprop-stereo=1\r
a=rtpmap:9 G722/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=rtcp-rsize\r
a=ptime:20\r
a=sendrecv\r
a=label:1\r
a=ssrc:1734582617 cname:c0a1e4f2-9d2b-4c1e\r
";

/// Linphone: three telephone-event rates, speex, `a=rtcp`, session-level RTCP-XR.
pub const LINPHONE: &str = "v=0\r
o=alice 1932 2893 IN IP4 127.0.0.12\r
s=Talk\r
c=IN IP4 127.0.0.12\r
t=0 0\r
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r
a=record:off\r
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\r
a=rtpmap:96 opus/48000/2\r
a=fmtp:96 useinbandfec=1\r
a=rtpmap:97 speex/16000\r
a=fmtp:97 vbr=on\r
a=rtpmap:98 speex/8000\r
a=fmtp:98 vbr=on\r
a=fmtp:18 annexb=yes\r
a=rtpmap:101 telephone-event/48000\r
a=rtpmap:99 telephone-event/16000\r
a=rtpmap:100 telephone-event/8000\r
a=rtcp:7079\r
a=rtcp-fb:* trr-int 1000\r
a=rtcp-fb:* ccm tmmbr\r
";

/// SIPp 3.6 `uac_pcap`: PCMA and DTMF, as its built-in scenario writes it.
pub const SIPP_UAC_PCAP: &str = "v=0\r
o=user1 53655765 2353687637 IN IP4 127.0.0.13\r
s=-\r
c=IN IP4 127.0.0.13\r
t=0 0\r
m=audio 6000 RTP/AVP 8 101\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-11,16\r
";

/// SIPp 3.6 `uas`: PCMU only.
pub const SIPP_UAS: &str = "v=0\r
o=user1 53655765 2353687637 IN IP4 127.0.0.14\r
s=-\r
c=IN IP4 127.0.0.14\r
t=0 0\r
m=audio 6000 RTP/AVP 0\r
a=rtpmap:0 PCMU/8000\r
";

/// Asterisk 20 (chan_pjsip).
pub const ASTERISK: &str = "v=0\r
o=- 1839573212 3 IN IP4 127.0.0.15\r
s=Asterisk\r
c=IN IP4 127.0.0.15\r
t=0 0\r
m=audio 17382 RTP/AVP 0 8 9 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:9 G722/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=ptime:20\r
a=maxptime:150\r
a=sendrecv\r
";

/// Polycom VVX: session-level direction, G.722.1 at two rates, DTMF on 127.
pub const POLYCOM: &str = "v=0\r
o=- 1621336578 1621336578 IN IP4 127.0.0.16\r
s=Polycom IP Phone\r
c=IN IP4 127.0.0.16\r
t=0 0\r
a=sendrecv\r
m=audio 2236 RTP/AVP 9 115 102 0 8 18 127\r
a=rtpmap:9 G722/8000\r
a=rtpmap:115 G7221/32000\r
a=fmtp:115 bitrate=48000\r
a=rtpmap:102 G7221/16000\r
a=fmtp:102 bitrate=32000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:18 G729/8000\r
a=fmtp:18 annexb=no\r
a=rtpmap:127 telephone-event/8000\r
";

/// A browser (WebRTC) offer: ICE, DTLS fingerprint, BUNDLE, rtcp-mux, RED over Opus.
pub const WEBRTC: &str = "v=0\r
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
a=extmap-allow-mixed\r
a=msid-semantic: WMS 5c1c2d7a\r
m=audio 51208 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r
c=IN IP4 127.0.0.17\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=candidate:2999745851 1 udp 2122260223 127.0.0.17 51208 typ host generation 0 network-id 1\r
a=candidate:1546104325 1 tcp 1518280447 127.0.0.17 9 typ host tcptype active generation 0 network-id 1\r
a=ice-ufrag:EsAw\r
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r
a=ice-options:trickle\r
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F\r
a=setup:actpass\r
a=mid:0\r
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r
a=sendrecv\r
a=msid:5c1c2d7a 3f1a-audio\r
a=rtcp-mux\r
a=rtpmap:111 opus/48000/2\r
a=rtcp-fb:111 transport-cc\r
a=fmtp:111 minptime=10;useinbandfec=1\r
a=rtpmap:63 red/48000/2\r
a=fmtp:63 111/111\r
a=rtpmap:9 G722/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:13 CN/8000\r
a=rtpmap:110 telephone-event/48000\r
a=rtpmap:126 telephone-event/8000\r
a=ssrc:3510681183 cname:g0sb7HmKb0aVfTBK\r
a=ssrc:3510681183 msid:5c1c2d7a 3f1a-audio\r
";

/// A softphone on IPv6 loopback with audio and video.
pub const IPV6_VIDEO: &str = "v=0\r
o=bob 2890844526 2890842807 IN IP6 ::1\r
s=-\r
c=IN IP6 ::1\r
b=AS:2048\r
t=0 0\r
m=audio 49170 RTP/AVP 0 8 101\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=ptime:30\r
m=video 51372 RTP/AVPF 96 97\r
b=TIAS:1920000\r
a=rtpmap:96 H264/90000\r
a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r
a=rtpmap:97 VP8/90000\r
a=rtcp-fb:* nack\r
a=rtcp-fb:96 nack pli\r
";

/// Every sample, by name.
pub const ALL: &[(&str, &str)] = &[
    ("baresip", BARESIP),
    ("linphone", LINPHONE),
    ("sipp uac_pcap", SIPP_UAC_PCAP),
    ("sipp uas", SIPP_UAS),
    ("asterisk", ASTERISK),
    ("polycom", POLYCOM),
    ("webrtc", WEBRTC),
    ("ipv6 video", IPV6_VIDEO),
];

/// Parses a sample (or any test text), panicking with the error.
pub fn parse(text: &str) -> SessionDescription {
    match SessionDescription::parse(text.as_bytes()) {
        Ok(sdp) => sdp,
        Err(e) => panic!("test SDP does not parse: {e}\n{text}"),
    }
}

/// The bare-LF form of a CRLF text.
pub fn lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// A description built from a short form: `|` stands for CRLF.
pub fn sdp(short: &str) -> SessionDescription {
    parse(&short.replace('|', "\r\n"))
}
