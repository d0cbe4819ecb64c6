//! `ninep::Message::decode` on arbitrary bytes: no panic; what decodes encodes back to the
//! same bytes and decodes again to the same value. The bytes are also a stream of messages
//! for a server session over the in-memory test tree: every reply is a whole R-message that
//! fits msize, bounds hold, and closing leaves nothing behind. The invariants live in
//! `crates/ninep/tests/common/checks.rs`, shared with the regression test that replays
//! `testdata/ninep-malformed/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/ninep/tests/common/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = checks::run(data) {
        panic!("{e}");
    }
});
