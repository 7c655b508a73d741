//! Normal–inverse-gamma linear-regression expert (docs/model.md §1), conjugate
//! updates as in Bishop, PRML §3.3 / Murphy, "Conjugate Bayesian analysis
//! of the Gaussian distribution" §9, with `m0 = 0`, `V0 = v0·I`.

use super::dist::{inverse_gamma, standard_normal, StudentT};
use super::linalg::{add_outer, add_scaled, dot, Cholesky};
use super::prior::Prior;
use super::ReferenceError;
use rand::Rng;

/// Data statistics of one expert: `P = V0⁻¹ + Σ w x xᵀ`, `h = Σ w x y`
/// (`= P m` because `m0 = 0`), the count and the weight `Σ w` (every
/// `w = 1` but in a tempered Gibbs chain, [`crate::gibbs::Ladder`], where
/// an observation of weight `w` is one of variance `σ²/w`), with the factor of `P` and
/// `m = P⁻¹h` recomputed from scratch after each observation, and the
/// residual sum of squares accumulated by the recursive (Kalman) update
/// `Σ w e²/(1 + w q)`, `e = y − xᵀm`, `q = xᵀP⁻¹x` before the observation.
/// That sum equals `Σy² − mᵀPm` but never subtracts two large numbers: the
/// difference form loses digits when `y` has a large mean
/// (docs/model.md §7).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NigStats {
    d: usize,
    p: Vec<f64>,
    h: Vec<f64>,
    chol: Cholesky,
    m: Vec<f64>,
    residual_ss: f64,
    n: usize,
    weight: f64,
}

impl NigStats {
    /// Observations absorbed.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// No data: `P = I/v0`, `m = 0`.
    pub(crate) fn prior(d: usize, prior: &Prior) -> Self {
        let mut p = vec![0.0; d * d];
        for i in 0..d {
            p[i * d + i] = 1.0 / prior.v0;
        }
        NigStats {
            d,
            chol: Cholesky::diagonal(&vec![1.0 / prior.v0; d]),
            p,
            h: vec![0.0; d],
            m: vec![0.0; d],
            residual_ss: 0.0,
            n: 0,
            weight: 0.0,
        }
    }

    /// Absorbs one observation and refactors `P`.
    ///
    /// # Errors
    /// [`ReferenceError::NotPositiveDefinite`] if the new `P` cannot be
    /// factored (non-finite data).
    pub(crate) fn absorb(&mut self, x: &[f64], y: f64) -> Result<(), ReferenceError> {
        self.absorb_weighted(x, y, 1.0)
    }

    /// Absorbs one observation of weight `w` (variance `σ²/w`) and
    /// refactors `P`. With `w = 1` every operation is the unweighted one,
    /// bit for bit.
    ///
    /// # Errors
    /// As [`NigStats::absorb`].
    pub(crate) fn absorb_weighted(
        &mut self,
        x: &[f64],
        y: f64,
        w: f64,
    ) -> Result<(), ReferenceError> {
        let e = y - dot(x, &self.m);
        self.residual_ss += w * e * e / (1.0 + w * self.chol.inv_quad(x));
        add_outer(&mut self.p, x, w);
        add_scaled(&mut self.h, x, w * y);
        self.n += 1;
        self.weight += w;
        self.chol = Cholesky::new(&self.p, self.d)?;
        self.m = self.chol.solve(&self.h);
        Ok(())
    }

    /// The posterior: `m = P⁻¹h`, `a = a0 + ½ Σ w`,
    /// `b = b0 + ½ Σ w e²/(1 + w q)`.
    pub(crate) fn posterior(&self, prior: &Prior) -> NigPosterior {
        NigPosterior {
            a: prior.a0 + 0.5 * self.weight,
            b: prior.b0 + 0.5 * self.residual_ss,
            chol: self.chol.clone(),
            m: self.m.clone(),
        }
    }
}

/// NIG posterior `β | σ² ~ N(m, σ² P⁻¹)`, `σ² ~ IG(a, b)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NigPosterior {
    /// Cholesky factor of the posterior precision `P`.
    pub(crate) chol: Cholesky,
    /// Posterior mean of β.
    pub(crate) m: Vec<f64>,
    /// Inverse-gamma shape.
    pub(crate) a: f64,
    /// Inverse-gamma scale.
    pub(crate) b: f64,
}

impl NigPosterior {
    /// Predictive of `y` at `x` with β and σ² integrated out:
    /// `t_{2a}(xᵀm, (b/a)(1 + xᵀP⁻¹x))`.
    pub(crate) fn predictive(&self, x: &[f64]) -> StudentT {
        StudentT {
            loc: dot(x, &self.m),
            scale2: self.b / self.a * (1.0 + self.chol.inv_quad(x)),
            dof: 2.0 * self.a,
        }
    }

    /// One joint draw: `σ² ~ IG(a, b)`, then `β = m + σ L⁻ᵀ ε` where
    /// `P = L Lᵀ`, so that `Cov β = σ² P⁻¹`.
    pub(crate) fn draw<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Result<(Vec<f64>, f64), ReferenceError> {
        let sigma2 = inverse_gamma(rng, self.a, self.b)?;
        let eps: Vec<f64> = self.m.iter().map(|_| standard_normal(rng)).collect();
        let mut beta = self.chol.solve_upper(&eps);
        for (b, m) in beta.iter_mut().zip(&self.m) {
            *b = m + sigma2.sqrt() * *b;
        }
        Ok((beta, sigma2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::dist::linear_rows;
    use hsmoe_core::Config;

    /// `y ≈ 10⁴` with spread 10⁻³ and a vague prior (`v0 = 10⁶`): `Σy²` is
    /// 2·10¹¹ while `b − b0` is ≈ 50, so `b0 + ½(Σy² − mᵀPm)` is off by
    /// ~`Σy²·ε/b` ≈ 10⁻⁶ relative. The two-pass form
    /// `b0 + ½(‖y − Xm‖² + mᵀm/v0)` (equal in exact arithmetic since
    /// `m0 = 0`) subtracts nothing large; its own rounding is a few ε. The
    /// recursive update's error is set by the first steps, where
    /// `q = xᵀP⁻¹x` comes from `P ≈ I/v0 + x xᵀ` of condition number
    /// ≈ `v0·|x|²`: ≈ `v0·D·ε` = 7·10⁻¹⁰ relative. Tolerance 10⁻⁸.
    #[test]
    fn residual_scale_survives_a_large_mean() {
        let (xs, ys) = linear_rows(2000, 21, [1.0e4, 0.5, -0.25], 1.0e-3);
        let mut config = Config::default_for(3);
        config.v0 = 1.0e6;
        let prior = Prior::new(&config, 3).unwrap();
        let mut stats = NigStats::prior(3, &prior);
        for (x, &y) in xs.iter().zip(&ys) {
            stats.absorb(x, y).unwrap();
        }
        let post = stats.posterior(&prior);
        let residuals: f64 = xs
            .iter()
            .zip(&ys)
            .map(|(x, y)| (y - dot(x, &post.m)).powi(2))
            .sum();
        let two_pass = prior.b0 + 0.5 * (residuals + dot(&post.m, &post.m) / prior.v0);
        let relative = (post.b - two_pass).abs() / two_pass;
        println!("b = {}, two-pass {two_pass}, relative {relative:e}", post.b);
        assert!(relative < 1.0e-8, "relative error {relative:e}");
    }
}
