//! Uniform variates on the open interval `(0, 1)`.

use rand_core::RngCore;

/// `2^-23`, the spacing of the grid [`open01`] draws from.
const STEP: f32 = 1.0 / 8_388_608.0;

/// Draws `u ~ U(0, 1)` on the open interval: never 0, never 1.
///
/// Takes the top 23 bits `m` of one `next_u32` and returns the grid
/// midpoint `(m + ½)·2^-23 = (2m + 1)/2^24`. Every such value is exact in
/// f32 (a 24-bit grid `(k + ½)/2^24` is not: its top values round to 1),
/// the grid is symmetric about ½ so `u` and `1 − u` have the same law, and
/// `ln u ≥ −24 ln 2 ≈ −16.6` is always finite.
///
/// # Examples
/// ```
/// use hsmoe_core::dist::uniform::open01;
/// use rand_core::SeedableRng;
/// use rand_xorshift::XorShiftRng;
///
/// let mut rng = XorShiftRng::seed_from_u64(1);
/// let u = open01(&mut rng);
/// assert!(u > 0.0 && u < 1.0);
/// ```
pub fn open01<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    ((rng.next_u32() >> 9) as f32 + 0.5) * STEP
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A generator that replays fixed words, to hit the grid's ends.
    pub(crate) struct Fixed(pub(crate) u32);

    impl RngCore for Fixed {
        fn next_u32(&mut self) -> u32 {
            self.0
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.0)
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(0);
        }
    }

    #[test]
    fn extremes_are_strictly_inside_and_symmetric() {
        let lo = open01(&mut Fixed(0));
        let hi = open01(&mut Fixed(u32::MAX));
        assert_eq!(lo, 1.0 / 16_777_216.0);
        assert_eq!(hi, 1.0 - 1.0 / 16_777_216.0);
        assert_eq!(lo + hi, 1.0);
    }

    /// Mean ½ and variance 1/12 within 4 Monte Carlo SEs
    /// (SE(mean) = √(1/12/n), SE(var) = √((1/80 − 1/144)/n)).
    #[test]
    fn moments() {
        use rand_core::SeedableRng;
        let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(11);
        let n = 200_000;
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for _ in 0..n {
            let u = f64::from(open01(&mut rng));
            s1 += u;
            s2 += u * u;
        }
        let nf = n as f64;
        let mean = s1 / nf;
        let var = s2 / nf - mean * mean;
        assert!((mean - 0.5).abs() < 4.0 * libm::sqrt(1.0 / 12.0 / nf));
        assert!((var - 1.0 / 12.0).abs() < 4.0 * libm::sqrt((1.0 / 80.0 - 1.0 / 144.0) / nf));
    }
}
