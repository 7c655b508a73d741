//! (c) Fuzzed snapshot chunks into a live filter's restorer (see
//! `hsmoe_fuzz::run_snapshot`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hsmoe_fuzz::run_snapshot(data);
});
