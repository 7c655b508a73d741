//! One particle: sufficient statistics of every expert, every stick's
//! Pólya-Gamma statistics and current `φ`, and the horseshoe scales
//! (docs/model.md §3).

use crate::dims::{Const, Experts, Features, Zeroed};
use crate::dist::categorical;
use crate::expert::{Expert, Gaussian, Predictive};
use crate::gate::{stick_breaking, stick_breaking_linear, Stick};
use crate::horseshoe::{self, GlobalScale};
use crate::math::at_least;
use crate::{Config, Error};
use rand_core::RngCore;

/// A particle of a filter with `K` experts of the family `E` (Gaussian
/// unless named) and `D` features: `K` experts and exactly `K − 1` sticks (the array type comes from
/// [`Experts`], since stable Rust cannot write
/// `[Stick<D>; K - 1]`).
///
/// # Examples
/// ```
/// use hsmoe_core::Filter;
/// use rand_core::SeedableRng;
/// let mut filter: Filter<4, 3, 2> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
/// filter.reset(&hsmoe_core::Config::default_for(2), &mut rng).unwrap();
/// let particle = &filter.particles()[0];
/// assert_eq!(particle.sticks().len(), 2);
/// assert_eq!(particle.experts()[1].shape(), 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Particle<const K: usize, const D: usize, E = Gaussian<D>>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    pub(crate) experts: [E; K],
    pub(crate) sticks: <Const<K> as Experts>::PerStick<Stick<D>>,
    pub(crate) global: GlobalScale,
    /// Log weight carried from a step that did not resample (docs/model.md
    /// §3, step 3), normalized so the weights `exp(ln_weight)` sum to
    /// about `N`; exactly 0 after resampling, so equally weighted particles
    /// cost no exponential.
    pub(crate) ln_weight: f32,
    /// Step scratch (not in snapshots): the unnormalized allocation
    /// probabilities `∝ π_k(x_t) t_k(y_t)` (0 for a dead term) of
    /// [`Particle::weigh`], found in step 1 for the particle's weight and
    /// kept in the particle so resampling carries them to step 4 with their
    /// owner.
    pub(crate) alloc_weights: [f32; K],
}

/// The smallest total, relative to the largest linear factor (at least
/// 1), that [`Particle::weigh`] trusts in linear space: `2⁻¹⁰⁰`.
const LINEAR_FLOOR: f32 = 7.888_609e-31;

