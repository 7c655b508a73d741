//! Small, numerically careful scalar helpers shared by the model code.

/// `ln(1 + e^x)` without overflow for large `x` or loss for very negative `x`.
///
/// # Examples
/// ```
/// use hsmoe_core::math::softplus;
/// assert_eq!(softplus(1.0e6), 1.0e6);
/// assert!((softplus(0.0) - core::f32::consts::LN_2).abs() < 1e-7);
/// assert!(softplus(-1.0e6) >= 0.0);
/// ```
pub fn softplus(x: f32) -> f32 {
    // max(x, 0) + ln(1 + e^{-|x|}): the exponent is never positive.
    let pos = if x > 0.0 { x } else { 0.0 };
    pos + libm::log1pf(libm::expf(-libm::fabsf(x)))
}

/// `ln σ(x)` for the logistic function σ, finite for every finite `x`.
///
/// # Examples
/// ```
/// let v = hsmoe_core::math::ln_sigmoid(0.0);
/// assert!((v + core::f32::consts::LN_2).abs() < 1e-7);
/// ```
pub fn ln_sigmoid(x: f32) -> f32 {
    -softplus(-x)
}

/// `ln Σ exp(v_i)`, max-subtracted; `-∞` for an empty slice or when every
/// entry is `-∞`, and NaN entries count as `-∞` (a dead term).
///
/// # Examples
/// ```
/// let v = hsmoe_core::math::ln_sum_exp(&[0.0, 0.0]);
/// assert!((v - core::f32::consts::LN_2).abs() < 1e-7);
/// assert_eq!(hsmoe_core::math::ln_sum_exp(&[]), f32::NEG_INFINITY);
/// ```
pub fn ln_sum_exp(values: &[f32]) -> f32 {
    let max = max_finite(values);
    if max == f32::NEG_INFINITY {
        return max;
    }
    let sum: f32 = values
        .iter()
        .filter(|v| !v.is_nan())
        .map(|&v| libm::expf(v - max))
        .sum();
    max + libm::logf(sum)
}

/// The largest entry that is not NaN (`+∞` counts), `-∞` if there is none.
///
/// # Examples
/// ```
/// assert_eq!(hsmoe_core::math::max_finite(&[1.0, f32::NAN, 3.0]), 3.0);
/// ```
pub fn max_finite(values: &[f32]) -> f32 {
    values
        .iter()
        .filter(|v| !v.is_nan())
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// Inner product `aᵀb` over the common length.
///
/// # Examples
/// ```
/// assert_eq!(hsmoe_core::math::dot(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Whether every value is finite and within `±limit`.
///
/// # Examples
/// ```
/// assert!(hsmoe_core::math::all_within(&[1.0, -2.0], 10.0));
/// assert!(!hsmoe_core::math::all_within(&[f32::NAN], 10.0));
/// ```
pub fn all_within(values: &[f32], limit: f32) -> bool {
    values.iter().all(|v| libm::fabsf(*v) <= limit)
}
