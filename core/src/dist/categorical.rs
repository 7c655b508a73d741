//! Sampling an index from unnormalized log-weights or weights.

use super::uniform::open01;
use rand_core::RngCore;

/// Draws `i` with probability `∝ exp(ln_weights[i])`.
///
/// Inversion over the cumulative weights after subtracting the largest
/// finite log-weight, so no weight overflows and the largest is exactly 1:
/// [`exp_shifted`] into a stack buffer, then [`sample`], so one `exp` per
/// entry. Entries that are NaN or `±∞` get probability zero (a `+∞`
/// log-weight is an upstream overflow, not certainty). Returns `None` if
/// the array is empty or has no finite entry. Rounding can never select a
/// zero-weight entry: if `u·total` lands past the last cumulative sum the
/// last positive-weight index is returned.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::categorical::sample_ln;
/// use rand_core::SeedableRng;
/// use rand_xorshift::XorShiftRng;
///
/// let mut rng = XorShiftRng::seed_from_u64(6);
/// assert_eq!(sample_ln(&mut rng, &[f32::NEG_INFINITY, -1e3, f32::NAN]), Some(1));
/// assert_eq!(sample_ln(&mut rng, &[0.0f32; 0]), None);
/// assert_eq!(sample_ln(&mut rng, &[f32::NEG_INFINITY]), None);
/// ```
pub fn sample_ln<R: RngCore + ?Sized, const K: usize>(
    rng: &mut R,
    ln_weights: &[f32; K],
) -> Option<usize> {
    let mut weights = [0.0f32; K];
    let (_, total) = exp_shifted(ln_weights, &mut weights)?;
    sample(rng, &weights, total)
}

/// The weights [`sample_ln`] draws from, exponentiated once into `weights`
/// so that a caller who also needs the probabilities or `ln Σ exp` pays
/// one `exp` per entry: `weights[i] = exp(ln_weights[i] − max)` over the
/// finite entries (0 for NaN and `±∞`), `max` the largest finite
/// log-weight. Returns `(max, Σ weights)` (the sum is ≥ 1), so
/// `max + ln Σ` is `ln Σ exp(ln_weights)`; `None`, with `weights` zeroed,
/// if there is no finite entry. Entries beyond the shorter slice are left
/// alone.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::categorical::exp_shifted;
/// let mut w = [0.0; 3];
/// assert_eq!(exp_shifted(&[1.0, f32::NAN, 1.0], &mut w), Some((1.0, 2.0)));
/// assert_eq!(w, [1.0, 0.0, 1.0]);
/// assert_eq!(exp_shifted(&[f32::NEG_INFINITY; 3], &mut w), None);
/// assert_eq!(w, [0.0; 3]);
/// ```
pub fn exp_shifted(ln_weights: &[f32], weights: &mut [f32]) -> Option<(f32, f32)> {
    let Some(max) = finite_max(ln_weights) else {
        weights.iter_mut().for_each(|w| *w = 0.0);
        return None;
    };
    let mut total = 0.0;
    for (w, &ln_w) in weights.iter_mut().zip(ln_weights) {
        *w = shifted_exp(ln_w, max);
        total += *w;
    }
    Some((max, total))
}

/// [`exp_shifted`], each weight then multiplied by its linear factor:
/// `weights[i] = factors[i]·exp(ln_weights[i] − max)`, for weights kept
/// partly in linear space (a probability, a density's `1/scale`). Returns
/// `(max, Σ weights)`; the sum may be 0 or tiny where a product
/// underflows, so the caller decides whether to trust it. `None`, with
/// `weights` zeroed, if no log-weight is finite.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::categorical::exp_shifted_scaled;
/// let mut w = [0.0; 2];
/// assert_eq!(exp_shifted_scaled(&[0.0, 0.0], &[0.25, 0.5], &mut w), Some((0.0, 0.75)));
/// assert_eq!(w, [0.25, 0.5]);
/// ```
pub fn exp_shifted_scaled(
    ln_weights: &[f32],
    factors: &[f32],
    weights: &mut [f32],
) -> Option<(f32, f32)> {
    let (max, _) = exp_shifted(ln_weights, weights)?;
    let mut total = 0.0f32;
    for (w, factor) in weights.iter_mut().zip(factors) {
        *w *= factor;
        total += *w;
    }
    Some((max, total))
}

