//! Rejuvenation: one Gibbs sweep of a particle over the observations seen
//! so far, which leaves the particle's posterior invariant
//! (docs/model.md §4 Rejuvenation).
//!
//! A particle carries sufficient statistics, not its allocation path, and
//! the statistics are all a sweep needs: it draws each expert's parameters
//! (a Gaussian expert's `(β, σ²)` from the NIG posterior its statistics
//! define; a Bernoulli expert's `β` is the one the particle carries),
//! redraws every allocation `z_s` from its full conditional given them and
//! `φ` (with `ω` marginalized), draws the Pólya-Gamma `ω` of every stick
//! trial the new allocations imply given the current `φ`, rebuilds every
//! expert and stick from the prior up, and then draws `φ | ω, z`, the
//! horseshoe scales `| φ`, and `φ` again (as the refresh does), and any
//! parameter an expert carries given its rebuilt statistics. Each block is
//! a draw from a full conditional of the joint posterior of
//! `(z, ω, φ, scales, expert parameters)`, so the sweep is a Gibbs scan
//! for it; a Gaussian expert's `(β, σ²)` are then integrated out again by
//! keeping only the statistics.
//!
//! Cost: O(t·K·D²) per sweep, no allocation; the sweep works on a copy of
//! the particle and writes it back only on success.

use crate::dims::Zeroed;
use crate::dims::{Const, Experts, Features};
use crate::dist::categorical;
use crate::expert::Expert;
use crate::gate_move::{self, GateMove};
use crate::horseshoe;
use crate::particle::Particle;
use crate::posterior::check_values;
use crate::{Config, Error};
use core::fmt;
use rand_core::RngCore;

/// Smallest total allocation weight drawn from in linear space: 2⁻⁹⁶, so a
/// weight lost to underflow (below 2⁻¹²⁶) is under 2⁻³⁰ of the total.
const MIN_LINEAR_TOTAL: f32 = 1.262_177_4e-29;

/// Why a sweep stopped; the particle is unchanged in every case.
///
/// # Examples
/// ```
/// use hsmoe_core::rejuvenate::MoveError;
/// use hsmoe_core::Error;
/// let e = MoveError::Observation { index: 3, error: Error::NonFinite };
/// assert_eq!(e.error(), Error::NonFinite);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MoveError {
    /// Observation `index` (0-based) of the stream is not finite or beyond
    /// [`MAX_ABS_INPUT`](crate::MAX_ABS_INPUT).
    Observation {
        /// Position in the stream.
        index: usize,
        /// [`Error::NonFinite`] or [`Error::OutOfRange`].
        error: Error,
    },
    /// Expert `k`'s `(β, σ²)` draw or rebuilt statistics are not finite,
    /// or its factor update failed.
    Expert {
        /// The expert.
        k: usize,
        /// [`Error::NonFinite`] or [`Error::NotPositiveDefinite`].
        error: Error,
    },
    /// No allocation of observation `index` has a finite probability.
    Allocation {
        /// Position in the stream.
        index: usize,
    },
    /// A rebuilt stick precision could not be factored, or `φ` is not finite.
    Gate {
        /// [`Error::NonFinite`] or [`Error::NotPositiveDefinite`].
        error: Error,
    },
}

impl MoveError {
    /// The core error behind this failure.
    pub fn error(&self) -> Error {
        match *self {
            MoveError::Observation { error, .. }
            | MoveError::Expert { error, .. }
            | MoveError::Gate { error } => error,
            MoveError::Allocation { .. } => Error::Degenerate,
        }
    }
}

impl fmt::Display for MoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoveError::Observation { index, error } => {
                write!(f, "rejuvenation: observation {index}: {error}")
            }
            MoveError::Expert { k, error } => write!(f, "rejuvenation: expert {k}: {error}"),
            MoveError::Allocation { index } => write!(
                f,
                "rejuvenation: observation {index} has no finite allocation probability"
            ),
            MoveError::Gate { error } => write!(f, "rejuvenation: gate: {error}"),
        }
    }
}

impl core::error::Error for MoveError {}

