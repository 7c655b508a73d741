//! Reference particle learning (docs/model.md §3, §9; Carvalho, Johannes,
//! Lopes & Polson, "Particle learning and smoothing", Statistical Science
//! 2010).
//!
//! Each step follows docs/model.md §3 in order, with every factorization
//! recomputed from scratch and exact PG(1, c) draws.

use super::dist::{categorical_from_logs, log_sum_exp, StudentT};
use super::expert::{self, Augmented};
use super::gate::{log_stick_breaking, logits, Horseshoe, StickData};
use super::linalg::dot;
use super::nig::{NigPosterior, NigStats};
use super::polya_gamma;
use super::prior::{check_finite, check_x, Prior};
use super::ReferenceError;
use crate::family::Family;
use hsmoe_core::Config;
use rand::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

mod rejuvenate;

pub use rejuvenate::GateProposals;

/// The f64 reference particle-learning filter of docs/model.md §3.
///
/// # Examples
/// ```
/// use hsmoe_host::reference::ReferenceFilter;
/// let config = hsmoe_core::Config::default_for(2);
/// let mut filter = ReferenceFilter::new(200, 2, 2, &config, 7).unwrap();
/// for t in 0..50 {
///     let x1 = (t as f64 / 10.0).sin();
///     let y = if x1 > 0.0 { 1.0 + x1 } else { -1.0 };
///     let step = filter.observe(&[1.0, x1], y).unwrap();
///     assert!(step.ess > 0.0 && step.ess <= 200.0 + 1e-9);
/// }
/// assert!(filter.log_marginal().is_finite());
/// let pred = filter.predict(&[1.0, 0.5]);
/// assert!((pred.gate.iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct ReferenceFilter {
    prior: Prior,
    family: Family,
    k: usize,
    d: usize,
    particles: Vec<Particle>,
    rng: XorShiftRng,
    /// Number of observations absorbed.
    t: usize,
    log_marginal: f64,
    /// Σ over steps of the particle-averaged allocation probabilities.
    alloc_sum: Vec<f64>,
}

/// What one [`ReferenceFilter::observe`] step reports
/// (docs/model.md §3 step 2).
///
/// # Examples
/// ```
/// use hsmoe_host::reference::ReferenceFilter;
/// let config = hsmoe_core::Config::default_for(1);
/// let mut filter = ReferenceFilter::new(5, 1, 1, &config, 1).unwrap();
/// let step = filter.observe(&[1.0], 0.3).unwrap();
/// // K = 1: every particle is the prior, so the ESS is N and the
/// // predictive is the prior Student-t with 4 dof: mean 0, variance 11.
/// assert!((step.ess - 5.0).abs() < 1e-12);
/// assert!(step.pred_mean.abs() < 1e-12 && (step.pred_var - 11.0).abs() < 1e-12);
/// assert_eq!((step.gate.clone(), step.alloc.clone()), (vec![1.0], vec![1.0]));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceStep {
    /// Mixture predictive mean of `y_t`, computed before `y_t` is used.
    pub pred_mean: f64,
    /// Mixture predictive variance of `y_t` (infinite when some expert's
    /// Student-t has ≤ 2 degrees of freedom).
    pub pred_var: f64,
    /// `log p̂(y_t | past) = log (1/N) Σ_i w_i`.
    pub log_pred: f64,
    /// Effective sample size `(Σw)²/Σw²` of the step's weights.
    pub ess: f64,
    /// Particle mean of the gate probabilities `π_k(x_t)` (length K).
    pub gate: Vec<f64>,
    /// Particle-averaged allocation probabilities of step 4 (length K).
    pub alloc: Vec<f64>,
}

/// Posterior predictive at a point, from [`ReferenceFilter::predict`].
///
/// # Examples
/// ```
/// use hsmoe_host::reference::ReferenceFilter;
/// let config = hsmoe_core::Config::default_for(2);
/// let filter = ReferenceFilter::new(10, 3, 2, &config, 1).unwrap();
/// let pred = filter.predict(&[1.0, 2.0]);
/// // Experts are at the prior: mean 0, variance (b0/a0)(1 + v0·|x|²)·2 = 51.
/// assert!(pred.mean.abs() < 1e-12 && (pred.var - 51.0).abs() < 1e-9);
/// assert_eq!(pred.gate.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReferencePrediction {
    /// Predictive mean of `y`.
    pub mean: f64,
    /// Predictive variance of `y`.
    pub var: f64,
    /// Particle mean of the gate probabilities `π_k(x)` (length K).
    pub gate: Vec<f64>,
}

