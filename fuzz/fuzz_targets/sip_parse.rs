//! `Message::parse` on arbitrary bytes: no panic; what parses round-trips through the
//! serializer; what is refused gets a well-framed answer from `sip::reject`, or none.
//! The invariants live in `crates/sip/tests/common/checks.rs`, shared with the regression
//! test that replays `testdata/sip-malformed/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/sip/tests/common/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = checks::parse_invariants(data) {
        panic!("{e}");
    }
});
