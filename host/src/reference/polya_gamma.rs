//! Exact PG(1, c) sampler by Devroye's method, in f64.
//!
//! Polson, Scott & Windle (2013), "Bayesian inference for logistic models
//! using Pólya–Gamma latent variables", JASA 108, Algorithm 1 (the
//! construction of the `BayesLogit` R package): draw `J*(1, z)` with
//! `z = |c|/2` by rejection from a proposal that is a truncated inverse
//! Gaussian on `(0, t]` glued to a truncated exponential on `(t, ∞)`,
//! `t = 0.64`, accepting through the alternating series of the density;
//! then `PG(1, c) = J*(1, |c|/2) / 4`. The acceptance probability of one
//! proposal is at least 0.9992 for every `z`, and the alternating series
//! decides after a few terms, so the result is exact, not truncated.
//!
//! This is the exact sampler of the host reference engine (docs/model.md §5,
//! §9) and the yardstick for the core's fast f32 approximation.

use rand::Rng;
use rand_distr::{Exp1, Open01, StandardNormal};
use std::f64::consts::{FRAC_2_PI, PI};

/// Truncation point `t` between the inverse-Gaussian and exponential
/// pieces of the proposal (Devroye's choice, PSW 2013 §4).
const TRUNC: f64 = 0.64;

/// Cap on every rejection loop and on the alternating series. Each loop
/// accepts with probability ≥ 0.4 per pass (≥ 0.999 for the outer one) and
/// the series decides within ~5 terms, so the cap never binds in practice;
/// if it did, the last proposal is returned rather than spinning.
const MAX_ITER: usize = 1000;

/// Draws one `ω ~ PG(1, c)` exactly (Devroye's method, see the module docs).
///
/// `PG(1, c) = PG(1, −c)`. For `c = ±∞` the distribution is a point mass at
/// zero and `0.0` is returned; a NaN `c` returns NaN.
///
/// # Examples
/// ```
/// use hsmoe_host::reference::polya_gamma::sample;
/// use rand::SeedableRng;
/// use rand_xorshift::XorShiftRng;
///
/// let mut rng = XorShiftRng::seed_from_u64(7);
/// let n = 20_000;
/// let mean = (0..n).map(|_| sample(&mut rng, 2.0)).sum::<f64>() / n as f64;
/// // E[PG(1, 2)] = tanh(1) / 4 ≈ 0.1904; the Monte Carlo SE is ≈ 0.0007.
/// assert!((mean - (1.0f64).tanh() / 4.0).abs() < 0.003);
/// ```
pub fn sample<R: Rng + ?Sized>(rng: &mut R, c: f64) -> f64 {
    let z = 0.5 * c.abs();
    if z.is_nan() {
        return f64::NAN;
    }
    if z.is_infinite() {
        return 0.0;
    }
    // Rate of the exponential piece: J*(1, z) has Laplace exponent
    // π²/8 + z²/2 on (t, ∞) (PSW 2013, eq. 12).
    let rate = PI * PI / 8.0 + 0.5 * z * z;
    let p_exponential = exponential_mass(z, rate);
    let mut x = TRUNC;
    for _ in 0..MAX_ITER {
        let u: f64 = rng.random();
        x = if u < p_exponential {
            TRUNC + rng.sample::<f64, _>(Exp1) / rate
        } else {
            truncated_inverse_gaussian(rng, z)
        };
        if accept(rng, x) {
            break;
        }
    }
    0.25 * x
}

/// Probability `p/(p+q)` that the proposal comes from the exponential piece
/// (BayesLogit's `mass_texpon`), with `q/p` formed in logs because
/// `e^{z}·Φ(a)` under- and overflows for large `z`.
fn exponential_mass(z: f64, rate: f64) -> f64 {
    let sqrt_t = TRUNC.sqrt();
    let b = (TRUNC * z - 1.0) / sqrt_t;
    let a = -(TRUNC * z + 1.0) / sqrt_t;
    let x0 = rate.ln() + rate * TRUNC;
    let q_over_p =
        (4.0 / PI) * ((x0 - z + ln_normal_cdf(b)).exp() + (x0 + z + ln_normal_cdf(a)).exp());
    let p = 1.0 / (1.0 + q_over_p);
    // For z beyond ~1e150 the logs above lose all meaning (inf − inf); the
    // exponential piece then has mass 0.
    if p.is_nan() {
        0.0
    } else {
        p
    }
}

/// `ln Φ(x)` for the standard normal CDF, accurate in the far left tail.
fn ln_normal_cdf(x: f64) -> f64 {
    if x < -20.0 {
        // Mills-ratio asymptotic series: Φ(x) = φ(x)/|x| · (1 − 1/x² + 3/x⁴ − 15/x⁶ + 105/x⁸ …),
        // relative error < 1e-11 for x < −20.
        let r = 1.0 / (x * x);
        let series = 1.0 - r * (1.0 - r * (3.0 - r * (15.0 - r * 105.0)));
        -0.5 * x * x - (-x).ln() - 0.5 * (2.0 * PI).ln() + series.ln()
    } else if x < 0.0 {
        (0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)).ln()
    } else {
        (-0.5 * libm::erfc(x / std::f64::consts::SQRT_2)).ln_1p()
    }
}

