//! Horseshoe shrinkage of the gate coefficients in the Makalic–Schmidt
//! auxiliary form, and the periodic refresh of docs/model.md §3 step 7 and §6.
//!
//! `φ_{j,l} ~ N(0, τ²λ²_{j,l})`, `λ²|ν ~ IG(½, 1/ν)`, `ν ~ IG(½, 1)`,
//! `τ²|ξ ~ IG(½, 1/ξ)`, `ξ ~ IG(½, 1)` (Makalic & Schmidt 2016), so every
//! full conditional is inverse-gamma.
//!
//! Numerical guard (docs/model.md §7): every scale (`λ²`, `ν`, `τ²`, `ξ`)
//! is kept in [`SCALE_MIN`, `SCALE_MAX`] after each draw, so the prior
//! precision `1/(τ²λ²)` lies in [10⁻¹⁶, 10¹⁶], finite and positive in
//! f32. Nothing else is clamped: a floor on the precision alone would
//! change the prior without changing the scale conditionals, and the
//! sweep would target no joint distribution. Under the prior a scale
//! leaves the clamp range with probability ≤ 1.2·10⁻⁴ per draw.

use crate::dims::{Const, Features};
use crate::dist::gamma::inverse_gamma;
use crate::gate::Stick;
use crate::{Config, Error};
use rand_core::RngCore;

/// Smallest value any horseshoe scale is clamped to.
pub const SCALE_MIN: f32 = 1.0e-8;
/// Largest value any horseshoe scale is clamped to.
pub const SCALE_MAX: f32 = 1.0e8;

fn clamp_scale(v: f32) -> f32 {
    // NaN (impossible from finite IG parameters) maps to SCALE_MAX: maximal
    // shrinkage is never chosen silently, and the value stays finite. Two
    // compares on the usual path, not a NaN test and `clamp`'s two.
    if v >= SCALE_MIN {
        if v <= SCALE_MAX {
            v
        } else {
            SCALE_MAX
        }
    } else if v < SCALE_MIN {
        SCALE_MIN
    } else {
        SCALE_MAX
    }
}

/// One draw from `IG(shape, scale)`, clamped to the documented range.
fn draw_scale<R: RngCore + ?Sized>(rng: &mut R, shape: f32, scale: f32) -> f32 {
    clamp_scale(inverse_gamma(rng, shape, scale))
}

/// The global scale `τ²` and its auxiliary `ξ`, one pair per particle.
///
/// # Examples
/// ```
/// let g = hsmoe_core::horseshoe::GlobalScale::ONE;
/// assert_eq!((g.tau2(), g.xi()), (1.0, 1.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlobalScale {
    pub(crate) tau2: f32,
    pub(crate) xi: f32,
}

impl GlobalScale {
    /// `τ² = ξ = 1`, the prior median, used before the first draw.
    pub const ONE: Self = GlobalScale { tau2: 1.0, xi: 1.0 };

    /// All-zero placeholder, so a `const` filter is all zero bits and a
    /// `static` one lands in `.bss`, not in flash; not a valid state.
    pub(crate) const ZERO: Self = GlobalScale { tau2: 0.0, xi: 0.0 };

    /// The global shrinkage `τ²`.
    pub fn tau2(&self) -> f32 {
        self.tau2
    }

    /// The auxiliary `ξ`.
    pub fn xi(&self) -> f32 {
        self.xi
    }
}

/// Whether coefficient `l` is shrunk by the horseshoe (the gate intercept,
/// `l = 0` when `config.gate_intercept`, is not).
pub fn is_shrunk(config: &Config, l: usize) -> bool {
    !(config.gate_intercept && l == 0)
}

/// Prior precision of coefficient `l` of a stick.
pub fn prior_precision<const D: usize>(
    config: &Config,
    stick: &Stick<D>,
    global: &GlobalScale,
    l: usize,
) -> f32
where
    Const<D>: Features,
{
    if is_shrunk(config, l) {
        1.0 / (global.tau2 * stick.lambda2[l])
    } else {
        1.0 / (config.s0 * config.s0)
    }
}

/// Prior precision of every coefficient of a stick.
pub(crate) fn prior_precisions<const D: usize>(
    config: &Config,
    stick: &Stick<D>,
    global: &GlobalScale,
) -> [f32; D]
where
    Const<D>: Features,
{
    core::array::from_fn(|l| prior_precision(config, stick, global, l))
}

