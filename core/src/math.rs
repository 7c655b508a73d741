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
    positive_part(x) + libm::log1pf(libm::expf(-libm::fabsf(x)))
}

/// `max(x, 0)`, and `0` for NaN.
fn positive_part(x: f32) -> f32 {
    at_least(x, 0.0)
}

/// `max(v, floor)`, and `floor` for a NaN `v`: a compare, where `f32::max`
/// is a call to `fmaxf` on the Cortex-M4F.
pub(crate) fn at_least(v: f32, floor: f32) -> f32 {
    if v > floor {
        v
    } else {
        floor
    }
}

/// `√x`, correctly rounded (IEEE 754), bit for bit what `libm::sqrtf`
/// returns on every target for `x ≥ 0`, `+∞` and NaN inputs (the sign and
/// payload of a NaN may differ).
///
/// On an Arm hard-float target it is the `VSQRT.F32` instruction: libm
/// 0.2 has no Arm path for `sqrtf`, so there it is a ~75-instruction
/// software routine, and Rust 1.95 has no stable `sqrt` in `core`.
/// Measured on the default firmware (QEMU, N = 128, K = D = 4): libm's
/// `sqrtf` took 777 of 5 590 instructions per particle-update, this takes
/// 5 per call. IEEE 754 requires square root to be correctly rounded,
/// so host and firmware stay bit-identical; exp and log have no such
/// guarantee and always come from libm.
///
/// # Examples
/// ```
/// use hsmoe_core::math::sqrt;
/// assert_eq!(sqrt(2.25), 1.5);
/// assert_eq!(sqrt(2.0), libm::sqrtf(2.0));
/// assert_eq!(sqrt(f32::INFINITY), f32::INFINITY);
/// ```
#[inline]
pub fn sqrt(x: f32) -> f32 {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        let bits: u32;
        // SAFETY: the block only computes with s15, declared clobbered, so
        // the compiler keeps nothing live there. Rust 1.95 offers no `sreg`
        // operand on a single-precision-only FPU (it demands `vfp2`), hence
        // the trip through core registers; a clobber is allowed, and saves
        // the push and pop of a register of the block's own.
        unsafe {
            core::arch::asm!(
                "vmov s15, {x}",
                "vsqrt.f32 s15, s15",
                "vmov {root}, s15",
                x = in(reg) x.to_bits(),
                root = lateout(reg) bits,
                out("s15") _,
                options(pure, nomem, nostack),
            );
        }
        f32::from_bits(bits)
    }
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
    {
        libm::sqrtf(x)
    }
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

/// `σ(x)` and `σ(−x) = 1 − σ(x)`, each in linear and in log form.
///
/// # Examples
/// ```
/// use hsmoe_core::math::{ln_sigmoid, sigmoid_pair};
/// let s = sigmoid_pair(1.5);
/// assert_eq!((s.ln_p, s.ln_q), (ln_sigmoid(1.5), ln_sigmoid(-1.5)));
/// assert!((s.p + s.q - 1.0).abs() < 1e-7 && s.q < s.p);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SigmoidPair {
    /// `σ(x)`.
    pub p: f32,
    /// `σ(−x)`.
    pub q: f32,
    /// `ln σ(x)`, bit for bit [`ln_sigmoid`]`(x)`.
    pub ln_p: f32,
    /// `ln σ(−x)`, bit for bit [`ln_sigmoid`]`(−x)`.
    pub ln_q: f32,
}

/// [`SigmoidPair`] of `x` for one `exp` and one `ln` (two of each for
/// [`ln_sigmoid`] at `±x`, plus an `exp` per probability): with
/// `e = e^{−|x|}`, `ln σ(±x) = −max(∓x, 0) − ln(1 + e)` and the two
/// probabilities are `1/(1 + e)` and `e/(1 + e)`, accurate to a few ulps
/// and zero only where the exact value is below the f32 range. NaN gives
/// NaN everywhere.
pub fn sigmoid_pair(x: f32) -> SigmoidPair {
    let e = libm::expf(-libm::fabsf(x));
    let shared = libm::log1pf(e);
    let (p, q) = sigmoid_from(x, e);
    SigmoidPair {
        p,
        q,
        ln_p: -(positive_part(-x) + shared),
        ln_q: -(positive_part(x) + shared),
    }
}

/// `σ(x)` and `σ(−x)` for one `exp` and no logarithm: the probabilities
/// of [`sigmoid_pair`], bit for bit.
///
/// # Examples
/// ```
/// use hsmoe_core::math::{sigmoid, sigmoid_pair};
/// let s = sigmoid_pair(-0.7);
/// assert_eq!(sigmoid(-0.7), (s.p, s.q));
/// ```
pub fn sigmoid(x: f32) -> (f32, f32) {
    sigmoid_from(x, libm::expf(-libm::fabsf(x)))
}

/// `(σ(x), σ(−x))` from `e = e^{−|x|}`: `1/(1 + e)` and `e/(1 + e)`.
fn sigmoid_from(x: f32, e: f32) -> (f32, f32) {
    let larger = 1.0 / (1.0 + e);
    let smaller = e * larger;
    if x >= 0.0 {
        (larger, smaller)
    } else {
        (smaller, larger)
    }
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
#[inline]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared form must not change a single bit of either logarithm,
    /// and the probabilities are the f64 logistic function to a few ulps
    /// (relative, or of the subnormal spacing 1.4·10⁻⁴⁵ near underflow).
    #[test]
    fn sigmoid_pair_is_bitwise_the_two_log_calls() {
        let values = [
            0.0,
            -0.0,
            1e-30,
            0.3,
            -2.5,
            17.0,
            -88.0,
            1e4,
            f32::MAX,
            -f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        for x in values {
            let s = sigmoid_pair(x);
            assert_eq!(s.ln_p.to_bits(), ln_sigmoid(x).to_bits(), "{x}");
            assert_eq!(s.ln_q.to_bits(), ln_sigmoid(-x).to_bits(), "{x}");
            let logistic = |v: f64| 1.0 / (1.0 + libm::exp(-v));
            let x64 = f64::from(x);
            for (v, exact) in [(s.p, logistic(x64)), (s.q, logistic(-x64))] {
                let err = (f64::from(v) - exact).abs();
                assert!(
                    err <= 4.0 * f64::from(f32::EPSILON) * exact + 3e-45,
                    "{x}: {v}"
                );
            }
            assert!((s.p + s.q - 1.0).abs() <= f32::EPSILON, "{x}");
        }
        let s = sigmoid_pair(f32::NAN);
        assert!(s.p.is_nan() && s.q.is_nan() && s.ln_p.is_nan() && s.ln_q.is_nan());
    }
}
