//! (d) Fuzzed device-checkpoint chunks (snapshot and link trailer) into a
//! live filter's `CheckpointRestorer` (see `hsmoe_fuzz::run_checkpoint`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hsmoe_fuzz::run_checkpoint(data);
});
