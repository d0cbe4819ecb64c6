//! `framing::check` on arbitrary streams: no panic, frame sizes within the buffer, and the
//! same frames whether the stream arrives whole or in chunks (the first input byte chooses
//! the chunk sizes). The invariants live in `crates/sip/tests/common/checks.rs`, shared with
//! the regression test that replays `testdata/sip-malformed/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/sip/tests/common/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = checks::framer_invariants(data) {
        panic!("{e}");
    }
});
