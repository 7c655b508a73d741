//! The expert families of docs/model.md §10 in f64, for the batch Gibbs
//! sampler ([`crate::gibbs`]): what one observation weighs given an
//! expert's parameters, its predictive moments, and a draw of the
//! parameters from their full conditional given the rows allocated to
//! the expert.
//!
//! Written from the model, not from the core's experts, so that a Gibbs
//! run checks them. Each family's conditional is exact given its
//! augmentation:
//! - Gaussian: `(β, σ²)` from the Normal–inverse-gamma posterior.
//! - Bernoulli: `ω_t ~ PG(1, x_tᵀβ)` per row, then `β` from its Gaussian
//!   conditional (the Pólya-Gamma step of [`super::logistic`]).
//! - Student: `λ_t ~ Gamma((ν + 1)/2, rate (ν + e_t²/σ²)/2)` per row
//!   (`e_t = y_t − x_tᵀβ`), then `(β, σ²)` from the Normal–inverse-gamma
//!   posterior of the rows `(√λ_t x_t, √λ_t y_t)`.
//!
//! A tempered Gibbs chain ([`crate::gibbs::Ladder`]) raises each row's
//! likelihood to an inverse temperature `b`: `p^b` for Gaussian experts;
//! for Student experts the augmented `N(y; xᵀβ, σ²/λ)^b`, with `λ` keeping
//! its `Gamma(ν/2, ν/2)` prior, so that both conditionals stay in closed
//! form (`λ_t ~ Gamma((ν + b)/2, rate (ν + b e_t²/σ²)/2)`, rows of weight
//! `b`) and `λ` integrates out of the allocation weight
//! ([`tempered_log_likelihood`]). Bernoulli experts are not tempered.

use super::dist::{gamma, normal_log_pdf, StudentT};
use super::gate::{softplus, StickData};
use super::linalg::dot;
use super::logistic;
use super::nig::NigStats;
use super::prior::Prior;
use super::ReferenceError;
use crate::family::{Family, STUDENT_DOF};
use rand::Rng;
use std::f64::consts::PI;

/// The noise of a Student expert: `t_ν(μ, σ²)`.
fn student(mu: f64, sigma2: f64) -> StudentT {
    StudentT {
        loc: mu,
        scale2: sigma2,
        dof: f64::from(STUDENT_DOF),
    }
}

/// Rejects a response outside the family's support: a Bernoulli expert
/// takes `y` = 0 or 1.
///
/// # Errors
/// [`ReferenceError::InvalidResponse`] naming nothing but the kind; the
/// callers know the row.
pub(crate) fn check_responses(family: Family, ys: &[f64]) -> Result<(), ReferenceError> {
    if family.binary_response() && ys.iter().any(|&y| y != 0.0 && y != 1.0) {
        return Err(ReferenceError::InvalidResponse);
    }
    Ok(())
}

/// `ln p(y | β, σ²)` of one observation whose linear predictor is
/// `μ = xᵀβ` (a Bernoulli expert has no `σ²` and ignores it).
pub(crate) fn log_likelihood(family: Family, y: f64, mu: f64, sigma2: f64) -> f64 {
    match family {
        Family::Gaussian => normal_log_pdf(y, mu, sigma2),
        // ln σ(μ) = −softplus(−μ), ln σ(−μ) = −softplus(μ).
        Family::Bernoulli if y == 1.0 => -softplus(-mu),
        Family::Bernoulli => -softplus(mu),
        Family::Student => student(mu, sigma2).log_pdf(y),
    }
}

/// The tempered `ln p_b(y | β, σ²)` of a Gibbs chain at inverse
/// temperature `b`: `b·ln p` but for Student experts, whose augmented
/// tempered likelihood integrates to
/// `ln Γ((ν+b)/2) − ln Γ(ν/2) + (ν/2) ln(ν/2) − (b/2) ln(2πσ²)
///  − ((ν+b)/2) ln(ν/2 + b e²/(2σ²))`, the Student-t density at `b = 1`.
pub(crate) fn tempered_log_likelihood(family: Family, y: f64, mu: f64, sigma2: f64, b: f64) -> f64 {
    match family {
        Family::Student => {
            let (nu, e) = (f64::from(STUDENT_DOF), y - mu);
            let shape = 0.5 * (nu + b);
            libm::lgamma(shape) - libm::lgamma(0.5 * nu) + 0.5 * nu * (0.5 * nu).ln()
                - 0.5 * b * (2.0 * PI * sigma2).ln()
                - shape * (0.5 * nu + 0.5 * b * e * e / sigma2).ln()
        }
        _ => b * log_likelihood(family, y, mu, sigma2),
    }
}

