//! Random variates for the particle filter: f32, `no_std`, no allocation.
//!
//! Every sampler takes any [`rand_core::RngCore`] and uses only `libm` for
//! transcendental functions, so host and firmware draw bit-identical values
//! from the same generator state. Every rejection loop is capped and has a
//! documented fallback; no function panics on any input.
//!
//! - [`uniform`]: `U(0, 1)` on the open interval.
//! - [`normal`]: `N(0, 1)` (the Marsaglia–Tsang ziggurat).
//! - [`gamma`]: gamma, inverse-gamma (Marsaglia–Tsang) and exponential
//!   (ziggurat).
//! - [`student_t`]: the expert predictive log-density.
//! - [`categorical`]: sampling an index from log-weights.
//! - [`polya_gamma`]: a fast, accurate approximation to `PG(1, c)`.

pub mod categorical;
pub mod gamma;
pub mod normal;
pub mod polya_gamma;
pub mod student_t;
pub mod uniform;
mod ziggurat;