/// One Gibbs sweep of `particle` over `stream`, the observations `(x, y)`
/// its statistics were built from, in any order (docs/model.md §4).
///
/// With `gate`, the collapsed gate move ([`gate_move`]) runs between the
/// draw of the experts' parameters and that of the allocations:
/// `gate.proposals` Metropolis–Hastings proposals of the sticks' `φ` with
/// the allocations summed out, which let the gate's hand-over between
/// experts move where `φ | ω, z` alone barely does. `gate.rows` needs an
/// entry per observation.
///
/// `config` must be the prior the particle was drawn under.
///
/// # Errors
/// A [`MoveError`] naming the observation, expert or gate that failed;
/// `particle` is then bit-for-bit unchanged.
///
/// # Examples
/// ```
/// use hsmoe_core::dims::Zeroed;
/// use hsmoe_core::gate_move::{GateMove, Row};
/// use hsmoe_core::{rejuvenate, Config, Filter};
/// use rand_core::SeedableRng;
/// let config = Config::default_for(2);
/// let mut filter: Filter<8, 2, 2> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
/// filter.reset(&config, &mut rng).unwrap();
/// let stream: Vec<([f32; 2], f32)> = (0..20).map(|t| ([1.0, t as f32 / 10.0], 0.5)).collect();
/// for (x, y) in &stream {
///     filter.observe(x, *y, &mut rng).unwrap();
/// }
/// let mut particle = filter.particles()[0];
/// rejuvenate::sweep(&mut particle, &stream, None, &config, &mut rng).unwrap();
/// let used: f32 = particle.experts().iter().map(|e| e.shape() - config.a0).sum();
/// assert_eq!(used, 10.0); // every observation allocated once: a = a0 + n/2
///
/// let mut rows = [Row::ZERO; 20];
/// let mut gate = GateMove::new(4, 0, &mut rows);
/// rejuvenate::sweep(&mut particle, &stream, Some(&mut gate), &config, &mut rng).unwrap();
/// assert!(gate.accepted <= 4);
/// ```
pub fn sweep<'a, R, I, const K: usize, const D: usize, E>(
    particle: &mut Particle<K, D, E>,
    stream: I,
    gate: Option<&mut GateMove<'_, K>>,
    config: &Config,
    rng: &mut R,
) -> Result<(), MoveError>
where
    R: RngCore + ?Sized,
    I: IntoIterator<Item = &'a ([f32; D], f32)> + Clone,
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    let mut prior = *particle;
    prior.experts = [E::prior(config); K];
    for stick in prior.sticks_mut() {
        stick.logistic.clear_trials();
    }
    sweep_block(particle, &prior, stream, gate, config, rng)
}

