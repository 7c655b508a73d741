//! The gate: logistic stick-breaking probabilities, Pólya-Gamma stick
//! statistics (docs/model.md §2) and the horseshoe prior in the
//! Makalic–Schmidt auxiliary form ("A simple sampler for the horseshoe
//! estimator", IEEE SPL 2016).

use super::dist::{inverse_gamma, standard_normal};
use super::linalg::{add_outer, add_scaled, dot, Cholesky};
use super::prior::Prior;
use super::ReferenceError;
use rand::Rng;

/// Horseshoe scales (λ², ν, τ², ξ) are clamped into this range after each
/// draw, as the core does: the only numerical guard of the horseshoe
/// (docs/model.md §7). It keeps `1/(τ²λ²)` finite and positive; the prior
/// precision itself is not floored, so the scale conditionals and the
/// coefficient prior describe one joint distribution.
pub(crate) const SCALE_MIN: f64 = 1e-8;
/// Upper end of the scale clamp.
pub(crate) const SCALE_MAX: f64 = 1e8;

/// `log(1 + eˣ)` without overflow.
pub(crate) fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Logits `ψ_j = xᵀφ_j`, one per stick.
pub(crate) fn logits(phi: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    phi.iter().map(|p| dot(p, x)).collect()
}

/// Stick-breaking log probabilities (K = `psi.len() + 1` entries):
/// `log π_k = log σ(ψ_k) + Σ_{j<k} log(1 − σ(ψ_j))`, the last expert taking
/// the remaining stick. `log σ(ψ) = −softplus(−ψ)` and
/// `log(1 − σ(ψ)) = −softplus(ψ)` stay finite for huge `|ψ|`.
pub(crate) fn log_stick_breaking(psi: &[f64]) -> Vec<f64> {
    let mut log_pi = Vec::with_capacity(psi.len() + 1);
    let mut log_remaining = 0.0;
    for &p in psi {
        log_pi.push(log_remaining - softplus(-p));
        log_remaining -= softplus(p);
    }
    log_pi.push(log_remaining);
    log_pi
}

/// Pólya-Gamma data statistics of one stick: `S = Σ ω x xᵀ`, `r = Σ κ x`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StickData {
    s: Vec<f64>,
    r: Vec<f64>,
}

impl StickData {
    /// No trials yet.
    pub(crate) fn empty(d: usize) -> Self {
        StickData {
            s: vec![0.0; d * d],
            r: vec![0.0; d],
        }
    }

    /// One Bernoulli trial at `x` with PG draw `omega` and `kappa = ±½`.
    pub(crate) fn absorb(&mut self, x: &[f64], omega: f64, kappa: f64) {
        add_outer(&mut self.s, x, omega);
        add_scaled(&mut self.r, x, kappa);
    }

    /// `φ ~ N(Λ⁻¹r, Λ⁻¹)` with `Λ = diag(prior_precision) + S`, factored
    /// from scratch: mean by two triangular solves, noise `L⁻ᵀε`.
    pub(crate) fn draw_phi<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        prior_precision: &[f64],
    ) -> Result<Vec<f64>, ReferenceError> {
        let d = self.r.len();
        let mut lambda = self.s.clone();
        for (l, p) in prior_precision.iter().enumerate() {
            lambda[l * d + l] += p;
        }
        let chol = Cholesky::new(&lambda, d)?;
        let mean = chol.solve(&self.r);
        let eps: Vec<f64> = (0..d).map(|_| standard_normal(rng)).collect();
        let noise = chol.solve_upper(&eps);
        Ok(mean.iter().zip(&noise).map(|(m, e)| m + e).collect())
    }
}

/// Horseshoe state of one gate: a local scale per shrunk coefficient, one
/// global scale, and their Makalic–Schmidt auxiliaries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Horseshoe {
    /// `λ²_{j,l}` for shrunk features `l ≥ first_shrunk`, stored at
    /// `[j][l − first_shrunk]`.
    pub(crate) lambda2: Vec<Vec<f64>>,
    nu: Vec<Vec<f64>>,
    /// Global scale `τ²`.
    pub(crate) tau2: f64,
    xi: f64,
    first_shrunk: usize,
    intercept_precision: f64,
}

