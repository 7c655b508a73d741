//! The experts of the mixture: one trait, [`Expert`], and one type per
//! likelihood family (docs/model.md §1, §3 step 5, §10).
//!
//! The family is a type parameter of the particle and the filter, so a
//! build pays only for the family it uses and the core has no dynamic
//! dispatch. Every family keeps statistics that make its observations'
//! likelihood Gaussian in the coefficients, so the particle-learning step
//! and the rejuvenation sweep are the same for all of them:
//!
//! - [`Gaussian`]: linear-Gaussian, `y ~ N(xᵀβ, σ²)`, with `(β, σ²)`
//!   integrated out (Normal–inverse-gamma statistics). The predictive is
//!   Student-t.
//! - [`Bernoulli`]: logistic, `P(y = 1) = σ(xᵀβ)`, made Gaussian in `β` by
//!   one Pólya-Gamma `ω` per observation, as a stick of the gate. `β` has
//!   no conjugate prior, so the particle carries a draw of it and the
//!   predictive is exact given that draw.
//! - [`Student`]: robust linear, Student-t noise of fixed degrees of
//!   freedom as a Gaussian scale mixture (one Gamma weight per
//!   observation); the particle carries `(β, σ²)`, as for [`Bernoulli`].

mod bernoulli;
mod family;
mod gaussian;
mod student;

pub use bernoulli::{Bernoulli, BernoulliPredictive};
pub use family::{Expert, Family, Predictive, SplitPdf, UnknownFamily};
pub use gaussian::{Gaussian, GaussianDraw, StudentT};
pub use student::{Student, StudentDraw};
