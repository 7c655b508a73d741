//! The robust expert: `y = xᵀβ + ε` with Student-t noise of `NU` degrees of
//! freedom, written as a Gaussian scale mixture (docs/model.md §10):
//! `y | λ ~ N(xᵀβ, σ²/λ)`, `λ ~ Gamma(ν/2, rate ν/2)`, one `λ` per
//! observation, and the Normal–inverse-gamma prior of the Gaussian expert.
//!
//! Given the `λ`s the observations are Gaussian with precision weights, so
//! the expert keeps Gaussian NIG statistics of the weighted observations
//! `(√λ x, √λ y)`. `(β, σ²)` have no closed-form posterior once the `λ`s
//! are summed out, so the particle carries a draw of them, as it carries a
//! Bernoulli expert's `β`: an observation is weighed by the exact
//! `t_ν(y; xᵀβ, σ²)`, then `λ` is drawn from its Gamma full conditional and
//! `(β, σ²)` afresh from the updated statistics. An outlier gets a small
//! `λ`, so it hardly moves the statistics.

use super::family::{Expert, Family};
use super::gaussian::{Gaussian, StudentT};
use crate::dims::{Const, Features, Zeroed};
use crate::dist::gamma::gamma;
use crate::dist::student_t;
use crate::math::{dot, sqrt};
use crate::{Config, Error};
use rand_core::RngCore;

/// One robust expert with `NU` degrees of freedom (4 unless named): the
/// NIG statistics of its weighted observations and the particle's current
/// `(β, σ²)`.
///
/// # Examples
/// ```
/// use hsmoe_core::expert::{Expert, Predictive, Student};
/// use hsmoe_core::Config;
/// use rand_core::SeedableRng;
/// let config = Config::default_for(1);
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
/// let mut expert = Student::<1>::prior(&config);
/// expert.redraw(&config, &mut rng).unwrap();
/// for t in 0..200 {
///     // Around 1, with a gross outlier every 20th row.
///     let y = if t % 20 == 0 { 50.0 } else { 1.0 + 0.1 * ((t % 7) as f32 - 3.0) };
///     expert.absorb(&[1.0], y, &config, &mut rng).unwrap();
/// }
/// assert!((expert.predictive(&[1.0]).mean() - 1.0).abs() < 0.1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Student<const D: usize, const NU: u32 = 4>
where
    Const<D>: Features,
{
    nig: Gaussian<D>,
    /// The particle's `(β, σ²)` and the log normalizer `ln c_ν − ½ ln σ²`
    /// of its Student-t density.
    draw: StudentDraw<D>,
}

/// A robust expert's `(β, σ²)` with its density's log normalizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudentDraw<const D: usize> {
    /// The coefficients `β`.
    pub beta: [f32; D],
    /// The noise scale `σ²`.
    pub sigma2: f32,
    /// `ln c_ν`, the Student-t normalizer of ν.
    ln_c: f32,
    /// `ln c_ν − ½ ln σ²`: the log density's constant at this `σ²`.
    ln_norm: f32,
}

impl<const D: usize> Zeroed for StudentDraw<D> {
    /// A placeholder, not a draw.
    const ZERO: Self = StudentDraw {
        beta: [0.0; D],
        sigma2: 0.0,
        ln_c: 0.0,
        ln_norm: 0.0,
    };
}

impl<const D: usize, const NU: u32> Zeroed for Student<D, NU>
where
    Const<D>: Features,
{
    /// All-zero placeholder for `const` construction; not a valid state.
    const ZERO: Self = Student {
        nig: Gaussian::ZERO,
        draw: StudentDraw::ZERO,
    };
}

crate::words::impl_words!([const D: usize] StudentDraw<D> { beta, sigma2, ln_c, ln_norm });
crate::words::impl_words!([const D: usize, const NU: u32] Student<D, NU> where [Const<D>: Features] { nig, draw });

impl<const D: usize, const NU: u32> Student<D, NU>
where
    Const<D>: Features,
{
    /// `ν` as a float.
    const DF: f32 = NU as f32;

    /// The particle's `(β, σ²)`.
    pub fn parameters(&self) -> &StudentDraw<D> {
        &self.draw
    }
}

