//! The particle-learning step of docs/model.md §3, in its order: weights,
//! evidence, resampling, allocation, expert update, stick update, horseshoe
//! refresh.
//!
//! [`ParticleSet`] runs the algorithm on borrowed slices of any length, so
//! code that does not know `N` at compile time (the host, tests) shares the
//! exact code path of the fixed-size [`Filter`] used on the device.

use crate::dims::{Const, Experts, Features};
use crate::dist::{categorical, uniform};
use crate::expert::{Expert, Gaussian};
use crate::math::max_finite;
use crate::particle::Particle;
use crate::posterior::{self, check_values, checked_features, Mixture, Prediction};
use crate::resample::{copy_within, replicate_in_place, systematic_counts};
use crate::{Config, Error};
use rand_core::RngCore;

/// Everything about a filter that is not per particle: settings, the step
/// counter and the running summaries.
///
/// # Examples
/// ```
/// let state = hsmoe_core::FilterState::<2>::new(hsmoe_core::Config::default_for(3));
/// assert_eq!(state.steps(), 0);
/// assert_eq!(state.log_marginal(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterState<const K: usize> {
    config: Config,
    ready: bool,
    steps: u32,
    log_marginal: f64,
    alloc_sum: [f64; K],
    repairs: u32,
}

impl<const K: usize> FilterState<K> {
    /// All zero bits (so a `static` filter costs no flash), unusable until
    /// [`ParticleSet::reset`] sets the prior.
    pub(crate) const UNSET: Self = FilterState {
        config: Config {
            v0: 0.0,
            a0: 0.0,
            b0: 0.0,
            s0: 0.0,
            refresh_every: 0,
            gate_intercept: false,
            resample_ess: 0.0,
        },
        ready: false,
        steps: 0,
        log_marginal: 0.0,
        alloc_sum: [0.0; K],
        repairs: 0,
    };

    /// A state that needs [`ParticleSet::reset`] before use.
    pub const fn new(config: Config) -> Self {
        FilterState {
            config,
            ready: false,
            steps: 0,
            log_marginal: 0.0,
            alloc_sum: [0.0; K],
            repairs: 0,
        }
    }

    /// The prior and settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Observations absorbed since the last reset.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// `Σ_t ln p̂(y_t | past)`, the PL estimate of the log marginal likelihood.
    pub fn log_marginal(&self) -> f64 {
        self.log_marginal
    }

    /// Particles replaced after a numerical failure (see [`ParticleSet::observe`]).
    pub fn repairs(&self) -> u32 {
        self.repairs
    }

    /// Allocation frequencies (docs/model.md §8): the time average of the
    /// particle-averaged allocation probabilities (zeros before any step).
    pub fn allocation_freq(&self) -> [f32; K] {
        let steps = f64::from(self.steps.max(1));
        self.alloc_sum.map(|s| (s / steps) as f32)
    }
}

// Snapshot layout of the state (see `crate::snapshot`).
crate::words::impl_words!([const K: usize] FilterState<K> {
    config,
    ready,
    steps,
    log_marginal,
    alloc_sum,
    repairs
});

/// What one observation step reports (the fields of the wire `Update`,
/// docs/protocol.md §2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Update<const K: usize> {
    /// Mean of the one-step-ahead predictive of `y_t`, before `y_t` is used.
    pub pred_mean: f32,
    /// Variance of that predictive (`+∞` if an expert has `2a ≤ 2`).
    pub pred_var: f32,
    /// `ln p̂(y_t | past)`.
    pub log_pred: f32,
    /// Effective sample size `(Σw)²/Σw²` before resampling.
    pub ess: f32,
    /// Whether resampling replaced any particle.
    pub resampled: bool,
    /// Particle-mean gate probabilities `π_k(x_t)`.
    pub gate: [f32; K],
    /// Particle-mean allocation probabilities of step 4.
    pub alloc: [f32; K],
}

