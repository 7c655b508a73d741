//! Systematic resampling, in place (docs/model.md §3, step 3).
//!
//! Offspring counts come from one uniform (Kitagawa 1996; Douc, Cappé &
//! Moulines 2005), and survivors are copied over the dead slots in the same
//! buffer, so no second particle array is ever needed.

use crate::Error;

/// Systematic-resampling offspring counts: with points `(m + u)/N`,
/// `m = 0..N`, particle `i` gets as many offspring as points fall in its
/// share of the cumulative normalized weight. The last cumulative sum is
/// clamped to 1, so the counts always add up to `N`.
///
/// `weights` need not be normalized; `u` must be in `[0, 1)` and is
/// injected so seeded runs are reproducible everywhere.
///
/// # Errors
/// [`Error::WrongLength`] if the slices differ in length;
/// [`Error::Degenerate`] if the weights do not have a positive finite sum
/// or one is negative or NaN.
///
/// # Examples
/// ```
/// let mut counts = [0u32; 4];
/// hsmoe_core::resample::systematic_counts(&[0.0, 3.0, 0.0, 1.0], 0.5, &mut counts).unwrap();
/// assert_eq!(counts, [0, 3, 0, 1]);
/// ```
pub fn systematic_counts(weights: &[f32], u: f32, counts: &mut [u32]) -> Result<(), Error> {
    if weights.len() != counts.len() {
        return Err(Error::WrongLength);
    }
    let total: f32 = weights.iter().sum();
    if !(total > 0.0 && total.is_finite()) || weights.iter().any(|w| !(*w >= 0.0)) {
        return Err(Error::Degenerate);
    }
    let n = weights.len();
    let u = if (0.0..1.0).contains(&u) { u } else { 0.5 };
    let mut cumulative = 0.0f32;
    let mut point = 0usize;
    for (i, (w, count)) in weights.iter().zip(counts.iter_mut()).enumerate() {
        cumulative += w / total;
        let edge = if i + 1 == n { 1.0 } else { cumulative };
        let start = point;
        while point < n && (point as f32 + u) / (n as f32) < edge {
            point += 1;
        }
        *count = (point - start) as u32;
    }
    Ok(())
}

/// Rewrites `items` so that item `i` appears `counts[i]` times: survivors
/// stay in their slots and each surplus copy overwrites a slot whose count
/// is zero. O(N) copies, no second buffer. Returns whether anything moved.
///
/// `counts` must sum to `items.len()` (as [`systematic_counts`] guarantees);
/// otherwise the call copies what it can and never panics.
///
/// # Examples
/// ```
/// let mut tags = ['a', 'b', 'c', 'd'];
/// let moved = hsmoe_core::resample::replicate_in_place(&mut tags, &[0, 3, 0, 1]);
/// assert!(moved);
/// assert_eq!(tags, ['b', 'b', 'b', 'd']);
/// ```
pub fn replicate_in_place<T: Clone>(items: &mut [T], counts: &[u32]) -> bool {
    let n = items.len().min(counts.len());
    let mut dead = (0..n).filter(|&i| counts[i] == 0);
    let mut moved = false;
    for (source, &count) in counts.iter().enumerate().take(n) {
        for _ in 1..count {
            let Some(target) = dead.next() else {
                return moved;
            };
            copy_within(items, source, target);
            moved = true;
        }
    }
    moved
}

