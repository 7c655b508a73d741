//! The linear-Gaussian expert: Normal–inverse-gamma sufficient statistics
//! (docs/model.md §1, §3 step 5), with β and σ² integrated out.

use super::family::{Expert, Family, Predictive, SplitPdf};
use crate::dims::{Const, Features, Zeroed};
use crate::dist::gamma::inverse_gamma;
use crate::dist::normal::standard_normal;
use crate::dist::student_t;
use crate::linalg::{self, Factor};
use crate::math::{dot, sqrt};
use crate::{Config, Error};
use rand_core::RngCore;

/// Posterior of one expert given the observations allocated to it:
/// `β | σ² ~ N(m, σ² P⁻¹)`, `σ² ~ IG(a, b)`, with `P` kept as its
/// Cholesky factor.
///
/// # Examples
/// ```
/// use hsmoe_core::expert::{Expert, Gaussian};
/// use hsmoe_core::Config;
/// use rand_core::SeedableRng;
/// let config = Config::default_for(2);
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
/// let mut expert = Gaussian::<2>::prior(&config);
/// expert.absorb(&[1.0, 0.5], 2.0, &config, &mut rng).unwrap();
/// assert_eq!(expert.shape(), 2.5);
/// let t = expert.predictive(&[1.0, 0.5]);
/// assert!(t.loc > 0.0 && t.loc < 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gaussian<const D: usize>
where
    Const<D>: Features,
{
    /// Cholesky factor of the posterior precision `P = V0⁻¹ + Σ x xᵀ`.
    chol: Factor<D>,
    mean: [f32; D],
    a: f32,
    b: f32,
    /// Cached Student-t normalizer for `2a` degrees of freedom; changes only
    /// when the expert absorbs an observation.
    ln_norm: f32,
}

/// A Student-t predictive `t_df(loc, scale²)` of one expert at one `x`.
///
/// # Examples
/// ```
/// use hsmoe_core::expert::{Expert, Gaussian, Predictive};
/// use hsmoe_core::Config;
/// let t = Gaussian::<1>::prior(&Config::default_for(1)).predictive(&[1.0]);
/// assert_eq!((t.loc, t.df), (0.0, 4.0));
/// assert!((t.variance() - 0.5 * 11.0 * 2.0).abs() < 1e-5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudentT {
    /// Location: `xᵀm` for a Gaussian expert, `xᵀβ` for a robust one.
    pub loc: f32,
    /// Squared scale: `(b/a)(1 + xᵀP⁻¹x)` for a Gaussian expert, `σ²` for
    /// a robust one.
    pub scale2: f32,
    /// Degrees of freedom: `2a` for a Gaussian expert, `ν` for a robust one.
    pub df: f32,
    /// [`student_t::ln_normalizer`]`(df)`, computed once per `df`.
    pub(crate) ln_norm: f32,
}

impl Predictive for StudentT {
    /// `ln t_df(y | loc, scale²)`; `-∞` for a value so far out that its
    /// square overflows.
    fn ln_pdf(&self, y: f32) -> f32 {
        student_t::ln_pdf(y, self.loc, self.scale2, self.df, self.ln_norm)
    }

    /// [`student_t::ln_kernel`] and `1/√scale²`: a square root and a
    /// division instead of [`Predictive::ln_pdf`]'s `ln scale²`.
    fn split_pdf(&self, y: f32) -> SplitPdf {
        SplitPdf {
            ln: student_t::ln_kernel(y, self.loc, self.scale2, self.df, self.ln_norm),
            scale: 1.0 / sqrt(self.scale2),
        }
    }

    /// `loc` (the mean for `df > 1`, the median always).
    fn mean(&self) -> f32 {
        self.loc
    }

    /// `scale²·df/(df − 2)`, or `+∞` when `df ≤ 2` (the variance does not exist).
    fn variance(&self) -> f32 {
        if self.df > 2.0 {
            self.scale2 * self.df / (self.df - 2.0)
        } else {
            f32::INFINITY
        }
    }
}