/// Router scores for top-k routing (docs/model.md §8): particle mean and
/// standard deviation of `π_k(x)` and of the logits `ψ_j(x)`.
///
/// # Examples
/// ```
/// use hsmoe_host::reference::ReferenceFilter;
/// let config = hsmoe_core::Config::default_for(2);
/// let filter = ReferenceFilter::new(50, 3, 2, &config, 2).unwrap();
/// let scores = filter.router_scores(&[1.0, -0.5]);
/// assert_eq!((scores.pi_mean.len(), scores.logit_mean.len()), (3, 2));
/// assert!(scores.pi_sd.iter().all(|&s| s > 0.0)); // φ differs across particles
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RouterScores {
    /// Particle mean of `π_k(x)` (length K).
    pub pi_mean: Vec<f64>,
    /// Particle standard deviation of `π_k(x)` (length K, divisor N).
    pub pi_sd: Vec<f64>,
    /// Particle mean of the logits `ψ_j = xᵀφ_j` (length K−1).
    pub logit_mean: Vec<f64>,
    /// Particle standard deviation of the logits (length K−1, divisor N).
    pub logit_sd: Vec<f64>,
}

/// Particle summaries of the horseshoe state and of the gate
/// coefficients: the same quantities as the core's
/// `hsmoe_core::posterior::gate_summary`, so engines compare directly.
///
/// Row `j` is stick `j` (K−1 rows), column `l` is feature `l` (D columns).
/// The unshrunk gate intercept has no local scale: its `lambda2_mean`
/// entries are NaN and its `shrinkage` 0 (columns `< first_shrunk`).
///
/// # Examples
/// ```
/// use hsmoe_host::reference::ReferenceFilter;
/// let config = hsmoe_core::Config::default_for(3); // intercept not shrunk
/// let filter = ReferenceFilter::new(20, 2, 3, &config, 3).unwrap();
/// let hs = filter.horseshoe_summary();
/// assert_eq!(hs.first_shrunk, 1);
/// assert!(hs.lambda2_mean[0][0].is_nan() && hs.lambda2_mean[0][1] > 0.0);
/// assert_eq!(hs.shrinkage[0][0], 0.0);
/// assert!(hs.shrinkage[0][1] > 0.0 && hs.shrinkage[0][1] < 1.0);
/// assert!(hs.tau2_mean >= hs.tau2_geometric_mean && hs.phi_sd[0][2] > 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HorseshoeSummary {
    /// Index of the first horseshoe-shrunk feature (1 with a gate
    /// intercept, else 0).
    pub first_shrunk: usize,
    /// Particle mean of the global scale `τ²`.
    pub tau2_mean: f64,
    /// Particle geometric mean of `τ²`, `exp(mean ln τ²)`: the heavy
    /// tail makes the arithmetic mean a poor summary.
    pub tau2_geometric_mean: f64,
    /// Particle mean of the local scales `λ²_{j,l}` (NaN for unshrunk
    /// features).
    pub lambda2_mean: Vec<Vec<f64>>,
    /// Particle mean of the shrinkage factor `1/(1 + τ²λ²_{j,l})`, near 1
    /// = shrunk to 0 (0 for unshrunk features).
    pub shrinkage: Vec<Vec<f64>>,
    /// Particle mean of `φ_{j,l}`.
    pub phi_mean: Vec<Vec<f64>>,
    /// Particle standard deviation of `φ_{j,l}` (divisor N).
    pub phi_sd: Vec<Vec<f64>>,
}

/// One particle: expert sufficient statistics and the gate's current draws.
#[derive(Debug, Clone)]
struct Particle {
    experts: Vec<Expert>,
    sticks: Vec<Stick>,
    horseshoe: Horseshoe,
}

/// One expert of a particle.
#[derive(Debug, Clone)]
enum Expert {
    /// `(β, σ²)` integrated out: the statistics and their posterior,
    /// refactored after each update.
    Gaussian {
        stats: NigStats,
        posterior: NigPosterior,
    },
    /// A Bernoulli or Student expert: a draw of its parameters and the
    /// statistics of its augmented rows.
    Augmented(Augmented),
}

/// A stick's PG statistics and its current coefficients `φ_j`.
#[derive(Debug, Clone)]
struct Stick {
    data: StickData,
    phi: Vec<f64>,
}

/// Per expert at one `x`: gate log probability and the expert's predictive.
struct Component {
    log_pi: f64,
    predictive: Predictive,
}

/// An expert's predictive of `y` at one `x`.
enum Predictive {
    /// A Gaussian expert's, its parameters integrated out.
    Marginal(StudentT),
    /// An augmented expert's likelihood at its linear predictor `μ = xᵀβ`,
    /// given the particle's draw.
    Given {
        family: Family,
        mu: f64,
        sigma2: f64,
    },
}

impl Predictive {
    fn log_pdf(&self, y: f64) -> f64 {
        match *self {
            Predictive::Marginal(ref t) => t.log_pdf(y),
            Predictive::Given { family, mu, sigma2 } => {
                expert::log_likelihood(family, y, mu, sigma2)
            }
        }
    }

