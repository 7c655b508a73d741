//! Online Bayesian learning of a horseshoe mixture of experts by particle
//! learning, for microcontrollers: `#![no_std]`, no allocation, f32.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
// `!(x > 0.0)` is how this crate says "not positive, or NaN": deliberate.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod block;
pub mod config;
pub mod crc;
pub mod dims;
pub mod dist;
pub mod error;
pub mod expert;
pub mod filter;
pub mod frame;
pub mod gate;
pub mod gate_move;
pub mod horseshoe;
pub mod linalg;
pub mod logistic;
pub mod math;
pub mod particle;
pub mod posterior;
pub mod protocol;
pub mod rejuvenate;
pub mod resample;
pub mod schedule;
pub mod snapshot;
pub mod version;
pub mod window;
mod words;

pub use config::Config;
pub use dims::{Const, Experts, Features};
pub use error::Error;
pub use filter::{Filter, FilterState, ParticleSet, Update};
pub use particle::Particle;
pub use posterior::{GateSummary, Prediction, RouterScores};

/// Largest input magnitude accepted for a feature or response.
///
/// Sufficient statistics hold squares and sums of squares of inputs in f32;
/// beyond this bound they could overflow. Standardized data sit far below.
pub const MAX_ABS_INPUT: f32 = 1.0e9;
