//! What the posterior says (docs/model.md §8): predictive at any `x`, router
//! scores for top-k routing, and gate/horseshoe summaries. All read-only
//! functions of the particle cloud, each particle weighted by
//! [`Particle::weight`] (all equal after a step that resampled).

use crate::dims::{Const, Experts, Features};
use crate::expert::{Expert, Predictive};
use crate::math::sqrt;
use crate::particle::Particle;
use crate::{Config, Error, MAX_ABS_INPUT};

/// The posterior predictive at one `x`, without changing the posterior.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction<const K: usize> {
    /// Predictive mean of `y`.
    pub mean: f32,
    /// Predictive variance of `y`.
    pub var: f32,
    /// Particle-mean gate probabilities `π_k(x)`.
    pub gate: [f32; K],
}

/// Router scores for top-k routing (docs/model.md §8): particle mean and
/// standard deviation of the gate probabilities and of the stick logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouterScores<const K: usize> {
    /// Mean of `π_k(x)`.
    pub gate_mean: [f32; K],
    /// Standard deviation of `π_k(x)`.
    pub gate_sd: [f32; K],
    /// Mean of `ψ_j(x)`; entry `K − 1` is 0 (there are `K − 1` sticks).
    pub logit_mean: [f32; K],
    /// Standard deviation of `ψ_j(x)`; entry `K − 1` is 0.
    pub logit_sd: [f32; K],
}

/// Particle summaries of the gate coefficients and horseshoe scales.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateSummary<const K: usize, const D: usize> {
    /// Mean of `φ_{j,l}`; row `K − 1` is 0.
    pub phi_mean: [[f32; D]; K],
    /// Standard deviation of `φ_{j,l}`; row `K − 1` is 0.
    pub phi_sd: [[f32; D]; K],
    /// Mean shrinkage factor `1/(1 + τ²λ²_{j,l})` in (0, 1): near 1 means
    /// shrunk to zero. Unshrunk intercepts and row `K − 1` report 0.
    pub shrinkage: [[f32; D]; K],
    /// Geometric mean of `τ²` over particles.
    pub tau2_geometric_mean: f32,
}

/// Running weighted sums for a particle mean and standard deviation.
#[derive(Clone, Copy)]
struct Moments {
    sum: f32,
    sum_sq: f32,
}

impl Moments {
    const ZERO: Self = Moments {
        sum: 0.0,
        sum_sq: 0.0,
    };

    fn add(&mut self, v: f32, weight: f32) {
        self.sum += weight * v;
        self.sum_sq += weight * (v * v);
    }

    /// Mean and sd over particles of total weight `total`.
    fn mean_sd(&self, total: f32) -> (f32, f32) {
        let mean = self.sum / total;
        let var = (self.sum_sq / total - mean * mean).max(0.0);
        (mean, sqrt(var))
    }
}

/// Total weight of `particles`, at least the smallest positive f32 so a
/// mean over it is defined.
fn total_weight<const K: usize, const D: usize, E: Expert<D>>(
    particles: &[Particle<K, D, E>],
) -> f32
where
    Const<K>: Experts,
    Const<D>: Features,
{
    particles
        .iter()
        .map(Particle::weight)
        .sum::<f32>()
        .max(f32::MIN_POSITIVE)
}

/// The mixture predictive over weighted particles, accumulated (each
/// component's probability already multiplied by its particle's weight).
pub(crate) struct Mixture<const K: usize> {
    mean: f32,
    second: f32,
    gate: [f32; K],
}

impl<const K: usize> Mixture<K> {
    pub(crate) const ZERO: Self = Mixture {
        mean: 0.0,
        second: 0.0,
        gate: [0.0; K],
    };

    pub(crate) fn add(&mut self, k: usize, pi: f32, t: &impl Predictive) {
        self.gate[k] += pi;
        // A component of probability 0 adds nothing, even one whose moments
        // are infinite (0·∞ would make the sums NaN).
        if pi > 0.0 {
            let mean = t.mean();
            self.mean += pi * mean;
            self.second += pi * (t.variance() + mean * mean);
        }
    }

