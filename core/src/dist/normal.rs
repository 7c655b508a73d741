//! Standard normal variates.

use super::uniform::open01;
use super::ziggurat::{self, Proposal};
use rand_core::RngCore;

/// Number of ziggurat layers (a power of two: the layer is 7 random bits).
const LAYERS: usize = 128;

/// Layer edges `X[i]` of the 128-layer ziggurat for `f(x) = e^(−x²/2)`
/// (Marsaglia & Tsang 2000): `X[0] = v/f(r)` (the base layer's virtual
/// width), `X[1] = r`, `X[i+1] = f⁻¹(v/X[i] + f(X[i]))`, `X[128] = 0`,
/// with `r = 3.442619855899`, `v = 9.91256303526217·10⁻³` (every layer's
/// area). Computed in f64 and rounded; `tests::table_is_the_recurrence`
/// regenerates it.
#[rustfmt::skip]
const X: [f32; LAYERS + 1] = [
    3.7130861, 3.4426198, 3.223085, 3.0832288, 2.9786963, 2.894344,
    2.8231254, 2.7611694, 2.7061136, 2.6564064, 2.6109722, 2.5690336,
    2.5300097, 2.4934545, 2.4590182, 2.4264207, 2.3954344, 2.3658714,
    2.3375752, 2.3104136, 2.284274, 2.2590597, 2.2346864, 2.2110815,
    2.1881804, 2.1659267, 2.1442702, 2.1231656, 2.1025732, 2.0824564,
    2.0627823, 2.0435216, 2.024647, 2.0061338, 1.9879596, 1.9701033,
    1.9525458, 1.9352692, 1.9182574, 1.9014946, 1.8849671, 1.8686612,
    1.8525645, 1.8366655, 1.820953, 1.8054168, 1.7900469, 1.7748344,
    1.7597703, 1.7448461, 1.7300541, 1.7153867, 1.7008367, 1.6863968,
    1.6720607, 1.6578219, 1.6436741, 1.6296115, 1.6156281, 1.6017184,
    1.5878769, 1.5740982, 1.5603772, 1.5467088, 1.5330878, 1.5195096,
    1.505969, 1.4924614, 1.478982, 1.465526, 1.4520886, 1.4386653,
    1.4252512, 1.4118418, 1.3984319, 1.385017, 1.3715922, 1.3581525,
    1.3446927, 1.331208, 1.3176928, 1.3041419, 1.2905496, 1.2769103,
    1.2632179, 1.2494665, 1.2356495, 1.2217603, 1.2077918, 1.1937367,
    1.1795874, 1.1653357, 1.1509728, 1.1364899, 1.121877, 1.1071236,
    1.0922189, 1.0771506, 1.061906, 1.0464709, 1.0308303, 1.0149674,
    0.99886423, 0.9825008, 0.96585506, 0.9489026, 0.9316162, 0.9139652,
    0.8959153, 0.87742746, 0.85845685, 0.83895224, 0.8188539, 0.79809207,
    0.77658397, 0.7542307, 0.7309119, 0.7064796, 0.6807479, 0.6534786,
    0.6243586, 0.5929629, 0.55869216, 0.52065605, 0.47743782, 0.42654797,
    0.36287144, 0.27232087, 0.0,
];

/// Right edge `r` of the base layer; the tail `x > r` is drawn separately.
const TAIL: f32 = X[1];

/// Cap on ziggurat proposals. One is rejected with probability < 0.03
/// (the fast path alone accepts 97.2%), so all 16 fail with probability
/// < 10⁻²⁴: never in practice.
const MAX_TRIES: usize = 16;

/// `f(x) = e^(−x²/2)`, the unnormalized standard normal density.
fn density(x: f32) -> f32 {
    libm::expf(-0.5 * x * x)
}

/// Draws `z ~ N(0, 1)` by the ziggurat method, one value per call.
///
/// Marsaglia & Tsang (2000), "The Ziggurat Method for Generating Random
/// Variables", J. Stat. Softw. 5(8), with 128 layers of equal area under
/// `e^(−x²/2)` (see the crate-private `ziggurat` module). One `next_u32`
/// gives the layer (7 bits), the sign (1 bit) and the position in the
/// layer (24 bits), disjoint bits as Doornik (2005) advises; 97.2% of draws
/// end there, with no transcendental call. The rest fall in a wedge
/// (accepted against `e^(−x²/2)`) or, from the base layer, in the tail
/// `|z| > r`, drawn by Marsaglia's exact tail method. If the capped loop
/// ever ran out it would return `0.0`, the mean.
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
#[inline]
pub fn standard_normal<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    for _ in 0..MAX_TRIES {
        let bits = rng.next_u32();
        let layer = (bits as usize) % LAYERS;
        let sign = if bits & 0x80 == 0 { 1.0 } else { -1.0 };
        match ziggurat::propose(rng, &X, layer, ziggurat::position(bits), density) {
            Proposal::Accept(x) => return sign * x,
            Proposal::Tail => return sign * tail(rng),
            Proposal::Reject => {}
        }
    }
    0.0
}

/// `|z|` given `|z| > r` (Marsaglia 1964): `r + a` with `a = −ln U₁/r`,
/// accepted if `−2 ln U₂ > a²`. Exact, accepted with probability ≥ 0.91
/// per try; `r` itself if the capped loop ran out.
#[cold]
#[inline(never)]
fn tail<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    for _ in 0..MAX_TRIES {
        let a = -libm::logf(open01(rng)) / TAIL;
        let b = -libm::logf(open01(rng));
        if 2.0 * b > a * a {
            return TAIL + a;
        }
    }
    TAIL
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

    /// The constants are the f32 rounding of the documented f64 recurrence,
    /// which closes at the top (`v/X[127] + f(X[127]) = f(0) = 1`), and the
    /// base layer has area `v` (`r f(r) + ∫_r^∞ f`, the tail by its Mills
    /// ratio continued fraction).
    #[test]
    fn table_is_the_recurrence() {
        const R64: f64 = 3.442619855899;
        const V: f64 = 9.91256303526217e-3;
        let f = |x: f64| libm::exp(-0.5 * x * x);
        let x: [f64; LAYERS + 1] =
            ziggurat::tests::edges(R64, V, f, |y| libm::sqrt(-2.0 * libm::log(y)));
        for (ours, exact) in X.iter().zip(x) {
            assert_eq!(*ours, exact as f32, "regenerated: {x:?}");
        }
        let mills = (1..60).rev().fold(R64, |acc, k| R64 + f64::from(k) / acc);
        assert!((R64 * f(R64) + f(R64) / mills - V).abs() < 1e-12);
    }

    /// Kolmogorov–Smirnov distance of 10⁶ draws to Φ. Under the null the
    /// scaled distance √n·D exceeds 1.95 with probability 0.001, so the
    /// bound 1.95/√n = 0.00195 flags a wrong table or tail while a correct
    /// sampler passes (the moments test above catches wrong wedges).
    #[test]
    fn ks_distance_to_the_normal_cdf() {
        let mut rng = XorShiftRng::seed_from_u64(23);
        let n = 1_000_000;
        let d = ziggurat::tests::ks_distance(
            (0..n).map(|_| f64::from(standard_normal(&mut rng))),
            |v| 0.5 * libm::erfc(-v / core::f64::consts::SQRT_2),
        );
        assert!(d < 1.95 / libm::sqrt(n as f64), "KS {d}");
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