    /// `(E[y], E[y²])`.
    fn moments(&self) -> (f64, f64) {
        match *self {
            Predictive::Marginal(ref t) => (t.loc, t.variance() + t.loc * t.loc),
            Predictive::Given { family, mu, sigma2 } => expert::moments(family, mu, sigma2),
        }
    }
}

impl Expert {
    /// No data: a Gaussian expert's prior, an augmented one's parameters
    /// drawn from theirs.
    fn at_prior(
        rng: &mut XorShiftRng,
        family: Family,
        d: usize,
        prior: &Prior,
    ) -> Result<Self, ReferenceError> {
        if family == Family::Gaussian {
            return Ok(Self::gaussian(NigStats::prior(d, prior), prior));
        }
        Ok(Expert::Augmented(Augmented::from_prior(
            rng, family, d, prior,
        )?))
    }

    /// A Gaussian expert with statistics `stats`, its posterior factored.
    fn gaussian(stats: NigStats, prior: &Prior) -> Self {
        let posterior = stats.posterior(prior);
        Expert::Gaussian { stats, posterior }
    }

    /// docs/model.md §3 step 5: a Gaussian expert refactors `P` from
    /// scratch; an augmented one takes the row with its augmentation drawn
    /// at the current parameters, then draws them afresh (§10).
    fn absorb(
        &mut self,
        rng: &mut XorShiftRng,
        (x, y): (&[f64], f64),
        prior: &Prior,
    ) -> Result<(), ReferenceError> {
        match self {
            Expert::Gaussian { stats, posterior } => {
                stats.absorb(x, y)?;
                *posterior = stats.posterior(prior);
            }
            Expert::Augmented(expert) => {
                expert.absorb(rng, (x, y))?;
                expert.redraw(rng, prior)?;
            }
        }
        Ok(())
    }

    fn predictive(&self, x: &[f64]) -> Predictive {
        match self {
            Expert::Gaussian { posterior, .. } => Predictive::Marginal(posterior.predictive(x)),
            Expert::Augmented(expert) => {
                let (beta, sigma2) = expert.parameters();
                Predictive::Given {
                    family: expert.family(),
                    mu: dot(x, beta),
                    sigma2,
                }
            }
        }
    }

    /// Observations held.
    fn n(&self) -> usize {
        match self {
            Expert::Gaussian { stats, .. } => stats.n(),
            Expert::Augmented(expert) => expert.n(),
        }
    }
}

impl Particle {
    /// Experts at the prior; horseshoe scales, then φ, from their priors.
    fn from_prior(
        rng: &mut XorShiftRng,
        family: Family,
        (k, d): (usize, usize),
        prior: &Prior,
    ) -> Result<Self, ReferenceError> {
        let experts = (0..k)
            .map(|_| Expert::at_prior(rng, family, d, prior))
            .collect::<Result<_, _>>()?;
        let horseshoe = Horseshoe::from_prior(rng, k - 1, d, prior)?;
        let sticks = (0..k - 1)
            .map(|j| {
                let data = StickData::empty(d);
                let phi = data.draw_phi(rng, &horseshoe.prior_precision(j))?;
                Ok(Stick { data, phi })
            })
            .collect::<Result<_, ReferenceError>>()?;
        Ok(Particle {
            experts,
            sticks,
            horseshoe,
        })
    }

    fn logits(&self, x: &[f64]) -> Vec<f64> {
        let phi: Vec<Vec<f64>> = self.sticks.iter().map(|s| s.phi.clone()).collect();
        logits(&phi, x)
    }

    fn components(&self, x: &[f64]) -> Vec<Component> {
        log_stick_breaking(&self.logits(x))
            .into_iter()
            .zip(&self.experts)
            .map(|(log_pi, e)| Component {
                log_pi,
                predictive: e.predictive(x),
            })
            .collect()
    }

    /// docs/model.md §3 step 6: sticks `j ≤ min(z, K−1)` (1-based) see one
    /// trial, success at `j = z`; PG draw at the current φ_j, then φ_j is
    /// redrawn.
    fn update_sticks(
        &mut self,
        rng: &mut XorShiftRng,
        x: &[f64],
        z: usize,
    ) -> Result<(), ReferenceError> {
        let trials = (z + 1).min(self.sticks.len());
        for j in 0..trials {
            let stick = &mut self.sticks[j];
            let omega = polya_gamma::sample(rng, dot(x, &stick.phi));
            let kappa = if j == z { 0.5 } else { -0.5 };
            stick.data.absorb(x, omega, kappa);
            stick.phi = stick
                .data
                .draw_phi(rng, &self.horseshoe.prior_precision(j))?;
        }
        Ok(())
    }