/// One Gibbs sweep of `particle` over `block`, the last observations its
/// statistics absorbed, holding the allocations and `ω` of everything
/// before them fixed: `frozen` is the particle as it stood before `block`
/// (its expert statistics and stick `S`, `r` are the base the block's
/// contributions are added to; its `φ` and scales are not used). A Gibbs
/// scan of the same joint posterior as [`sweep`] that updates only the
/// block's `(z, ω)` among the latent allocations (docs/model.md §4,
/// "Window move"); [`sweep`] is this sweep from a copy at the prior.
/// `gate` as for [`sweep`], its rows one per observation of `block`.
///
/// # Errors
/// As [`sweep`]; `particle` is then unchanged.
///
/// # Examples
/// ```
/// use hsmoe_core::{rejuvenate, Config, Filter};
/// use rand_core::SeedableRng;
/// let config = Config::default_for(2);
/// // One expert: every particle holds the same statistics, so particle 0
/// // before the last five observations is its own frozen copy.
/// let mut filter: Filter<8, 1, 2> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
/// filter.reset(&config, &mut rng).unwrap();
/// let stream: Vec<([f32; 2], f32)> = (0..20).map(|t| ([1.0, t as f32 / 10.0], 0.5)).collect();
/// for (x, y) in &stream[..15] {
///     filter.observe(x, *y, &mut rng).unwrap();
/// }
/// let frozen = filter.particles()[0];
/// for (x, y) in &stream[15..] {
///     filter.observe(x, *y, &mut rng).unwrap();
/// }
/// let mut particle = filter.particles()[0];
/// rejuvenate::sweep_block(&mut particle, &frozen, &stream[15..], None, &config, &mut rng).unwrap();
/// assert_eq!(particle.experts()[0].shape(), config.a0 + 10.0); // 20 observations, each once
/// ```
pub fn sweep_block<'a, R, I, const K: usize, const D: usize, E>(
    particle: &mut Particle<K, D, E>,
    frozen: &Particle<K, D, E>,
    block: I,
    gate: Option<&mut GateMove<'_, K>>,
    config: &Config,
    rng: &mut R,
) -> Result<(), MoveError>
where
    R: RngCore + ?Sized,
    I: IntoIterator<Item = &'a ([f32; D], f32)> + Clone,
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    // Each expert's parameters (for a Gaussian expert, (β_k, σ²_k) from its
    // NIG posterior), at which every allocation's likelihood is evaluated.
    let mut draws = [E::Draw::ZERO; K];
    for (k, (draw, expert)) in draws.iter_mut().zip(&particle.experts).enumerate() {
        *draw = expert
            .draw(rng)
            .map_err(|error| MoveError::Expert { k, error })?;
    }

    let mut next = *particle;
    next.experts = frozen.experts;
    for (stick, base) in next.sticks_mut().iter_mut().zip(frozen.sticks()) {
        stick.logistic.s = base.logistic.s;
        stick.logistic.r = base.logistic.r;
    }
    // The gate move's cache holds each row's shifted expert densities and
    // stick probabilities at the φ it leaves, which are the allocation
    // weights' factors below: the draw uses them instead of recomputing.
    let cache = match gate {
        Some(gate) => gate_move::propose(&mut next, &draws, block.clone(), gate, config, rng),
        None => None,
    };
    let (mut psi, mut pi, mut ln_w, mut w) = ([0.0f32; K], [0.0f32; K], [0.0f32; K], [0.0f32; K]);
    for (index, (x, y)) in block.into_iter().enumerate() {
        check_values(x)
            .and_then(|()| check_values(&[*y]))
            .and_then(|()| E::check_response(*y))
            .map_err(|error| MoveError::Observation { index, error })?;
        // z_s ∝ π_k(x_s; φ) N(y_s; x_sᵀβ_k, σ²_k): `next` still has the old φ.
        // In linear space, π_k · exp(ℓ_k − max ℓ), which needs no
        // logarithm for the gate.
        let total = match cache.as_ref().and_then(|rows| rows.get(index)) {
            Some(row) => row.allocation_weights(&mut w),
            None => {
                next.gate_linear(x, &mut psi, &mut pi);
                for (l, draw) in ln_w.iter_mut().zip(&draws) {
                    *l = E::ln_likelihood(draw, x, *y);
                }
                categorical::exp_shifted_scaled(&ln_w, &pi, &mut w)
                    .ok_or(MoveError::Allocation { index })?
                    .1
            }
        };
        // The largest term is at least π_k of the best-fitting expert. If
        // that is below MIN_LINEAR_TOTAL, a weight could have underflowed
        // that matters: redo the draw in log space. Otherwise an underflowed
        // weight (< 2⁻¹²⁶) is below the total by more than the f32 uniform
        // that inverts the draw can resolve.
        let z = if total >= MIN_LINEAR_TOTAL {
            categorical::sample(rng, &w, total)
        } else {
            next.gate(x, &mut psi, &mut pi);
            for ((l, draw), ln_pi) in ln_w.iter_mut().zip(&draws).zip(&pi) {
                *l = E::ln_likelihood(draw, x, *y) + ln_pi;
            }
            categorical::sample_ln(rng, &ln_w)
        }
        .ok_or(MoveError::Allocation { index })?;
        next.experts[z]
            .add(&draws[z], x, *y, rng)
            .map_err(|error| MoveError::Expert { k: z, error })?;
        // ω ~ PG(1, xᵀφ_j) for each stick the allocation passed (as in the
        // particle-learning step, docs/model.md §3, step 6).
        let trials = (z + 1).min(K - 1);
        for (j, stick) in next.sticks_mut()[..trials].iter_mut().enumerate() {
            stick.add_trial(x, j == z, rng);
        }
    }
    for (k, expert) in next.experts.iter_mut().enumerate() {
        expert
            .redraw(config, rng)
            .map_err(|error| MoveError::Expert { k, error })?;
    }
    if let Some(k) = next.experts.iter().position(|e| !e.is_finite()) {
        return Err(MoveError::Expert {
            k,
            error: Error::NonFinite,
        });
    }
    if K > 1 {
        // φ | ω, z; the scales | φ; φ again (docs/model.md §6).
        let gate = |error| MoveError::Gate { error };
        let sticks = next.sticks.as_mut();
        horseshoe::rebuild(sticks, &next.global, config, rng).map_err(gate)?;
        horseshoe::refresh(sticks, &mut next.global, config, rng).map_err(gate)?;
        if sticks.iter().flat_map(|s| s.phi()).any(|v| !v.is_finite()) {
            return Err(gate(Error::NonFinite));
        }
    }
    *particle = next;
    Ok(())
}
