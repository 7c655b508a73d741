//! Bayesian logistic regression in f64, computed two independent ways: the
//! Laplace approximation at the MAP and the exact Pólya-Gamma Gibbs sampler
//! of Polson, Scott & Windle (2013), "Bayesian inference for logistic
//! models using Pólya–Gamma latent variables", JASA 108. The model is
//! `y_i ∈ {0, 1}`, `P(y_i = 1) = σ(x_iᵀβ)`, `β ~ N(0, v0·I)` with every
//! coefficient (the intercept too) under the same prior. It is the oracle
//! for coefficients updated by Pólya-Gamma augmentation (a Bernoulli
//! expert's): the deterministic Laplace fit checks the sampler, and the
//! sampler, exact but for Monte Carlo error, checks anything faster.

use super::dist::standard_normal;
use super::gate::StickData;
use super::linalg::{add_outer, add_scaled, dot, Cholesky};
use super::polya_gamma;
use super::prior::check_data;
use super::ReferenceError;
use rand::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;
use rayon::prelude::*;

/// Newton's iteration has converged when no coordinate of its step
/// exceeds this.
const NEWTON_TOLERANCE: f64 = 1e-12;
/// Cap on Newton iterations. The log posterior is strictly concave, and
/// Newton's method converges quadratically near its maximum, so a sound
/// problem converges in far fewer.
const NEWTON_MAX_ITERATIONS: usize = 100;

/// Posterior mean and standard deviation of each coefficient.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticPosterior {
    /// Posterior mean of `β_j` (for [`laplace`], the MAP).
    pub mean: Vec<f64>,
    /// Posterior standard deviation of `β_j`.
    pub sd: Vec<f64>,
}

/// The Laplace approximation `N(β̂, (XᵀŴX + I/v0)⁻¹)`: `β̂` the MAP,
/// `Ŵ = diag(p̂_i(1 − p̂_i))`, `p̂_i = σ(x_iᵀβ̂)`.
///
/// The MAP is found by Newton's method from `β = 0`, stopping when every
/// coordinate of the step is below `1e-12`.
///
/// # Errors
/// [`ReferenceError::WrongLength`] for no rows, rows of unequal or zero
/// length, or `x` and `y` of different lengths;
/// [`ReferenceError::NonFinite`] for NaN or infinite data;
/// [`ReferenceError::InvalidResponse`] for a `y_i` other than 0 or 1;
/// [`ReferenceError::InvalidConfig`] unless `v0` is finite and positive;
/// [`ReferenceError::NotPositiveDefinite`] on numerical breakdown, and
/// [`ReferenceError::NotConverged`] if Newton's method has not converged
/// within 100 iterations.
///
/// # Examples
/// ```
/// use hsmoe_host::reference::logistic::laplace;
/// // One observation per sign: the data pull β in opposite directions, so
/// // the MAP is zero and the curvature there is ¼ + ¼ + 1/v0.
/// let posterior = laplace(&[vec![1.0], vec![-1.0]], &[1.0, 1.0], 2.0).unwrap();
/// assert!(posterior.mean[0].abs() < 1e-12);
/// assert!((posterior.sd[0] - 1.0).abs() < 1e-12);
/// ```
pub fn laplace(x: &[Vec<f64>], y: &[f64], v0: f64) -> Result<LogisticPosterior, ReferenceError> {
    let d = check(x, y, v0)?;
    let mut beta = vec![0.0; d];
    for _ in 0..NEWTON_MAX_ITERATIONS {
        let (precision, gradient) = curvature(x, y, v0, &beta);
        let step = Cholesky::new(&precision, d)?.solve(&gradient);
        add_scaled(&mut beta, &step, 1.0);
        if step.iter().all(|s| s.abs() < NEWTON_TOLERANCE) {
            // The covariance at the MAP itself, not at the previous iterate.
            let covariance = Cholesky::new(&curvature(x, y, v0, &beta).0, d)?.inverse();
            let sd = (0..d).map(|j| covariance[j][j].sqrt()).collect();
            return Ok(LogisticPosterior { mean: beta, sd });
        }
    }
    Err(ReferenceError::NotConverged)
}

