//! One particle: sufficient statistics of every expert, every stick's
//! Pólya-Gamma statistics and current `φ`, and the horseshoe scales
//! (docs/model.md §3).

use crate::dims::{Const, Experts, Features, Zeroed};
use crate::expert::{Expert, Gaussian};
use crate::gate::{stick_breaking, stick_breaking_linear, Stick};
use crate::horseshoe::{self, GlobalScale};
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
    /// probabilities `exp(ℓ_k − max_j ℓ_j)`, `ℓ_k = ln π_k(x_t) + ln t_k(y_t)`
    /// (0 for a dead term), exponentiated in step 1 for the particle's
    /// weight and kept in the particle so resampling carries them to step 4
    /// with their owner.
    pub(crate) alloc_weights: [f32; K],
}

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
