//! What a likelihood family of the experts must provide: the [`Expert`]
//! trait and its one-step [`Predictive`] (docs/model.md §10).

use crate::dims::{Const, Features, Part, Zeroed};
use crate::{Config, Error};
use rand_core::RngCore;

/// One expert's one-step predictive distribution of `y` at one `x`.
pub trait Predictive {
    /// `ln p(y)`; `−∞` where the density underflows or `y` is impossible.
    fn ln_pdf(&self, y: f32) -> f32;
    /// The mean of `y`.
    fn mean(&self) -> f32;
    /// The variance of `y` (`+∞` where it does not exist).
    fn variance(&self) -> f32;
}

/// A likelihood family for the experts: what one expert of a particle
/// holds, how it predicts and absorbs an observation (particle learning,
/// docs/model.md §3), and how a rejuvenation sweep rebuilds it from the
/// observations allocated to it (§4).
///
/// # Examples
/// ```
/// use hsmoe_core::expert::{Expert, Gaussian, Predictive};
/// use hsmoe_core::Config;
/// use rand_core::SeedableRng;
/// let config = Config::default_for(2);
/// let mut expert = Gaussian::<2>::prior(&config);
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(7);
/// expert.absorb(&[1.0, 0.5], 2.0, &config, &mut rng).unwrap();
/// assert_eq!(expert.observations(&config), 1.0);
/// assert!(expert.predictive(&[1.0, 0.5]).mean() > 0.0);
/// ```
pub trait Expert<const D: usize>: Part
where
    Const<D>: Features,
{
    /// The one-step predictive of `y` at one `x`.
    type Predictive: Predictive;
    /// Parameters drawn once per sweep, at which the likelihood of every
    /// observation is then evaluated.
    type Draw: Zeroed;

    /// Short name of the family, for logs and reports.
    const FAMILY: &'static str;

    /// The expert before any observation. Parameters the family carries in
    /// the particle are not drawn yet: see [`Expert::redraw`].
    fn prior(config: &Config) -> Self;

    /// Whether the family can explain the response `y` (already known to be
    /// finite and in range).
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] if it cannot (a Bernoulli `y` that is
    /// neither 0 nor 1).
    fn check_response(y: f32) -> Result<(), Error>;

    /// The predictive of `y` at `x`, in O(D²).
    fn predictive(&self, x: &[f32; D]) -> Self::Predictive;

    /// Absorbs one observation allocated to this expert (docs/model.md §3
    /// step 5).
    ///
    /// # Errors
    /// [`Error::NotPositiveDefinite`] if a factor cannot be updated; the
    /// expert is then inconsistent and must be discarded by the caller.
    fn absorb<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32; D],
        y: f32,
        config: &Config,
        rng: &mut R,
    ) -> Result<(), Error>;

    /// How many observations the expert has absorbed.
    fn observations(&self, config: &Config) -> f32;

    /// Whether every statistic is finite and valid.
    fn is_finite(&self) -> bool;

    /// Draws the parameters for one sweep from this posterior.
    ///
    /// # Errors
    /// [`Error::NonFinite`] if the draw is not finite (the expert is
    /// read-only here).
    fn draw<R: RngCore + ?Sized>(&self, rng: &mut R) -> Result<Self::Draw, Error>;

    /// `ln p(y | x, draw)` up to a constant shared by every expert of the
    /// family, without a transcendental per call where the family allows.
    fn ln_likelihood(draw: &Self::Draw, x: &[f32; D], y: f32) -> f32;

    /// Adds one observation to the statistics of a sweep that drew `draw`
    /// (the conditional of any per-observation latent is taken at it).
    ///
    /// # Errors
    /// As [`Expert::absorb`].
    fn add<R: RngCore + ?Sized>(
        &mut self,
        draw: &Self::Draw,
        x: &[f32; D],
        y: f32,
        rng: &mut R,
    ) -> Result<(), Error>;

    /// Redraws the parameters the particle carries (none for [`Gaussian`](super::Gaussian))
    /// from their full conditional given the statistics: after
    /// [`Expert::prior`], from the prior; after a sweep's [`Expert::add`]s,
    /// from the rebuilt posterior.
    ///
    /// # Errors
    /// [`Error::NotPositiveDefinite`] if the posterior precision cannot be
    /// factored.
    fn redraw<R: RngCore + ?Sized>(&mut self, config: &Config, rng: &mut R) -> Result<(), Error>;
}