/// Draws `i` with probability `weights[i]/total` from finite non-negative
/// weights and their sum `total` (as [`exp_shifted`] returns them). With
/// the weights of [`exp_shifted`] it draws exactly what [`sample_ln`]
/// draws from the same generator state. Zero, negative and NaN weights are
/// never selected; `None` if no weight is positive.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::categorical::{exp_shifted, sample, sample_ln};
/// use rand_core::SeedableRng;
/// use rand_xorshift::XorShiftRng;
///
/// let ln_w = [-0.5, 0.2, -3.0];
/// let mut w = [0.0; 3];
/// let (_, total) = exp_shifted(&ln_w, &mut w).unwrap();
/// let mut a = XorShiftRng::seed_from_u64(7);
/// let mut b = a.clone();
/// for _ in 0..100 {
///     assert_eq!(sample(&mut a, &w, total), sample_ln(&mut b, &ln_w));
/// }
/// assert_eq!(sample(&mut a, &[0.0, 0.0], 0.0), None);
/// ```
pub fn sample<R: RngCore + ?Sized>(rng: &mut R, weights: &[f32], total: f32) -> Option<usize> {
    pick(open01(rng) * total, weights.iter().copied())
}

/// The largest finite entry, `None` if there is none.
fn finite_max(ln_weights: &[f32]) -> Option<f32> {
    let max = ln_weights
        .iter()
        .copied()
        .filter(|w| w.is_finite())
        // A compare, not `f32::max`: that is a call to `fmaxf` on the M4F.
        .fold(f32::NEG_INFINITY, |m, w| if w > m { w } else { m });
    (max > f32::NEG_INFINITY).then_some(max)
}

/// `exp(w − max)` for a finite `w`, else 0. The largest entry is 1 without
/// a call (`expf(0)` is exactly 1): one `exp` fewer per draw.
fn shifted_exp(w: f32, max: f32) -> f32 {
    if w == max {
        1.0
    } else if w.is_finite() {
        libm::expf(w - max)
    } else {
        0.0
    }
}

/// Inversion: the first index whose cumulative positive weight exceeds
/// `target`, or the last positive-weight index if rounding put `target`
/// past the end (never a zero-weight index).
fn pick(target: f32, weights: impl Iterator<Item = f32>) -> Option<usize> {
    let mut cumulative = 0.0;
    let mut last = None;
    for (i, p) in weights.enumerate() {
        if p > 0.0 {
            cumulative += p;
            last = Some(i);
            if target < cumulative {
                return last;
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xorshift::XorShiftRng;

    /// Frequencies within 4 binomial SEs, √(p(1−p)/n), of the normalized
    /// weights; log-weights far from 0 check the max subtraction.
    #[test]
    fn frequencies_match_weights() {
        let ln_w = [
            1000.0 + libm::logf(0.1),
            1000.0 + libm::logf(0.6),
            f32::NAN,
            1000.0 + libm::logf(0.3),
        ];
        let expected = [0.1, 0.6, 0.0, 0.3];
        let mut rng = XorShiftRng::seed_from_u64(50);
        let n = 100_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            if let Some(i) = sample_ln(&mut rng, &ln_w) {
                counts[i] += 1;
            }
        }
        assert_eq!(counts.iter().sum::<usize>(), n);
        for (count, p) in counts.iter().zip(expected) {
            let freq = *count as f64 / n as f64;
            let se = libm::sqrt(p * (1.0 - p) / n as f64);
            assert!((freq - p).abs() <= 4.0 * se, "{freq} vs {p}");
        }
    }

    /// One finite weight among underflowing and non-finite ones is always
    /// chosen; weights 200 nats below the max underflow to zero and are
    /// never chosen.
    #[test]
    fn degenerate_weights() {
        let mut rng = XorShiftRng::seed_from_u64(51);
        let ln_w = [f32::INFINITY, -5.0, f32::NEG_INFINITY, -205.0, f32::NAN];
        for _ in 0..1000 {
            assert_eq!(sample_ln(&mut rng, &ln_w), Some(1));
        }
        assert_eq!(sample_ln(&mut rng, &[f32::NAN, f32::INFINITY]), None);
        assert_eq!(
            sample_ln(&mut rng, &[f32::MAX, f32::MAX]).map(|i| i < 2),
            Some(true)
        );
    }
}