    /// docs/model.md §3 step 7 and §6: redraw the horseshoe scales, then every
    /// φ_j.
    fn refresh(&mut self, rng: &mut XorShiftRng) -> Result<(), ReferenceError> {
        let phi: Vec<Vec<f64>> = self.sticks.iter().map(|s| s.phi.clone()).collect();
        self.horseshoe.refresh(rng, &phi)?;
        for (j, stick) in self.sticks.iter_mut().enumerate() {
            stick.phi = stick
                .data
                .draw_phi(rng, &self.horseshoe.prior_precision(j))?;
        }
        Ok(())
    }
}

/// Mixture mean and variance of `y` and mean gate probabilities over
/// equally weighted particles: `E[y] = avg Σ_k π_k μ_k`,
/// `Var[y] = avg Σ_k π_k (v_k + μ_k²) − E[y]²`.
fn mixture_moments(components: &[Vec<Component>]) -> ReferencePrediction {
    let n = components.len() as f64;
    let k = components.first().map_or(0, Vec::len);
    let (mut mean, mut second, mut gate) = (0.0, 0.0, vec![0.0; k]);
    for particle in components {
        for (g, c) in gate.iter_mut().zip(particle) {
            let pi = c.log_pi.exp();
            let (mu, second_k) = c.predictive.moments();
            *g += pi / n;
            mean += pi * mu / n;
            second += pi * second_k / n;
        }
    }
    ReferencePrediction {
        mean,
        var: second - mean * mean,
        gate,
    }
}

/// Systematic resampling (Kitagawa 1996): ancestors of `N` positions
/// `(u + i)/N` in the cumulative normalized weights, `u ∈ [0, 1)` injected
/// by the caller. A zero weight owns an empty interval and is never chosen.
pub(crate) fn systematic_resample(u: f64, weights: &[f64]) -> Vec<usize> {
    let n = weights.len();
    let total: f64 = weights.iter().sum();
    let mut cumulative: Vec<f64> = weights
        .iter()
        .scan(0.0, |acc, w| {
            *acc += w / total;
            Some(*acc)
        })
        .collect();
    // Rounding may leave the last sum just below 1.
    if let Some(last) = cumulative.last_mut() {
        *last = 1.0;
    }
    let mut ancestors = Vec::with_capacity(n);
    let mut j = 0;
    for i in 0..n {
        let position = (u + i as f64) / n as f64;
        // Particle j owns [cumulative[j−1], cumulative[j]).
        while cumulative[j] <= position {
            j += 1;
        }
        ancestors.push(j);
    }
    ancestors
}

impl ReferenceFilter {
    /// `n_particles` particles for `k` Gaussian experts on `d` features,
    /// each drawn from the prior; the random stream is
    /// `XorShiftRng::seed_from_u64(seed)`. [`ReferenceFilter::for_family`]
    /// takes another expert family.
    ///
    /// # Errors
    /// [`ReferenceError::WrongLength`] if a size is zero,
    /// [`ReferenceError::InvalidConfig`] if `config` is invalid.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::{ReferenceError, ReferenceFilter};
    /// let config = hsmoe_core::Config::default_for(3);
    /// assert!(ReferenceFilter::new(100, 4, 3, &config, 0).is_ok());
    /// assert_eq!(ReferenceFilter::new(0, 4, 3, &config, 0).unwrap_err(), ReferenceError::WrongLength);
    /// ```
    pub fn new(
        n_particles: usize,
        k: usize,
        d: usize,
        config: &Config,
        seed: u64,
    ) -> Result<Self, ReferenceError> {
        Self::for_family(Family::Gaussian, n_particles, (k, d), config, seed)
    }

    /// [`ReferenceFilter::new`] with experts of `family` (docs/model.md
    /// §10): a Bernoulli or Student expert's particle carries a draw of its
    /// parameters and weighs an observation by its exact likelihood given
    /// that draw, as the core's does, but written here from the model.
    ///
    /// # Errors
    /// As [`ReferenceFilter::new`].
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::family::Family;
    /// use hsmoe_host::reference::{ReferenceError, ReferenceFilter};
    /// let config = hsmoe_core::Config::default_for(2);
    /// let mut filter = ReferenceFilter::for_family(Family::Bernoulli, 100, (2, 2), &config, 1).unwrap();
    /// let step = filter.observe(&[1.0, 0.3], 1.0).unwrap();
    /// assert!(step.pred_mean > 0.0 && step.pred_mean < 1.0); // P(y = 1) before y
    /// assert_eq!(filter.observe(&[1.0, 0.3], 0.5), Err(ReferenceError::InvalidResponse));
    /// ```
    pub fn for_family(
        family: Family,
        n_particles: usize,
        (k, d): (usize, usize),
        config: &Config,
        seed: u64,
    ) -> Result<Self, ReferenceError> {
        if n_particles == 0 || k == 0 || d == 0 {
            return Err(ReferenceError::WrongLength);
        }
        let prior = Prior::new(config, d)?;
        let mut rng = XorShiftRng::seed_from_u64(seed);
        let particles = (0..n_particles)
            .map(|_| Particle::from_prior(&mut rng, family, (k, d), &prior))
            .collect::<Result<_, _>>()?;
        Ok(ReferenceFilter {
            prior,
            family,
            k,
            d,
            particles,
            rng,
            t: 0,
            log_marginal: 0.0,
            alloc_sum: vec![0.0; k],
        })
    }