/// The particle cloud as borrowed slices: the whole PL algorithm, for any
/// number of particles.
///
/// # Examples
/// ```
/// use hsmoe_core::{Config, FilterState, Particle, ParticleSet};
/// use rand_core::SeedableRng;
/// let mut particles = [Particle::<2, 2>::ZERO; 10];
/// let (mut weights, mut counts) = ([0.0; 10], [0; 10]);
/// let mut state = FilterState::new(Config::default_for(2));
/// let mut set = ParticleSet::new(&mut particles, &mut weights, &mut counts, &mut state).unwrap();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(3);
/// set.reset(&Config::default_for(2), &mut rng).unwrap();
/// let update = set.observe(&[1.0, 0.3], 0.7, &mut rng).unwrap();
/// assert!(update.log_pred.is_finite() && update.ess <= 10.0);
/// ```
pub struct ParticleSet<'a, const K: usize, const D: usize, E = Gaussian<D>>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    particles: &'a mut [Particle<K, D, E>],
    weights: &'a mut [f32],
    counts: &'a mut [u32],
    state: &'a mut FilterState<K>,
}

impl<'a, const K: usize, const D: usize, E> ParticleSet<'a, K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    /// Borrows storage for `particles.len()` particles: the particles, one
    /// weight and one offspring count each (step scratch), and the state.
    ///
    /// # Errors
    /// [`Error::WrongLength`] if the slices are empty or differ in length.
    pub fn new(
        particles: &'a mut [Particle<K, D, E>],
        weights: &'a mut [f32],
        counts: &'a mut [u32],
        state: &'a mut FilterState<K>,
    ) -> Result<Self, Error> {
        const {
            assert!(
                K > 0 && D > 0,
                "a filter needs at least one expert and one feature"
            )
        };
        let n = particles.len();
        if n == 0 || weights.len() != n || counts.len() != n || n > u32::MAX as usize {
            return Err(Error::WrongLength);
        }
        Ok(ParticleSet {
            particles,
            weights,
            counts,
            state,
        })
    }

    /// The particles, read-only.
    pub fn particles(&self) -> &[Particle<K, D, E>] {
        self.particles
    }

    /// Settings and running summaries.
    pub fn state(&self) -> &FilterState<K> {
        self.state
    }

    /// Sets the prior, puts every expert at it and draws each particle's
    /// horseshoe scales and gate coefficients from their priors. Clears
    /// the step counter and summaries.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (nothing changed) or, if a prior draw
    /// cannot be factored, [`Error::NotPositiveDefinite`] (the set stays
    /// unusable until a successful reset).
    pub fn reset<R: RngCore + ?Sized>(
        &mut self,
        config: &Config,
        rng: &mut R,
    ) -> Result<(), Error> {
        config.validate(D)?;
        *self.state = FilterState::new(*config);
        for particle in self.particles.iter_mut() {
            particle.draw_prior(config, rng)?;
        }
        self.state.ready = true;
        Ok(())
    }

    /// Sets [`Config::resample_ess`] from the next step on. Any rule that
    /// decides from the past keeps the evidence estimate unbiased, so the
    /// threshold may change in the middle of a run.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a value outside `[0, 1]` (nothing
    /// changed).
    pub fn set_resample_ess(&mut self, ess_fraction: f32) -> Result<(), Error> {
        let config = Config {
            resample_ess: ess_fraction,
            ..self.state.config
        };
        config.validate(D)?;
        self.state.config = config;
        Ok(())
    }

    fn ready(&self) -> Result<(), Error> {
        if self.state.ready {
            Ok(())
        } else {
            Err(Error::Uninitialized)
        }
    }

    /// One PL step (docs/model.md §3) for the observation `(x, y)`.
    ///
    /// # Errors
    /// - [`Error::WrongLength`], [`Error::NonFinite`], [`Error::OutOfRange`],
    ///   [`Error::InvalidResponse`] (a `y` outside the expert family's
    ///   support) for bad input and [`Error::Uninitialized`] before `reset`: nothing
    ///   changed.
    /// - [`Error::Degenerate`] when every particle weight is zero or not
    ///   finite (an outlier beyond every predictive): the observation is
    ///   rejected and nothing changed.
    /// - A particle whose update fails numerically (a factor losing positive
    ///   definiteness) is replaced by a copy of a healthy particle and
    ///   counted in [`FilterState::repairs`]. Only if every particle fails is
    ///   [`Error::NotPositiveDefinite`] returned; the set then reports
    ///   [`Error::Uninitialized`] until it is reset.
    pub fn observe<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32],
        y: f32,
        rng: &mut R,
    ) -> Result<Update<K>, Error> {
        self.step(x, y, None::<&mut [()]>, rng)
    }

    /// [`ParticleSet::observe`] with one companion value per particle
    /// (`companions[i]` belongs to particle `i`) that follows its particle
    /// through resampling and repairs: the frozen statistics of the block
    /// window move ([`crate::block`]).
    ///
    /// # Errors
    /// As [`ParticleSet::observe`], and [`Error::WrongLength`] (nothing
    /// changed) unless there is exactly one companion per particle.
    pub fn observe_with<R: RngCore + ?Sized, C: Clone>(
        &mut self,
        x: &[f32],
        y: f32,
        companions: &mut [C],
        rng: &mut R,
    ) -> Result<Update<K>, Error> {
        if companions.len() != self.particles.len() {
            return Err(Error::WrongLength);
        }
        self.step(x, y, Some(companions), rng)
    }

    fn step<R: RngCore + ?Sized, C: Clone>(
        &mut self,
        x: &[f32],
        y: f32,
        mut companions: Option<&mut [C]>,
        rng: &mut R,
    ) -> Result<Update<K>, Error> {
        self.ready()?;
        let x: [f32; D] = checked_features(x)?;
        check_values(&[y])?;
        E::check_response(y)?;
        let n = self.particles.len();

        // 1. Log weights, and the predictive before y is used,
        // both under the weights carried from the last step (all 1 after
        // resampling).
        let mut mixture = Mixture::<K>::ZERO;
        let mut carried = 0.0f32;
        for (particle, ln_w) in self.particles.iter_mut().zip(self.weights.iter_mut()) {
            let weight = particle.weight();
            carried += weight;
            // The allocation weights stay in the particle for step 4
            // (resampling carries them with it), so no term is exponentiated
            // twice.
            let mut alloc_weights = [0.0; K];
            let ln_p = particle.weigh(&x, y, &mut alloc_weights, |k, pi_k, t| {
                mixture.add(k, weight * pi_k, t);
            });
            particle.alloc_weights = alloc_weights;
            *ln_w = particle.ln_weight + ln_p;
        }
        let (pred_mean, pred_var, gate) = mixture.finish(carried);

        // 2. Evidence and ESS from max-subtracted weights; each particle
        // keeps its own (−∞ once dead) in case the weights are carried.
        let max = max_finite(self.weights);
        if !max.is_finite() {
            return Err(Error::Degenerate);
        }
        let (mut sum, mut sum_sq) = (0.0f32, 0.0f32);
        for (w, particle) in self.weights.iter_mut().zip(self.particles.iter_mut()) {
            let e = libm::expf(*w - max);
            particle.ln_weight = if e > 0.0 { *w - max } else { f32::NEG_INFINITY };
            *w = if e.is_nan() { 0.0 } else { e };
            sum += *w;
            sum_sq += *w * *w;
        }
        // ln Σ_i W_i p̂_i / Σ_i W_i with the carried weights W_i: an
        // unbiased increment whether or not the last step resampled.
        let ln_mean = libm::logf(sum / carried);
        let log_pred = max + ln_mean;
        // Rounding can put (Σw)²/Σw² a few ulps past N, which it cannot exceed.
        let ess = (sum * sum / sum_sq).min(n as f32);

        // 3. Systematic resampling, in place, when the ESS is below the
        // threshold (always at the default 1); otherwise the particles
        // carry their weights, normalized to sum to about N.
        let threshold = self.state.config.resample_ess;
        let resample = threshold >= 1.0 || ess < threshold * n as f32;
        let resampled = if resample {
            systematic_counts(self.weights, uniform::open01(rng), self.counts)?;
            let resampled = replicate_in_place(self.particles, self.counts);
            if let Some(companions) = companions.as_deref_mut() {
                replicate_in_place(companions, self.counts);
            }
            for particle in self.particles.iter_mut() {
                particle.ln_weight = 0.0;
            }
            resampled
        } else {
            for particle in self.particles.iter_mut() {
                particle.ln_weight -= ln_mean;
            }
            false
        };

        // 4.–7. Allocation, expert, sticks, horseshoe; per particle.
        let t = self.state.steps.wrapping_add(1);
        // Particle i refreshes when (t + i) mod R = 0, staggered over the
        // cloud; the phase is stepped, not divided (a u64 `%` per particle
        // is a library call on the M4F).
        let refresh_every = self.state.config.refresh_every.max(1);
        let mut phase = t % refresh_every;
        let (mut alloc, mut posterior_weight) = ([0.0f32; K], 0.0f32);
        let mut healthy = 0usize;
        let cloud = self.particles.iter_mut().zip(self.weights.iter());
        for ((particle, e), ok) in cloud.zip(self.counts.iter_mut()) {
            let refresh = phase == 0;
            phase = if phase + 1 == refresh_every {
                0
            } else {
                phase + 1
            };
            // The new weight is ∝ step 2's exp(ln w − max), at hand without
            // an exp (the slots no longer match the particles once
            // resampled, but then every weight is 1). A particle of weight
            // 0 (only without resampling) has no say in the posterior: it
            // is left as it is, not repaired.
            let weight = if resample { 1.0 } else { *e };
            if weight == 0.0 {
                *ok = 1;
                continue;
            }
            posterior_weight += weight;
            // The step-1 weights, normalized by their sum, not as
            // exp(term − ln w): once |terms| ≳ 1e7 the f32 ln w cannot carry
            // ln Σ and the probabilities summed to up to K. A survivor of
            // resampling had a finite ln p, so its sum is positive.
            let weights = &particle.alloc_weights;
            let total: f32 = weights.iter().sum();
            let z = if total > 0.0 {
                for (a, w) in alloc.iter_mut().zip(weights) {
                    *a += weight * (w / total);
                }
                categorical::sample(rng, weights, total)
            } else {
                None
            };
            let result = match z {
                Some(z) => particle.absorb(&x, y, z, refresh, &self.state.config, rng),
                None => Err(Error::Degenerate),
            };
            *ok = u32::from(result.is_ok());
            healthy += result.is_ok() as usize;
        }
        if healthy == 0 {
            self.state.ready = false;
            return Err(Error::NotPositiveDefinite);
        }
        self.state.repairs += self.repair_failed(companions);

        self.state.steps = t;
        self.state.log_marginal += f64::from(log_pred);
        let alloc = alloc.map(|a| a / posterior_weight);
        for (s, a) in self.state.alloc_sum.iter_mut().zip(&alloc) {
            *s += f64::from(*a);
        }
        Ok(Update {
            pred_mean,
            pred_var,
            log_pred,
            ess,
            resampled,
            gate,
            alloc,
        })
    }

    /// Overwrites each particle flagged 0 in `counts` (and its companion)
    /// with a copy of the nearest healthy particle after it (cyclically);
    /// returns how many.
    fn repair_failed<C: Clone>(&mut self, mut companions: Option<&mut [C]>) -> u32 {
        let n = self.particles.len();
        let mut repaired = 0;
        for target in 0..n {
            if self.counts[target] != 0 {
                continue;
            }
            let healthy = (1..n)
                .map(|d| (target + d) % n)
                .find(|&s| self.counts[s] != 0);
            if let Some(source) = healthy {
                copy_within(self.particles, source, target);
                if let Some(companions) = companions.as_deref_mut() {
                    copy_within(companions, source, target);
                }
                repaired += 1;
            }
        }
        repaired
    }

    /// The posterior predictive at `x` (see [`posterior::predict`]).
    ///
    /// # Errors
    /// As [`posterior::predict`], and [`Error::Uninitialized`] before `reset`.
    pub fn predict(&self, x: &[f32]) -> Result<Prediction<K>, Error> {
        self.ready()?;
        posterior::predict(self.particles, x)
    }

    /// Mutable particles and state, for restoring a snapshot.
    pub(crate) fn storage_mut(&mut self) -> (&mut [Particle<K, D, E>], &mut FilterState<K>) {
        (self.particles, self.state)
    }
}

