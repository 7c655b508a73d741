//! (a) Arbitrary bytes through the frame accumulator, the frame decoder
//! and request/response decoding (see `hsmoe_fuzz::run_frames`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hsmoe_fuzz::run_frames(data);
});
