//! The logistic (Bernoulli) expert: `P(y = 1 | x) = σ(xᵀβ)`, `β ~ N(0, v0 I)`,
//! made conditionally Gaussian by one Pólya-Gamma `ω` per observation
//! (docs/model.md §10).
//!
//! `β` has no conjugate prior, so unlike a [`Gaussian`](super::Gaussian)
//! expert the particle carries a draw of it, exactly as a stick of the gate
//! carries `φ`: particle learning then weighs an observation by its exact
//! likelihood `σ(xᵀβ)^y σ(−xᵀβ)^{1−y}` given that draw (no approximation
//! of a predictive), propagates `ω ~ PG(1, xᵀβ)` and redraws `β` from its
//! Gaussian full conditional.

use super::family::{Expert, Family, Predictive};
use crate::dims::{Const, Features, Zeroed};
use crate::logistic::Logistic;
use crate::math::{dot, ln_sigmoid, sigmoid_pair};
use crate::{Config, Error};
use rand_core::RngCore;

/// One logistic expert: the Pólya-Gamma statistics of the observations
/// allocated to it, the current draw of `β`, and how many there were.
///
/// # Examples
/// ```
/// use hsmoe_core::expert::{Bernoulli, Expert, Predictive};
/// use hsmoe_core::Config;
/// use rand_core::SeedableRng;
/// let config = Config::default_for(2);
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
/// let mut expert = Bernoulli::<2>::prior(&config);
/// expert.redraw(&config, &mut rng).unwrap(); // β from its prior
/// for _ in 0..50 {
///     expert.absorb(&[1.0, 0.0], 1.0, &config, &mut rng).unwrap();
/// }
/// assert_eq!(expert.observations(&config), 50.0);
/// assert!(expert.predictive(&[1.0, 0.0]).mean() > 0.9); // mostly ones
/// assert!(Bernoulli::<2>::check_response(0.5).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bernoulli<const D: usize>
where
    Const<D>: Features,
{
    logistic: Logistic<D>,
    count: f32,
}

/// The predictive `Bernoulli(p)` of one logistic expert at one `x`, given
/// the particle's `β`: `p = σ(xᵀβ)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BernoulliPredictive {
    /// `P(y = 1)`.
    pub p: f32,
    ln_p: f32,
    ln_q: f32,
}

impl Predictive for BernoulliPredictive {
    /// `ln p` for `y = 1`, `ln(1 − p)` for `y = 0`.
    fn ln_pdf(&self, y: f32) -> f32 {
        if y == 1.0 {
            self.ln_p
        } else {
            self.ln_q
        }
    }

    /// `p`.
    fn mean(&self) -> f32 {
        self.p
    }

    /// `p(1 − p)`.
    fn variance(&self) -> f32 {
        self.p * (1.0 - self.p)
    }
}

impl<const D: usize> Zeroed for Bernoulli<D>
where
    Const<D>: Features,
{
    /// All-zero placeholder for `const` construction: the prior statistics
    /// with `β = 0`.
    const ZERO: Self = Bernoulli {
        logistic: Logistic::ZERO,
        count: 0.0,
    };
}

impl<const D: usize> Bernoulli<D>
where
    Const<D>: Features,
{
    /// The particle's current `β`.
    pub fn coef(&self) -> &[f32; D] {
        self.logistic.coef()
    }

    /// `β`'s prior precision `1/v0`, the same for every coefficient.
    fn prior_precisions(config: &Config) -> [f32; D] {
        [1.0 / config.v0; D]
    }
}

impl<const D: usize> Expert<D> for Bernoulli<D>
where
    Const<D>: Features,
{
    type Predictive = BernoulliPredictive;
    /// `β`.
    type Draw = [f32; D];

    const FAMILY: Family = Family::Bernoulli;

    /// No observation, `β = 0` until [`Expert::redraw`].
    fn prior(_config: &Config) -> Self {
        Self::ZERO
    }

    /// 0 or 1.
    fn check_response(y: f32) -> Result<(), Error> {
        if y == 0.0 || y == 1.0 {
            Ok(())
        } else {
            Err(Error::InvalidResponse)
        }
    }

    fn predictive(&self, x: &[f32; D]) -> BernoulliPredictive {
        let s = sigmoid_pair(self.logistic.logit(x));
        BernoulliPredictive {
            p: s.p,
            ln_p: s.ln_p,
            ln_q: s.ln_q,
        }
    }

    /// `ω ~ PG(1, xᵀβ)`, the statistics, then a fresh `β` given them.
    fn absorb<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32; D],
        y: f32,
        config: &Config,
        rng: &mut R,
    ) -> Result<(), Error> {
        let beta = *self.coef();
        self.add(&beta, x, y, rng)?;
        self.redraw(config, rng)
    }

    fn observations(&self, _config: &Config) -> f32 {
        self.count
    }

    fn is_finite(&self) -> bool {
        let l = &self.logistic;
        self.count >= 0.0
            && l.s
                .entries()
                .iter()
                .chain(&l.r)
                .chain(&l.coef)
                .all(|v| v.is_finite())
    }

    /// The particle's `β`: a draw from its full conditional given the
    /// statistics, which is all a Gibbs scan needs.
    fn draw<R: RngCore + ?Sized>(&self, _rng: &mut R) -> Result<[f32; D], Error> {
        Ok(*self.coef())
    }

    /// `ln σ(±xᵀβ)`.
    fn ln_likelihood(beta: &[f32; D], x: &[f32; D], y: f32) -> f32 {
        let logit = dot(x, beta);
        ln_sigmoid(if y == 1.0 { logit } else { -logit })
    }

    /// One trial with `ω ~ PG(1, xᵀβ)` at the sweep's `β`.
    fn add<R: RngCore + ?Sized>(
        &mut self,
        beta: &[f32; D],
        x: &[f32; D],
        y: f32,
        rng: &mut R,
    ) -> Result<(), Error> {
        let logit = dot(x, beta);
        self.logistic.add_trial(x, logit, y == 1.0, rng);
        self.count += 1.0;
        Ok(())
    }

    /// `β ~ N(Λ⁻¹r, Λ⁻¹)`, `Λ = I/v0 + S`.
    fn redraw<R: RngCore + ?Sized>(&mut self, config: &Config, rng: &mut R) -> Result<(), Error> {
        self.logistic.redraw(&Self::prior_precisions(config), rng)
    }
}