impl<const K: usize, const D: usize, E> Particle<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    /// Placeholder for `const` construction and bulk allocation; not a
    /// valid state until the owning filter is reset.
    pub const ZERO: Self = Particle {
        experts: [E::ZERO; K],
        sticks: Zeroed::ZERO,
        global: GlobalScale::ZERO,
        ln_weight: 0.0,
        alloc_weights: [0.0; K],
    };

    /// Every expert's statistics.
    pub fn experts(&self) -> &[E; K] {
        &self.experts
    }

    /// The `K − 1` sticks of the gate.
    pub fn sticks(&self) -> &[Stick<D>] {
        self.sticks.as_ref()
    }

    /// The `K − 1` sticks, mutable.
    pub(crate) fn sticks_mut(&mut self) -> &mut [Stick<D>] {
        self.sticks.as_mut()
    }

    /// The particle's weight relative to an equally weighted one: 1 after a
    /// step that resampled, `exp(ln_weight)` after one that did not
    /// (docs/model.md §3, step 3). Every posterior summary weights by it.
    pub fn weight(&self) -> f32 {
        if self.ln_weight == 0.0 {
            1.0
        } else {
            libm::expf(self.ln_weight)
        }
    }

    /// The horseshoe's global scale.
    pub fn global_scale(&self) -> &GlobalScale {
        &self.global
    }

    /// Experts at the prior; scales, intercepts and `φ` drawn from their
    /// priors (docs/model.md §3, "Initialization"), then any parameter the
    /// expert family carries.
    pub(crate) fn draw_prior<R: RngCore + ?Sized>(
        &mut self,
        config: &Config,
        rng: &mut R,
    ) -> Result<(), Error> {
        self.experts = [E::prior(config); K];
        self.sticks = Zeroed::ZERO;
        self.ln_weight = 0.0;
        horseshoe::draw_prior(self.sticks.as_mut(), &mut self.global, config, rng)?;
        self.experts
            .iter_mut()
            .try_for_each(|expert| expert.redraw(config, rng))
    }

    /// Stick logits `ψ_j = xᵀφ_j` (`psi[K−1] = 0`) and `ln π_k(x)`.
    pub fn gate(&self, x: &[f32; D], psi: &mut [f32; K], ln_pi: &mut [f32; K]) {
        self.gate_probabilities(x, psi, ln_pi, &mut [0.0; K]);
    }

    /// Stick logits and the probabilities `π_k(x)` alone
    /// ([`stick_breaking_linear`]): those of [`Particle::gate_probabilities`]
    /// bit for bit, without a logarithm.
    pub fn gate_linear(&self, x: &[f32; D], psi: &mut [f32; K], pi: &mut [f32; K]) {
        self.logits(x, psi);
        stick_breaking_linear(psi, pi);
    }

    /// `ψ_j = xᵀφ_j`, `psi[K−1] = 0`.
    fn logits(&self, x: &[f32; D], psi: &mut [f32; K]) {
        *psi = [0.0; K];
        for (p, stick) in psi.iter_mut().zip(self.sticks()) {
            *p = stick.logit(x);
        }
    }

    /// [`Particle::gate`] and the probabilities `π_k(x)` in linear space
    /// ([`stick_breaking`]): the gate exactly as the PL step weighs it, so
    /// a prediction from the same particles matches the step's one-step
    /// predictive bit for bit.
    pub fn gate_probabilities(
        &self,
        x: &[f32; D],
        psi: &mut [f32; K],
        ln_pi: &mut [f32; K],
        pi: &mut [f32; K],
    ) {
        self.logits(x, psi);
        stick_breaking(psi, ln_pi, pi);
    }

    /// `ln p(y | x) = ln Σ_k π_k(x) p_k(y | x)` under this particle
    /// (docs/model.md §3 step 1), and the allocation weights
    /// `weights[k] ∝ π_k(x) p_k(y | x)` of step 4; `−∞`, with every weight
    /// 0, when no expert gives `y` a finite density. `visit(k, π_k,
    /// predictive_k)` sees each expert's predictive once, for a caller that
    /// also mixes them (the step's one-step predictive).
    ///
    /// The sum is taken in linear space: `π_k` from the gate's own
    /// exponentials ([`stick_breaking_linear`], no `ln π_k`) times each
    /// density's linear factor ([`Predictive::split_pdf`], no `ln` of a
    /// Student-t scale) times `exp(ℓ_k − max ℓ)` of the log parts: at K = 4
    /// with Student-t predictives, seven logarithms fewer per particle than
    /// summing in log space. As accurate wherever the total is at least
    /// `2⁻¹⁰⁰·max(1, largest linear factor)`: every term that could have
    /// lost bits to underflow (a product below 2⁻¹²⁶) is then below 2⁻²⁶
    /// of the total. Otherwise (extreme gates, extreme scales) the same sum
    /// is taken again in log space.
    pub(crate) fn weigh(
        &self,
        x: &[f32; D],
        y: f32,
        weights: &mut [f32; K],
        visit: impl FnMut(usize, f32, &E::Predictive),
    ) -> f32 {
        self.weigh_in_linear_space(x, y, weights, visit)
            .unwrap_or_else(|| self.weigh_in_log_space(x, y, weights))
    }

    /// [`Particle::weigh`] in linear space; `None` where that sum cannot be
    /// trusted (or no density is finite).
    fn weigh_in_linear_space(
        &self,
        x: &[f32; D],
        y: f32,
        weights: &mut [f32; K],
        mut visit: impl FnMut(usize, f32, &E::Predictive),
    ) -> Option<f32> {
        let (mut psi, mut pi) = ([0.0; K], [0.0; K]);
        self.gate_linear(x, &mut psi, &mut pi);
        // Each term's linear factor: π_k times the density's own.
        let (mut ln_parts, mut factors) = ([0.0f32; K], [0.0f32; K]);
        let mut largest_scale = 1.0f32;
        for (k, expert) in self.experts.iter().enumerate() {
            let predictive = expert.predictive(x);
            visit(k, pi[k], &predictive);
            let density = predictive.split_pdf(y);
            ln_parts[k] = density.ln;
            factors[k] = pi[k] * density.scale;
            largest_scale = at_least(density.scale, largest_scale);
        }
        let (max, total) = categorical::exp_shifted_scaled(&ln_parts, &factors, weights)?;
        (total >= LINEAR_FLOOR * largest_scale && total <= f32::MAX)
            .then(|| max + libm::logf(total))
    }

    /// [`Particle::weigh`] summed in log space, `ln π_k + ln p_k(y)` per
    /// expert: exact to f32 rounding at any gate and scale.
    fn weigh_in_log_space(&self, x: &[f32; D], y: f32, weights: &mut [f32; K]) -> f32 {
        let (mut psi, mut terms) = ([0.0; K], [0.0; K]);
        self.gate(x, &mut psi, &mut terms);
        for (term, expert) in terms.iter_mut().zip(&self.experts) {
            *term += expert.predictive(x).ln_pdf(y);
        }
        match categorical::exp_shifted(&terms, weights) {
            Some((max, total)) => max + libm::logf(total),
            None => f32::NEG_INFINITY,
        }
    }

    /// docs/model.md §3 steps 5–7 for this particle once `z` is drawn: expert
    /// `z` absorbs `(x, y)`, sticks `j ≤ min(z, K−2)` see one trial each, and
    /// the horseshoe scales are refreshed if `refresh` is set.
    pub(crate) fn absorb<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32; D],
        y: f32,
        z: usize,
        refresh: bool,
        config: &Config,
        rng: &mut R,
    ) -> Result<(), Error> {
        self.experts
            .get_mut(z)
            .ok_or(Error::WrongLength)?
            .absorb(x, y, config, rng)?;
        let sticks = self.sticks.as_mut();
        let trials = (z + 1).min(sticks.len());
        for (j, stick) in sticks[..trials].iter_mut().enumerate() {
            let prior = horseshoe::prior_precisions(config, stick, &self.global);
            stick.observe_trial(x, j == z, &prior, rng)?;
        }
        if refresh && !sticks.is_empty() {
            horseshoe::refresh(sticks, &mut self.global, config, rng)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::normal::standard_normal;
    use rand_core::SeedableRng;
    use rand_xorshift::XorShiftRng;

    type Small = Particle<3, 2>;

    /// A particle drawn from the prior whose experts have absorbed `n`
    /// observations of random lines, each at a random expert.
    fn trained(seed: u64, n: usize) -> (Small, Config) {
        let config = Config::default_for(2);
        let mut rng = XorShiftRng::seed_from_u64(seed);
        let mut particle = Small::ZERO;
        particle.draw_prior(&config, &mut rng).unwrap();
        for _ in 0..n {
            let k = (rng.next_u32() % 3) as usize;
            let x = [1.0, 2.0 * standard_normal(&mut rng)];
            let y = (k as f32 - 1.0) * 3.0 * x[1] + 0.3 * standard_normal(&mut rng);
            particle.experts[k]
                .absorb(&x, y, &config, &mut rng)
                .unwrap();
        }
        for stick in particle.sticks_mut() {
            stick.logistic.coef = [standard_normal(&mut rng), 2.0 * standard_normal(&mut rng)];
        }
        (particle, config)
    }

    /// The linear-space sum is the log-space one to f32 rounding, at 300
    /// random particles and points with y up to 20σ out. Each side rounds
    /// a handful of times values of size |ln p| (ulp 2⁻²³|ln p|) and the
    /// exponentials of differences, so 64 ulps of max(1, |ln p|) is a
    /// generous bound that a wrong factor (e.g. a missing `π_k` or `1/s`,
    /// ≥ 10⁻³ relative on the weights) would break.
    #[test]
    fn linear_space_is_the_log_space_sum() {
        let mut rng = XorShiftRng::seed_from_u64(11);
        for seed in 0..300 {
            let (particle, _) = trained(seed, 30);
            let x = [1.0, 2.0 * standard_normal(&mut rng)];
            let y = 20.0 * standard_normal(&mut rng);
            let (mut linear, mut logs) = ([0.0; 3], [0.0; 3]);
            let fast = particle
                .weigh_in_linear_space(&x, y, &mut linear, |_, _, _| {})
                .expect("an ordinary point is summed in linear space");
            let exact = particle.weigh_in_log_space(&x, y, &mut logs);
            let ulp = f32::EPSILON * exact.abs().max(1.0);
            assert!(
                (fast - exact).abs() <= 64.0 * ulp,
                "seed {seed}: {fast} vs {exact}"
            );
            let (sum_linear, sum_logs) = (linear.iter().sum::<f32>(), logs.iter().sum::<f32>());
            for (a, b) in linear.iter().zip(&logs) {
                assert!((a / sum_linear - b / sum_logs).abs() < 1e-5, "seed {seed}");
            }
        }
    }

    /// An expert the gate all but rules out (`π_1 = e⁻²⁰⁰`, 0 in f32) that
    /// alone explains `y = 5` (the other, fitted tightly at `y ≈ 0`, gives
    /// it ≈ −650 nats): the linear sum underflows, and the log-space one
    /// keeps the particle alive with `ln p ≈ −200 + ln t_1(y)` and all of
    /// the allocation on expert 1.
    #[test]
    fn an_underflowing_gate_falls_back_to_log_space() {
        let config = Config::default_for(2);
        let mut rng = XorShiftRng::seed_from_u64(5);
        let mut particle = Particle::<2, 2>::ZERO;
        particle.draw_prior(&config, &mut rng).unwrap();
        for i in 0..500 {
            let x = [1.0, i as f32 / 500.0];
            for (expert, level) in particle.experts.iter_mut().zip([0.0, 5.0]) {
                let y = level + 0.01 * standard_normal(&mut rng);
                expert.absorb(&x, y, &config, &mut rng).unwrap();
            }
        }
        particle.sticks_mut()[0].logistic.coef = [200.0, 0.0];
        let (x, y) = ([1.0, 0.5], 5.0);
        let mut weights = [0.0; 2];
        let linear = particle.weigh_in_linear_space(&x, y, &mut weights, |_, _, _| {});
        assert_eq!(linear, None);
        let ln_p = particle.weigh(&x, y, &mut weights, |_, _, _| {});
        let expected = -200.0 + particle.experts[1].predictive(&x).ln_pdf(y);
        assert!((ln_p - expected).abs() < 1e-3, "{ln_p} vs {expected}");
        assert_eq!(weights, [0.0, 1.0]);
    }
}
