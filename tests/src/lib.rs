//! Helpers shared by the cross-crate tests: small seeded data sets.

use rand::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

/// Rows `x = (1, x_1, …, x_{d−1})` with `x_l ~ N(0, 1)` and
/// `y = xᵀβ + σ ε`, β = (0.5, −1, 0.25, …), seeded.
///
/// # Examples
/// ```
/// let (xs, ys) = hsmoe_tests::linear_rows(7, 50, 3, 0.3);
/// assert_eq!((xs.len(), xs[0].len(), ys.len()), (50, 3, 50));
/// assert_eq!(xs[0][0], 1.0);
/// ```
pub fn linear_rows(seed: u64, t: usize, d: usize, sigma: f32) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut rng = XorShiftRng::seed_from_u64(seed);
    let beta: Vec<f32> = (0..d).map(|l| [0.5, -1.0, 0.25, 2.0][l % 4]).collect();
    let mut xs = Vec::with_capacity(t);
    let mut ys = Vec::with_capacity(t);
    for _ in 0..t {
        let x: Vec<f32> = (0..d)
            .map(|l| if l == 0 { 1.0 } else { rng.sample(rand_distr::StandardNormal) })
            .collect();
        let noise: f32 = rng.sample(rand_distr::StandardNormal);
        ys.push(x.iter().zip(&beta).map(|(a, b)| a * b).sum::<f32>() + sigma * noise);
        xs.push(x);
    }
    (xs, ys)
}

/// Widens f32 rows to f64 exactly, for the f64 engines.
pub fn widen(xs: &[Vec<f32>]) -> Vec<Vec<f64>> {
    xs.iter().map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect()
}
