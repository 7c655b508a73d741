//! Independent f64 reference PL (docs/model.md §9).
//!
//! Gold standards written to be obviously right, not fast: plain `std`
//! Rust, `f64`, runtime sizes, every factorization recomputed from scratch
//! and an exact Pólya-Gamma sampler. Nothing here shares code with
//! `hsmoe-core` except its [`Config`](hsmoe_core::Config), so that all
//! engines use one prior definition.
//!
//! - [`ReferenceFilter`]: the particle-learning algorithm of docs/model.md §3.
//! - [`conjugate_log_marginal`], [`conjugate_posterior`]: the closed form
//!   for K = 1 (docs/model.md §9).
//! - [`crate::gibbs`]: the batch Gibbs sampler, built on the same
//!   conditionals (`nig`, `gate`) and on every expert family's own
//!   (`expert`).

pub(crate) mod conditionals;
mod conjugate;
pub(crate) mod dist;
pub(crate) mod expert;
mod filter;
pub(crate) mod gate;
pub(crate) mod linalg;
pub mod logistic;
pub(crate) mod nig;
pub mod polya_gamma;
pub(crate) mod prior;

use std::fmt;

pub use conjugate::{conjugate_log_marginal, conjugate_posterior, ConjugatePosterior};
pub use filter::{
    GateProposals, HorseshoeSummary, ReferenceFilter, ReferencePrediction, ReferenceStep,
    RouterScores,
};

/// Why a reference engine refused an input or could not complete a step.
///
/// Inputs are checked before any state changes, so after an error the
/// engine's state is as it was (only its random stream has moved on).
///
/// # Examples
/// ```
/// use hsmoe_host::reference::{ReferenceError, ReferenceFilter};
/// let config = hsmoe_core::Config::default_for(2);
/// let mut filter = ReferenceFilter::new(10, 2, 2, &config, 1).unwrap();
/// assert_eq!(filter.observe(&[1.0], 0.0).unwrap_err(), ReferenceError::WrongLength);
/// assert_eq!(filter.observe(&[1.0, f64::NAN], 0.0).unwrap_err(), ReferenceError::NonFinite);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReferenceError {
    /// A size (particles, experts, features, observations) is zero, or an
    /// input has the wrong length.
    WrongLength,
    /// An input value is NaN or infinite.
    NonFinite,
    /// The prior hyperparameters or run options are invalid.
    InvalidConfig,
    /// A matrix that must be positive definite is not (numerical breakdown).
    NotPositiveDefinite,
    /// Every particle weight is zero or not finite.
    Degenerate,
    /// A response is outside the model's support: a logistic regression
    /// ([`logistic`]) takes `y` = 0 or 1.
    InvalidResponse,
    /// An iterative solver (the Newton iteration of [`logistic::laplace`])
    /// hit its iteration cap before converging.
    NotConverged,
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReferenceError::WrongLength => "a size is zero or an input has the wrong length",
            ReferenceError::NonFinite => "an input value is NaN or infinite",
            ReferenceError::InvalidConfig => "invalid prior hyperparameters or run options",
            ReferenceError::NotPositiveDefinite => "a precision matrix is not positive definite",
            ReferenceError::Degenerate => "every particle weight is zero or not finite",
            ReferenceError::InvalidResponse => "a response is outside the model's support",
            ReferenceError::NotConverged => "an iterative solver did not converge",
        })
    }
}

impl std::error::Error for ReferenceError {}