    /// `(mean, variance, mean gate)` over particles of total weight
    /// `total` (`N` when equally weighted). The variance is `+∞` when the
    /// second moment is (an expert with `2a ≤ 2`, or f32 overflow at
    /// extreme inputs), not the `max(∞ − ∞, 0) = 0` it was.
    pub(crate) fn finish(self, total: f32) -> (f32, f32, [f32; K]) {
        let mean = self.mean / total;
        let var = if self.second == f32::INFINITY {
            f32::INFINITY
        } else {
            (self.second / total - mean * mean).max(0.0)
        };
        (mean, var, self.gate.map(|g| g / total))
    }
}

/// Rejects NaN/inf ([`Error::NonFinite`]) and values beyond
/// [`MAX_ABS_INPUT`] ([`Error::OutOfRange`]).
pub(crate) fn check_values(values: &[f32]) -> Result<(), Error> {
    if values.iter().any(|v| !v.is_finite()) {
        Err(Error::NonFinite)
    } else if values.iter().any(|v| libm::fabsf(*v) > MAX_ABS_INPUT) {
        Err(Error::OutOfRange)
    } else {
        Ok(())
    }
}

/// A feature vector of length `D`, checked by [`check_values`].
pub(crate) fn checked_features<const D: usize>(x: &[f32]) -> Result<[f32; D], Error> {
    let x: [f32; D] = x.try_into().map_err(|_| Error::WrongLength)?;
    check_values(&x)?;
    Ok(x)
}

/// The mixture predictive of `y` at `x`, averaged over particles.
///
/// # Errors
/// [`Error::WrongLength`], [`Error::NonFinite`], [`Error::OutOfRange`] for a
/// bad `x`; an empty particle slice gives [`Error::WrongLength`].
///
/// # Examples
/// ```
/// use hsmoe_core::{posterior, Config, Filter};
/// use rand_core::SeedableRng;
/// let mut filter: Filter<16, 2, 2> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(9);
/// filter.reset(&Config::default_for(2), &mut rng).unwrap();
/// let p = posterior::predict(filter.particles(), &[1.0, 0.0]).unwrap();
/// assert_eq!(p.mean, 0.0); // experts at the prior mean
/// assert!((p.gate.iter().sum::<f32>() - 1.0).abs() < 1e-5);
/// ```
pub fn predict<const K: usize, const D: usize, E: Expert<D>>(
    particles: &[Particle<K, D, E>],
    x: &[f32],
) -> Result<Prediction<K>, Error>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let x: [f32; D] = checked_features(x)?;
    if particles.is_empty() {
        return Err(Error::WrongLength);
    }
    let mut mixture = Mixture::<K>::ZERO;
    let (mut psi, mut ln_pi, mut pi) = ([0.0; K], [0.0; K], [0.0; K]);
    // The step's own gate arithmetic: after step t this is, bit for bit,
    // step t + 1's one-step predictive (docs/model.md §8).
    for particle in particles {
        let weight = particle.weight();
        particle.gate_probabilities(&x, &mut psi, &mut ln_pi, &mut pi);
        for (k, expert) in particle.experts().iter().enumerate() {
            mixture.add(k, weight * pi[k], &expert.predictive(&x));
        }
    }
    let (mean, var, gate) = mixture.finish(total_weight(particles));
    Ok(Prediction { mean, var, gate })
}

