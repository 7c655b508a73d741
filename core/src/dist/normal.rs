//! Standard normal variates.

use super::uniform::open01;
use rand_core::RngCore;

/// Cap on polar-method proposals. Each is accepted with probability π/4,
/// so all 64 fail with probability 0.215⁶⁴ ≈ 10⁻⁴³: never in practice.
const MAX_TRIES: usize = 64;

/// Draws `z ~ N(0, 1)` by Marsaglia's polar method, one value per call.
///
/// Marsaglia & Bray (1964): a point uniform in the unit disc gives
/// `z = v₁·√(−2 ln s / s)`, `s = v₁² + v₂²`, without trigonometric calls.
/// Consumes two `next_u32` per proposal (2.55 on average). If the capped
/// loop ever ran out it would return `0.0`, the mean.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::normal::standard_normal;
/// use rand_core::SeedableRng;
/// use rand_xorshift::XorShiftRng;
///
/// let mut rng = XorShiftRng::seed_from_u64(2);
/// let n = 10_000;
/// let mean = (0..n).map(|_| standard_normal(&mut rng)).sum::<f32>() / n as f32;
/// assert!(mean.abs() < 0.04); // 4 standard errors
/// ```
pub fn standard_normal<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    for _ in 0..MAX_TRIES {
        let v1 = 2.0 * open01(rng) - 1.0;
        let v2 = 2.0 * open01(rng) - 1.0;
        let s = v1 * v1 + v2 * v2;
        if s < 1.0 && s > 0.0 {
            return v1 * libm::sqrtf(-2.0 * libm::logf(s) / s);
        }
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xorshift::XorShiftRng;

    /// Mean, variance, skewness and kurtosis within 4 Monte Carlo SEs:
    /// SE(mean) = 1/√n, SE(var) = √(2/n), SE(3rd moment) = √(15/n),
    /// SE(4th moment) = √(96/n) (moments of N(0,1): E z⁶ = 15, E z⁸ = 105).
    #[test]
    fn moments() {
        let mut rng = XorShiftRng::seed_from_u64(21);
        let n = 400_000;
        let mut m = [0.0f64; 4];
        for _ in 0..n {
            let z = f64::from(standard_normal(&mut rng));
            m[0] += z;
            m[1] += z * z;
            m[2] += z * z * z;
            m[3] += z * z * z * z;
        }
        let nf = n as f64;
        let target = [0.0, 1.0, 0.0, 3.0];
        let var_of_power = [1.0, 2.0, 15.0, 96.0];
        for p in 0..4 {
            let se = libm::sqrt(var_of_power[p] / nf);
            assert!(
                (m[p] / nf - target[p]).abs() < 4.0 * se,
                "moment {}: {} vs {}",
                p + 1,
                m[p] / nf,
                target[p]
            );
        }
    }

    /// The tails are reached: about 2·Φ(−4)·n ≈ 25 of 400k draws beyond 4.
    #[test]
    fn tails_are_populated() {
        let mut rng = XorShiftRng::seed_from_u64(22);
        let beyond = (0..400_000)
            .filter(|_| libm::fabsf(standard_normal(&mut rng)) > 4.0)
            .count();
        // Poisson(25.3): 4 SDs either side.
        assert!((5..=46).contains(&beyond), "{beyond}");
    }
}
