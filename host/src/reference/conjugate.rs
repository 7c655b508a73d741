//! Closed-form K = 1 model: conjugate Bayesian linear regression with a
//! normal–inverse-gamma prior (docs/model.md §9; Murphy, "Conjugate Bayesian
//! analysis of the Gaussian distribution", 2007, §9).

use super::nig::NigStats;
use super::prior::{check_data, Prior};
use super::ReferenceError;
use hsmoe_core::Config;
use std::f64::consts::PI;

/// The NIG posterior after all the data, with its log marginal likelihood.
///
/// `β | σ², y ~ N(mean, σ² cov_scale)`, `σ² | y ~ IG(a, b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConjugatePosterior {
    /// Posterior mean `m_T` of β (also its marginal posterior mean).
    pub mean: Vec<f64>,
    /// `V_T = (V0⁻¹ + XᵀX)⁻¹`, row by row.
    pub cov_scale: Vec<Vec<f64>>,
    /// Inverse-gamma shape `a_T = a0 + T/2`.
    pub a: f64,
    /// Inverse-gamma scale `b_T = b0 + ½(yᵀy − m_Tᵀ V_T⁻¹ m_T)`.
    pub b: f64,
    /// `log p(y_{1:T} | x_{1:T})`, the closed form of docs/model.md §9.
    pub log_marginal: f64,
}

/// The exact posterior of the K = 1 model (`m0 = 0`, `V0 = v0·I`).
///
/// # Errors
/// [`ReferenceError::WrongLength`] for empty or mismatched data or rows of
/// unequal length, [`ReferenceError::NonFinite`] for NaN or infinite
/// values, [`ReferenceError::InvalidConfig`] for an invalid `config`.
///
/// # Examples
/// ```
/// use hsmoe_host::reference::conjugate_posterior;
/// let xs = vec![vec![1.0, 0.0], vec![1.0, 1.0], vec![1.0, 2.0]];
/// let ys = [1.0, 3.0, 5.0];
/// let mut config = hsmoe_core::Config::default_for(2);
/// config.v0 = 1e6; // nearly flat: the mean approaches least squares (1, 2)
/// let post = conjugate_posterior(&xs, &ys, &config).unwrap();
/// assert!((post.mean[0] - 1.0).abs() < 1e-4 && (post.mean[1] - 2.0).abs() < 1e-4);
/// assert_eq!(post.a, 2.0 + 1.5);
/// ```
pub fn conjugate_posterior(
    xs: &[Vec<f64>],
    ys: &[f64],
    config: &Config,
) -> Result<ConjugatePosterior, ReferenceError> {
    let d = xs.first().map_or(0, Vec::len);
    check_data(xs, ys, d)?;
    let prior = Prior::new(config, d)?;
    let mut stats = NigStats::prior(d, &prior);
    for (x, &y) in xs.iter().zip(ys) {
        stats.absorb(x, y)?;
    }
    let post = stats.posterior(&prior);
    let t = ys.len() as f64;
    // ½ log(|V_T|/|V0|) = −½ log|P_T| − (D/2) log v0.
    let half_log_det_ratio = -0.5 * post.chol.log_det() - 0.5 * d as f64 * prior.v0.ln();
    let log_marginal = -0.5 * t * (2.0 * PI).ln() + half_log_det_ratio + prior.a0 * prior.b0.ln()
        - post.a * post.b.ln()
        + libm::lgamma(post.a)
        - libm::lgamma(prior.a0);
    Ok(ConjugatePosterior {
        cov_scale: post.chol.inverse(),
        mean: post.m,
        a: post.a,
        b: post.b,
        log_marginal,
    })
}

/// `log p(y_{1:T} | x_{1:T})` of the K = 1 model in closed form
/// (docs/model.md §9):
/// `−(T/2) log 2π + ½ log(|V_T|/|V0|) + a0 log b0 − a_T log b_T + log Γ(a_T) − log Γ(a0)`.
///
/// # Errors
/// As [`conjugate_posterior`].
///
/// # Examples
/// ```
/// use hsmoe_host::reference::conjugate_log_marginal;
/// let config = hsmoe_core::Config::default_for(1);
/// // One observation y = 0 with x = 1: y is Student-t, 2·a0 = 4 degrees of
/// // freedom, squared scale (b0/a0)(1 + v0) = 5.5, and Γ(5/2) = ¾√π.
/// let lp = conjugate_log_marginal(&[vec![1.0]], &[0.0], &config).unwrap();
/// let t4 = (0.75 * std::f64::consts::PI.sqrt()).ln() - 0.5 * (4.0 * std::f64::consts::PI * 5.5f64).ln();
/// assert!((lp - t4).abs() < 1e-12);
/// ```
pub fn conjugate_log_marginal(
    xs: &[Vec<f64>],
    ys: &[f64],
    config: &Config,
) -> Result<f64, ReferenceError> {
    conjugate_posterior(xs, ys, config).map(|post| post.log_marginal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::dist::linear_rows;

    /// y = 0.5 − x1 + 2 x2 + 0.3 ε with x1, x2 ~ N(0, 1) and an intercept.
    fn simulate(t: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
        linear_rows(t, seed, [0.5, -1.0, 2.0], 0.3)
    }

    #[test]
    fn closed_form_equals_chain_rule_of_predictives() {
        let (xs, ys) = simulate(200, 11);
        let config = Config::default_for(3);
        let prior = Prior::new(&config, 3).unwrap();
        let mut stats = NigStats::prior(3, &prior);
        let mut chain = 0.0;
        for (x, &y) in xs.iter().zip(&ys) {
            chain += stats.posterior(&prior).predictive(x).log_pdf(y);
            stats.absorb(x, y).unwrap();
        }
        let closed = conjugate_log_marginal(&xs, &ys, &config).unwrap();
        println!("closed form {closed:.12}, chain rule {chain:.12}");
        assert!((closed - chain).abs() < 1e-10 * closed.abs().max(1.0));
    }

    #[test]
    fn posterior_mean_near_truth() {
        let (xs, ys) = simulate(400, 12);
        let post = conjugate_posterior(&xs, &ys, &Config::default_for(3)).unwrap();
        // Posterior sd of each coefficient ≈ 0.3/sqrt(400) = 0.015; allow 5 sd.
        for (m, truth) in post.mean.iter().zip([0.5, -1.0, 2.0]) {
            assert!((m - truth).abs() < 0.075, "{m} vs {truth}");
        }
        // E[σ²|y] = b/(a−1) ≈ 0.09.
        assert!((post.b / (post.a - 1.0) - 0.09).abs() < 0.02);
    }

    #[test]
    fn rejects_bad_data() {
        let config = Config::default_for(2);
        let xs = vec![vec![1.0, 0.0], vec![1.0]];
        assert_eq!(
            conjugate_log_marginal(&xs, &[0.0, 1.0], &config),
            Err(ReferenceError::WrongLength)
        );
        let xs = vec![vec![1.0, 0.0]];
        assert_eq!(
            conjugate_log_marginal(&xs, &[f64::INFINITY], &config),
            Err(ReferenceError::NonFinite)
        );
        assert_eq!(
            conjugate_log_marginal(&[], &[], &config),
            Err(ReferenceError::WrongLength)
        );
    }
}