/// Minus the Hessian, `XᵀWX + I/v0`, and the gradient,
/// `Xᵀ(y − p) − β/v0`, of the log posterior at `beta`.
fn curvature(x: &[Vec<f64>], y: &[f64], v0: f64, beta: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let d = beta.len();
    let mut precision = vec![0.0; d * d];
    for j in 0..d {
        precision[j * d + j] = 1.0 / v0;
    }
    let mut gradient: Vec<f64> = beta.iter().map(|b| -b / v0).collect();
    for (xi, &yi) in x.iter().zip(y) {
        let p = sigmoid(dot(xi, beta));
        add_outer(&mut precision, xi, p * (1.0 - p));
        add_scaled(&mut gradient, xi, yi - p);
    }
    (precision, gradient)
}

/// `σ(t) = 1/(1 + e⁻ᵗ)`; saturates to 0 or 1 (never NaN) for huge `|t|`.
pub(crate) fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

/// The pooled posterior summary of [`gibbs`] and the draws behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct GibbsRun {
    /// Mean and standard deviation of the kept draws of all chains pooled.
    pub posterior: LogisticPosterior,
    /// `draws[j][c]`: the kept draws of `β_j` in chain `c`, in sweep order —
    /// the per-chain series that [`crate::gibbs::split_rhat`] and
    /// [`crate::gibbs::batch_means_se`] take.
    pub draws: Vec<Vec<Vec<f64>>>,
}