/// `items[target] = items[source].clone()` without a temporary on the
/// stack (particles can be kilobytes).
pub(crate) fn copy_within<T: Clone>(items: &mut [T], source: usize, target: usize) {
    if source < target {
        let (head, tail) = items.split_at_mut(target);
        tail[0].clone_from(&head[source]);
    } else if target < source {
        let (head, tail) = items.split_at_mut(source);
        head[target].clone_from(&tail[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{RngCore, SeedableRng};
    use rand_xorshift::XorShiftRng;

    fn unit(rng: &mut XorShiftRng) -> f32 {
        ((rng.next_u32() >> 8) as f32 + 0.5) / (1u32 << 24) as f32
    }

    #[test]
    fn all_equal_weights_keep_everyone() {
        let mut counts = [0u32; 7];
        // u away from the measure-zero ties with the cumulative edges, where
        // f32 rounding of the sums decides.
        for u in [1.0e-3, 0.3, 0.999] {
            systematic_counts(&[2.5; 7], u, &mut counts).unwrap();
            assert_eq!(counts, [1; 7]);
        }
    }

    #[test]
    fn one_nonzero_weight_takes_all() {
        let mut counts = [0u32; 5];
        for hot in 0..5 {
            let mut w = [0.0f32; 5];
            w[hot] = 1e-30;
            systematic_counts(&w, 0.7, &mut counts).unwrap();
            let mut expected = [0u32; 5];
            expected[hot] = 5;
            assert_eq!(counts, expected);
        }
    }

    #[test]
    fn bad_weights_are_degenerate() {
        let mut counts = [0u32; 3];
        for w in [
            [0.0; 3],
            [f32::NAN, 1.0, 1.0],
            [-1.0, 2.0, 1.0],
            [f32::INFINITY, 1.0, 1.0],
        ] {
            assert_eq!(
                systematic_counts(&w, 0.5, &mut counts),
                Err(Error::Degenerate)
            );
        }
        assert_eq!(
            systematic_counts(&[1.0], 0.5, &mut counts),
            Err(Error::WrongLength)
        );
    }

    #[test]
    fn offspring_counts_have_the_right_expectation() {
        // E[count_i] = N w_i exactly under systematic resampling; with
        // 20 000 draws the standard error of each mean is ≤ 0.5/√20000 ≈ 0.0035
        // (counts differ from N w_i by less than 1), so 0.02 is > 5 SE.
        let w = [0.05f32, 0.3, 0.0, 0.15, 0.25, 0.01, 0.04, 0.2];
        let n = w.len();
        let mut rng = XorShiftRng::seed_from_u64(11);
        let mut sums = [0.0f64; 8];
        let draws = 20_000;
        let mut counts = [0u32; 8];
        for _ in 0..draws {
            systematic_counts(&w, unit(&mut rng), &mut counts).unwrap();
            assert_eq!(counts.iter().sum::<u32>(), n as u32);
            for (s, c) in sums.iter_mut().zip(&counts) {
                *s += *c as f64;
            }
        }
        for i in 0..n {
            let mean = sums[i] / draws as f64;
            let expected = n as f64 * w[i] as f64;
            assert!((mean - expected).abs() < 0.02, "{i}: {mean} vs {expected}");
            // Systematic resampling never strays more than 1 from N w_i.
        }
    }

    #[test]
    fn in_place_copy_leaves_exactly_the_ancestor_multiset() {
        let mut rng = XorShiftRng::seed_from_u64(5);
        for _ in 0..2_000 {
            let mut w = [0.0f32; 16];
            for v in w.iter_mut() {
                let r = unit(&mut rng);
                // Many exact zeros and a wide dynamic range.
                *v = if r < 0.3 {
                    0.0
                } else {
                    libm::expf(20.0 * (r - 0.5))
                };
            }
            if w.iter().all(|v| *v == 0.0) {
                w[3] = 1.0;
            }
            let mut counts = [0u32; 16];
            systematic_counts(&w, unit(&mut rng), &mut counts).unwrap();
            let mut tags: [usize; 16] = core::array::from_fn(|i| i);
            replicate_in_place(&mut tags, &counts);
            let mut seen = [0u32; 16];
            for t in tags {
                seen[t] += 1;
            }
            assert_eq!(seen, counts);
            for (i, c) in counts.iter().enumerate() {
                if *c > 0 {
                    assert_eq!(tags[i], i, "a survivor must stay in its own slot");
                }
            }
        }
    }
}