impl Horseshoe {
    /// Draws every scale from the prior: `ν, ξ ~ IG(½, 1)`,
    /// `λ² | ν ~ IG(½, 1/ν)`, `τ² | ξ ~ IG(½, 1/ξ)`.
    pub(crate) fn from_prior<R: Rng + ?Sized>(
        rng: &mut R,
        sticks: usize,
        d: usize,
        prior: &Prior,
    ) -> Result<Self, ReferenceError> {
        let shrunk = d - prior.first_shrunk;
        let mut nu = vec![vec![0.0; shrunk]; sticks];
        let mut lambda2 = vec![vec![0.0; shrunk]; sticks];
        for (nu_j, lambda2_j) in nu.iter_mut().zip(&mut lambda2) {
            for (n, l2) in nu_j.iter_mut().zip(lambda2_j.iter_mut()) {
                *n = clamp(inverse_gamma(rng, 0.5, 1.0)?);
                *l2 = clamp(inverse_gamma(rng, 0.5, 1.0 / *n)?);
            }
        }
        let xi = clamp(inverse_gamma(rng, 0.5, 1.0)?);
        let tau2 = clamp(inverse_gamma(rng, 0.5, 1.0 / xi)?);
        Ok(Horseshoe {
            lambda2,
            nu,
            tau2,
            xi,
            first_shrunk: prior.first_shrunk,
            intercept_precision: 1.0 / (prior.s0 * prior.s0),
        })
    }

    /// Diagonal prior precision of stick `j`'s coefficients: `1/s0²` for
    /// the intercept, `1/(τ²λ²_{j,l})` for shrunk features.
    pub(crate) fn prior_precision(&self, j: usize) -> Vec<f64> {
        let intercept = std::iter::repeat_n(self.intercept_precision, self.first_shrunk);
        let shrunk = self.lambda2[j].iter().map(|l2| 1.0 / (self.tau2 * l2));
        intercept.chain(shrunk).collect()
    }

    /// One Gibbs scan of the scales given the coefficients `phi[j][l]`
    /// (Makalic & Schmidt 2016, with no noise variance in the logit):
    /// `λ² ~ IG(1, 1/ν + φ²/(2τ²))`, `ν ~ IG(1, 1 + 1/λ²)` per coefficient,
    /// then `τ² ~ IG((M+1)/2, 1/ξ + Σ φ²/(2λ²))` over all M shrunk
    /// coefficients and `ξ ~ IG(1, 1 + 1/τ²)`. Each draw is clamped.
    pub(crate) fn refresh<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        phi: &[Vec<f64>],
    ) -> Result<(), ReferenceError> {
        let mut m = 0usize;
        let mut sum_phi2_over_lambda2 = 0.0;
        for ((lambda2_j, nu_j), phi_j) in self.lambda2.iter_mut().zip(&mut self.nu).zip(phi) {
            for ((l2, n), f) in lambda2_j
                .iter_mut()
                .zip(nu_j.iter_mut())
                .zip(&phi_j[self.first_shrunk..])
            {
                *l2 = clamp(inverse_gamma(
                    rng,
                    1.0,
                    1.0 / *n + f * f / (2.0 * self.tau2),
                )?);
                *n = clamp(inverse_gamma(rng, 1.0, 1.0 + 1.0 / *l2)?);
                sum_phi2_over_lambda2 += f * f / (2.0 * *l2);
                m += 1;
            }
        }
        let shape = 0.5 * (m as f64 + 1.0);
        self.tau2 = clamp(inverse_gamma(
            rng,
            shape,
            1.0 / self.xi + sum_phi2_over_lambda2,
        )?);
        self.xi = clamp(inverse_gamma(rng, 1.0, 1.0 + 1.0 / self.tau2)?);
        Ok(())
    }
}

