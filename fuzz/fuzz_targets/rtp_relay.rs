//! The relay core (`media::Session`) driven by a script of packets, remotes, payload-type
//! maps and policy changes: no panic; a relayed packet changes only in its payload-type bits;
//! RTCP never changes; a strict leg relays only from its signalling or SDP IP; counters add
//! up. The script format and the invariants live in `crates/media/tests/common/checks.rs`,
//! shared with the regression test that replays `testdata/rtp-malformed/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/media/tests/common/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = checks::run(data) {
        panic!("{e}");
    }
});
