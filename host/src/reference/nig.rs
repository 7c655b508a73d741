//! Normal–inverse-gamma linear-regression expert (SPEC §1), conjugate
//! updates as in Bishop, PRML §3.3 / Murphy, "Conjugate Bayesian analysis
//! of the Gaussian distribution" §9, with `m0 = 0`, `V0 = v0·I`.

use super::dist::{inverse_gamma, standard_normal, StudentT};
use super::linalg::{add_outer, add_scaled, dot, Cholesky};
use super::prior::Prior;
use super::ReferenceError;
use rand::Rng;

/// Raw data statistics of one expert: `P = V0⁻¹ + Σ x xᵀ`, `h = Σ x y`
/// (`= P m` because `m0 = 0`), `Σ y²` and the count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NigStats {
    d: usize,
    p: Vec<f64>,
    h: Vec<f64>,
    yy: f64,
    n: usize,
}

impl NigStats {
    /// No data: `P = I/v0`.
    pub(crate) fn prior(d: usize, prior: &Prior) -> Self {
        let mut p = vec![0.0; d * d];
        for i in 0..d {
            p[i * d + i] = 1.0 / prior.v0;
        }
        NigStats {
            d,
            p,
            h: vec![0.0; d],
            yy: 0.0,
            n: 0,
        }
    }

    /// Absorbs one observation.
    pub(crate) fn absorb(&mut self, x: &[f64], y: f64) {
        add_outer(&mut self.p, x, 1.0);
        add_scaled(&mut self.h, x, y);
        self.yy += y * y;
        self.n += 1;
    }

    /// The posterior, factored from scratch:
    /// `m = P⁻¹h`, `a = a0 + n/2`, `b = b0 + ½(Σy² − mᵀPm)`.
    pub(crate) fn posterior(&self, prior: &Prior) -> Result<NigPosterior, ReferenceError> {
        let chol = Cholesky::new(&self.p, self.d)?;
        let m = chol.solve(&self.h);
        Ok(NigPosterior {
            a: prior.a0 + 0.5 * self.n as f64,
            b: prior.b0 + 0.5 * (self.yy - dot(&self.h, &m)),
            chol,
            m,
        })
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