/// The exact Pólya-Gamma Gibbs sampler (Polson, Scott & Windle 2013).
///
/// One sweep draws `ω_i | β ~ PG(1, x_iᵀβ)` for every row, then
/// `β | ω ~ N(Λ⁻¹Xᵀκ, Λ⁻¹)` with `Λ = XᵀΩX + I/v0`, `κ_i = y_i − ½`.
/// Each of the `chains` chains starts from a prior draw `β ~ N(0, v0·I)`,
/// overdispersed relative to the posterior, runs `iterations` sweeps and
/// keeps those after the first `burn_in`. Chain `c` has its own
/// `XorShiftRng` seeded from `seed + c`, so the result is the same
/// whatever the number of threads.
///
/// # Errors
/// As [`laplace`] for the data and `v0` (but never
/// [`ReferenceError::NotConverged`]); [`ReferenceError::InvalidConfig`]
/// for `chains = 0` or `burn_in ≥ iterations`.
///
/// # Examples
/// ```
/// use hsmoe_host::reference::logistic::gibbs;
/// let x: Vec<Vec<f64>> = (0..40).map(|i| vec![1.0, (i as f64 - 20.0) / 10.0]).collect();
/// let y: Vec<f64> = (0..40).map(|i| f64::from(u8::from(i % 3 != 0))).collect();
/// let run = gibbs(&x, &y, 10.0, 2, 300, 100, 1).unwrap();
/// assert_eq!((run.draws.len(), run.draws[0].len(), run.draws[0][0].len()), (2, 2, 200));
/// assert!(run.posterior.mean[0] > 0.0); // two thirds of the y are 1
/// ```
pub fn gibbs(
    x: &[Vec<f64>],
    y: &[f64],
    v0: f64,
    chains: usize,
    iterations: usize,
    burn_in: usize,
    seed: u64,
) -> Result<GibbsRun, ReferenceError> {
    let d = check(x, y, v0)?;
    if chains == 0 || burn_in >= iterations {
        return Err(ReferenceError::InvalidConfig);
    }
    let per_chain = (0..chains)
        .into_par_iter()
        .map(|c| {
            // seed_from_u64 scrambles its argument (PCG32), so neighbouring
            // seeds give unrelated streams.
            let mut rng = XorShiftRng::seed_from_u64(seed.wrapping_add(c as u64));
            chain(&mut rng, x, y, v0, iterations, burn_in)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut draws = vec![Vec::with_capacity(chains); d];
    for kept in per_chain {
        for (series, beta_j) in draws.iter_mut().zip(kept) {
            series.push(beta_j);
        }
    }
    let (mean, sd) = draws.iter().map(|series| mean_sd(series)).unzip();
    Ok(GibbsRun {
        posterior: LogisticPosterior { mean, sd },
        draws,
    })
}

/// One chain of [`gibbs`]: the kept draws of each coefficient, `[j][s]`.
fn chain(
    rng: &mut XorShiftRng,
    x: &[Vec<f64>],
    y: &[f64],
    v0: f64,
    iterations: usize,
    burn_in: usize,
) -> Result<Vec<Vec<f64>>, ReferenceError> {
    let d = x[0].len();
    let prior_precision = vec![1.0 / v0; d];
    let mut beta: Vec<f64> = (0..d).map(|_| v0.sqrt() * standard_normal(rng)).collect();
    let mut kept = vec![Vec::with_capacity(iterations - burn_in); d];
    for sweep in 0..iterations {
        let rows = x.iter().map(Vec::as_slice).zip(y.iter().copied());
        beta = pg_step(rng, rows, &beta, &prior_precision)?;
        if sweep >= burn_in {
            for (series, &b) in kept.iter_mut().zip(&beta) {
                series.push(b);
            }
        }
    }
    Ok(kept)
}

/// One sweep of the Pólya-Gamma sampler over `rows` `(x_i, y_i)`, from
/// coefficients `beta`: `ω_i ~ PG(1, x_iᵀβ)`, then the new
/// `β ~ N(Λ⁻¹Xᵀκ, Λ⁻¹)` with `Λ = XᵀΩX + diag(prior_precision)` and
/// `κ_i = y_i − ½`.
///
/// # Errors
/// [`ReferenceError::NotPositiveDefinite`] on numerical breakdown.
fn pg_step<'a, R: Rng + ?Sized>(
    rng: &mut R,
    rows: impl Iterator<Item = (&'a [f64], f64)>,
    beta: &[f64],
    prior_precision: &[f64],
) -> Result<Vec<f64>, ReferenceError> {
    // S = Σ ω_i x_i x_iᵀ and r = Σ κ_i x_i = Xᵀκ, so Λ = S + diag(prior).
    let mut stats = StickData::empty(beta.len());
    for (x, y) in rows {
        pg_absorb(rng, &mut stats, (x, y), beta);
    }
    stats.draw_phi(rng, prior_precision)
}

/// Adds the row `(x, y)` to `stats` with its augmentation drawn at
/// coefficients `beta`: `ω ~ PG(1, xᵀβ)` and `κ = y − ½`, which make the
/// row's logistic likelihood Gaussian in `β`. Also how a Bernoulli expert
/// of the mixture takes its rows ([`super::expert::Augmented`]).
pub(crate) fn pg_absorb<R: Rng + ?Sized>(
    rng: &mut R,
    stats: &mut StickData,
    (x, y): (&[f64], f64),
    beta: &[f64],
) {
    let omega = polya_gamma::sample(rng, dot(x, beta));
    stats.absorb(x, omega, y - 0.5);
}

/// Mean and standard deviation of every draw of every chain. The variance
/// divides by the number of draws: the Monte Carlo estimate of
/// `E[(β_j − E β_j)²]`, defined even for a single draw.
fn mean_sd(chains: &[Vec<f64>]) -> (f64, f64) {
    let n = chains.iter().map(Vec::len).sum::<usize>() as f64;
    let mean = chains.iter().flatten().sum::<f64>() / n;
    let var = chains
        .iter()
        .flatten()
        .map(|b| (b - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// Checks the data and prior of [`laplace`] and [`gibbs`]; returns `d`.
fn check(x: &[Vec<f64>], y: &[f64], v0: f64) -> Result<usize, ReferenceError> {
    let d = x.first().map_or(0, Vec::len);
    if d == 0 {
        return Err(ReferenceError::WrongLength);
    }
    check_data(x, y, d)?;
    if y.iter().any(|&v| v != 0.0 && v != 1.0) {
        return Err(ReferenceError::InvalidResponse);
    }
    if !(v0.is_finite() && v0 > 0.0) {
        return Err(ReferenceError::InvalidConfig);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gibbs::{batch_means_se, split_rhat};
    use rand::Rng;

    /// `n` rows `(1, x)`, `x ~ N(0, 1)`, `y ~ Bernoulli(σ(−0.5 + x))`.
    fn simulate(n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = XorShiftRng::seed_from_u64(seed);
        let x: Vec<Vec<f64>> = (0..n)
            .map(|_| vec![1.0, standard_normal(&mut rng)])
            .collect();
        let y = x
            .iter()
            .map(|xi| {
                f64::from(u8::from(
                    rng.random::<f64>() < sigmoid(dot(xi, &[-0.5, 1.0])),
                ))
            })
            .collect();
        (x, y)
    }

    #[test]
    fn gibbs_agrees_with_laplace() {
        let (x, y) = simulate(400, 11);
        let v0 = 10.0;
        let approx = laplace(&x, &y, v0).unwrap();
        let run = gibbs(&x, &y, v0, 4, 5_000, 500, 5).unwrap();
        for j in 0..2 {
            let chains = &run.draws[j];
            assert!(split_rhat(chains) < 1.01, "R-hat of β_{j}");
            // Monte Carlo SE of the pooled mean: the chains are independent
            // and equally long, so Var(mean) = Σ SE_c² / chains².
            let mc_se = chains
                .iter()
                .map(|c| batch_means_se(c).powi(2))
                .sum::<f64>()
                .sqrt()
                / chains.len() as f64;
            let sd = approx.sd[j];
            // The posterior mean differs from the mode by O(1/n) on the
            // β scale, O(1/√n) ≈ 0.05·(skewness factor) in sd units at
            // n = 400, and the Gibbs mean carries Monte Carlo error
            // sd/√ESS, here a few hundredths of an sd: 0.2 sd leaves room
            // for both and still catches a wrong conditional.
            let gap = (run.posterior.mean[j] - approx.mean[j]).abs();
            assert!(gap < 0.2 * sd, "β_{j}: |Δmean| = {gap}, sd = {sd}");
            assert!(mc_se < 0.05 * sd, "β_{j}: MC SE {mc_se} of sd {sd}");
            // The Laplace sd errs by O(1/√n) relatively, too.
            let ratio = run.posterior.sd[j] / sd;
            assert!((ratio - 1.0).abs() < 0.1, "β_{j}: sd ratio {ratio}");
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let x = vec![vec![1.0, 0.5], vec![1.0, -0.3]];
        let nan = vec![vec![1.0, f64::NAN], vec![1.0, -0.3]];
        let short = vec![vec![1.0, 0.5], vec![1.0]];
        let y = [1.0, 0.0];
        // Both functions check their data and prior alike.
        let refused = |x: &[Vec<f64>], y: &[f64], v0: f64| {
            let error = laplace(x, y, v0).unwrap_err();
            assert_eq!(gibbs(x, y, v0, 2, 10, 5, 0).unwrap_err(), error);
            error
        };
        assert_eq!(
            refused(&x, &[0.5, 0.0], 1.0),
            ReferenceError::InvalidResponse
        );
        assert_eq!(refused(&nan, &y, 1.0), ReferenceError::NonFinite);
        assert_eq!(refused(&short, &y, 1.0), ReferenceError::WrongLength);
        assert_eq!(refused(&x, &y[..1], 1.0), ReferenceError::WrongLength);
        assert_eq!(refused(&[], &[], 1.0), ReferenceError::WrongLength);
        assert_eq!(refused(&x, &y, 0.0), ReferenceError::InvalidConfig);
        assert_eq!(
            gibbs(&x, &y, 1.0, 0, 10, 5, 0),
            Err(ReferenceError::InvalidConfig)
        );
        assert_eq!(
            gibbs(&x, &y, 1.0, 2, 10, 10, 0),
            Err(ReferenceError::InvalidConfig)
        );
        // Separable data under a nearly flat prior: the MAP is so far out
        // that Newton's method has not settled in 100 iterations.
        assert_eq!(laplace(&x, &y, 1e8), Err(ReferenceError::NotConverged));
    }
}