/// A particle filter with `N` particles, `K` experts of the family `E`
/// ([`Gaussian`] unless named, see [`crate::expert`]) and `D` features in
/// one fixed-size block of memory: no allocation, and `const`-constructible
/// so firmware can place it in a `static`.
///
/// Memory: `size_of::<Filter<N, K, D>>()` ≈ `N · (size_of::<Particle<K, D>>() + 8)`
/// plus a few hundred bytes of state (see the README for the formula).
///
/// # Examples
/// ```
/// use hsmoe_core::{Config, Filter};
/// use rand_core::SeedableRng;
/// static mut _ON_DEVICE: Filter<64, 3, 4> = Filter::new(); // fits in .bss
///
/// let mut filter: Filter<64, 3, 2> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(42);
/// filter.reset(&Config::default_for(2), &mut rng).unwrap();
/// for t in 0..20 {
///     let x = [1.0, t as f32 / 10.0];
///     let update = filter.observe(&x, 2.0 * x[1], &mut rng).unwrap();
///     assert!(update.pred_var > 0.0);
/// }
/// assert_eq!(filter.state().steps(), 20);
/// assert!(filter.state().log_marginal().is_finite());
/// ```
#[derive(Debug, Clone)]
pub struct Filter<const N: usize, const K: usize, const D: usize, E = Gaussian<D>>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    particles: [Particle<K, D, E>; N],
    weights: [f32; N],
    counts: [u32; N],
    state: FilterState<K>,
}

