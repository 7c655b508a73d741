//! Gamma, inverse-gamma and exponential variates.

use super::normal::standard_normal;
use super::uniform::open01;
use rand_core::RngCore;

/// Cap on Marsaglia–Tsang proposals. For shape ≥ 1 each is accepted with
/// probability ≥ 0.95, so all 64 fail with probability < 10⁻⁸³.
const MAX_TRIES: usize = 64;

/// Draws `x ~ Gamma(shape, scale)`, density `∝ x^(shape−1) e^(−x/scale)`.
///
/// Marsaglia & Tsang (2000), "A simple method for generating gamma
/// variables", ACM TOMS 26(3): `d·(1 + x/√(9d))³` with `d = shape − ⅓` and
/// `x ~ N(0,1)`, accepted by a squeeze and then a log test; shapes below 1
/// use their boost `Gamma(shape) = Gamma(shape + 1)·U^(1/shape)`.
///
/// The log test `ln u < x²/2 + d(1 − v + ln v)` is evaluated in the
/// algebraically equal form `ln u < 3d·L(y)`, `y = x/√(9d)`,
/// `L(y) = ln(1+y) − y + y²/2 − y³/3`, with `L` by its series for small
/// `y`: the textbook form cancels catastrophically in f32 once `d ≳ 10⁴`.
///
/// Returns NaN if `shape` is not positive or either argument is NaN, `0.0`
/// for `scale = 0`, `+∞` for an infinite shape or scale. If the capped loop
/// ever ran out it would return the mean `shape·scale`. For tiny shapes the
/// draw can underflow to `0.0` (e.g. `P(x < 10⁻³⁸) ≈ 0.9` at shape 0.01).
///
/// # Examples
/// ```
/// use hsmoe_core::dist::gamma::gamma;
/// use rand_core::SeedableRng;
/// use rand_xorshift::XorShiftRng;
///
/// let mut rng = XorShiftRng::seed_from_u64(3);
/// let n = 10_000;
/// let mean = (0..n).map(|_| gamma(&mut rng, 2.5, 2.0)).sum::<f32>() / n as f32;
/// assert!((mean - 5.0).abs() < 0.13); // 4 SE: 4·√(2.5·2²/10⁴)
/// ```
pub fn gamma<R: RngCore + ?Sized>(rng: &mut R, shape: f32, scale: f32) -> f32 {
    if !(shape > 0.0 && scale >= 0.0) {
        return f32::NAN;
    }
    if shape < 1.0 {
        let boost = libm::expf(libm::logf(open01(rng)) / shape);
        return unit_gamma(rng, shape + 1.0) * boost * scale;
    }
    unit_gamma(rng, shape) * scale
}

/// Marsaglia–Tsang for `Gamma(shape, 1)`, `shape ≥ 1`.
fn unit_gamma<R: RngCore + ?Sized>(rng: &mut R, shape: f32) -> f32 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / libm::sqrtf(9.0 * d);
    for _ in 0..MAX_TRIES {
        let x = standard_normal(rng);
        let y = c * x;
        if y <= -1.0 {
            continue;
        }
        let v = (1.0 + y) * (1.0 + y) * (1.0 + y);
        let u = open01(rng);
        let x2 = x * x;
        if u < 1.0 - 0.0331 * x2 * x2 || libm::logf(u) < 3.0 * d * log1p_remainder(y) {
            return d * v;
        }
    }
    shape
}

/// `ln(1+y) − y + y²/2 − y³/3` for `y > −1`, accurate to a few f32 ulps
/// even where the four terms cancel.
fn log1p_remainder(y: f32) -> f32 {
    if libm::fabsf(y) < 0.125 {
        // Taylor series −y⁴/4 + y⁵/5 − …; the first omitted term is below
        // 2·10⁻⁶ of the sum for |y| < 1/8.
        let y2 = y * y;
        y2 * y2 * (-0.25 + y * (0.2 + y * (-1.0 / 6.0 + y * (1.0 / 7.0 + y * (-0.125 + y / 9.0)))))
    } else {
        libm::log1pf(y) - y * (1.0 - y * (0.5 - y / 3.0))
    }
}

/// Draws `x ~ IG(shape, scale)`, density `∝ x^(−shape−1) e^(−scale/x)`, as
/// `scale / Gamma(shape, 1)`.
///
/// Returns NaN if `shape` is not positive or either argument is NaN, and
/// `+∞` if the gamma draw underflows to 0 (possible for tiny shapes):
/// callers clamp.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::gamma::inverse_gamma;
/// use rand_core::SeedableRng;
/// use rand_xorshift::XorShiftRng;
///
/// let mut rng = XorShiftRng::seed_from_u64(4);
/// let n = 10_000;
/// // IG(5, 8) has mean 8/4 = 2 and variance 4/3.
/// let mean = (0..n).map(|_| inverse_gamma(&mut rng, 5.0, 8.0)).sum::<f32>() / n as f32;
/// assert!((mean - 2.0).abs() < 0.05); // 4 SE
/// ```
pub fn inverse_gamma<R: RngCore + ?Sized>(rng: &mut R, shape: f32, scale: f32) -> f32 {
    scale / gamma(rng, shape, 1.0)
}