/// `(E[y], E[y²])` given the parameters, at linear predictor `μ`.
/// Infinite second moment for Student noise with `ν ≤ 2`.
pub(crate) fn moments(family: Family, mu: f64, sigma2: f64) -> (f64, f64) {
    match family {
        Family::Gaussian => (mu, sigma2 + mu * mu),
        Family::Bernoulli => {
            let p = logistic::sigmoid(mu);
            (p, p)
        }
        Family::Student => (mu, student(mu, sigma2).variance() + mu * mu),
    }
}

/// NIG statistics of `rows` (`d` features), each of weight
/// `inverse_temperature` (see [`super::conditionals::allocation_logs`]):
/// a Gaussian expert's posterior given its rows.
pub(crate) fn gaussian_stats<'a>(
    rows: impl Iterator<Item = (&'a [f64], f64)>,
    d: usize,
    prior: &Prior,
    inverse_temperature: f64,
) -> Result<NigStats, ReferenceError> {
    let mut stats = NigStats::prior(d, prior);
    for (x, y) in rows {
        stats.absorb_weighted(x, y, inverse_temperature)?;
    }
    Ok(stats)
}

/// One draw of an expert's `(β, σ²)` from its full conditional given the
/// `rows` allocated to it and, for the augmented families, its current
/// `(β, σ²)` (which the augmentation variables are drawn at). The
/// likelihood is at inverse temperature `inverse_temperature` (see the
/// [module documentation](self)), which must be 1 for Bernoulli experts.
/// A Bernoulli expert's `σ²` is NaN.
///
/// # Errors
/// [`ReferenceError::InvalidConfig`] for a tempered Bernoulli
/// likelihood; [`ReferenceError::NotPositiveDefinite`] on numerical
/// breakdown.
pub(crate) fn draw<'a, R: Rng + ?Sized>(
    rng: &mut R,
    family: Family,
    rows: impl Iterator<Item = (&'a [f64], f64)>,
    (beta, sigma2): (&[f64], f64),
    prior: &Prior,
    inverse_temperature: f64,
) -> Result<(Vec<f64>, f64), ReferenceError> {
    match family {
        Family::Gaussian => gaussian_stats(rows, beta.len(), prior, inverse_temperature)?
            .posterior(prior)
            .draw(rng),
        _ => {
            let parameters = (beta.to_vec(), sigma2);
            let expert =
                Augmented::from_rows(rng, family, rows, parameters, prior, inverse_temperature)?;
            Ok((expert.beta, expert.sigma2))
        }
    }
}

/// A Bernoulli or Student expert as a particle of the reference filter
/// carries it: a draw of its parameters, and the statistics of its rows
/// given their augmentation variables (each drawn at the parameters of
/// its time), from which the next draw comes. A Gaussian expert has no
/// such form: its parameters integrate out.
#[derive(Debug, Clone)]
pub(crate) struct Augmented {
    stats: AugmentedStats,
    beta: Vec<f64>,
    /// NaN for a Bernoulli expert.
    sigma2: f64,
}

/// What makes an augmented expert's rows Gaussian in its coefficients.
#[derive(Debug, Clone)]
enum AugmentedStats {
    /// Bernoulli: the Pólya-Gamma statistics of the rows, and their number.
    Logistic { data: StickData, rows: usize },
    /// Student: the NIG statistics of the rows `(√λ x, √λ y)`.
    Scaled(NigStats),
}

impl Augmented {
    /// No rows yet, parameters `(beta, sigma2)` (`σ²` NaN for a Bernoulli
    /// expert, whatever is given).
    ///
    /// # Errors
    /// [`ReferenceError::InvalidConfig`] for the Gaussian family.
    fn empty(
        family: Family,
        prior: &Prior,
        (beta, sigma2): (Vec<f64>, f64),
    ) -> Result<Self, ReferenceError> {
        let d = beta.len();
        let (stats, sigma2) = match family {
            Family::Gaussian => return Err(ReferenceError::InvalidConfig),
            Family::Bernoulli => {
                let data = StickData::empty(d);
                (AugmentedStats::Logistic { data, rows: 0 }, f64::NAN)
            }
            Family::Student => (AugmentedStats::Scaled(NigStats::prior(d, prior)), sigma2),
        };
        Ok(Augmented {
            stats,
            beta,
            sigma2,
        })
    }

