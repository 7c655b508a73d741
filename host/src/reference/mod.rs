//! Independent f64 reference PL (SPEC §5).

pub mod polya_gamma;