impl<const D: usize> Zeroed for GaussianDraw<D> {
    /// A placeholder, not a draw.
    const ZERO: Self = GaussianDraw {
        beta: [0.0; D],
        ln_norm: 0.0,
        half_precision: 0.0,
    };
}

/// One draw of a Gaussian expert's `(β, σ²)`, with what its Gaussian log
/// density needs precomputed: `ln(1/√(2πσ²))` and `1/(2σ²)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianDraw<const D: usize> {
    /// The coefficients `β`.
    pub beta: [f32; D],
    ln_norm: f32,
    half_precision: f32,
}

impl<const D: usize> Zeroed for Gaussian<D>
where
    Const<D>: Features,
{
    /// All-zero placeholder for `const` construction; not a valid posterior.
    const ZERO: Self = Gaussian {
        chol: Factor::ZERO,
        mean: [0.0; D],
        a: 0.0,
        b: 0.0,
        ln_norm: 0.0,
    };
}

/// `½ ln(2π)`.
const LN_SQRT_2PI: f32 = 0.918_938_5;

impl<const D: usize> Gaussian<D>
where
    Const<D>: Features,
{
    /// Posterior mean `m` of the coefficients β.
    pub fn mean(&self) -> &[f32; D] {
        &self.mean
    }

    /// Inverse-gamma shape `a = a0 + n/2` after `n` observations.
    pub fn shape(&self) -> f32 {
        self.a
    }

    /// Inverse-gamma scale `b` of the noise variance.
    pub fn scale(&self) -> f32 {
        self.b
    }

    /// `L⁻¹x`, whose squared norm is `xᵀP⁻¹x`.
    fn whiten(&self, x: &[f32; D]) -> [f32; D] {
        let mut v = *x;
        linalg::solve_lower(&self.chol, &mut v);
        v
    }

    /// `xᵀP⁻¹x`: with `b/(a − 1)` the posterior variance of `xᵀβ`
    /// (`a > 1`), e.g. of one coefficient for a unit vector `x`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::expert::{Expert, Gaussian};
    /// use hsmoe_core::Config;
    /// let prior = Gaussian::<2>::prior(&Config::default_for(2));
    /// assert!((prior.quadratic_form(&[1.0, 0.0]) - 10.0).abs() < 1e-5); // v0
    /// ```
    pub fn quadratic_form(&self, x: &[f32; D]) -> f32 {
        let v = self.whiten(x);
        dot(&v, &v)
    }

    /// One draw of `(β, σ²)`: `σ² ~ IG(a, b)`, then `β = m + σ L⁻ᵀε` with
    /// `ε ~ N(0, I)`.
    ///
    /// # Errors
    /// [`Error::NonFinite`] if `σ²` is not a positive finite number or `β`
    /// is not finite (the expert is read-only here).
    pub(crate) fn draw_parameters<R: RngCore + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Result<([f32; D], f32), Error> {
        let sigma2 = inverse_gamma(rng, self.a, self.b);
        let mut beta = [0.0; D];
        for e in beta.iter_mut() {
            *e = standard_normal(rng);
        }
        linalg::solve_lower_transposed(&self.chol, &mut beta);
        let sigma = sqrt(sigma2);
        for (b, m) in beta.iter_mut().zip(&self.mean) {
            *b = m + sigma * *b;
        }
        if sigma2 > 0.0 && sigma2.is_finite() && beta.iter().all(|b| b.is_finite()) {
            Ok((beta, sigma2))
        } else {
            Err(Error::NonFinite)
        }
    }

    /// Absorbs `(x, y)` by the recursive least-squares form of the NIG
    /// update: `m += P⁻¹x·e/(1+q)`, `b += e²/(2(1+q))`, `a += ½`,
    /// `P += x xᵀ` as a rank-1 update of its factor (O(D²)).
    pub(crate) fn update(&mut self, x: &[f32; D], y: f32) -> Result<(), Error> {
        let mut gain = self.whiten(x);
        let q = dot(&gain, &gain);
        linalg::solve_lower_transposed(&self.chol, &mut gain);
        let residual = y - dot(x, &self.mean);
        let step = residual / (1.0 + q);
        for (m, g) in self.mean.iter_mut().zip(&gain) {
            *m += g * step;
        }
        self.b += 0.5 * residual * step;
        self.a += 0.5;
        self.ln_norm = student_t::ln_normalizer(2.0 * self.a);
        let mut work = *x;
        linalg::cholesky_rank1_update(&mut self.chol, &mut work)
    }
}

