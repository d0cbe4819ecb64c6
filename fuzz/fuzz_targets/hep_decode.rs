//! HEP3 decoding of arbitrary datagrams: `Frame::decode`, the chunk iterator and stream
//! framing never panic; a frame that decodes re-encodes to one that decodes to the same
//! frame (addresses compared as canonical IPs: an IPv4-mapped IPv6 pair comes back as IPv4),
//! and encodes to the same bytes twice. The same bytes as RTCP: `hep::rtcp::to_json` never
//! panics and writes one ASCII object. `crates/hep/tests/malformed_regressions.rs` replays
//! `testdata/hep-malformed/` through these checks under stable `cargo test`.

#![no_main]

use std::net::SocketAddr;

use hep::Frame;
use libfuzzer_sys::fuzz_target;

fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = hep::frame_len(data) {
        assert!(n >= hep::HEADER_LEN && n <= data.len());
    }
    if let Ok(chunks) = hep::chunks(data) {
        for chunk in chunks.flatten() {
            assert!(chunk.value.len() + 6 <= data.len());
        }
    }
    if let Ok(frame) = Frame::decode(data) {
        let mut out = Vec::new();
        let n = frame.encode(&mut out).expect("a decoded frame fits in a frame");
        assert_eq!(n, out.len());
        let again = Frame::decode(&out).expect("a re-encoded frame decodes");
        assert_eq!(
            Frame { src: canonical(frame.src), dst: canonical(frame.dst), ..frame },
            Frame { src: canonical(again.src), dst: canonical(again.dst), ..again },
        );
        let mut twice = Vec::new();
        again.encode(&mut twice).expect("encodes");
        assert_eq!(out, twice);
    }
    let mut json = Vec::new();
    if hep::rtcp::to_json(data, &mut json).is_ok() {
        assert!(json.is_ascii());
        assert_eq!(json.first(), Some(&b'{'));
        assert_eq!(json.last(), Some(&b'}'));
        let opens = json.iter().filter(|&&b| b == b'{' || b == b'[').count();
        let closes = json.iter().filter(|&&b| b == b'}' || b == b']').count();
        assert_eq!(opens, closes);
    } else {
        assert!(json.is_empty());
    }
});
