//! Sampling an index from unnormalized log-weights.

use super::uniform::open01;
use rand_core::RngCore;

/// Draws `i` with probability `∝ exp(ln_weights[i])`.
///
/// Inversion over the cumulative weights after subtracting the largest
/// finite log-weight, so no weight overflows and the largest is exactly 1.
/// Two passes over the slice, no buffer. Entries that are NaN or `±∞` get
/// probability zero (a `+∞` log-weight is an upstream overflow, not
/// certainty). Returns `None` if the slice is empty or has no finite entry.
/// Rounding can never select a zero-weight entry: if `u·total` lands past
/// the last cumulative sum the last positive-weight index is returned.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::categorical::sample_ln;
/// use rand_core::SeedableRng;
/// use rand_xorshift::XorShiftRng;
///
/// let mut rng = XorShiftRng::seed_from_u64(6);
/// assert_eq!(sample_ln(&mut rng, &[f32::NEG_INFINITY, -1e3, f32::NAN]), Some(1));
/// assert_eq!(sample_ln(&mut rng, &[]), None);
/// assert_eq!(sample_ln(&mut rng, &[f32::NEG_INFINITY]), None);
/// ```
pub fn sample_ln<R: RngCore + ?Sized>(rng: &mut R, ln_weights: &[f32]) -> Option<usize> {
    let max = ln_weights
        .iter()
        .copied()
        .filter(|w| w.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return None;
    }
    let weight = |w: f32| {
        if w.is_finite() {
            libm::expf(w - max)
        } else {
            0.0
        }
    };
    let total: f32 = ln_weights.iter().map(|&w| weight(w)).sum();
    let target = open01(rng) * total;
    let mut cumulative = 0.0;
    let mut last = None;
    for (i, &w) in ln_weights.iter().enumerate() {
        let p = weight(w);
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