impl<const D: usize> Expert<D> for Gaussian<D>
where
    Const<D>: Features,
{
    type Predictive = StudentT;
    type Draw = GaussianDraw<D>;

    const FAMILY: Family = Family::Gaussian;

    /// The prior: `m = 0`, `P = I/v0`, `a = a0`, `b = b0`.
    fn prior(config: &Config) -> Self {
        Gaussian {
            chol: Factor::scaled_identity(1.0 / sqrt(config.v0)),
            mean: [0.0; D],
            a: config.a0,
            b: config.b0,
            ln_norm: student_t::ln_normalizer(2.0 * config.a0),
        }
    }

    /// Any real `y`.
    fn check_response(_y: f32) -> Result<(), Error> {
        Ok(())
    }

    /// The Student-t predictive of `y` at `x` (docs/model.md §3).
    fn predictive(&self, x: &[f32; D]) -> StudentT {
        let v = self.whiten(x);
        StudentT {
            loc: dot(x, &self.mean),
            scale2: self.b / self.a * (1.0 + dot(&v, &v)),
            df: 2.0 * self.a,
            ln_norm: self.ln_norm,
        }
    }

    /// The NIG update (no randomness).
    fn absorb<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32; D],
        y: f32,
        _config: &Config,
        _rng: &mut R,
    ) -> Result<(), Error> {
        self.update(x, y)
    }

    /// `2(a − a0)`.
    fn observations(&self, config: &Config) -> f32 {
        2.0 * (self.a - config.a0)
    }

    /// Every statistic finite, `a` and `b` positive: a posterior.
    fn is_finite(&self) -> bool {
        self.a > 0.0
            && self.b > 0.0
            && self.b.is_finite()
            && self.mean.iter().all(|m| m.is_finite())
            && self.chol.entries().iter().all(|v| v.is_finite())
    }

    /// `σ² ~ IG(a, b)`, then `β = m + σ L⁻ᵀε` with `ε ~ N(0, I)`, so
    /// `β | σ² ~ N(m, σ² P⁻¹)`.
    fn draw<R: RngCore + ?Sized>(&self, rng: &mut R) -> Result<GaussianDraw<D>, Error> {
        let (beta, sigma2) = self.draw_parameters(rng)?;
        Ok(GaussianDraw {
            beta,
            ln_norm: -LN_SQRT_2PI - 0.5 * libm::logf(sigma2),
            half_precision: 0.5 / sigma2,
        })
    }

    /// `ln N(y; xᵀβ, σ²)`: no transcendental per call.
    fn ln_likelihood(draw: &GaussianDraw<D>, x: &[f32; D], y: f32) -> f32 {
        let residual = y - dot(x, &draw.beta);
        draw.ln_norm - residual * residual * draw.half_precision
    }

    /// The NIG update: `(β, σ²)` stay integrated out of the statistics.
    fn add<R: RngCore + ?Sized>(
        &mut self,
        _draw: &GaussianDraw<D>,
        x: &[f32; D],
        y: f32,
        _rng: &mut R,
    ) -> Result<(), Error> {
        self.update(x, y)
    }

    /// Nothing to draw: the particle carries no parameter of this family.
    fn redraw<R: RngCore + ?Sized>(&mut self, _config: &Config, _rng: &mut R) -> Result<(), Error> {
        Ok(())
    }
}

// Snapshot layout of an expert (see `crate::snapshot`).
crate::words::impl_words!([const D: usize] Gaussian<D> where [Const<D>: Features] { chol, mean, a, b, ln_norm });
