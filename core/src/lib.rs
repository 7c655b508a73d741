//! Online Bayesian learning of a horseshoe mixture of experts by particle
//! learning, for microcontrollers: `#![no_std]`, no allocation, f32.
#![no_std]
#![deny(missing_docs)]

pub mod config;
pub mod error;

pub use config::Config;
pub use error::Error;

/// Largest input magnitude accepted for a feature or response.
///
/// Sufficient statistics hold squares and sums of squares of inputs in f32;
/// beyond this bound they could overflow. Standardized data sit far below.
pub const MAX_ABS_INPUT: f32 = 1.0e9;