impl<const N: usize, const K: usize, const D: usize, E> Filter<N, K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    /// Zeroed storage (a `static` lands in `.bss`), not yet usable: call [`Filter::reset`]
    /// to draw the initial particles. Zero sizes fail at compile time.
    pub const fn new() -> Self {
        const { assert!(N > 0 && K > 0 && D > 0, "N, K and D must all be at least 1") };
        const { assert!(N <= u32::MAX as usize, "N must fit in a u32") };
        Filter {
            particles: [Particle::ZERO; N],
            weights: [0.0; N],
            counts: [0; N],
            state: FilterState::UNSET,
        }
    }

    /// The algorithm's view of this storage, erasing `N`.
    pub fn as_set(&mut self) -> ParticleSet<'_, K, D, E> {
        ParticleSet {
            particles: &mut self.particles,
            weights: &mut self.weights,
            counts: &mut self.counts,
            state: &mut self.state,
        }
    }

    /// See [`ParticleSet::reset`].
    ///
    /// # Errors
    /// As [`ParticleSet::reset`].
    pub fn reset<R: RngCore + ?Sized>(
        &mut self,
        config: &Config,
        rng: &mut R,
    ) -> Result<(), Error> {
        self.as_set().reset(config, rng)
    }

    /// See [`ParticleSet::set_resample_ess`].
    ///
    /// # Errors
    /// As [`ParticleSet::set_resample_ess`].
    pub fn set_resample_ess(&mut self, ess_fraction: f32) -> Result<(), Error> {
        self.as_set().set_resample_ess(ess_fraction)
    }

    /// See [`ParticleSet::observe`].
    ///
    /// # Errors
    /// As [`ParticleSet::observe`].
    pub fn observe<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32],
        y: f32,
        rng: &mut R,
    ) -> Result<Update<K>, Error> {
        self.as_set().observe(x, y, rng)
    }

    /// See [`posterior::predict`].
    ///
    /// # Errors
    /// As [`posterior::predict`], and [`Error::Uninitialized`] before `reset`.
    pub fn predict(&self, x: &[f32]) -> Result<Prediction<K>, Error> {
        if !self.state.ready {
            return Err(Error::Uninitialized);
        }
        posterior::predict(&self.particles, x)
    }

    /// The particles, read-only.
    pub fn particles(&self) -> &[Particle<K, D, E>; N] {
        &self.particles
    }

    /// Settings and running summaries.
    pub fn state(&self) -> &FilterState<K> {
        &self.state
    }
}

impl<const N: usize, const K: usize, const D: usize, E> Default for Filter<N, K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    fn default() -> Self {
        Self::new()
    }
}