impl<const D: usize, const NU: u32> Expert<D> for Student<D, NU>
where
    Const<D>: Features,
{
    type Predictive = StudentT;
    type Draw = StudentDraw<D>;

    const FAMILY: Family = Family::Student;
    /// ν in the second byte.
    const TAG: u32 = Family::Student as u32 | NU << 8;

    /// The Gaussian expert's NIG prior; `(β, σ²)` are drawn by
    /// [`Expert::redraw`].
    fn prior(config: &Config) -> Self {
        Student {
            nig: Gaussian::prior(config),
            draw: StudentDraw::ZERO,
        }
    }

    /// Any real `y`.
    fn check_response(_y: f32) -> Result<(), Error> {
        Ok(())
    }

    /// `t_ν(xᵀβ, σ²)` at the particle's `(β, σ²)`.
    fn predictive(&self, x: &[f32; D]) -> StudentT {
        StudentT {
            loc: dot(x, &self.draw.beta),
            scale2: self.draw.sigma2,
            df: Self::DF,
            ln_norm: self.draw.ln_c,
        }
    }

    /// `λ | y, β, σ²`, the weighted NIG update, then `(β, σ²)` afresh.
    fn absorb<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32; D],
        y: f32,
        config: &Config,
        rng: &mut R,
    ) -> Result<(), Error> {
        let draw = self.draw;
        self.add(&draw, x, y, rng)?;
        self.redraw(config, rng)
    }

    /// `2(a − a0)`: each observation adds ½ to `a` whatever its weight.
    fn observations(&self, config: &Config) -> f32 {
        self.nig.observations(config)
    }

    fn is_finite(&self) -> bool {
        self.nig.is_finite()
            && self.draw.sigma2 > 0.0
            && self.draw.sigma2.is_finite()
            && self.draw.beta.iter().all(|b| b.is_finite())
    }

    /// The particle's `(β, σ²)`, a draw from their full conditional given
    /// the statistics.
    fn draw<R: RngCore + ?Sized>(&self, _rng: &mut R) -> Result<StudentDraw<D>, Error> {
        Ok(self.draw)
    }

    /// `ln t_ν(y; xᵀβ, σ²)`, with `ln σ²` taken once per draw rather than
    /// once per observation.
    fn ln_likelihood(draw: &StudentDraw<D>, x: &[f32; D], y: f32) -> f32 {
        let z = y - dot(x, &draw.beta);
        let df = Self::DF;
        draw.ln_norm - 0.5 * (df + 1.0) * libm::log1pf(z * z / (df * draw.sigma2))
    }

    /// `λ ~ Gamma((ν + 1)/2, rate (ν + e²/σ²)/2)` with `e = y − xᵀβ`, then
    /// the NIG update by `(√λ x, √λ y)`.
    fn add<R: RngCore + ?Sized>(
        &mut self,
        draw: &StudentDraw<D>,
        x: &[f32; D],
        y: f32,
        rng: &mut R,
    ) -> Result<(), Error> {
        let e = y - dot(x, &draw.beta);
        let df = Self::DF;
        let lambda = gamma(rng, 0.5 * (df + 1.0), 2.0 / (df + e * e / draw.sigma2));
        if !(lambda > 0.0 && lambda.is_finite()) {
            return Err(Error::NonFinite);
        }
        let root = sqrt(lambda);
        self.nig.update(&x.map(|v| root * v), root * y)
    }

    /// `(β, σ²)` from the NIG posterior of the weighted observations.
    fn redraw<R: RngCore + ?Sized>(&mut self, _config: &Config, rng: &mut R) -> Result<(), Error> {
        let (beta, sigma2) = self.nig.draw_parameters(rng)?;
        let ln_c = student_t::ln_normalizer(Self::DF);
        self.draw = StudentDraw {
            beta,
            sigma2,
            ln_c,
            ln_norm: ln_c - 0.5 * libm::logf(sigma2),
        };
        Ok(())
    }
}
