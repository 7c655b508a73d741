//! Student-t log-density, the expert predictive of docs/model.md §3.

/// `½ ln(2π)`.
const HALF_LN_2PI: f32 = 0.918_938_5;

/// Below this `df` the normalizer is a difference of `lgammaf`s; from it on
/// an asymptotic series that does not cancel.
const SERIES_FROM_DF: f32 = 8.0;

/// `ln Γ((df+1)/2) − ln Γ(df/2) − ½ ln(df·π)`, the log normalizing constant
/// of a Student-t with `df` degrees of freedom. Compute it once per `df`.
///
/// For `df ≥ 8` it uses the asymptotic expansion
/// `ln Γ(x+½) − ln Γ(x) = ½ ln x − 1/(8x) + 1/(192x³) − 1/(640x⁵) + O(x⁻⁷)`
/// (`x = df/2`, error < 10⁻⁷), so the value stays accurate as `df = 2a_k`
/// grows with the data: the plain `lgammaf` difference loses ~`10⁻⁷·x ln x`
/// (0.03 at `df = 10⁵`). Tends to `−½ ln 2π` (the Gaussian) as `df → ∞`.
/// Returns NaN unless `df > 0`.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::student_t::ln_normalizer;
/// // t₁ is the Cauchy: normalizer 1/π.
/// assert!((ln_normalizer(1.0) + core::f32::consts::PI.ln()).abs() < 1e-6);
/// ```
pub fn ln_normalizer(df: f32) -> f32 {
    if !(df > 0.0) {
        return f32::NAN;
    }
    if df < SERIES_FROM_DF {
        return libm::lgammaf(0.5 * (df + 1.0))
            - libm::lgammaf(0.5 * df)
            - 0.5 * libm::logf(df * core::f32::consts::PI);
    }
    // ½ ln x − ½ ln(2xπ) = −½ ln 2π; the rest is the series in r = 1/x.
    let r = 2.0 / df;
    let r2 = r * r;
    -HALF_LN_2PI - r * (0.125 - r2 * (1.0 / 192.0 - r2 / 640.0))
}

/// `ln t_df(y | loc, scale2)`: the log-density at `y` of a Student-t with
/// location `loc`, squared scale `scale2` and `df` degrees of freedom, given
/// `ln_norm = ln_normalizer(df)`:
/// `ln_norm − ½ ln scale2 − ((df+1)/2)·ln(1 + (y−loc)²/(df·scale2))`.
///
/// Returns `−∞` (not NaN) when `(y − loc)²` overflows, so an extreme
/// outlier gets zero weight. Requires finite `scale2 > 0` and finite
/// `df > 0`; otherwise the result is NaN or meaningless.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::student_t::{ln_normalizer, ln_pdf};
/// let df = 3.0;
/// let peak = ln_pdf(1.0, 1.0, 4.0, df, ln_normalizer(df));
/// // At its centre the density is the normalizer over the scale (2).
/// assert!((peak - (ln_normalizer(df) - 2f32.ln())).abs() < 1e-6);
/// assert_eq!(ln_pdf(3e38, -3e38, 1.0, df, ln_normalizer(df)), f32::NEG_INFINITY);
/// ```
pub fn ln_pdf(y: f32, loc: f32, scale2: f32, df: f32, ln_norm: f32) -> f32 {
    ln_norm - 0.5 * libm::logf(scale2) - ln_tail(y, loc, scale2, df)
}

/// [`ln_pdf`] without its `−½ ln scale2`: `ln_norm − ((df+1)/2)·ln(1 +
/// (y−loc)²/(df·scale2))`, for a caller that multiplies the density by
/// `1/√scale2` in linear space instead of paying a logarithm for it. Same
/// requirements and the same `−∞` for an overflowing square.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::student_t::{ln_kernel, ln_normalizer, ln_pdf};
/// let (df, scale2) = (5.0, 2.5);
/// let ln_norm = ln_normalizer(df);
/// let split = ln_kernel(0.3, -1.0, scale2, df, ln_norm) - 0.5 * scale2.ln();
/// assert!((split - ln_pdf(0.3, -1.0, scale2, df, ln_norm)).abs() < 1e-6);
/// ```
pub fn ln_kernel(y: f32, loc: f32, scale2: f32, df: f32, ln_norm: f32) -> f32 {
    ln_norm - ln_tail(y, loc, scale2, df)
}

/// `((df+1)/2)·ln(1 + (y−loc)²/(df·scale2))`.
fn ln_tail(y: f32, loc: f32, scale2: f32, df: f32) -> f32 {
    let z = y - loc;
    let q = z * z / (df * scale2);
    0.5 * (df + 1.0) * libm::log1pf(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against f64 `lgamma` on both sides of the series switch and far out.
    #[test]
    fn normalizer_matches_lgamma() {
        for &df in &[0.1f64, 1.0, 2.5, 7.9, 8.0, 8.1, 30.0, 1e3, 1e5, 1e7] {
            let exact = libm::lgamma(0.5 * (df + 1.0))
                - libm::lgamma(0.5 * df)
                - 0.5 * libm::log(df * core::f64::consts::PI);
            let ours = f64::from(ln_normalizer(df as f32));
            assert!((ours - exact).abs() < 1e-6, "df {df}: {ours} vs {exact}");
        }
        assert!((f64::from(ln_normalizer(f32::INFINITY)) + 0.918_938_533).abs() < 1e-7);
        assert!(ln_normalizer(0.0).is_nan() && ln_normalizer(f32::NAN).is_nan());
    }

    /// Hand-computed: t₄ at y = 3, loc = 1, scale² = 2:
    /// Γ(5/2)/Γ(2) = 3√π/4, so ln_norm = ln(3√π/4) − ½ ln 4π = ln(3/8);
    /// (y−loc)²/(df·scale²) = 4/8 = ½; ln p = ln(3/8) − ½ ln 2 − (5/2) ln(3/2)
    /// = −2.3410656.
    #[test]
    fn ln_pdf_hand_computed() {
        let ln_norm = ln_normalizer(4.0);
        assert!((ln_norm - libm::logf(0.375)).abs() < 1e-6);
        let v = ln_pdf(3.0, 1.0, 2.0, 4.0, ln_norm);
        assert!((v + 2.341_065_6).abs() < 2e-6, "{v}");
    }

    #[test]
    fn overflow_is_minus_infinity_not_nan() {
        let ln_norm = ln_normalizer(5.0);
        assert_eq!(
            ln_pdf(f32::MAX, -f32::MAX, 1.0, 5.0, ln_norm),
            f32::NEG_INFINITY
        );
        assert_eq!(
            ln_pdf(f32::INFINITY, 0.0, 1.0, 5.0, ln_norm),
            f32::NEG_INFINITY
        );
        assert_eq!(ln_pdf(1e30, 0.0, 1e-30, 5.0, ln_norm), f32::NEG_INFINITY);
        assert!(ln_pdf(1e4, 0.0, 1.0, 1e6, ln_normalizer(1e6)).is_finite());
    }
}