// Snapshot layout of an expert (see `crate::snapshot`).
crate::words::impl_words!([const D: usize] Bernoulli<D> where [Const<D>: Features] { logistic, count });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{rejuvenate, Filter};
    use rand_core::SeedableRng;
    use rand_xorshift::XorShiftRng;

    fn stream() -> [([f32; 2], f32); 30] {
        core::array::from_fn(|t| {
            let z = t as f32 / 10.0 - 1.5;
            ([1.0, z], f32::from(u8::from(z > 0.0 || t % 7 == 0)))
        })
    }

    #[test]
    fn a_response_outside_0_1_is_rejected_and_nothing_changes() {
        let config = Config::default_for(2);
        let mut filter: Filter<8, 2, 2, Bernoulli<2>> = Filter::new();
        let mut rng = XorShiftRng::seed_from_u64(3);
        filter.reset(&config, &mut rng).unwrap();
        filter.observe(&[1.0, 0.2], 1.0, &mut rng).unwrap();
        let (before, rng_before) = (filter.clone(), rng.clone());
        for y in [0.5, -1.0, 2.0] {
            assert_eq!(
                filter.observe(&[1.0, 0.2], y, &mut rng),
                Err(Error::InvalidResponse)
            );
        }
        assert_eq!(filter.particles(), before.particles());
        assert_eq!(filter.state(), before.state());
        assert_eq!(rng, rng_before);
    }

    #[test]
    fn a_sweep_allocates_every_observation_once_and_redraws_beta() {
        let config = Config::default_for(2);
        let mut filter: Filter<8, 3, 2, Bernoulli<2>> = Filter::new();
        let mut rng = XorShiftRng::seed_from_u64(5);
        filter.reset(&config, &mut rng).unwrap();
        let rows = stream();
        for (x, y) in &rows {
            filter.observe(x, *y, &mut rng).unwrap();
        }
        let mut particle = filter.particles()[0];
        let before = particle;
        rejuvenate::sweep(&mut particle, &rows, None, &config, &mut rng).unwrap();
        let held: f32 = particle
            .experts()
            .iter()
            .map(|e| e.observations(&config))
            .sum();
        assert_eq!(held, rows.len() as f32);
        assert!(particle.experts().iter().all(|e| e.is_finite()));
        let moved = |k: usize| particle.experts()[k].coef() != before.experts()[k].coef();
        assert!((0..3).all(moved));
        // A row that is not 0 or 1 stops the sweep and changes nothing.
        let mut bad = rows;
        bad[4].1 = 0.5;
        let kept = particle;
        assert!(rejuvenate::sweep(&mut particle, &bad, None, &config, &mut rng).is_err());
        assert_eq!(particle, kept);
    }

    #[test]
    fn the_predictive_is_the_likelihood_at_the_particles_beta() {
        let mut expert = Bernoulli::<2>::ZERO;
        expert.logistic.coef = [0.3, -1.2];
        let x = [1.0, 0.5];
        let p = expert.predictive(&x);
        let logit = 0.3 - 0.6;
        assert!((p.p - 1.0 / (1.0 + libm::expf(-logit))).abs() < 1e-7);
        assert_eq!(
            p.ln_pdf(1.0),
            Bernoulli::ln_likelihood(expert.coef(), &x, 1.0)
        );
        assert_eq!(
            p.ln_pdf(0.0),
            Bernoulli::ln_likelihood(expert.coef(), &x, 0.0)
        );
        assert!((p.variance() - p.p * (1.0 - p.p)).abs() < 1e-7);
    }
}
