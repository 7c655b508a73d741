//! (b) The filter's public step with arbitrary f32 inputs, for three
//! shapes including a single particle and a single expert (see
//! `hsmoe_fuzz::run_filter_any_shape`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hsmoe_fuzz::run_filter_any_shape(data);
});