/// Draws every scale of a particle from the prior (`ν, ξ ~ IG(½, 1)`, then
/// `λ² ~ IG(½, 1/ν)`, `τ² ~ IG(½, 1/ξ)`), rebuilds each `Λ_j` from `S_j`
/// and draws each `φ_j`. Used at initialization, where `S = 0`, `r = 0`.
pub fn draw_prior<R: RngCore + ?Sized, const D: usize>(
    sticks: &mut [Stick<D>],
    global: &mut GlobalScale,
    config: &Config,
    rng: &mut R,
) -> Result<(), Error>
where
    Const<D>: Features,
{
    global.xi = draw_scale(rng, 0.5, 1.0);
    global.tau2 = draw_scale(rng, 0.5, 1.0 / global.xi);
    for stick in sticks.iter_mut() {
        for l in 0..D {
            stick.nu[l] = draw_scale(rng, 0.5, 1.0);
            stick.lambda2[l] = draw_scale(rng, 0.5, 1.0 / stick.nu[l]);
        }
    }
    rebuild(sticks, global, config, rng)
}

/// One Gibbs sweep over the scales given the current `φ` (Makalic &
/// Schmidt 2016, eqs. 6–9), then `Λ_j` rebuilt and `φ_j` redrawn for every
/// stick (docs/model.md §6):
/// `λ² ~ IG(1, 1/ν + φ²/(2τ²))`, `ν ~ IG(1, 1 + 1/λ²)`,
/// `τ² ~ IG((M+1)/2, 1/ξ + Σ φ²/(2λ²))`, `ξ ~ IG(1, 1 + 1/τ²)`.
///
/// # Errors
/// [`Error::NotPositiveDefinite`] if a rebuilt `Λ_j` cannot be factored
/// even with jitter; the particle must then be discarded by the caller.
pub fn refresh<R: RngCore + ?Sized, const D: usize>(
    sticks: &mut [Stick<D>],
    global: &mut GlobalScale,
    config: &Config,
    rng: &mut R,
) -> Result<(), Error>
where
    Const<D>: Features,
{
    draw_scales(sticks, global, config, rng);
    rebuild(sticks, global, config, rng)
}

/// The scale half of [`refresh`]: `φ` and `Λ` are left alone.
pub fn draw_scales<R: RngCore + ?Sized, const D: usize>(
    sticks: &mut [Stick<D>],
    global: &mut GlobalScale,
    config: &Config,
    rng: &mut R,
) where
    Const<D>: Features,
{
    let mut shrunk = 0u32;
    let mut sum_phi2_over_lambda2 = 0.0f32;
    for stick in sticks.iter_mut() {
        for l in (0..D).filter(|&l| is_shrunk(config, l)) {
            let phi2 = stick.phi()[l] * stick.phi()[l];
            stick.lambda2[l] = draw_scale(rng, 1.0, 1.0 / stick.nu[l] + phi2 / (2.0 * global.tau2));
            stick.nu[l] = draw_scale(rng, 1.0, 1.0 + 1.0 / stick.lambda2[l]);
            sum_phi2_over_lambda2 += phi2 / stick.lambda2[l];
            shrunk += 1;
        }
    }
    if shrunk > 0 {
        let shape = 0.5 * (shrunk as f32 + 1.0);
        global.tau2 = draw_scale(rng, shape, 1.0 / global.xi + 0.5 * sum_phi2_over_lambda2);
        global.xi = draw_scale(rng, 1.0, 1.0 + 1.0 / global.tau2);
    }
}

