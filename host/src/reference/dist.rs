//! Distributions the reference engines draw from or evaluate, in f64,
//! built on `rand_distr` (independent of the core's samplers).

use super::ReferenceError;
use rand::Rng;
use rand_distr::{Distribution, Gamma, StandardNormal};
use std::f64::consts::PI;

/// One standard normal draw.
pub(crate) fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

/// Test data for the reference engines: rows `(1, x1, x2)` with
/// `x1, x2 ~ N(0, 1)` and `y = βᵀx + σ ε`, seeded.
#[cfg(test)]
pub(crate) fn linear_rows(
    t: usize,
    seed: u64,
    beta: [f64; 3],
    sigma: f64,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    use rand::SeedableRng;
    let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(seed);
    let xs: Vec<Vec<f64>> = (0..t)
        .map(|_| vec![1.0, standard_normal(&mut rng), standard_normal(&mut rng)])
        .collect();
    let ys = xs
        .iter()
        .map(|x| {
            x.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>() + sigma * standard_normal(&mut rng)
        })
        .collect();
    (xs, ys)
}

/// `IG(shape, scale)` as `scale / Gamma(shape, 1)`: density
/// `∝ v^(−shape−1) exp(−scale/v)`, mean `scale/(shape−1)`.
pub(crate) fn inverse_gamma<R: Rng + ?Sized>(
    rng: &mut R,
    shape: f64,
    scale: f64,
) -> Result<f64, ReferenceError> {
    let gamma = Gamma::new(shape, 1.0).map_err(|_| ReferenceError::InvalidConfig)?;
    Ok(scale / gamma.sample(rng))
}

/// `Gamma(shape, rate)`: density `∝ v^(shape−1) exp(−rate·v)`, mean
/// `shape/rate`.
pub(crate) fn gamma<R: Rng + ?Sized>(
    rng: &mut R,
    shape: f64,
    rate: f64,
) -> Result<f64, ReferenceError> {
    let gamma = Gamma::new(shape, 1.0 / rate).map_err(|_| ReferenceError::InvalidConfig)?;
    Ok(gamma.sample(rng))
}

/// `log Σ exp(v)`, shifted by the maximum so nothing overflows; `−∞` for
/// an empty slice or when every entry is `−∞`.
pub(crate) fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// Draws an index with probability `∝ exp(log_weights[k])` by inverting
/// the cumulative sum of the max-shifted weights.
pub(crate) fn categorical_from_logs<R: Rng + ?Sized>(rng: &mut R, log_weights: &[f64]) -> usize {
    let max = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = log_weights.iter().map(|v| (v - max).exp()).collect();
    let target = rng.random::<f64>() * weights.iter().sum::<f64>();
    let mut cumulative = 0.0;
    for (k, w) in weights.iter().enumerate() {
        cumulative += w;
        // Strict `<` never selects a zero-weight entry.
        if target < cumulative {
            return k;
        }
    }
    // Rounding left `target` at the total: take the last positive weight.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

/// Log density of `N(mean, var)` at `y`.
pub(crate) fn normal_log_pdf(y: f64, mean: f64, var: f64) -> f64 {
    -0.5 * (2.0 * PI * var).ln() - 0.5 * (y - mean) * (y - mean) / var
}

/// Student-t with `dof` degrees of freedom, location `loc` and squared
/// scale `scale2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StudentT {
    pub(crate) loc: f64,
    pub(crate) scale2: f64,
    pub(crate) dof: f64,
}

impl StudentT {
    /// `log Γ((ν+1)/2) − log Γ(ν/2) − ½ log(νπs²) − ((ν+1)/2) log(1 + (y−μ)²/(νs²))`.
    pub(crate) fn log_pdf(&self, y: f64) -> f64 {
        let nu = self.dof;
        let z2 = (y - self.loc) * (y - self.loc) / (nu * self.scale2);
        libm::lgamma(0.5 * (nu + 1.0))
            - libm::lgamma(0.5 * nu)
            - 0.5 * (nu * PI * self.scale2).ln()
            - 0.5 * (nu + 1.0) * z2.ln_1p()
    }

    /// `s²·ν/(ν−2)`, infinite for `ν ≤ 2`.
    pub(crate) fn variance(&self) -> f64 {
        if self.dof > 2.0 {
            self.scale2 * self.dof / (self.dof - 2.0)
        } else {
            f64::INFINITY
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xorshift::XorShiftRng;

    #[test]
    fn student_t_matches_cauchy_and_normal_limits() {
        // ν = 1 is Cauchy: density 1/(π s) at the location.
        let cauchy = StudentT {
            loc: 1.0,
            scale2: 4.0,
            dof: 1.0,
        };
        assert!((cauchy.log_pdf(1.0) + (2.0 * PI).ln()).abs() < 1e-13);
        assert_eq!(cauchy.variance(), f64::INFINITY);
        // ν → ∞ is normal; at ν = 1e7 the log density differs by O(1/ν).
        let t = StudentT {
            loc: 0.5,
            scale2: 2.0,
            dof: 1e7,
        };
        assert!((t.log_pdf(2.0) - normal_log_pdf(2.0, 0.5, 2.0)).abs() < 1e-6);
        let t5 = StudentT {
            loc: 0.0,
            scale2: 3.0,
            dof: 5.0,
        };
        assert!((t5.variance() - 5.0).abs() < 1e-15);
    }

    #[test]
    fn log_sum_exp_is_stable() {
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(log_sum_exp(&[f64::NEG_INFINITY; 3]), f64::NEG_INFINITY);
    }

    #[test]
    fn categorical_never_draws_zero_weight_and_has_right_frequencies() {
        let mut rng = XorShiftRng::seed_from_u64(5);
        let logs = [0.2f64.ln(), f64::NEG_INFINITY, 0.8f64.ln()];
        let n = 100_000;
        let mut counts = [0usize; 3];
        for _ in 0..n {
            counts[categorical_from_logs(&mut rng, &logs)] += 1;
        }
        assert_eq!(counts[1], 0);
        // Binomial SE sqrt(0.2·0.8/n) ≈ 0.00126; allow 4 SE.
        let p0 = counts[0] as f64 / n as f64;
        assert!(
            (p0 - 0.2).abs() < 4.0 * (0.16 / n as f64).sqrt(),
            "p0 = {p0}"
        );
    }

    #[test]
    fn inverse_gamma_mean() {
        // IG(3, 2) has mean 1 and variance 1; mean of n draws has SE 1/sqrt(n).
        let mut rng = XorShiftRng::seed_from_u64(6);
        let n = 100_000;
        let mean = (0..n)
            .map(|_| inverse_gamma(&mut rng, 3.0, 2.0).unwrap())
            .sum::<f64>()
            / n as f64;
        assert!(
            (mean - 1.0).abs() < 4.0 / (n as f64).sqrt(),
            "mean = {mean}"
        );
        assert_eq!(
            inverse_gamma(&mut rng, 0.0, 1.0),
            Err(ReferenceError::InvalidConfig)
        );
    }
}