    /// Absorbs one observation by docs/model.md §3 steps 1–7 and reports
    /// step 2.
    ///
    /// # Errors
    /// [`ReferenceError::WrongLength`] if `x.len() != d`,
    /// [`ReferenceError::NonFinite`] for a NaN or infinite input,
    /// [`ReferenceError::InvalidResponse`] for a `y` outside the family's
    /// support (0 or 1 for Bernoulli experts),
    /// [`ReferenceError::Degenerate`] if every weight underflows,
    /// [`ReferenceError::NotPositiveDefinite`] on numerical breakdown.
    /// The filter's state is unchanged after an error.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::ReferenceFilter;
    /// let config = hsmoe_core::Config::default_for(2);
    /// let mut filter = ReferenceFilter::new(100, 2, 2, &config, 3).unwrap();
    /// let step = filter.observe(&[1.0, 0.4], 1.2).unwrap();
    /// assert_eq!(filter.log_marginal(), step.log_pred);
    /// ```
    pub fn observe(&mut self, x: &[f64], y: f64) -> Result<ReferenceStep, ReferenceError> {
        check_x(x, self.d)?;
        self.check_response(y)?;
        let t = self.t + 1;
        let n = self.particles.len() as f64;

        // Step 1: log w_i = log Σ_k π_k t_k(y), keeping log π_k t_k for step 4.
        let components: Vec<Vec<Component>> =
            self.particles.iter().map(|p| p.components(x)).collect();
        let log_joint: Vec<Vec<f64>> = components
            .iter()
            .map(|cs| {
                cs.iter()
                    .map(|c| c.log_pi + c.predictive.log_pdf(y))
                    .collect()
            })
            .collect();
        let log_w: Vec<f64> = log_joint.iter().map(|lj| log_sum_exp(lj)).collect();
        let max = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !max.is_finite() {
            return Err(ReferenceError::Degenerate);
        }

        // Step 2: evidence, ESS, predictive moments (before y is used).
        let w: Vec<f64> = log_w.iter().map(|l| (l - max).exp()).collect();
        let sum_w: f64 = w.iter().sum();
        let log_pred = max + (sum_w / n).ln();
        let ess = sum_w * sum_w / w.iter().map(|v| v * v).sum::<f64>();
        let moments = mixture_moments(&components);
        // Allocation probabilities averaged over the resampled particles,
        // Rao-Blackwellized over the resampling: Σ_i w_i p_ik / Σ_i w_i.
        let mut alloc = vec![0.0; self.k];
        for lj in &log_joint {
            for (a, l) in alloc.iter_mut().zip(lj) {
                *a += (l - max).exp() / sum_w;
            }
        }

        // Step 3: systematic resampling ∝ w (into a new buffer).
        let ancestors = systematic_resample(self.rng.random::<f64>(), &w);

        // Steps 4–7 for each resampled particle.
        let mut next = Vec::with_capacity(ancestors.len());
        for (slot, &a) in ancestors.iter().enumerate() {
            let mut particle = self.particles[a].clone();
            let z = categorical_from_logs(&mut self.rng, &log_joint[a]);
            particle.experts[z].absorb(&mut self.rng, (x, y), &self.prior)?;
            particle.update_sticks(&mut self.rng, x, z)?;
            if self.k > 1 && (t + slot) % self.prior.refresh_every == 0 {
                particle.refresh(&mut self.rng)?;
            }
            next.push(particle);
        }

        self.particles = next;
        self.t = t;
        self.log_marginal += log_pred;
        for (s, a) in self.alloc_sum.iter_mut().zip(&alloc) {
            *s += a;
        }
        Ok(ReferenceStep {
            pred_mean: moments.mean,
            pred_var: moments.var,
            log_pred,
            ess,
            gate: moments.gate,
            alloc,
        })
    }

    /// A finite `y` in the family's support.
    fn check_response(&self, y: f64) -> Result<(), ReferenceError> {
        check_finite(&[y])?;
        expert::check_responses(self.family, &[y])
    }

    /// `Σ_t log p̂(y_t | past)`, the PL estimate of the log marginal
    /// likelihood (0 before any observation).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::ReferenceFilter;
    /// let config = hsmoe_core::Config::default_for(1);
    /// let filter = ReferenceFilter::new(10, 2, 1, &config, 0).unwrap();
    /// assert_eq!(filter.log_marginal(), 0.0);
    /// ```
    pub fn log_marginal(&self) -> f64 {
        self.log_marginal
    }