    /// No rows yet, parameters drawn from their prior.
    ///
    /// # Errors
    /// [`ReferenceError::InvalidConfig`] for the Gaussian family.
    pub(crate) fn from_prior<R: Rng + ?Sized>(
        rng: &mut R,
        family: Family,
        d: usize,
        prior: &Prior,
    ) -> Result<Self, ReferenceError> {
        let mut expert = Self::empty(family, prior, (vec![0.0; d], f64::NAN))?;
        expert.redraw(rng, prior)?;
        Ok(expert)
    }

    /// The statistics of `rows`, their augmentation drawn at `parameters`
    /// with the likelihood at `inverse_temperature`, then a fresh draw of
    /// the parameters: one Gibbs step of the expert given its rows.
    ///
    /// # Errors
    /// [`ReferenceError::InvalidConfig`] for the Gaussian family or a
    /// tempered Bernoulli likelihood; [`ReferenceError::NotPositiveDefinite`]
    /// on numerical breakdown.
    pub(crate) fn from_rows<'a, R: Rng + ?Sized>(
        rng: &mut R,
        family: Family,
        rows: impl Iterator<Item = (&'a [f64], f64)>,
        parameters: (Vec<f64>, f64),
        prior: &Prior,
        inverse_temperature: f64,
    ) -> Result<Self, ReferenceError> {
        if family == Family::Bernoulli && inverse_temperature != 1.0 {
            return Err(ReferenceError::InvalidConfig);
        }
        let mut expert = Self::empty(family, prior, parameters)?;
        for row in rows {
            expert.add(rng, row, inverse_temperature)?;
        }
        expert.redraw(rng, prior)?;
        Ok(expert)
    }

    /// Its family.
    pub(crate) fn family(&self) -> Family {
        match self.stats {
            AugmentedStats::Logistic { .. } => Family::Bernoulli,
            AugmentedStats::Scaled(_) => Family::Student,
        }
    }

    /// The current `(β, σ²)` (`σ²` NaN for a Bernoulli expert).
    pub(crate) fn parameters(&self) -> (&[f64], f64) {
        (&self.beta, self.sigma2)
    }

    /// Rows absorbed.
    pub(crate) fn n(&self) -> usize {
        match &self.stats {
            AugmentedStats::Logistic { rows, .. } => *rows,
            AugmentedStats::Scaled(stats) => stats.n(),
        }
    }