/// Draws `x ~ Exp(1)` by inversion, `−ln U`.
///
/// With [`open01`]'s grid the result lies in `[1.2·10⁻⁷, 16.6]`; the
/// truncated upper tail has probability `6·10⁻⁸`.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::gamma::exponential;
/// use rand_core::SeedableRng;
/// use rand_xorshift::XorShiftRng;
///
/// let mut rng = XorShiftRng::seed_from_u64(5);
/// let x = exponential(&mut rng);
/// assert!(x > 0.0 && x.is_finite());
/// ```
pub fn exponential<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    -libm::logf(open01(rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xorshift::XorShiftRng;

    /// Sample mean and variance of `n` draws, accumulated in f64 around
    /// `center` to avoid cancellation.
    fn mean_var(n: usize, center: f64, mut draw: impl FnMut() -> f32) -> (f64, f64) {
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for _ in 0..n {
            let dx = f64::from(draw()) - center;
            s1 += dx;
            s2 += dx * dx;
        }
        let m = s1 / n as f64;
        (center + m, s2 / n as f64 - m * m)
    }

    /// Gamma moments within 4 Monte Carlo SEs: SE(mean) = √(σ²/n),
    /// SE(var) = √((μ₄ − σ⁴)/n) with the exact fourth central moment
    /// μ₄ = 3k(k + 2)θ⁴. Covers the boost (k < 1) and a huge shape, where
    /// the textbook f32 log test would be wrong.
    #[test]
    fn gamma_moments() {
        let n = 200_000;
        let cases = [
            (0.3, 2.0),
            (0.5, 1.0),
            (1.0, 1.0),
            (2.7, 0.5),
            (40.0, 1.0),
            (1e6, 1e-6),
        ];
        for (i, &(k, theta)) in cases.iter().enumerate() {
            let mut rng = XorShiftRng::seed_from_u64(30 + i as u64);
            let (mean, var) = mean_var(n, k * theta, || gamma(&mut rng, k as f32, theta as f32));
            let sigma2 = k * theta * theta;
            let mu4 = 3.0 * k * (k + 2.0) * theta * theta * theta * theta;
            let nf = n as f64;
            assert!(
                (mean - k * theta).abs() < 4.0 * libm::sqrt(sigma2 / nf),
                "k {k}: mean {mean}"
            );
            let se_var = libm::sqrt((mu4 - sigma2 * sigma2) / nf);
            assert!((var - sigma2).abs() < 4.0 * se_var, "k {k}: var {var}");
        }
    }

    /// `x²/2 + d(1 − v + ln v) = 3d·L(y)` (the rewritten Marsaglia–Tsang
    /// log test), checked against the textbook form in f64 where f64 is
    /// still accurate, on both branches of the series switch.
    #[test]
    fn rewritten_log_test_matches_textbook() {
        for &d in &[0.7f64, 2.0, 50.0] {
            for &x in &[-2.0f64, -0.3, 0.05, 0.4, 1.5, 3.0] {
                let y = x / libm::sqrt(9.0 * d);
                let v = (1.0 + y) * (1.0 + y) * (1.0 + y);
                let textbook = 0.5 * x * x + d * (1.0 - v + libm::log(v));
                let ours = 3.0 * d * f64::from(log1p_remainder(y as f32));
                // f32 rounding: relative on the series branch, ~ε·3d|y| on
                // the direct one (its terms are O(y) and cancel to O(y⁴)).
                let tol = 1e-5 * textbook.abs() + 3.0 * d * y.abs() * 5e-7;
                assert!(
                    (ours - textbook).abs() < tol,
                    "d {d} x {x}: {ours} vs {textbook}"
                );
            }
        }
    }

    /// IG(a, b) has mean b/(a − 1) and variance b²/((a − 1)²(a − 2));
    /// sample mean within 4 SE. Exp(1) mean 1 and variance 1 within 4 SE
    /// (SE(var) = √(8/n): μ₄ = 9).
    #[test]
    fn inverse_gamma_and_exponential_moments() {
        let n = 200_000;
        let nf = n as f64;
        let mut rng = XorShiftRng::seed_from_u64(40);
        let (mean, _) = mean_var(n, 2.0, || inverse_gamma(&mut rng, 5.0, 8.0));
        assert!(
            (mean - 2.0).abs() < 4.0 * libm::sqrt(64.0 / 48.0 / nf),
            "{mean}"
        );
        let (mean, var) = mean_var(n, 1.0, || exponential(&mut rng));
        assert!((mean - 1.0).abs() < 4.0 / libm::sqrt(nf), "{mean}");
        assert!((var - 1.0).abs() < 4.0 * libm::sqrt(8.0 / nf), "{var}");
    }

    #[test]
    fn edge_cases_are_defined() {
        let mut rng = XorShiftRng::seed_from_u64(41);
        for (shape, scale) in [
            (0.0, 1.0),
            (-1.0, 1.0),
            (f32::NAN, 1.0),
            (1.0, -1.0),
            (1.0, f32::NAN),
        ] {
            assert!(gamma(&mut rng, shape, scale).is_nan());
        }
        assert_eq!(gamma(&mut rng, 3.0, 0.0), 0.0);
        assert_eq!(gamma(&mut rng, f32::INFINITY, 1.0), f32::INFINITY);
        assert_eq!(gamma(&mut rng, 2.0, f32::INFINITY), f32::INFINITY);
        let huge = gamma(&mut rng, 1e30, 1.0);
        assert!((huge / 1e30 - 1.0).abs() < 1e-3, "{huge}");
        let tiny = gamma(&mut rng, 1e-6, 1.0);
        assert!((0.0..=1.0).contains(&tiny));
        assert!(inverse_gamma(&mut rng, 0.5, 1e-30) > 0.0);
        assert!(inverse_gamma(&mut rng, -0.5, 1.0).is_nan());
    }
}
