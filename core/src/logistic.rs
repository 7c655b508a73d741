//! Bayesian logistic regression by Pólya-Gamma augmentation (docs/model.md
//! §2): the statistics one coefficient vector needs, shared by a gate's
//! stick and a Bernoulli expert.
//!
//! Given `ω_s ~ PG(1, x_sᵀθ)` for each of its trials, the coefficients have
//! the Gaussian full conditional `θ ~ N(Λ⁻¹r, Λ⁻¹)` with
//! `Λ = diag(prior precision) + S`, `S = Σ ω_s x_s x_sᵀ`, `r = Σ κ_s x_s`,
//! `κ_s = y_s − ½`. The prior precisions belong to the owner (the horseshoe
//! for a stick, `1/v0` for an expert), so they are passed in.

use crate::dims::{Const, Features, Zeroed};
use crate::dist::{normal, polya_gamma};
use crate::linalg::{self, Factor, Triangle};
use crate::math::dot;
use crate::Error;
use rand_core::RngCore;

/// The Pólya-Gamma statistics `S`, `r` of some trials and the current draw
/// of the coefficients `θ`.
///
/// `Λ` is factored afresh whenever `θ` is drawn, from `S` (a packed lower
/// triangle) and the caller's prior precisions: a stored factor would cost
/// `D(D+1)/2` words, and at D = 4 a fresh factor costs about what its
/// rank-1 update did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logistic<const D: usize>
where
    Const<D>: Features,
{
    /// `S = Σ ω x xᵀ` (lower triangle).
    pub(crate) s: Triangle<D>,
    /// `r = Σ κ x`.
    pub(crate) r: [f32; D],
    /// Current draw of the coefficients `θ`.
    pub(crate) coef: [f32; D],
}

impl<const D: usize> Zeroed for Logistic<D>
where
    Const<D>: Features,
{
    /// No trials and `θ = 0`.
    const ZERO: Self = Logistic {
        s: Triangle::ZERO,
        r: [0.0; D],
        coef: [0.0; D],
    };
}

impl<const D: usize> Logistic<D>
where
    Const<D>: Features,
{
    /// Current coefficients `θ`.
    pub fn coef(&self) -> &[f32; D] {
        &self.coef
    }

    /// The log-odds `xᵀθ` at `x`.
    pub fn logit(&self, x: &[f32; D]) -> f32 {
        dot(x, &self.coef)
    }

    /// Adds one trial at `x` whose log-odds are `logit`:
    /// `ω ~ PG(1, logit)`, `S += ω x xᵀ`, `r += κ x` with `κ = ±½`. `θ` is
    /// left alone, so a sweep can add many trials and draw `θ` once.
    pub(crate) fn add_trial<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32; D],
        logit: f32,
        success: bool,
        rng: &mut R,
    ) {
        let omega = polya_gamma::sample(rng, logit);
        let kappa = if success { 0.5 } else { -0.5 };
        for i in 0..D {
            for (j, s_ij) in self.s.row_mut(i).iter_mut().enumerate() {
                *s_ij += omega * x[i] * x[j];
            }
            self.r[i] += kappa * x[i];
        }
    }

    /// Forgets every trial: `S = 0`, `r = 0` (`θ` is kept until the caller
    /// redraws it).
    pub(crate) fn clear_trials(&mut self) {
        self.s = Triangle::ZERO;
        self.r = [0.0; D];
    }

    /// The Cholesky factor `L` of `Λ = diag(prior) + S`.
    ///
    /// # Errors
    /// [`Error::NotPositiveDefinite`] if `Λ` is not, even with jitter.
    pub(crate) fn precision_factor(&self, prior: &[f32; D]) -> Result<Factor<D>, Error> {
        let diagonal = core::array::from_fn(|l| self.s[(l, l)] + prior[l]);
        let mut chol = Factor::ZERO;
        linalg::cholesky_with_jitter(&self.s, &diagonal, &mut chol)?;
        Ok(chol)
    }

    /// `θ = Λ⁻¹r + L⁻ᵀε` with `ε ~ N(0, I)` and `Λ = diag(prior) + S`:
    /// one factorization, two triangular solves.
    ///
    /// # Errors
    /// As [`Logistic::precision_factor`]; `θ` is then unchanged.
    pub(crate) fn redraw<R: RngCore + ?Sized>(
        &mut self,
        prior: &[f32; D],
        rng: &mut R,
    ) -> Result<(), Error> {
        let chol = self.precision_factor(prior)?;
        let mut v = self.r;
        linalg::solve_lower(&chol, &mut v);
        for vi in v.iter_mut() {
            *vi += normal::standard_normal(rng);
        }
        linalg::solve_lower_transposed(&chol, &mut v);
        self.coef = v;
        Ok(())
    }
}

// Snapshot layout (see `crate::snapshot`).
crate::words::impl_words!([const D: usize] Logistic<D> where [Const<D>: Features] { s, r, coef });