/// Draws a fresh `φ_j` for every stick from `Λ_j = diag(prior precision)
/// + S_j`.
pub(crate) fn rebuild<R: RngCore + ?Sized, const D: usize>(
    sticks: &mut [Stick<D>],
    global: &GlobalScale,
    config: &Config,
    rng: &mut R,
) -> Result<(), Error>
where
    Const<D>: Features,
{
    for stick in sticks.iter_mut() {
        let prior = prior_precisions(config, stick, global);
        stick.logistic.redraw(&prior, rng)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dims::Zeroed;
    use crate::linalg::Triangle;
    use crate::logistic::Logistic;
    use rand_core::SeedableRng;
    use rand_xorshift::XorShiftRng;

    /// Running mean and variance, in f64 so 10⁵ terms lose nothing.
    #[derive(Default)]
    struct Mean {
        n: f64,
        sum: f64,
        sum_sq: f64,
    }

    impl Mean {
        fn add(&mut self, v: f32) {
            let v = f64::from(v);
            self.n += 1.0;
            self.sum += v;
            self.sum_sq += v * v;
        }

        /// |mean − expected| in standard errors.
        fn z(&self, expected: f64) -> f64 {
            let mean = self.sum / self.n;
            let var = self.sum_sq / self.n - mean * mean;
            (mean - expected).abs() / (var / self.n).sqrt()
        }
    }

    fn sticks_with_phi(phi: [[f32; 3]; 2]) -> [Stick<3>; 2] {
        phi.map(|p| Stick {
            logistic: Logistic {
                coef: p,
                ..Logistic::ZERO
            },
            lambda2: [1.0; 3],
            nu: [1.0; 3],
        })
    }

    /// With φ fixed, each refresh draws every scale from its full
    /// conditional. Rescaled by its conditional rate, an `IG(a, b)` draw
    /// `v` gives `b/v ~ Gamma(a, 1)`, whose mean `a` is known exactly, whatever
    /// the conditioning values; the average over a long run of the chain
    /// must therefore be `a`. 4 standard errors (estimated from the run;
    /// the chain's draws are close to independent here) bound each check.
    #[test]
    fn long_refresh_run_matches_the_conditional_means() {
        let config = Config::default_for(3);
        // No φ exactly 0: given φ = 0 the conditional of λ is improper at 0
        // and the chain would sit on the lower clamp.
        let mut sticks = sticks_with_phi([[0.3, 1.5, 0.02], [-0.7, 0.05, 3.0]]);
        let mut global = GlobalScale::ONE;
        let mut rng = XorShiftRng::seed_from_u64(17);
        let (mut lambda, mut nu, mut tau, mut xi) = (
            Mean::default(),
            Mean::default(),
            Mean::default(),
            Mean::default(),
        );
        let shrunk = 4.0; // 2 sticks × features 1, 2 (feature 0 is the intercept)
        for _ in 0..100_000 {
            let (old_sticks, old_global) = (sticks, global);
            draw_scales(&mut sticks, &mut global, &config, &mut rng);
            let mut sum = 0.0;
            for (new, old) in sticks.iter().zip(&old_sticks) {
                assert_eq!(
                    (new.lambda2[0], new.nu[0]),
                    (1.0, 1.0),
                    "intercept untouched"
                );
                for l in 1..3 {
                    let phi2 = old.phi()[l] * old.phi()[l];
                    let rate = 1.0 / old.nu[l] + phi2 / (2.0 * old_global.tau2);
                    lambda.add(rate / new.lambda2[l]);
                    nu.add((1.0 + 1.0 / new.lambda2[l]) / new.nu[l]);
                    sum += phi2 / new.lambda2[l];
                }
            }
            tau.add((1.0 / old_global.xi + 0.5 * sum) / global.tau2);
            xi.add((1.0 + 1.0 / global.tau2) / global.xi);
        }
        assert!(lambda.z(1.0) < 4.0, "λ²: {}", lambda.z(1.0));
        assert!(nu.z(1.0) < 4.0, "ν: {}", nu.z(1.0));
        assert!(tau.z(0.5 * (shrunk + 1.0)) < 4.0, "τ²: {}", tau.z(2.5));
        assert!(xi.z(1.0) < 4.0, "ξ: {}", xi.z(1.0));
    }

    /// Largest gap between the empirical CDF of `draws` and `cdf`
    /// (the Kolmogorov–Smirnov statistic).
    fn ks_distance(draws: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
        draws.sort_by(f64::total_cmp);
        let n = draws.len() as f64;
        draws.iter().enumerate().fold(0.0, |d, (i, &v)| {
            let f = cdf(v);
            d.max((f - i as f64 / n).abs())
                .max(((i + 1) as f64 / n - f).abs())
        })
    }

    /// With no data (`S = 0`, `r = 0`) the posterior is the prior, so
    /// [`refresh`] (scales | φ, then φ | scales) must leave it invariant:
    /// chains started by [`draw_prior`] keep `λ, τ ~ C⁺(0, 1)`, i.e.
    /// `P(τ² ≤ v) = (2/π)·atan(√v)`, after any number of sweeps. 40 000
    /// independent chains × 30 sweeps, K = 3, D = 3. The KS critical value
    /// at α = 10⁻³ is 1.95/√n = 0.0098 (λ² of one coefficient per chain,
    /// so both samples are i.i.d.).
    #[test]
    fn refresh_leaves_the_horseshoe_prior_invariant() {
        let config = Config::default_for(3);
        let chains = 40_000;
        let mut rng = XorShiftRng::seed_from_u64(23);
        let (mut tau2, mut lambda2) = (vec![], vec![]);
        for _ in 0..chains {
            let mut sticks = [Stick::<3>::ZERO; 2];
            let mut global = GlobalScale::ONE;
            draw_prior(&mut sticks, &mut global, &config, &mut rng).unwrap();
            for _ in 0..30 {
                refresh(&mut sticks, &mut global, &config, &mut rng).unwrap();
            }
            tau2.push(f64::from(global.tau2));
            lambda2.push(f64::from(sticks[0].lambda2[1]));
        }
        let half_cauchy = |v: f64| core::f64::consts::FRAC_2_PI * libm::atan(libm::sqrt(v));
        let critical = 1.95 / libm::sqrt(chains as f64);
        let d_tau = ks_distance(&mut tau2, half_cauchy);
        let d_lambda = ks_distance(&mut lambda2, half_cauchy);
        println!("KS τ² {d_tau:.4}, λ² {d_lambda:.4} (critical {critical:.4})");
        assert!(d_tau < critical, "τ²: KS {d_tau} ≥ {critical}");
        assert!(d_lambda < critical, "λ²: KS {d_lambda} ≥ {critical}");
    }

    #[test]
    fn scales_stay_within_the_clamp_for_extreme_coefficients() {
        let config = Config::default_for(3);
        let mut rng = XorShiftRng::seed_from_u64(5);
        for phi in [[[0.0; 3]; 2], [[1.0e6, -1.0e6, 1.0e-30], [0.0, 1.0e6, 0.0]]] {
            let mut sticks = sticks_with_phi(phi);
            let mut global = GlobalScale::ONE;
            for _ in 0..2_000 {
                draw_scales(&mut sticks, &mut global, &config, &mut rng);
                let all = sticks
                    .iter()
                    .flat_map(|s| s.lambda2.iter().chain(&s.nu))
                    .chain([&global.tau2, &global.xi]);
                for v in all {
                    assert!((SCALE_MIN..=SCALE_MAX).contains(v), "{v}");
                }
            }
        }
    }

    #[test]
    fn rebuild_factors_the_prior_plus_data_precision() {
        let config = Config::default_for(3);
        let mut rng = XorShiftRng::seed_from_u64(8);
        let mut sticks = sticks_with_phi([[0.1, 0.2, 0.3], [0.0; 3]]);
        sticks[0].logistic.s =
            Triangle::from_fn(|i, j| [[2.0, 0.0, 0.0], [1.0, 2.0, 0.0], [0.5, 0.5, 2.0]][i][j]);
        let global = GlobalScale { tau2: 0.5, xi: 1.0 };
        rebuild(&mut sticks, &global, &config, &mut rng).unwrap();
        let prior = prior_precisions(&config, &sticks[0], &global);
        let l = sticks[0].logistic.precision_factor(&prior).unwrap();
        for i in 0..3 {
            for j in 0..=i {
                let llt: f32 = (0..=j).map(|k| l[(i, k)] * l[(j, k)]).sum();
                let prior = if i == j {
                    prior_precision(&config, &sticks[0], &global, i)
                } else {
                    0.0
                };
                assert!(
                    (llt - sticks[0].logistic.s[(i, j)] - prior).abs() < 1e-5,
                    "({i},{j})"
                );
            }
        }
        assert_eq!(prior_precision(&config, &sticks[0], &global, 0), 0.25); // 1/s0²
        assert_eq!(prior_precision(&config, &sticks[0], &global, 1), 2.0); // 1/(τ²λ²)
    }
}