    /// Posterior predictive mean and variance of `y` at `x` and the mean
    /// gate probabilities; the state is not changed.
    ///
    /// # Panics
    /// If `x.len() != d`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::ReferenceFilter;
    /// let config = hsmoe_core::Config::default_for(2);
    /// let mut filter = ReferenceFilter::new(100, 1, 2, &config, 0).unwrap();
    /// for _ in 0..20 {
    ///     filter.observe(&[1.0, 0.0], 3.0).unwrap();
    /// }
    /// assert!((filter.predict(&[1.0, 0.0]).mean - 3.0).abs() < 0.1);
    /// ```
    pub fn predict(&self, x: &[f64]) -> ReferencePrediction {
        assert_eq!(x.len(), self.d, "predict: x has the wrong length");
        let components: Vec<Vec<Component>> =
            self.particles.iter().map(|p| p.components(x)).collect();
        mixture_moments(&components)
    }

    /// Particle mean of `P(z = k | x, y) ∝ π_k(x) t_k(y | x)`, each
    /// particle's experts at their posterior (docs/model.md §8).
    ///
    /// # Errors
    /// [`ReferenceError::NonFinite`] for a NaN or infinite `y`;
    /// [`ReferenceError::InvalidResponse`] for a `y` outside the family's
    /// support; [`ReferenceError::Degenerate`] if no particle gives `(x, y)` a
    /// finite density.
    ///
    /// # Panics
    /// If `x.len() != d`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::ReferenceFilter;
    /// let config = hsmoe_core::Config::default_for(1);
    /// let filter = ReferenceFilter::new(20, 3, 1, &config, 0).unwrap();
    /// let a = filter.allocation(&[1.0], 0.5).unwrap();
    /// assert!((a.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    /// assert!(filter.allocation(&[1.0], f64::NAN).is_err());
    /// ```
    pub fn allocation(&self, x: &[f64], y: f64) -> Result<Vec<f64>, ReferenceError> {
        assert_eq!(x.len(), self.d, "allocation: x has the wrong length");
        self.check_response(y)?;
        let mut alloc = vec![0.0; self.k];
        let mut counted = 0usize;
        for particle in &self.particles {
            let logs: Vec<f64> = particle
                .components(x)
                .iter()
                .map(|c| c.log_pi + c.predictive.log_pdf(y))
                .collect();
            let total = log_sum_exp(&logs);
            if total.is_finite() {
                for (a, l) in alloc.iter_mut().zip(&logs) {
                    *a += (l - total).exp();
                }
                counted += 1;
            }
        }
        if counted == 0 {
            return Err(ReferenceError::Degenerate);
        }
        Ok(alloc.iter().map(|a| a / counted as f64).collect())
    }

    /// Particle mean and standard deviation of `π_k(x)` and of `ψ_j(x)`
    /// (docs/model.md §8).
    ///
    /// # Panics
    /// If `x.len() != d`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::ReferenceFilter;
    /// let config = hsmoe_core::Config::default_for(2);
    /// let filter = ReferenceFilter::new(30, 1, 2, &config, 0).unwrap();
    /// let scores = filter.router_scores(&[1.0, 1.0]);
    /// assert_eq!((scores.pi_mean, scores.pi_sd), (vec![1.0], vec![0.0]));
    /// assert!(scores.logit_mean.is_empty());
    /// ```
    pub fn router_scores(&self, x: &[f64]) -> RouterScores {
        assert_eq!(x.len(), self.d, "router_scores: x has the wrong length");
        let psi: Vec<Vec<f64>> = self.particles.iter().map(|p| p.logits(x)).collect();
        let pi: Vec<Vec<f64>> = psi
            .iter()
            .map(|l| log_stick_breaking(l).iter().map(|v| v.exp()).collect())
            .collect();
        let (pi_mean, pi_sd) = column_mean_sd(&pi, self.k);
        let (logit_mean, logit_sd) = column_mean_sd(&psi, self.k - 1);
        RouterScores {
            pi_mean,
            pi_sd,
            logit_mean,
            logit_sd,
        }
    }

    /// Per expert, the time average of the particle-averaged allocation
    /// probabilities of step 4 (docs/model.md §8); zeros before any
    /// observation.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::ReferenceFilter;
    /// let config = hsmoe_core::Config::default_for(1);
    /// let mut filter = ReferenceFilter::new(50, 3, 1, &config, 4).unwrap();
    /// filter.observe(&[1.0], 0.0).unwrap();
    /// let freq = filter.allocation_freq();
    /// assert!((freq.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    /// ```
    pub fn allocation_freq(&self) -> Vec<f64> {
        let t = self.t.max(1) as f64;
        self.alloc_sum.iter().map(|s| s / t).collect()
    }