fn clamp(v: f64) -> f64 {
    v.clamp(SCALE_MIN, SCALE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gibbs::batch_means_se;
    use hsmoe_core::Config;
    use rand::SeedableRng;
    use rand_xorshift::XorShiftRng;

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn stick_breaking_matches_definition_and_survives_huge_logits() {
        let psi = [0.3, -1.2, 2.0];
        let pi: Vec<f64> = log_stick_breaking(&psi).iter().map(|l| l.exp()).collect();
        let expected = [
            sigmoid(0.3),
            sigmoid(-1.2) * (1.0 - sigmoid(0.3)),
            sigmoid(2.0) * (1.0 - sigmoid(0.3)) * (1.0 - sigmoid(-1.2)),
            (1.0 - sigmoid(0.3)) * (1.0 - sigmoid(-1.2)) * (1.0 - sigmoid(2.0)),
        ];
        for (p, e) in pi.iter().zip(expected) {
            assert!((p - e).abs() < 1e-15);
        }
        assert!((pi.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        let huge = log_stick_breaking(&[1e300, -1e300]);
        assert!(huge.iter().all(|l| !l.is_nan()));
        assert_eq!(huge[0], 0.0);
        assert_eq!(log_stick_breaking(&[]), [0.0]);
    }

    #[test]
    fn phi_draw_has_gaussian_posterior_moments() {
        // Λ = diag(1, 4) + S with S = 2·(1,1)(1,1)ᵀ, r = (1, −1):
        // Λ = [[3, 2], [2, 6]], Λ⁻¹ = [[6, −2], [−2, 3]]/14, mean = (8, −5)/14.
        let mut data = StickData::empty(2);
        data.absorb(&[1.0, 1.0], 2.0, 0.0);
        data.absorb(&[1.0, -1.0], 0.0, 1.0);
        let mut rng = XorShiftRng::seed_from_u64(3);
        let n = 200_000;
        let draws: Vec<Vec<f64>> = (0..n)
            .map(|_| data.draw_phi(&mut rng, &[1.0, 4.0]).unwrap())
            .collect();
        let mean0 = draws.iter().map(|p| p[0]).sum::<f64>() / n as f64;
        let var0 = draws.iter().map(|p| (p[0] - mean0).powi(2)).sum::<f64>() / n as f64;
        let cov01 = draws
            .iter()
            .map(|p| (p[0] - mean0) * (p[1] + 5.0 / 14.0))
            .sum::<f64>()
            / n as f64;
        // SE of the mean: sqrt(6/14/n) ≈ 0.0015; of the variance
        // ≈ sqrt(2/n)·6/14 ≈ 0.0014; of the covariance ≈ 0.0010. 4 SE.
        assert!((mean0 - 8.0 / 14.0).abs() < 0.006, "mean {mean0}");
        assert!((var0 - 6.0 / 14.0).abs() < 0.006, "var {var0}");
        assert!((cov01 + 2.0 / 14.0).abs() < 0.004, "cov {cov01}");
    }

    /// Runs the no-data Gibbs chain `φ | scales`, `scales | φ` (K = 3,
    /// D = 3 with an intercept: M = 4 shrunk coefficients) and returns the
    /// indicator series of λ_{0,1} ≤ 1, λ_{0,1} ≤ ½ and τ ≤ 1.
    fn no_data_chain(iterations: usize, seed: u64) -> [Vec<f64>; 3] {
        let prior = Prior::new(&Config::default_for(3), 3).unwrap();
        let mut rng = XorShiftRng::seed_from_u64(seed);
        let mut hs = Horseshoe::from_prior(&mut rng, 2, 3, &prior).unwrap();
        let empty = StickData::empty(3);
        let mut series = [vec![], vec![], vec![]];
        let indicator = |b: bool| f64::from(u8::from(b));
        for _ in 0..iterations {
            let phi: Vec<Vec<f64>> = (0..2)
                .map(|j| empty.draw_phi(&mut rng, &hs.prior_precision(j)).unwrap())
                .collect();
            hs.refresh(&mut rng, &phi).unwrap();
            series[0].push(indicator(hs.lambda2[0][0] <= 1.0));
            series[1].push(indicator(hs.lambda2[0][0] <= 0.25));
            series[2].push(indicator(hs.tau2 <= 1.0));
        }
        series
    }

    /// With no data the chain's stationary law is the prior, so λ and τ
    /// must be half-Cauchy: P(λ ≤ 1) = ½, P(λ ≤ ½) = (2/π)·atan(½) ≈ 0.2952,
    /// P(τ ≤ 1) = ½. This checks the four inverse-gamma conditionals
    /// together with the prior precision the engines use.
    #[test]
    fn horseshoe_scan_leaves_half_cauchy_prior_invariant() {
        let iterations = 400_000;
        let series = no_data_chain(iterations, 8);
        let truths = [0.5, 2.0 / std::f64::consts::PI * 0.5f64.atan(), 0.5];
        let names = ["P(λ ≤ 1)", "P(λ ≤ ½)", "P(τ ≤ 1)"];
        for ((indicators, truth), name) in series.iter().zip(truths).zip(names) {
            let p = indicators.iter().sum::<f64>() / iterations as f64;
            // The chain is autocorrelated: batch-means SE, 4 SE tolerance.
            let se = batch_means_se(indicators);
            println!("{name}: {p:.4} (truth {truth:.4}, batch-means SE {se:.4})");
            assert!(
                (p - truth).abs() < 4.0 * se,
                "{name} = {p}, truth {truth}, SE {se}"
            );
        }
    }

    #[test]
    fn prior_precision_is_intercept_or_horseshoe_variance() {
        let mut config = Config::default_for(3);
        config.s0 = 0.5;
        let prior = Prior::new(&config, 3).unwrap();
        let mut rng = XorShiftRng::seed_from_u64(9);
        let mut hs = Horseshoe::from_prior(&mut rng, 1, 3, &prior).unwrap();
        hs.tau2 = 1e4;
        hs.lambda2[0] = vec![1e4, 0.5];
        assert_eq!(hs.prior_precision(0), [4.0, 1e-8, 2e-4]);
    }
}