/// Particle mean of each expert's allocation probability for an
/// observation `(x, y)`: `P(z = k | x, y) ∝ π_k(x) t_k(y | x)`, with each
/// expert's posterior predictive, as step 4 weighs a new observation. For
/// a row the particles have already absorbed this is the row's allocation
/// under the posterior (a plug-in: the row also informed its expert), the
/// label-dependent answer to "which expert explains this point".
///
/// # Errors
/// As [`predict`], and [`Error::NonFinite`] or [`Error::OutOfRange`] for
/// a bad `y` or when no particle gives `(x, y)` a finite weight.
///
/// # Examples
/// ```
/// use hsmoe_core::{posterior, Config, Filter};
/// use rand_core::SeedableRng;
/// let mut filter: Filter<64, 3, 2> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(3);
/// filter.reset(&Config::default_for(2), &mut rng).unwrap();
/// // A V no line fits: y = 3 at x1 = ±1, y = −3 at x1 = 0.
/// for t in 0..90 {
///     let x1 = (t % 3) as f32 - 1.0;
///     let y = if x1 == 0.0 { -3.0 } else { 3.0 };
///     filter.observe(&[1.0, x1], y, &mut rng).unwrap();
/// }
/// let arm = posterior::allocation(filter.particles(), &[1.0, 1.0], 3.0).unwrap();
/// let tip = posterior::allocation(filter.particles(), &[1.0, 0.0], -3.0).unwrap();
/// assert!((arm.iter().sum::<f32>() - 1.0).abs() < 1e-5);
/// // The arm and the tip belong to different experts, with confidence.
/// let best = |p: &[f32; 3]| (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
/// assert_ne!(best(&arm), best(&tip));
/// assert!(arm[best(&arm)] > 0.9 && tip[best(&tip)] > 0.9);
/// let nan = posterior::allocation(filter.particles(), &[1.0, 0.0], f32::NAN);
/// assert_eq!(nan, Err(hsmoe_core::Error::NonFinite));
/// ```
pub fn allocation<const K: usize, const D: usize, E: Expert<D>>(
    particles: &[Particle<K, D, E>],
    x: &[f32],
    y: f32,
) -> Result<[f32; K], Error>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let x: [f32; D] = checked_features(x)?;
    check_values(&[y])?;
    if particles.is_empty() {
        return Err(Error::WrongLength);
    }
    let (mut weights, mut alloc) = ([0.0f32; K], [0.0f32; K]);
    for particle in particles {
        // A particle under which (x, y) has no finite density says nothing
        // about where it belongs.
        if particle.weigh(&x, y, &mut weights, |_, _, _| {}) > f32::NEG_INFINITY {
            let w = particle.weight() / weights.iter().sum::<f32>();
            for (a, p) in alloc.iter_mut().zip(&weights) {
                *a += w * p;
            }
        }
    }
    let total: f32 = alloc.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return Err(Error::NonFinite);
    }
    Ok(alloc.map(|a| a / total))
}

/// Particle mean and standard deviation of `π_k(x)` and of `ψ_j(x)`;
/// rank experts by `gate_mean − α·gate_sd` for top-k routing.
///
/// # Errors
/// As [`predict`].
///
/// # Examples
/// ```
/// use hsmoe_core::{posterior, Config, Filter};
/// use rand_core::SeedableRng;
/// let mut filter: Filter<32, 3, 2> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(4);
/// filter.reset(&Config::default_for(2), &mut rng).unwrap();
/// let scores = posterior::router_scores(filter.particles(), &[1.0, 0.5]).unwrap();
/// assert!(scores.gate_sd.iter().all(|sd| *sd > 0.0)); // prior draws differ
/// assert_eq!(scores.logit_sd[2], 0.0); // no third stick
/// ```
pub fn router_scores<const K: usize, const D: usize, E: Expert<D>>(
    particles: &[Particle<K, D, E>],
    x: &[f32],
) -> Result<RouterScores<K>, Error>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let x: [f32; D] = checked_features(x)?;
    if particles.is_empty() {
        return Err(Error::WrongLength);
    }
    let mut gate = [Moments::ZERO; K];
    let mut logit = [Moments::ZERO; K];
    let (mut psi, mut ln_pi) = ([0.0; K], [0.0; K]);
    for particle in particles {
        let weight = particle.weight();
        particle.gate(&x, &mut psi, &mut ln_pi);
        for k in 0..K {
            gate[k].add(libm::expf(ln_pi[k]), weight);
            logit[k].add(psi[k], weight);
        }
    }
    let n = total_weight(particles);
    let split = |m: [Moments; K]| {
        let pairs = m.map(|m| m.mean_sd(n));
        (pairs.map(|p| p.0), pairs.map(|p| p.1))
    };
    let (gate_mean, gate_sd) = split(gate);
    let (logit_mean, logit_sd) = split(logit);
    Ok(RouterScores {
        gate_mean,
        gate_sd,
        logit_mean,
        logit_sd,
    })
}