    /// Per expert, the particle mean of the share of the observations each
    /// particle's statistics hold: after rejuvenation sweeps, the posterior
    /// allocation frequency the Gibbs sampler reports (docs/model.md §8).
    /// With `sorted`, each particle's shares are sorted in decreasing
    /// order first (a label-free summary). Zeros before any observation.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::ReferenceFilter;
    /// let config = hsmoe_core::Config::default_for(1);
    /// let mut filter = ReferenceFilter::new(50, 3, 1, &config, 4).unwrap();
    /// filter.observe(&[1.0], 0.0).unwrap();
    /// let shares = filter.expert_shares(false);
    /// assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    /// assert_eq!(filter.expert_shares(true)[2], 0.0);
    /// ```
    pub fn expert_shares(&self, sorted: bool) -> Vec<f64> {
        let mut shares = vec![0.0; self.k];
        for particle in &self.particles {
            let mut held: Vec<usize> = particle.experts.iter().map(Expert::n).collect();
            if sorted {
                held.sort_unstable_by(|u, v| v.cmp(u));
            }
            let total: usize = held.iter().sum();
            if total > 0 {
                for (s, n) in shares.iter_mut().zip(held) {
                    *s += n as f64 / total as f64;
                }
            }
        }
        let n = self.particles.len().max(1) as f64;
        shares.iter().map(|s| s / n).collect()
    }

    /// Particle summaries of `τ²`, `λ²_{j,l}`, the shrinkage factors and
    /// `φ_{j,l}` (see [`HorseshoeSummary`]).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::ReferenceFilter;
    /// let config = hsmoe_core::Config::default_for(2);
    /// let filter = ReferenceFilter::new(10, 3, 2, &config, 5).unwrap();
    /// let hs = filter.horseshoe_summary();
    /// assert_eq!((hs.phi_mean.len(), hs.phi_mean[0].len()), (2, 2));
    /// ```
    pub fn horseshoe_summary(&self) -> HorseshoeSummary {
        let n = self.particles.len() as f64;
        let first_shrunk = self.prior.first_shrunk;
        let zeros = vec![vec![0.0; self.d]; self.k - 1];
        let mut summary = HorseshoeSummary {
            first_shrunk,
            tau2_mean: 0.0,
            tau2_geometric_mean: 0.0,
            lambda2_mean: zeros.clone(),
            shrinkage: zeros.clone(),
            phi_mean: zeros.clone(),
            phi_sd: zeros,
        };
        let mut ln_tau2 = 0.0;
        for p in &self.particles {
            let tau2 = p.horseshoe.tau2;
            summary.tau2_mean += tau2 / n;
            ln_tau2 += tau2.ln() / n;
            for (j, stick) in p.sticks.iter().enumerate() {
                for (l, f) in stick.phi.iter().enumerate() {
                    summary.phi_mean[j][l] += f / n;
                    let (lambda2, shrinkage) = match l.checked_sub(first_shrunk) {
                        Some(shrunk) => {
                            let lambda2 = p.horseshoe.lambda2[j][shrunk];
                            (lambda2, 1.0 / (1.0 + tau2 * lambda2))
                        }
                        None => (f64::NAN, 0.0),
                    };
                    summary.lambda2_mean[j][l] += lambda2 / n;
                    summary.shrinkage[j][l] += shrinkage / n;
                }
            }
        }
        summary.tau2_geometric_mean = ln_tau2.exp();
        // Second pass for the sd, about the mean: no cancellation.
        for p in &self.particles {
            for (j, stick) in p.sticks.iter().enumerate() {
                for (l, f) in stick.phi.iter().enumerate() {
                    summary.phi_sd[j][l] += (f - summary.phi_mean[j][l]).powi(2) / n;
                }
            }
        }
        for v in summary.phi_sd.iter_mut().flatten() {
            *v = v.sqrt();
        }
        summary
    }
}