    /// Adds one row at full weight, its augmentation drawn at the current
    /// parameters; the parameters are not redrawn.
    ///
    /// # Errors
    /// [`ReferenceError::NotPositiveDefinite`] on numerical breakdown.
    pub(crate) fn absorb<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        row: (&[f64], f64),
    ) -> Result<(), ReferenceError> {
        self.add(rng, row, 1.0)
    }

    /// [`Augmented::absorb`] at inverse temperature `b` (1 for Bernoulli
    /// experts, which the callers check).
    fn add<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        (x, y): (&[f64], f64),
        b: f64,
    ) -> Result<(), ReferenceError> {
        match &mut self.stats {
            AugmentedStats::Logistic { data, rows } => {
                logistic::pg_absorb(rng, data, (x, y), &self.beta);
                *rows += 1;
                Ok(())
            }
            AugmentedStats::Scaled(stats) => {
                let nu = f64::from(STUDENT_DOF);
                let e = y - dot(x, &self.beta);
                let lambda = gamma(rng, 0.5 * (nu + b), 0.5 * (nu + b * e * e / self.sigma2))?;
                let root = lambda.sqrt();
                let scaled: Vec<f64> = x.iter().map(|v| root * v).collect();
                stats.absorb_weighted(&scaled, root * y, b)
            }
        }
    }

    /// The parameters afresh from their conditional given the statistics:
    /// `β ~ N(Λ⁻¹r, Λ⁻¹)` with `Λ = I/v0 + S` (Bernoulli), `(β, σ²)` from
    /// the NIG posterior (Student).
    ///
    /// # Errors
    /// [`ReferenceError::NotPositiveDefinite`] on numerical breakdown.
    pub(crate) fn redraw<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        prior: &Prior,
    ) -> Result<(), ReferenceError> {
        match &self.stats {
            AugmentedStats::Logistic { data, .. } => {
                self.beta = data.draw_phi(rng, &vec![1.0 / prior.v0; self.beta.len()])?;
            }
            AugmentedStats::Scaled(stats) => {
                (self.beta, self.sigma2) = stats.posterior(prior).draw(rng)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn log_likelihoods_are_the_families_densities() {
        let (mu, s2) = (0.4, 0.7);
        let expected = -0.5 * (2.0 * std::f64::consts::PI * s2).ln() - 0.5 * 0.36 / s2;
        assert!((log_likelihood(Family::Gaussian, 1.0, mu, s2) - expected).abs() < 1e-12);
        let p = logistic::sigmoid(mu);
        assert!((log_likelihood(Family::Bernoulli, 1.0, mu, s2) - p.ln()).abs() < 1e-12);
        assert!((log_likelihood(Family::Bernoulli, 0.0, mu, s2) - (1.0 - p).ln()).abs() < 1e-12);
        // Far in the tails the logistic log likelihood neither overflows
        // nor rounds to −∞.
        assert!((log_likelihood(Family::Bernoulli, 0.0, 800.0, s2) + 800.0).abs() < 1e-9);
        // t₄ at its centre: Γ(5/2)/(Γ(2)√(4π s²)).
        let t4 = libm::lgamma(2.5) - 0.5 * (4.0 * std::f64::consts::PI * s2).ln();
        assert!((log_likelihood(Family::Student, mu, mu, s2) - t4).abs() < 1e-12);
    }

    #[test]
    fn tempered_likelihoods() {
        let (y, mu, s2) = (1.7, 0.4, 0.7);
        for family in [Family::Gaussian, Family::Student] {
            let plain = log_likelihood(family, y, mu, s2);
            let at_one = tempered_log_likelihood(family, y, mu, s2, 1.0);
            assert!((at_one - plain).abs() < 1e-12, "{family}");
        }
        let g = log_likelihood(Family::Gaussian, y, mu, s2);
        assert_eq!(
            tempered_log_likelihood(Family::Gaussian, y, mu, s2, 0.3),
            0.3 * g
        );
        // The Student case at b = 0.3 against a quadrature of
        // ∫ Gamma(λ; 2, 2) N(y; μ, σ²/λ)^0.3 dλ (midpoint rule in ln λ).
        let (nu, e2) = (4.0f64, (y - mu) * (y - mu));
        let steps = 200_000;
        let (lo, hi) = (-30.0f64, 10.0f64);
        let h = (hi - lo) / f64::from(steps);
        let integral: f64 = (0..steps)
            .map(|i| {
                let lambda = (lo + (f64::from(i) + 0.5) * h).exp();
                let prior = 4.0 * lambda * (-2.0 * lambda).exp(); // Gamma(2, rate 2)
                let normal = (lambda / (2.0 * PI * s2)).sqrt() * (-lambda * e2 / (2.0 * s2)).exp();
                prior * normal.powf(0.3) * lambda * h
            })
            .sum();
        let tempered = tempered_log_likelihood(Family::Student, y, mu, s2, 0.3);
        assert_eq!(nu, f64::from(STUDENT_DOF));
        assert!(
            (tempered - integral.ln()).abs() < 1e-9,
            "{tempered} vs {}",
            integral.ln()
        );
    }

    #[test]
    fn moments_are_mean_and_second_moment() {
        assert_eq!(moments(Family::Gaussian, 2.0, 0.5), (2.0, 4.5));
        assert_eq!(moments(Family::Bernoulli, 0.0, f64::NAN), (0.5, 0.5));
        // t₄(μ, σ²) has variance 2σ².
        assert_eq!(moments(Family::Student, 1.0, 0.5), (1.0, 2.0));
    }

    #[test]
    fn bernoulli_experts_take_no_tempered_likelihood() {
        let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
        let prior = Prior::new(&hsmoe_core::Config::default_for(1), 1).unwrap();
        let (xs, ys) = (vec![vec![1.0]], vec![1.0]);
        for family in Family::ALL {
            let rows = xs.iter().map(Vec::as_slice).zip(ys.iter().copied());
            let drawn = draw(&mut rng, family, rows, (&[0.0], 1.0), &prior, 0.5);
            assert_eq!(drawn.is_ok(), family != Family::Bernoulli, "{family}");
        }
        assert_eq!(
            check_responses(Family::Bernoulli, &[0.0, 0.5]),
            Err(ReferenceError::InvalidResponse)
        );
        assert_eq!(check_responses(Family::Student, &[0.5]), Ok(()));
    }
}