/// Per expert, the particle mean of the share of the observations each
/// particle's statistics hold, `n_k / Σ n`, with `n_k = 2(a_k − a₀)` (the
/// noise shape grows by ½ per observation). After rejuvenation sweeps
/// these are draws of the allocations given all the data, so this is the
/// posterior allocation frequency the batch Gibbs sampler reports
/// (docs/model.md §8), whereas [`FilterState::allocation_freq`] averages
/// each step's allocation probabilities given the past only. With
/// `sorted`, each particle's shares are sorted in decreasing order before
/// the mean: a summary that does not depend on how particles label their
/// experts. Zeros for particles that hold no observation.
///
/// [`FilterState::allocation_freq`]: crate::filter::FilterState::allocation_freq
///
/// # Examples
/// ```
/// use hsmoe_core::{posterior, Config, Filter};
/// use rand_core::SeedableRng;
/// let config = Config::default_for(2);
/// let mut filter: Filter<16, 3, 2> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(2);
/// filter.reset(&config, &mut rng).unwrap();
/// for t in 0..10 {
///     filter.observe(&[1.0, t as f32 / 10.0], 0.3, &mut rng).unwrap();
/// }
/// let shares = posterior::expert_shares(filter.particles(), &config, false);
/// assert!((shares.iter().sum::<f32>() - 1.0).abs() < 1e-5);
/// let sorted = posterior::expert_shares(filter.particles(), &config, true);
/// assert!(sorted[0] >= sorted[1] && sorted[1] >= sorted[2]);
/// ```
pub fn expert_shares<const K: usize, const D: usize, E: Expert<D>>(
    particles: &[Particle<K, D, E>],
    config: &Config,
    sorted: bool,
) -> [f32; K]
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let mut shares = [0.0f64; K];
    let mut n = 0.0f64;
    for particle in particles {
        let weight = f64::from(particle.weight());
        n += weight;
        let experts = particle.experts();
        let mut held: [f64; K] =
            core::array::from_fn(|k| f64::from(experts[k].observations(config)).max(0.0));
        if sorted {
            held.sort_unstable_by(|u, v| v.total_cmp(u));
        }
        let total: f64 = held.iter().sum();
        if total > 0.0 {
            for (s, h) in shares.iter_mut().zip(held) {
                *s += weight * (h / total);
            }
        }
    }
    let n = n.max(f64::MIN_POSITIVE);
    shares.map(|s| (s / n) as f32)
}

/// Particle summaries of `φ` and of the horseshoe shrinkage.
///
/// # Examples
/// ```
/// use hsmoe_core::{posterior, Config, Filter};
/// use rand_core::SeedableRng;
/// let mut filter: Filter<32, 2, 3> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(4);
/// filter.reset(&Config::default_for(3), &mut rng).unwrap();
/// let summary = posterior::gate_summary(filter.particles(), filter.state().config());
/// assert_eq!(summary.shrinkage[0][0], 0.0); // the intercept is not shrunk
/// assert!(summary.shrinkage[0][1] > 0.0 && summary.shrinkage[0][1] < 1.0);
/// ```
pub fn gate_summary<const K: usize, const D: usize, E: Expert<D>>(
    particles: &[Particle<K, D, E>],
    config: &crate::Config,
) -> GateSummary<K, D>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let mut phi = [[Moments::ZERO; D]; K];
    let mut shrinkage = [[0.0f32; D]; K];
    let mut ln_tau2 = 0.0f32;
    for particle in particles {
        let weight = particle.weight();
        let tau2 = particle.global_scale().tau2();
        ln_tau2 += weight * libm::logf(tau2);
        for (j, stick) in particle.sticks().iter().enumerate() {
            for l in 0..D {
                phi[j][l].add(stick.phi()[l], weight);
                if crate::horseshoe::is_shrunk(config, l) {
                    shrinkage[j][l] += weight * (1.0 / (1.0 + tau2 * stick.lambda2()[l]));
                }
            }
        }
    }
    let n = total_weight(particles);
    let pairs = phi.map(|row| row.map(|m| m.mean_sd(n)));
    GateSummary {
        phi_mean: pairs.map(|row| row.map(|p| p.0)),
        phi_sd: pairs.map(|row| row.map(|p| p.1)),
        shrinkage: shrinkage.map(|row| row.map(|s| s / n)),
        tau2_geometric_mean: libm::expf(ln_tau2 / n),
    }
}