/// Draws from the inverse Gaussian `IG(μ = 1/z, λ = 1)` truncated to `(0, t]`
/// (BayesLogit's `rtigauss`; PSW 2013, Algorithms 2 and 3).
fn truncated_inverse_gaussian<R: Rng + ?Sized>(rng: &mut R, z: f64) -> f64 {
    let mu = 1.0 / z;
    let mut x = TRUNC;
    if mu > TRUNC {
        // Propose from the Lévy density x^{-3/2} e^{-1/(2x)} on (0, t]
        // (a normal tail beyond 1/√t by Devroye's exponential rejection),
        // accept with the tilt e^{-z²x/2}.
        for _ in 0..MAX_ITER {
            let mut e1: f64 = rng.sample(Exp1);
            for _ in 0..MAX_ITER {
                let e2: f64 = rng.sample(Exp1);
                if e1 * e1 <= 2.0 * e2 / TRUNC {
                    break;
                }
                e1 = rng.sample(Exp1);
            }
            let denom = 1.0 + TRUNC * e1;
            x = TRUNC / (denom * denom);
            let alpha = (-0.5 * z * z * x).exp();
            let u: f64 = rng.random();
            if u <= alpha {
                break;
            }
        }
    } else {
        // Michael, Schucany & Haas (1976) inverse-Gaussian draws, rejected
        // until they fall in (0, t].
        for _ in 0..MAX_ITER {
            let n: f64 = rng.sample(StandardNormal);
            let y = n * n;
            let mu_y = mu * y;
            x = mu + 0.5 * mu * mu_y - 0.5 * mu * (4.0 * mu_y + mu_y * mu_y).sqrt();
            let u: f64 = rng.random();
            if u > mu / (mu + x) {
                x = mu * mu / x;
            }
            if x <= TRUNC {
                break;
            }
        }
    }
    x
}

/// Devroye's alternating-series test: accept `x` with probability
/// `f(x)/g(x)` using the partial sums of `Σ (−1)ⁿ aₙ(x)`, which bracket the
/// target density alternately from above and below (PSW 2013, Algorithm 1).
fn accept<R: Rng + ?Sized>(rng: &mut R, x: f64) -> bool {
    let mut s = series_coefficient(0, x);
    let y = rng.sample::<f64, _>(Open01) * s;
    for n in 1..MAX_ITER {
        if n % 2 == 1 {
            s -= series_coefficient(n, x);
            if y <= s {
                return true;
            }
        } else {
            s += series_coefficient(n, x);
            if y > s {
                return false;
            }
        }
    }
    true
}

/// The piecewise coefficient `aₙ(x)` of the J*(1, 0) density
/// (PSW 2013, eq. 15): the theta-transformed form for `x ≤ t`, the direct
/// form for `x > t`; both are monotone in `n` on their pieces.
fn series_coefficient(n: usize, x: f64) -> f64 {
    let h = n as f64 + 0.5;
    if x > TRUNC {
        PI * h * (-0.5 * PI * PI * h * h * x).exp()
    } else if x > 0.0 {
        // π h (2/(πx))^{3/2} e^{−2h²/x}, in logs to avoid 0·∞ for tiny x.
        (1.5 * (FRAC_2_PI / x).ln() + (PI * h).ln() - 2.0 * h * h / x).exp()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xorshift::XorShiftRng;

    fn exact_mean(c: f64) -> f64 {
        if c == 0.0 {
            0.25
        } else {
            (0.5 * c).tanh() / (2.0 * c)
        }
    }

    fn exact_variance(c: f64) -> f64 {
        if c == 0.0 {
            1.0 / 24.0
        } else {
            let ch = (0.5 * c).cosh();
            (c.sinh() - c) / (4.0 * c * c * c * ch * ch)
        }
    }

    /// Sample mean and variance within 4 Monte Carlo standard errors of the
    /// exact moments (docs/model.md §5). SE(mean) = sd/√n; SE(variance) =
    /// √((m4 − s⁴)/n) from the sample fourth central moment. With ten
    /// checks at 4 SE the false-alarm rate is < 1e-3.
    #[test]
    fn moments_match_exact_formulas() {
        let n = 200_000;
        for (i, &c) in [0.0, 0.5, 2.0, 10.0, 50.0].iter().enumerate() {
            let mut rng = XorShiftRng::seed_from_u64(100 + i as u64);
            let draws: Vec<f64> = (0..n).map(|_| sample(&mut rng, c)).collect();
            let nf = n as f64;
            let mean = draws.iter().sum::<f64>() / nf;
            let m2 = draws.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / nf;
            let m4 = draws.iter().map(|w| (w - mean).powi(4)).sum::<f64>() / nf;
            let se_mean = (m2 / nf).sqrt();
            let se_var = ((m4 - m2 * m2) / nf).sqrt();
            assert!(
                (mean - exact_mean(c)).abs() < 4.0 * se_mean,
                "c = {c}: mean {mean} vs {}",
                exact_mean(c)
            );
            assert!(
                (m2 - exact_variance(c)).abs() < 4.0 * se_var,
                "c = {c}: variance {m2} vs {}",
                exact_variance(c)
            );
        }
    }

    #[test]
    fn symmetric_in_c_and_defined_at_extremes() {
        let mut a = XorShiftRng::seed_from_u64(3);
        let mut b = XorShiftRng::seed_from_u64(3);
        assert_eq!(sample(&mut a, 3.5), sample(&mut b, -3.5));
        let mut rng = XorShiftRng::seed_from_u64(4);
        assert_eq!(sample(&mut rng, f64::INFINITY), 0.0);
        assert!(sample(&mut rng, f64::NAN).is_nan());
        for c in [1e3, 1e8, 1e200, f64::MAX] {
            let w = sample(&mut rng, c);
            assert!(w.is_finite() && w >= 0.0, "c = {c}: {w}");
            // PG(1, c) concentrates at 1/(2|c|) for large |c|.
            assert!(w < 10.0 / c.abs(), "c = {c}: {w}");
        }
    }
}
