//! What a likelihood family of the experts must provide: the [`Expert`]
//! trait and its one-step [`Predictive`] (docs/model.md §10), and the
//! [`Family`] that names it in reports, snapshots and on the link.

use crate::dims::{Const, Features, Part, Zeroed};
use crate::words::Words;
use crate::{Config, Error};
use core::fmt;
use core::str::FromStr;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};

/// The likelihood families of the experts, by name: what a user picks, a
/// report records, a snapshot's header and a device's `Config` declare.
///
/// # Examples
/// ```
/// use hsmoe_core::expert::Family;
/// assert_eq!("bernoulli".parse::<Family>(), Ok(Family::Bernoulli));
/// assert_eq!(Family::Student.to_string(), "student");
/// assert!("poisson".parse::<Family>().is_err());
/// // Words per expert in a snapshot at D = 4 (packed triangle of 10).
/// assert_eq!(Family::Gaussian.expert_words(4), 17);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Family {
    /// Linear-Gaussian experts, `y ~ N(xᵀβ, σ²)` ([`Gaussian`](super::Gaussian)).
    #[default]
    Gaussian = 1,
    /// Logistic experts for a 0/1 response, `P(y = 1) = σ(xᵀβ)`
    /// ([`Bernoulli`](super::Bernoulli)).
    Bernoulli = 2,
    /// Robust linear experts with Student-t noise
    /// ([`Student`](super::Student)).
    Student = 3,
}

impl Family {
    /// Every family, in declaration order.
    pub const ALL: [Family; 3] = [Family::Gaussian, Family::Bernoulli, Family::Student];

    /// The name a user types (`--family`) and a report records.
    pub const fn name(self) -> &'static str {
        match self {
            Family::Gaussian => "gaussian",
            Family::Bernoulli => "bernoulli",
            Family::Student => "student",
        }
    }

    /// Whether the response must be 0 or 1.
    pub const fn binary_response(self) -> bool {
        matches!(self, Family::Bernoulli)
    }

    /// The family of a tag ([`Expert::TAG`]: the family's number in the
    /// low byte), or `None` for an unknown one.
    pub fn from_tag(tag: u32) -> Option<Family> {
        Family::ALL
            .into_iter()
            .find(|family| *family as u32 == tag & 0xff)
    }

    /// Words of one expert in a snapshot at `d` features, `T = d(d+1)/2`:
    /// Gaussian `T + d + 3` (packed Cholesky factor, mean, `a`, `b`,
    /// normalizer), Bernoulli `T + 2d + 1` (packed `S`, `r`, `β`, count),
    /// Student `T + 2d + 6` (a Gaussian's, then `β`, `σ²` and two
    /// normalizers). Every field of an expert is one 32-bit word, so this
    /// is also its size in memory over 4 (tested per family).
    pub const fn expert_words(self, d: usize) -> usize {
        let triangle = d * (d + 1) / 2;
        match self {
            Family::Gaussian => triangle + d + 3,
            Family::Bernoulli => triangle + 2 * d + 1,
            Family::Student => triangle + 2 * d + 6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a [`Family`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownFamily;

impl fmt::Display for UnknownFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an expert family: expected gaussian, bernoulli or student")
    }
}

impl core::error::Error for UnknownFamily {}

impl FromStr for Family {
    type Err = UnknownFamily;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Family::ALL
            .into_iter()
            .find(|family| family.name() == name)
            .ok_or(UnknownFamily)
    }
}

/// A density value split as `scale · exp(ln)`: see [`Predictive::split_pdf`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitPdf {
    /// The part kept in log space (`−∞` for an impossible `y`).
    pub ln: f32,
    /// The positive factor kept in linear space.
    pub scale: f32,
}

/// One expert's one-step predictive distribution of `y` at one `x`.
pub trait Predictive {
    /// `ln p(y)`; `−∞` where the density underflows or `y` is impossible.
    fn ln_pdf(&self, y: f32) -> f32;
    /// `p(y)` as `scale · exp(ln)`, for a caller that sums the experts'
    /// densities in linear space: a factor that costs a logarithm in
    /// [`Predictive::ln_pdf`] (a Student-t's `1/scale`) can stay linear
    /// here. `ln + ln(scale)` is `ln_pdf(y)` up to rounding; by default the
    /// whole density is in `ln` and `scale` is 1.
    fn split_pdf(&self, y: f32) -> SplitPdf {
        SplitPdf {
            ln: self.ln_pdf(y),
            scale: 1.0,
        }
    }
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
/// The families are the core's own ([`Family`]): each one's snapshot
/// layout is part of the core's format, so the trait is sealed (its
/// supertrait, the word list a snapshot is written from, is private).
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
pub trait Expert<const D: usize>: Part + Words
where
    Const<D>: Features,
{
    /// The one-step predictive of `y` at one `x`.
    type Predictive: Predictive;
    /// Parameters drawn once per sweep, at which the likelihood of every
    /// observation is then evaluated.
    type Draw: Zeroed;

    /// The family.
    const FAMILY: Family;

    /// The family and its fixed parameters as one word: the family's
    /// number in the low byte, any parameter above it (Student's ν). A
    /// snapshot's header and a device's `Config` carry it, so that one
    /// family's statistics are never read as another's.
    const TAG: u32 = Self::FAMILY as u32;

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
