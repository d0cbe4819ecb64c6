//! The hand-written frames of `testdata/hep/`: each decodes to the frame its comment
//! describes, and (but for the decode-only one) that frame encodes to exactly its bytes.

#![allow(clippy::unwrap_used)]

mod common;

use hep::{Frame, IpProto, ProtoType, Timestamp};

fn vector(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(common::testdata("hep").join(name)).expect("vector");
    common::parse_hex(&text)
}

/// Decodes to `expected`, and `expected` encodes to the same bytes, into a `Vec` and into a
/// slice.
fn both_ways(name: &str, expected: Frame<'_>) {
    let bytes = vector(name);
    assert_eq!(Frame::decode(&bytes), Ok(expected), "{name}");
    let mut out = Vec::new();
    assert_eq!(expected.encode(&mut out), Ok(bytes.len()), "{name}");
    assert_eq!(out, bytes, "{name}");
    let mut slice = vec![0u8; bytes.len()];
    assert_eq!(expected.encode_to_slice(&mut slice), Ok(bytes.len()));
    assert_eq!(slice, bytes, "{name}");
    assert_eq!(hep::frame_len(&bytes), Ok(Some(bytes.len())));
}

#[test]
fn sip_over_udp_ipv4_with_correlation() {
    both_ways(
        "sip-ipv4-udp.hex",
        Frame {
            src: "192.0.2.1:5060".parse().unwrap(),
            dst: "192.0.2.2:5080".parse().unwrap(),
            ip_proto: IpProto::UDP,
            time: Timestamp {
                secs: 1_700_000_000,
                micros: 123_456,
            },
            proto: ProtoType::SIP,
            capture_id: 2001,
            auth_key: None,
            correlation_id: Some(b"a84b4c76e66710"),
            payload: b"OPTIONS sip:bob@example.com SIP/2.0\r\nCall-ID: a84b4c76e66710\r\n\r\n",
        },
    );
}

#[test]
fn rtcp_json_over_ipv6_with_auth_key() {
    both_ways(
        "rtcp-ipv6-auth.hex",
        Frame {
            src: "[2001:db8::1]:20001".parse().unwrap(),
            dst: "[2001:db8::2]:30001".parse().unwrap(),
            ip_proto: IpProto::UDP,
            time: Timestamp {
                secs: 1,
                micros: 999_999,
            },
            proto: ProtoType::RTCP,
            capture_id: u32::MAX,
            auth_key: Some(b"secret"),
            correlation_id: Some(b"call-1@host"),
            payload: br#"{"type":201,"ssrc":7,"report_count":0,"report_blocks":[]}"#,
        },
    );
}

#[test]
fn sip_over_tcp_without_options() {
    both_ways(
        "sip-tcp-plain.hex",
        Frame {
            src: "10.0.0.1:40000".parse().unwrap(),
            dst: "10.0.0.2:5060".parse().unwrap(),
            ip_proto: IpProto::TCP,
            time: Timestamp::default(),
            proto: ProtoType::SIP,
            capture_id: 0,
            auth_key: None,
            correlation_id: None,
            payload: b"x",
        },
    );
}

#[test]
fn reordered_frame_with_vendor_chunks_decodes() {
    let bytes = vector("reordered-vendor-chunks.hex");
    let frame = Frame::decode(&bytes).unwrap();
    assert_eq!(
        frame,
        Frame {
            src: "198.51.100.1:5061".parse().unwrap(),
            dst: "198.51.100.2:5060".parse().unwrap(),
            ip_proto: IpProto::UDP,
            time: Timestamp::default(),
            proto: ProtoType::SIP,
            capture_id: 0,
            auth_key: None,
            correlation_id: None,
            payload: b"BYE",
        }
    );
    let kinds: Vec<(u16, u16)> = hep::chunks(&bytes)
        .unwrap()
        .map(|c| c.map(|c| (c.vendor, c.kind)).unwrap())
        .collect();
    assert_eq!(kinds.len(), 10);
    assert!(kinds.contains(&(2, 0x20)) && kinds.contains(&(0, hep::chunk::NODE_NAME)));
}

#[test]
fn every_vector_is_checked() {
    let names: Vec<String> = common::hex_files("hep").into_iter().map(|f| f.0).collect();
    assert_eq!(
        names,
        [
            "reordered-vendor-chunks.hex",
            "rtcp-ipv6-auth.hex",
            "sip-ipv4-udp.hex",
            "sip-tcp-plain.hex"
        ]
    );
}
