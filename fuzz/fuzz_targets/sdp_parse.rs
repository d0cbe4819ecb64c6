//! `SessionDescription::parse` on arbitrary bytes: no panic; what parses round-trips through
//! the serializer, and `rewrite`, `negotiate` and `retain_codecs` keep their promises on it.
//! The invariants live in `crates/sdp/tests/common/checks.rs`, shared with the regression
//! test that replays `testdata/sdp-malformed/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/sdp/tests/common/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = checks::parse_invariants(data) {
        panic!("{e}");
    }
});