/// Column means and standard deviations (divisor N) of `rows`, `width`
/// columns, in two passes so equal values give an sd of exactly 0.
fn column_mean_sd(rows: &[Vec<f64>], width: usize) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() as f64;
    let mut mean = vec![0.0; width];
    for row in rows {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0; width];
    for row in rows {
        for ((s, m), v) in var.iter_mut().zip(&mean).zip(row) {
            *s += (v - m) * (v - m) / n;
        }
    }
    (mean, var.into_iter().map(f64::sqrt).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::conjugate_log_marginal;
    use crate::reference::dist::linear_rows;

    #[test]
    fn systematic_resampling_edge_cases() {
        assert_eq!(systematic_resample(0.5, &[1.0; 4]), [0, 1, 2, 3]);
        assert_eq!(systematic_resample(0.0, &[1.0; 4]), [0, 1, 2, 3]);
        assert_eq!(
            systematic_resample(0.0, &[0.0, 0.0, 3.0, 0.0]),
            [2, 2, 2, 2]
        );
        assert_eq!(
            systematic_resample(0.999, &[0.0, 0.0, 3.0, 0.0]),
            [2, 2, 2, 2]
        );
        // Each count is ⌊N·w_i⌋ or ⌈N·w_i⌉ (u kept off the multiples of
        // ½ where positions would land exactly on cumulative sums).
        let w = [0.05, 0.3, 0.0, 0.15, 0.1, 0.2, 0.05, 0.1, 0.0, 0.05];
        for u in [0.03, 0.3, 0.77, 0.999_999] {
            let ancestors = systematic_resample(u, &w);
            for (i, wi) in w.iter().enumerate() {
                let count = ancestors.iter().filter(|&&a| a == i).count() as f64;
                let expected = 10.0 * wi;
                assert!(count >= (expected - 1e-9).floor() && count <= (expected + 1e-9).ceil());
            }
        }
    }

    /// y = 1 + 2 x1 − 0.5 x2 + 0.5 ε with standard normal features.
    fn linear_data(t: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
        linear_rows(t, seed, [1.0, 2.0, -0.5], 0.5)
    }

    #[test]
    fn single_expert_reproduces_closed_form() {
        let (xs, ys) = linear_data(150, 21);
        let config = Config::default_for(3);
        let mut filter = ReferenceFilter::new(7, 1, 3, &config, 1).unwrap();
        for (x, &y) in xs.iter().zip(&ys) {
            let step = filter.observe(x, y).unwrap();
            // Identical particles: every weight equal, ESS = N.
            assert!((step.ess - 7.0).abs() < 1e-9);
            assert!((step.alloc[0] - 1.0).abs() < 1e-12);
        }
        let closed = conjugate_log_marginal(&xs, &ys, &config).unwrap();
        let pl = filter.log_marginal();
        println!("K=1: PL {pl:.12}, closed form {closed:.12}");
        assert!((pl - closed).abs() < 1e-9 * closed.abs());
        assert!((filter.allocation_freq()[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rejects_bad_input_and_keeps_state() {
        let config = Config::default_for(2);
        let mut filter = ReferenceFilter::new(20, 3, 2, &config, 1).unwrap();
        filter.observe(&[1.0, 0.5], 0.3).unwrap();
        let before = filter.predict(&[1.0, -1.0]);
        assert_eq!(
            filter.observe(&[1.0, 0.5, 0.0], 0.3),
            Err(ReferenceError::WrongLength)
        );
        assert_eq!(
            filter.observe(&[1.0, f64::INFINITY], 0.3),
            Err(ReferenceError::NonFinite)
        );
        assert_eq!(
            filter.observe(&[1.0, 0.5], f64::NAN),
            Err(ReferenceError::NonFinite)
        );
        assert_eq!(filter.predict(&[1.0, -1.0]), before);
        let mut bad = config;
        bad.b0 = 0.0;
        assert_eq!(
            ReferenceFilter::new(20, 3, 2, &bad, 1).unwrap_err(),
            ReferenceError::InvalidConfig
        );
    }

    #[test]
    fn step_reports_are_consistent() {
        let (xs, ys) = linear_data(60, 22);
        let config = Config::default_for(3);
        let mut filter = ReferenceFilter::new(100, 3, 3, &config, 2).unwrap();
        let mut total = 0.0;
        let mut alloc_total = [0.0; 3];
        for (x, &y) in xs.iter().zip(&ys) {
            let pred = filter.predict(x);
            let step = filter.observe(x, y).unwrap();
            // The step's predictive is the filter's predictive before y.
            assert!((pred.mean - step.pred_mean).abs() < 1e-12);
            assert!((pred.var - step.pred_var).abs() < 1e-9 * pred.var);
            assert!((step.gate.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!((step.alloc.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(step.ess >= 1.0 - 1e-9 && step.ess <= 100.0 + 1e-9);
            total += step.log_pred;
            for (a, s) in alloc_total.iter_mut().zip(&step.alloc) {
                *a += s / 60.0;
            }
        }
        assert!((filter.log_marginal() - total).abs() < 1e-9);
        for (a, b) in filter.allocation_freq().iter().zip(alloc_total) {
            assert!((a - b).abs() < 1e-12);
        }
        let scores = filter.router_scores(&xs[0]);
        let pred = filter.predict(&xs[0]);
        for (m, g) in scores.pi_mean.iter().zip(&pred.gate) {
            assert!((m - g).abs() < 1e-12);
        }
    }

    #[test]
    fn same_seed_same_run() {
        let (xs, ys) = linear_data(30, 23);
        let config = Config::default_for(3);
        let run = |seed| {
            let mut f = ReferenceFilter::new(50, 2, 3, &config, seed).unwrap();
            for (x, &y) in xs.iter().zip(&ys) {
                f.observe(x, y).unwrap();
            }
            f.log_marginal()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }
}
