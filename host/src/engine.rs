//! One interface over the three engines: `core` (the f32 `hsmoe-core`
//! filter, as on the device), `reference` (the f64 reference PL) and
//! `gibbs` (the batch Gibbs gold standard).
//!
//! The two particle engines implement [`OnlineEngine`] and are fed one
//! row at a time; the Gibbs sampler is a batch method ([`gibbs_final`]).
//! Outputs are the serializable summaries of the `hsmoe fit` JSON
//! ([`Step`], [`PredictiveMoments`], [`Router`], [`Horseshoe`]), generic over the
//! float type so the core's f32 values can be written as f32.
//!
//! The core's sizes `K` and `D` are const generics; [`online_engine`]
//! dispatches a runtime `(k, d)` to code compiled for [`CORE_K`] ×
//! [`CORE_D`]. `N` is a runtime size.

use crate::data::Dataset;
use crate::family::Family;
use crate::gibbs::{self, GibbsOptions};
use crate::mixture::{CoefficientMoments, ExpertCoefficients, TComponent, Unstandardize};
use crate::moves::{
    sweep_all, sweep_seed, MoveOptions, MoveReport, Mover, MoverState, Moves, SweepOutcome,
    SweepPlan, WindowOptions,
};
use crate::reference::dist::log_sum_exp;
use crate::reference::expert;
use crate::reference::gate::{log_stick_breaking, logits};
use crate::reference::linalg::dot;
use crate::reference::{GateProposals, ReferenceError, ReferenceFilter};
use hsmoe_core::block::{BlockMove, BlockState, Row};
use hsmoe_core::expert::{Bernoulli, Expert, Gaussian, Student, StudentT};
use hsmoe_core::snapshot::{xorshift_from_state, xorshift_state, SnapshotError, SnapshotShape};
use hsmoe_core::{posterior, Config, Const, Experts, Features, FilterState, Particle, ParticleSet};
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which engine `hsmoe fit` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The f32 `hsmoe-core` particle filter, exactly as on the device.
    Core,
    /// The independent f64 reference particle filter.
    Reference,
    /// The batch Gibbs sampler (no sequential output).
    Gibbs,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Core => "core",
            EngineKind::Reference => "reference",
            EngineKind::Gibbs => "gibbs",
        })
    }
}

/// Which particle engine, with which experts: an [`EngineKind`] alone
/// means Gaussian experts.
///
/// # Examples
/// ```
/// use hsmoe_host::engine::{online_engine_with_moves, EngineChoice, EngineKind};
/// use hsmoe_host::family::Family;
/// let config = hsmoe_core::Config::default_for(2);
/// let choice = EngineChoice { kind: EngineKind::Core, family: Family::Bernoulli };
/// let mut core = online_engine_with_moves(choice, 2, 2, 50, &config, 1, None).unwrap();
/// assert!(core.observe(&[1.0, 0.3], 1.0).is_ok());
/// assert!(core.observe(&[1.0, 0.3], 0.5).is_err()); // not 0 or 1
/// let reference = EngineChoice { kind: EngineKind::Reference, ..choice };
/// let mut reference = online_engine_with_moves(reference, 2, 2, 50, &config, 1, None).unwrap();
/// assert!(!reference.single_precision() && reference.observe(&[1.0, 0.3], 0.5).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineChoice {
    /// The engine.
    pub kind: EngineKind,
    /// The experts' likelihood.
    pub family: Family,
}

impl From<EngineKind> for EngineChoice {
    fn from(kind: EngineKind) -> Self {
        EngineChoice {
            kind,
            family: Family::Gaussian,
        }
    }
}

/// Why an engine could not be built or could not absorb a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// The core engine is not compiled for this `(k, d)`.
    Unsupported {
        /// Requested number of experts.
        k: usize,
        /// Requested number of features (intercept included).
        d: usize,
    },
    /// The core filter refused (see [`hsmoe_core::Error`]).
    Core(hsmoe_core::Error),
    /// The reference engine or the Gibbs sampler refused.
    Reference(ReferenceError),
    /// Only the core engine can do this (its state has a saved form).
    CoreOnly {
        /// What was asked.
        what: &'static str,
    },
    /// A saved filter state could not be restored.
    Snapshot(SnapshotError),
    /// A saved state's stored observations do not have `d` features.
    StoredStream,
    /// A fit with the window move has no saved form (the frozen copies
    /// and the block are not in the snapshot).
    WindowNotSaved,
    /// What was asked is not built for this expert family yet.
    FamilyUnsupported {
        /// The family.
        family: Family,
        /// What was asked.
        what: &'static str,
    },
    /// Fewer particles than islands.
    TooFewParticles {
        /// Particles N.
        particles: usize,
        /// Islands asked for.
        islands: usize,
    },
    /// Island `island` refused a row the islands before it had absorbed
    /// (its particle set collapsed), so the islands no longer describe
    /// the same rows; the engine refuses everything after.
    IslandsOutOfStep {
        /// The island (0-based).
        island: usize,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Unsupported { k, d } => write!(
                f,
                "the core engine is compiled for K in {CORE_K:?} and D in {CORE_D:?} \
                 (D counts the intercept), not K = {k}, D = {d}; use --engine reference"
            ),
            EngineError::Core(e) => write!(f, "core engine: {e}"),
            EngineError::Reference(e) => write!(f, "reference engine: {e}"),
            EngineError::CoreOnly { what } => {
                write!(f, "{what} needs the core engine (--engine core)")
            }
            EngineError::Snapshot(e) => write!(f, "filter state: {e}"),
            EngineError::StoredStream => {
                write!(f, "stored observations do not match the filter's D")
            }
            EngineError::WindowNotSaved => {
                write!(f, "a fit with --window cannot be saved")
            }
            EngineError::FamilyUnsupported { family, what } => {
                write!(f, "{what} is not available for {family} experts yet")
            }
            EngineError::TooFewParticles { particles, islands } => write!(
                f,
                "{particles} particles cannot fill {islands} islands; \
                 use more --particles or fewer --islands"
            ),
            EngineError::IslandsOutOfStep { island } => write!(
                f,
                "island {island} refused a row the others absorbed; the fit cannot go on"
            ),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<hsmoe_core::Error> for EngineError {
    fn from(e: hsmoe_core::Error) -> Self {
        EngineError::Core(e)
    }
}

impl From<SnapshotError> for EngineError {
    fn from(e: SnapshotError) -> Self {
        EngineError::Snapshot(e)
    }
}

impl From<ReferenceError> for EngineError {
    fn from(e: ReferenceError) -> Self {
        EngineError::Reference(e)
    }
}

/// One PL step's report: the one-step-ahead predictive of `y_t` (before
/// `y_t` is used), its log density at `y_t`, the ESS and the mean gate and
/// allocation probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step<F> {
    /// Predictive mean.
    pub mean: F,
    /// Predictive variance.
    pub var: F,
    /// `ln p̂(y_t | past)`.
    pub log_pred: F,
    /// Effective sample size before resampling.
    pub ess: F,
    /// Particle-mean gate probabilities `π_k(x_t)` (length K).
    pub gate: Vec<F>,
    /// Particle-mean allocation probabilities of docs/model.md §3 step 4
    /// (length K).
    pub alloc: Vec<F>,
}

/// A posterior predictive mean and variance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PredictiveMoments<F> {
    /// Predictive mean.
    pub mean: F,
    /// Predictive variance.
    pub var: F,
}

/// Router scores at one `x` (docs/model.md §8): mean and standard deviation of
/// the gate probabilities (K) and of the stick logits (K − 1), over particles
/// or Gibbs draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Router<F> {
    /// Where the scores were taken (intercept included).
    pub x: Vec<f64>,
    /// Mean of `π_k(x)`.
    pub gate_mean: Vec<F>,
    /// Standard deviation of `π_k(x)`.
    pub gate_sd: Vec<F>,
    /// Mean of `ψ_j(x)`.
    pub logit_mean: Vec<F>,
    /// Standard deviation of `ψ_j(x)`.
    pub logit_sd: Vec<F>,
}

/// Gate coefficients and horseshoe scales, `(K − 1) × D` matrices row by
/// stick. Fields an engine cannot provide are `None` (`null` in JSON);
/// each field says which engines fill it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Horseshoe<F> {
    /// Mean of `φ_{j,l}` (all engines).
    pub phi_mean: Vec<Vec<F>>,
    /// Standard deviation of `φ_{j,l}` (all engines).
    pub phi_sd: Option<Vec<Vec<F>>>,
    /// Mean shrinkage factor `1/(1 + τ²λ²_{j,l})`, near 1 = shrunk to 0;
    /// 0 for the unshrunk intercept (core, reference).
    pub shrinkage: Option<Vec<Vec<F>>>,
    /// Mean of `τ²` (all engines).
    pub tau2_mean: F,
    /// Geometric mean of `τ²` (all engines).
    pub tau2_geometric_mean: Option<F>,
}

/// `f` applied to every entry of a matrix.
fn map_rows<F: Copy, G>(rows: &[Vec<F>], f: &impl Fn(F) -> G) -> Vec<Vec<G>> {
    rows.iter()
        .map(|r| r.iter().map(|&v| f(v)).collect())
        .collect()
}

impl<F: Copy> Step<F> {
    /// `f` applied to every number (e.g. narrowing a core step to f32).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::engine::Step;
    /// let step = Step { mean: 0.5, var: 2.0, log_pred: -1.0, ess: 9.0, gate: vec![1.0], alloc: vec![1.0] };
    /// let narrow: Step<f32> = step.map(&|v| v as f32);
    /// assert_eq!(narrow.var, 2.0f32);
    /// ```
    pub fn map<G>(&self, f: &impl Fn(F) -> G) -> Step<G> {
        Step {
            mean: f(self.mean),
            var: f(self.var),
            log_pred: f(self.log_pred),
            ess: f(self.ess),
            gate: self.gate.iter().map(|&v| f(v)).collect(),
            alloc: self.alloc.iter().map(|&v| f(v)).collect(),
        }
    }
}

impl<F: Copy> PredictiveMoments<F> {
    /// `f` applied to every number.
    pub fn map<G>(&self, f: &impl Fn(F) -> G) -> PredictiveMoments<G> {
        PredictiveMoments {
            mean: f(self.mean),
            var: f(self.var),
        }
    }
}

impl<F: Copy> Router<F> {
    /// `f` applied to every score (`x` is kept).
    pub fn map<G>(&self, f: &impl Fn(F) -> G) -> Router<G> {
        let m = |v: &[F]| v.iter().map(|&v| f(v)).collect();
        Router {
            x: self.x.clone(),
            gate_mean: m(&self.gate_mean),
            gate_sd: m(&self.gate_sd),
            logit_mean: m(&self.logit_mean),
            logit_sd: m(&self.logit_sd),
        }
    }
}

impl<F: Copy> Horseshoe<F> {
    /// `f` applied to every number.
    pub fn map<G>(&self, f: &impl Fn(F) -> G) -> Horseshoe<G> {
        Horseshoe {
            phi_mean: map_rows(&self.phi_mean, f),
            phi_sd: self.phi_sd.as_ref().map(|m| map_rows(m, f)),
            shrinkage: self.shrinkage.as_ref().map(|m| map_rows(m, f)),
            tau2_mean: f(self.tau2_mean),
            tau2_geometric_mean: self.tau2_geometric_mean.map(f),
        }
    }
}

/// A particle engine fed one observation at a time.
///
/// Rows passed to every method have the engine's `d` entries (intercept
/// included); the caller checks this.
pub trait OnlineEngine {
    /// Absorbs `(x, y)` (docs/model.md §3) and reports the step.
    ///
    /// # Errors
    /// The engine's refusal; the engine's state is unchanged.
    fn observe(&mut self, x: &[f64], y: f64) -> Result<Step<f64>, EngineError>;
    /// `Σ_t ln p̂(y_t | past)` so far.
    fn log_marginal(&self) -> f64;
    /// Allocation frequencies (length K, docs/model.md §8): once moves
    /// have run, the particles' mean share of the observations after the
    /// final sweeps (the posterior's, as the Gibbs sampler reports them);
    /// without, the device's time average of the step-4 probabilities.
    fn allocation_freq(&self) -> Vec<f64>;
    /// The particles' mean share of the observations per expert, each
    /// particle's shares sorted in decreasing order first: label-free, so
    /// comparable with the Gibbs sampler's (docs/model.md §8).
    fn allocation_freq_sorted(&self) -> Vec<f64>;
    /// Posterior predictive and mean gate probabilities at `x`.
    ///
    /// # Errors
    /// The engine's refusal of `x`.
    fn predict(&self, x: &[f64]) -> Result<(PredictiveMoments<f64>, Vec<f64>), EngineError>;
    /// Per expert, the posterior probability that `(x, y)` came from it:
    /// the particle mean of `P(z = k | x, y) ∝ π_k(x) t_k(y | x)`
    /// (docs/model.md §8). Label-dependent, like the gate.
    ///
    /// # Errors
    /// The engine's refusal of `x` or `y`.
    fn allocation(&self, x: &[f64], y: f64) -> Result<Vec<f64>, EngineError>;
    /// Router scores at `x`.
    ///
    /// # Errors
    /// The engine's refusal of `x`.
    fn router(&self, x: &[f64]) -> Result<Router<f64>, EngineError>;
    /// Gate coefficient and horseshoe summaries.
    fn horseshoe(&self) -> Horseshoe<f64>;
    /// Whether the engine computes in f32 (its outputs are exact f32 values).
    fn single_precision(&self) -> bool;
    /// After the last observation: the final sweeps of the engine's moves
    /// (nothing without moves).
    ///
    /// # Errors
    /// The engine's refusal; a particle whose sweep fails is kept as it was.
    fn finish(&mut self) -> Result<(), EngineError>;
    /// What the engine's moves did (`None` without moves).
    fn moves(&self) -> Option<MoveReport>;
    /// Each island's seed, size and evidence (`None` for a single filter,
    /// see [`crate::islands`]).
    fn islands(&self) -> Option<Vec<IslandSummary>> {
        None
    }
    /// Everything needed to continue exactly from here ([`resume_core`]),
    /// one state per island (one for a single filter).
    /// Call it before [`OnlineEngine::finish`]: the final sweeps are for
    /// the report, and the continuing filter never ran them.
    ///
    /// # Errors
    /// [`EngineError::CoreOnly`] for engines without a saved form.
    fn save(&mut self) -> Result<Vec<EngineState>, EngineError> {
        Err(EngineError::CoreOnly {
            what: "saving a model",
        })
    }
    /// The posterior predictive at `x` as its components (for quantiles).
    ///
    /// # Errors
    /// The engine's refusal of `x`; [`EngineError::CoreOnly`] for engines
    /// that do not expose them.
    fn mixture(&self, x: &[f64]) -> Result<Vec<TComponent>, EngineError> {
        let _ = x;
        Err(EngineError::CoreOnly {
            what: "predictive quantiles",
        })
    }
    /// Each expert's posterior coefficients mapped by `map` (to original
    /// units), with its allocation share; `None` for engines that do not
    /// expose them.
    fn coefficients(&self, map: &Unstandardize) -> Option<Vec<ExpertCoefficients>> {
        let _ = map;
        None
    }
}

/// One island of a fit (see [`crate::islands`]), as the fit JSON reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IslandSummary {
    /// Its seed: the island is the single filter of this seed.
    pub seed: u64,
    /// Its particles.
    pub particles: usize,
    /// Its own `Σ_t ln p̂(y_t | past)`.
    pub log_marginal: f64,
    /// Its weight in the posterior, `Ẑ_i / Σ_j Ẑ_j`.
    pub weight: f64,
}

/// What a core engine needs to continue exactly where it stood: the
/// engine part of a saved model (host/src/model.rs writes it).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineState {
    /// The filter (particles, running state, the RNG) in the core's
    /// snapshot format (docs/protocol.md §5).
    pub snapshot: Vec<u8>,
    /// Where the moves stand (`None` without moves).
    pub moves: Option<MoverState>,
    /// The observations the moves sweep over, as the core saw them (each
    /// `x` has D entries); empty without moves.
    pub stream: Vec<(Vec<f32>, f32)>,
}

/// Heap storage for a runtime number of core particles: what a
/// [`ParticleSet`] borrows.
#[derive(Debug, Clone)]
pub struct OwnedSet<const K: usize, const D: usize, E = Gaussian<D>>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    particles: Vec<Particle<K, D, E>>,
    weights: Vec<f32>,
    counts: Vec<u32>,
    state: FilterState<K>,
}

impl<const K: usize, const D: usize, E> OwnedSet<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    /// `n` zero particles (reset or restore before use) and a state
    /// with `config`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::engine::OwnedSet;
    /// use rand_core::SeedableRng;
    /// let config = hsmoe_core::Config::default_for(2);
    /// let mut storage = OwnedSet::<3, 2>::new(50, config);
    /// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
    /// let mut set = storage.as_set().unwrap();
    /// set.reset(&config, &mut rng).unwrap();
    /// assert!(set.observe(&[1.0, 0.5], 0.2, &mut rng).is_ok());
    /// ```
    pub fn new(n: usize, config: Config) -> Self {
        OwnedSet {
            particles: vec![Particle::ZERO; n],
            weights: vec![0.0; n],
            counts: vec![0; n],
            state: FilterState::new(config),
        }
    }

    /// The set over this storage.
    ///
    /// # Errors
    /// [`hsmoe_core::Error::WrongLength`] for zero particles.
    pub fn as_set(&mut self) -> Result<ParticleSet<'_, K, D, E>, hsmoe_core::Error> {
        ParticleSet::new(
            &mut self.particles,
            &mut self.weights,
            &mut self.counts,
            &mut self.state,
        )
    }
}

/// Heap storage of the window move for a runtime number of particles and
/// block length: what a [`BlockMove`] borrows.
#[derive(Debug, Clone)]
struct OwnedBlock<const K: usize, const D: usize, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    frozen: Vec<Particle<K, D, E>>,
    rows: Vec<Row<D>>,
    state: BlockState,
}

impl<const K: usize, const D: usize, E> OwnedBlock<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    fn new(n: usize, window: WindowOptions) -> Self {
        OwnedBlock {
            frozen: vec![Particle::ZERO; n],
            rows: vec![([0.0; D], 0.0); window.rows],
            state: BlockState::new(window.sweeps),
        }
    }

    fn as_move(&mut self) -> Result<BlockMove<'_, K, D, E>, hsmoe_core::Error> {
        BlockMove::new(&mut self.frozen, &mut self.rows, &mut self.state)
    }
}

/// Builds the `core` or `reference` particle engine: `n` particles, `k`
/// experts, `d` features, drawn from the prior with
/// `XorShiftRng::seed_from_u64(seed)`.
///
/// The core engine uses that one RNG for `reset` and then every
/// `observe`, in that order, as the firmware does, so its output is
/// bit-identical to the device's for the same seed, data and sizes.
///
/// # Errors
/// [`EngineError::Unsupported`] if the core is not compiled for `(k, d)`
/// (see [`CORE_K`], [`CORE_D`]); the engine's refusal of `config` or of a
/// zero size. `EngineKind::Gibbs` is not an online engine:
/// `Unsupported` as well.
///
/// # Examples
/// ```
/// use hsmoe_host::engine::{online_engine, EngineKind};
/// let config = hsmoe_core::Config::default_for(2);
/// let mut core = online_engine(EngineKind::Core, 3, 2, 100, &config, 1).unwrap();
/// let step = core.observe(&[1.0, 0.5], 0.2).unwrap();
/// assert!(core.single_precision() && step.ess <= 100.0);
/// assert_eq!(step.log_pred, core.log_marginal());
/// assert!(online_engine(EngineKind::Core, 3, 99, 100, &config, 1).is_err());
/// ```
pub fn online_engine(
    kind: EngineKind,
    k: usize,
    d: usize,
    n: usize,
    config: &Config,
    seed: u64,
) -> Result<Box<dyn OnlineEngine>, EngineError> {
    online_engine_with_moves(kind, k, d, n, config, seed, None)
}

/// [`online_engine`] with resample-move rejuvenation (docs/model.md §4)
/// when `moves` is `Some` ([`Moves::Stream`]): moves after the steps the
/// schedule picks, and final sweeps in [`OnlineEngine::finish`]. The moves
/// draw from their own streams (see [`crate::moves`]), so with `None` the
/// run is exactly [`online_engine`]'s. [`Moves::Window`] is the core's
/// block window move instead ([`hsmoe_core::block`]), what a device can
/// run in bounded memory, drawing from the filter's own stream.
///
/// # Errors
/// As [`online_engine`]; [`EngineError::CoreOnly`] for the window move on
/// another engine.
///
/// # Examples
/// ```
/// use hsmoe_host::engine::{online_engine_with_moves, EngineKind};
/// use hsmoe_host::moves::MoveOptions;
/// let config = hsmoe_core::Config::default_for(2);
/// let moves = Some(MoveOptions::DEFAULT);
/// let mut core = online_engine_with_moves(EngineKind::Core, 2, 2, 50, &config, 1, moves).unwrap();
/// for t in 0..20 {
///     core.observe(&[1.0, t as f64 / 10.0], 0.5).unwrap();
/// }
/// core.finish().unwrap();
/// let report = core.moves().unwrap();
/// assert_eq!(report.sweeps, report.moves + 8); // the final sweeps
///
/// use hsmoe_host::moves::{Moves, WindowOptions};
/// let window = Moves::Window(WindowOptions { rows: 8, sweeps: 2 });
/// let mut core = online_engine_with_moves(EngineKind::Core, 2, 2, 50, &config, 1, window).unwrap();
/// core.observe(&[1.0, 0.3], 0.5).unwrap();
/// assert!(core.save().is_err()); // the frozen copies have no saved form
/// assert!(online_engine_with_moves(EngineKind::Reference, 2, 2, 50, &config, 1, window).is_err());
/// ```
pub fn online_engine_with_moves(
    kind: impl Into<EngineChoice>,
    k: usize,
    d: usize,
    n: usize,
    config: &Config,
    seed: u64,
    moves: impl Into<Moves>,
) -> Result<Box<dyn OnlineEngine>, EngineError> {
    let EngineChoice { kind, family } = kind.into();
    let moves = moves.into();
    let (stream, window) = match moves {
        Moves::None => (None, None),
        Moves::Stream(m) => (Some(m), None),
        Moves::Window(w) => (None, Some(w)),
    };
    match kind {
        EngineKind::Core => {
            let start = Start::Prior {
                n,
                config,
                moves: stream,
                window,
            };
            core_engine(family, k, d, start, seed).unwrap_or(Err(EngineError::Unsupported { k, d }))
        }
        _ if window.is_some() => Err(EngineError::CoreOnly { what: "--window" }),
        EngineKind::Reference if config.resample_ess < 1.0 => Err(EngineError::CoreOnly {
            what: "--resample-ess below 1",
        }),
        EngineKind::Reference => {
            let filter = ReferenceFilter::for_family(family, n, (k, d), config, seed)?;
            Ok(Box::new(ReferenceEngine {
                filter,
                mover: stream.map(|m| (Mover::new(m, k, d), Vec::new(), Vec::new())),
                seed,
                last_ess: 0.0,
            }))
        }
        EngineKind::Gibbs => Err(EngineError::Unsupported { k, d }),
    }
}

/// The core engine continuing from `saved` (see [`OnlineEngine::save`]),
/// for `k` experts and `d` features; `seed` is the fit's, which seeds the
/// moves' streams.
///
/// # Errors
/// [`EngineError::Unsupported`] for a `(k, d)` the core is not compiled
/// for; [`EngineError::Snapshot`] for a snapshot of another shape,
/// version or damaged; [`EngineError::StoredStream`] for stored rows of
/// another length.
///
/// # Examples
/// ```
/// use hsmoe_host::engine::{online_engine_with_moves, resume_core, EngineKind};
/// use hsmoe_host::moves::MoveOptions;
/// let config = hsmoe_core::Config::default_for(2);
/// let moves = Some(MoveOptions::DEFAULT);
/// let mut a = online_engine_with_moves(EngineKind::Core, 2, 2, 30, &config, 4, moves).unwrap();
/// a.observe(&[1.0, 0.3], 0.5).unwrap();
/// let mut b = resume_core(2, 2, &a.save().unwrap()[0], 4).unwrap();
/// assert_eq!(a.observe(&[1.0, -0.1], 0.2).unwrap(), b.observe(&[1.0, -0.1], 0.2).unwrap());
/// ```
pub fn resume_core(
    k: usize,
    d: usize,
    saved: &EngineState,
    seed: u64,
) -> Result<Box<dyn OnlineEngine>, EngineError> {
    let family = SnapshotShape::read(&saved.snapshot)?
        .family()
        .ok_or(SnapshotError::Family)?;
    core_engine(family, k, d, Start::Saved(saved), seed)
        .unwrap_or(Err(EngineError::Unsupported { k, d }))
}

/// One stored row as the core sees it.
type Observation<const D: usize> = ([f32; D], f32);

/// What the core engine does per expert family beyond the filter itself
/// and its saved form: the report's predictive components and
/// coefficients. By default a family has neither (each a
/// [`EngineError::FamilyUnsupported`]); Gaussian experts have both.
trait CoreFamily<const K: usize, const D: usize>: Expert<D>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    /// The posterior predictive at `x` as its Student-t components.
    fn components(
        particles: &[Particle<K, D, Self>],
        x: &[f32; D],
    ) -> Result<Vec<TComponent>, EngineError> {
        let _ = (particles, x);
        Err(EngineError::family::<K, D, Self>("predictive quantiles"))
    }

    /// Each expert's coefficients mapped by `map`, with its share.
    fn coefficients(
        particles: &[Particle<K, D, Self>],
        map: &Unstandardize,
        shares: &[f64],
    ) -> Option<Vec<ExpertCoefficients>> {
        let _ = (particles, map, shares);
        None
    }
}

/// The predictive components of every particle's experts, each a
/// Student-t, weighted by the gate.
fn t_components<const K: usize, const D: usize, E: Expert<D, Predictive = StudentT>>(
    particles: &[Particle<K, D, E>],
    x: &[f32; D],
) -> Vec<TComponent>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let n = particles.len() as f64;
    let (mut psi, mut ln_pi, mut pi) = ([0.0; K], [0.0; K], [0.0; K]);
    let mut components = Vec::with_capacity(particles.len() * K);
    for particle in particles {
        particle.gate_probabilities(x, &mut psi, &mut ln_pi, &mut pi);
        for (expert, &p) in particle.experts().iter().zip(&pi) {
            let t = expert.predictive(x);
            components.push(TComponent {
                weight: f64::from(p) / n,
                loc: t.loc.into(),
                scale2: t.scale2.into(),
                df: t.df.into(),
            });
        }
    }
    components
}

impl<const K: usize, const D: usize> CoreFamily<K, D> for Gaussian<D>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    fn components(
        particles: &[Particle<K, D, Self>],
        x: &[f32; D],
    ) -> Result<Vec<TComponent>, EngineError> {
        Ok(t_components(particles, x))
    }

    fn coefficients(
        particles: &[Particle<K, D, Self>],
        map: &Unstandardize,
        shares: &[f64],
    ) -> Option<Vec<ExpertCoefficients>> {
        // Each row of `map` as the f32 vector whose quadratic form gives
        // that coefficient's variance within a particle.
        let rows: Vec<[f32; D]> = map
            .rows
            .iter()
            .map(|r| narrow::<D>(r))
            .collect::<Result<_, _>>()
            .ok()?;
        let summaries = (0..K)
            .map(|k| {
                let mut moments = CoefficientMoments::new(D);
                for particle in particles {
                    let expert = &particle.experts()[k];
                    let beta = expert.mean().map(f64::from);
                    let (a, b) = (f64::from(expert.shape()), f64::from(expert.scale()));
                    // β | y ~ Student-t with variance b/(a − 1)·P⁻¹ for a > 1.
                    let var: Option<Vec<f64>> = (a > 1.0).then(|| {
                        rows.iter()
                            .map(|r| b / (a - 1.0) * f64::from(expert.quadratic_form(r)))
                            .collect()
                    });
                    moments.add(&map.apply(&beta), var.as_deref());
                }
                moments.finish(shares[k])
            })
            .collect();
        Some(summaries)
    }
}

/// The coefficients of a family whose particles carry a draw of `β`
/// (`beta` reads it): each particle's draw is one point of the posterior,
/// with no variance of its own, so each expert's mean and sd are those of
/// the particles' draws.
fn drawn_coefficients<const K: usize, const D: usize, E: Expert<D>>(
    particles: &[Particle<K, D, E>],
    map: &Unstandardize,
    shares: &[f64],
    beta: impl Fn(&E) -> [f32; D],
) -> Vec<ExpertCoefficients>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let point = [0.0; D];
    (0..K)
        .map(|k| {
            let mut moments = CoefficientMoments::new(D);
            for particle in particles {
                let draw = beta(&particle.experts()[k]).map(f64::from);
                moments.add(&map.apply(&draw), Some(&point));
            }
            moments.finish(shares[k])
        })
        .collect()
}

/// Coefficients (on the logit scale) from each particle's `β`; no
/// quantiles (the predictive is a probability).
impl<const K: usize, const D: usize> CoreFamily<K, D> for Bernoulli<D>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    fn coefficients(
        particles: &[Particle<K, D, Self>],
        map: &Unstandardize,
        shares: &[f64],
    ) -> Option<Vec<ExpertCoefficients>> {
        Some(drawn_coefficients(particles, map, shares, |e| *e.coef()))
    }
}

/// Quantiles from each particle's Student-t experts at its own
/// `(β, σ²)`; coefficients from its `β`.
impl<const K: usize, const D: usize> CoreFamily<K, D> for Student<D>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    fn components(
        particles: &[Particle<K, D, Self>],
        x: &[f32; D],
    ) -> Result<Vec<TComponent>, EngineError> {
        Ok(t_components(particles, x))
    }

    fn coefficients(
        particles: &[Particle<K, D, Self>],
        map: &Unstandardize,
        shares: &[f64],
    ) -> Option<Vec<ExpertCoefficients>> {
        Some(drawn_coefficients(particles, map, shares, |e| {
            e.parameters().beta
        }))
    }
}

impl EngineError {
    /// `what` is not built for experts of `E`'s family.
    fn family<const K: usize, const D: usize, E: CoreFamily<K, D>>(what: &'static str) -> Self
    where
        Const<K>: Experts,
        Const<D>: Features,
    {
        EngineError::FamilyUnsupported {
            family: <E as Expert<D>>::FAMILY,
            what,
        }
    }
}

/// The core filter on heap storage for a runtime number of particles.
struct CoreEngine<const K: usize, const D: usize, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    storage: OwnedSet<K, D, E>,
    rng: XorShiftRng,
    /// The moves, and the stream they sweep over.
    mover: Option<(Mover, Vec<Observation<D>>)>,
    /// The window move.
    window: Option<OwnedBlock<K, D, E>>,
    seed: u64,
    /// The last step's ESS, for the record of the final sweeps.
    last_ess: f32,
}

/// `x` narrowed to f32 (`as f32`, round to nearest, as the device's host
/// link sends it).
fn narrow<const D: usize>(x: &[f64]) -> Result<[f32; D], EngineError>
where
    Const<D>: Features,
{
    let x: &[f64; D] = x.try_into().map_err(|_| hsmoe_core::Error::WrongLength)?;
    Ok(x.map(|v| v as f32))
}

/// How a core engine starts: drawn from the prior, or from a saved state.
#[derive(Clone, Copy)]
enum Start<'a> {
    Prior {
        n: usize,
        config: &'a Config,
        moves: Option<MoveOptions>,
        window: Option<WindowOptions>,
    },
    Saved(&'a EngineState),
}

impl<const K: usize, const D: usize, E> CoreEngine<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: CoreFamily<K, D> + 'static,
{
    fn boxed(start: Start<'_>, seed: u64) -> Result<Box<dyn OnlineEngine>, EngineError> {
        let engine: CoreEngine<K, D, E> = match start {
            Start::Prior {
                n,
                config,
                moves,
                window,
            } => {
                let mut engine = CoreEngine {
                    storage: OwnedSet::new(n, *config),
                    rng: XorShiftRng::seed_from_u64(seed),
                    mover: moves.map(|m| (Mover::new(m, K, D), Vec::new())),
                    window: window.map(|w| OwnedBlock::new(n, w)),
                    seed,
                    last_ess: 0.0,
                };
                let mut set = engine.storage.as_set()?;
                set.reset(config, &mut engine.rng)?;
                if let Some(block) = &mut engine.window {
                    block.as_move()?.start(&set)?;
                }
                engine
            }
            Start::Saved(saved) => {
                let n = SnapshotShape::read(&saved.snapshot)?.n as usize;
                let mut storage = OwnedSet::new(n.max(1), Config::default_for(D));
                let rng_state = storage.as_set()?.restore_snapshot(&saved.snapshot)?;
                let stream = saved
                    .stream
                    .iter()
                    .map(|(x, y)| Ok((narrow_f32::<D>(x)?, *y)))
                    .collect::<Result<Vec<_>, EngineError>>()?;
                CoreEngine {
                    storage,
                    rng: xorshift_from_state(&rng_state),
                    mover: saved
                        .moves
                        .as_ref()
                        .map(|m| (Mover::resume(m, K, D), stream)),
                    window: None,
                    seed,
                    last_ess: 0.0,
                }
            }
        };
        Ok(Box::new(engine))
    }
}

/// A stored row of the saved stream as `[f32; D]`.
fn narrow_f32<const D: usize>(x: &[f32]) -> Result<[f32; D], EngineError> {
    x.try_into().map_err(|_| EngineError::StoredStream)
}

impl<const K: usize, const D: usize, E> OnlineEngine for CoreEngine<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: CoreFamily<K, D>,
{
    fn observe(&mut self, x: &[f64], y: f64) -> Result<Step<f64>, EngineError> {
        let x: [f32; D] = narrow(x)?;
        let mut set = self.storage.as_set()?;
        let update = match &mut self.window {
            Some(block) => block
                .as_move()?
                .observe(&mut set, &x, y as f32, &mut self.rng)?,
            None => set.observe(&x, y as f32, &mut self.rng)?,
        };
        self.last_ess = update.ess;
        if let Some((mover, stream)) = &mut self.mover {
            stream.push((x, y as f32));
            let storage = &mut self.storage;
            let (particles, config, seed) =
                (&mut storage.particles, storage.state.config(), self.seed);
            mover.after_step(particles.len(), update.ess.into(), |plan| {
                sweep_all(particles, stream, config, seed, plan)
            });
        }
        Ok(Step {
            mean: update.pred_mean.into(),
            var: update.pred_var.into(),
            log_pred: update.log_pred.into(),
            ess: update.ess.into(),
            gate: update.gate.map(f64::from).to_vec(),
            alloc: update.alloc.map(f64::from).to_vec(),
        })
    }

    fn log_marginal(&self) -> f64 {
        self.storage.state.log_marginal()
    }

    fn allocation_freq(&self) -> Vec<f64> {
        let freq = match &self.mover {
            Some((mover, _)) if mover.swept() => posterior::expert_shares(
                &self.storage.particles,
                self.storage.state.config(),
                false,
            ),
            _ => self.storage.state.allocation_freq(),
        };
        freq.map(f64::from).to_vec()
    }

    fn allocation_freq_sorted(&self) -> Vec<f64> {
        posterior::expert_shares(&self.storage.particles, self.storage.state.config(), true)
            .map(f64::from)
            .to_vec()
    }

    fn predict(&self, x: &[f64]) -> Result<(PredictiveMoments<f64>, Vec<f64>), EngineError> {
        let p = posterior::predict(&self.storage.particles, &narrow::<D>(x)?)?;
        let prediction = PredictiveMoments {
            mean: p.mean.into(),
            var: p.var.into(),
        };
        Ok((prediction, p.gate.map(f64::from).to_vec()))
    }

    fn allocation(&self, x: &[f64], y: f64) -> Result<Vec<f64>, EngineError> {
        let a = posterior::allocation(&self.storage.particles, &narrow::<D>(x)?, y as f32)?;
        Ok(a.map(f64::from).to_vec())
    }

    fn router(&self, x: &[f64]) -> Result<Router<f64>, EngineError> {
        let r = posterior::router_scores(&self.storage.particles, &narrow::<D>(x)?)?;
        let wide = |v: &[f32]| v.iter().map(|&s| f64::from(s)).collect();
        // The core pads the K − 1 stick logits with a zero K-th entry.
        Ok(Router {
            x: x.to_vec(),
            gate_mean: wide(&r.gate_mean),
            gate_sd: wide(&r.gate_sd),
            logit_mean: wide(&r.logit_mean[..K - 1]),
            logit_sd: wide(&r.logit_sd[..K - 1]),
        })
    }

    fn horseshoe(&self) -> Horseshoe<f64> {
        let particles = &self.storage.particles;
        let s = posterior::gate_summary(particles, self.storage.state.config());
        let sticks = |m: &[[f32; D]; K]| -> Vec<Vec<f64>> {
            m[..K - 1]
                .iter()
                .map(|row| row.map(f64::from).to_vec())
                .collect()
        };
        // Weighted as every core summary (all weights 1 after resampling).
        let (tau2_sum, total) = particles.iter().fold((0.0, 0.0), |(s, w), p| {
            let weight = f64::from(p.weight());
            (s + weight * f64::from(p.global_scale().tau2()), w + weight)
        });
        Horseshoe {
            phi_mean: sticks(&s.phi_mean),
            phi_sd: Some(sticks(&s.phi_sd)),
            shrinkage: Some(sticks(&s.shrinkage)),
            tau2_mean: tau2_sum / total,
            tau2_geometric_mean: Some(s.tau2_geometric_mean.into()),
        }
    }

    fn single_precision(&self) -> bool {
        true
    }

    fn finish(&mut self) -> Result<(), EngineError> {
        if let Some((mover, stream)) = &mut self.mover {
            let storage = &mut self.storage;
            let (particles, config, seed) =
                (&mut storage.particles, storage.state.config(), self.seed);
            mover.finish(self.last_ess.into(), |plan| {
                sweep_all(particles, stream, config, seed, plan)
            });
        }
        Ok(())
    }

    fn moves(&self) -> Option<MoveReport> {
        self.mover.as_ref().map(|(mover, _)| mover.report())
    }

    fn save(&mut self) -> Result<Vec<EngineState>, EngineError> {
        if self.window.is_some() {
            return Err(EngineError::WindowNotSaved);
        }
        let set = self.storage.as_set()?;
        let mut snapshot = vec![0u8; set.snapshot_len()];
        set.write_snapshot(&xorshift_state(&self.rng), 0, &mut snapshot);
        let (moves, stream) = match &self.mover {
            Some((mover, stream)) => (
                Some(mover.state()),
                stream.iter().map(|(x, y)| (x.to_vec(), *y)).collect(),
            ),
            None => (None, Vec::new()),
        };
        Ok(vec![EngineState {
            snapshot,
            moves,
            stream,
        }])
    }

    fn mixture(&self, x: &[f64]) -> Result<Vec<TComponent>, EngineError> {
        E::components(&self.storage.particles, &narrow(x)?)
    }

    fn coefficients(&self, map: &Unstandardize) -> Option<Vec<ExpertCoefficients>> {
        E::coefficients(&self.storage.particles, map, &self.allocation_freq())
    }
}

/// `CoreEngine::<k, d>` for a `d` in the list, inside the arm for `k`.
macro_rules! core_for_d {
    ($k:literal, $d:expr, ($family:expr, $start:expr, $seed:expr), [$($dd:literal),*]) => {
        match $d {
            $($dd => Some(match $family {
                Family::Gaussian => CoreEngine::<$k, $dd, Gaussian<$dd>>::boxed($start, $seed),
                Family::Bernoulli => CoreEngine::<$k, $dd, Bernoulli<$dd>>::boxed($start, $seed),
                Family::Student => CoreEngine::<$k, $dd, Student<$dd>>::boxed($start, $seed),
            }),)*
            _ => None,
        }
    };
}

/// Declares the supported sizes once: the public lists and the dispatch.
macro_rules! core_sizes {
    (K: [$($k:literal),*], D: $ds:tt) => {
        /// Expert counts `K` the core engine is compiled for.
        pub const CORE_K: &[usize] = &[$($k),*];
        /// Feature counts `D` (intercept included) the core engine is
        /// compiled for. Each `(K, D)` pair is a separate monomorphized
        /// filter: the 120 pairs cost ≈ 45 s of extra CPU time in a
        /// release build of this crate (≈ 13 s in debug), measured
        /// against a 4-pair build.
        pub const CORE_D: &[usize] = &$ds;

        /// The core engine with `family` experts for `(k, d)`, or `None`
        /// if not compiled.
        fn core_engine(
            family: Family,
            k: usize,
            d: usize,
            start: Start<'_>,
            seed: u64,
        ) -> Option<Result<Box<dyn OnlineEngine>, EngineError>> {
            match k {
                $($k => core_for_d!($k, d, (family, start, seed), $ds),)*
                _ => None,
            }
        }
    };
}

core_sizes!(K: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], D: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16]);

/// The reference filter behind [`OnlineEngine`].
struct ReferenceEngine {
    filter: ReferenceFilter,
    /// The moves, and the rows they sweep over.
    mover: Option<(Mover, Vec<Vec<f64>>, Vec<f64>)>,
    seed: u64,
    /// The last step's ESS, for the record of the final sweeps.
    last_ess: f64,
}

impl ReferenceEngine {
    /// One sweep of every particle; particle `i` of move `index` draws
    /// from the same seed as in the core engine.
    fn sweep(
        filter: &mut ReferenceFilter,
        (xs, ys): (&[Vec<f64>], &[f64]),
        seed: u64,
        plan: SweepPlan,
    ) -> Result<SweepOutcome, ReferenceError> {
        let gate = GateProposals {
            proposals: plan.gate_proposals,
            first: plan.index as usize * plan.gate_proposals as usize,
        };
        let (failed, gate_accepted) =
            filter.rejuvenate((xs, ys), gate, |i| sweep_seed(seed, plan.index, i as u64))?;
        Ok(SweepOutcome {
            failed,
            gate_proposals: u64::from(plan.gate_proposals) * filter.n_particles() as u64,
            gate_accepted,
        })
    }
}

impl OnlineEngine for ReferenceEngine {
    fn observe(&mut self, x: &[f64], y: f64) -> Result<Step<f64>, EngineError> {
        let s = self.filter.observe(x, y)?;
        self.last_ess = s.ess;
        if let Some((mover, xs, ys)) = &mut self.mover {
            xs.push(x.to_vec());
            ys.push(y);
            let (filter, seed) = (&mut self.filter, self.seed);
            let mut result = Ok(());
            mover.after_step(filter.n_particles(), s.ess, |plan| {
                Self::sweep(filter, (xs, ys), seed, plan).unwrap_or_else(|error| {
                    result = Err(error);
                    SweepOutcome::default()
                })
            });
            result?;
        }
        Ok(Step {
            mean: s.pred_mean,
            var: s.pred_var,
            log_pred: s.log_pred,
            ess: s.ess,
            gate: s.gate,
            alloc: s.alloc,
        })
    }

    fn log_marginal(&self) -> f64 {
        self.filter.log_marginal()
    }

    fn allocation_freq(&self) -> Vec<f64> {
        match &self.mover {
            Some((mover, ..)) if mover.swept() => self.filter.expert_shares(false),
            _ => self.filter.allocation_freq(),
        }
    }

    fn allocation_freq_sorted(&self) -> Vec<f64> {
        self.filter.expert_shares(true)
    }

    fn predict(&self, x: &[f64]) -> Result<(PredictiveMoments<f64>, Vec<f64>), EngineError> {
        let p = self.filter.predict(x);
        Ok((
            PredictiveMoments {
                mean: p.mean,
                var: p.var,
            },
            p.gate,
        ))
    }

    fn allocation(&self, x: &[f64], y: f64) -> Result<Vec<f64>, EngineError> {
        Ok(self.filter.allocation(x, y)?)
    }

    fn router(&self, x: &[f64]) -> Result<Router<f64>, EngineError> {
        let r = self.filter.router_scores(x);
        Ok(Router {
            x: x.to_vec(),
            gate_mean: r.pi_mean,
            gate_sd: r.pi_sd,
            logit_mean: r.logit_mean,
            logit_sd: r.logit_sd,
        })
    }

    fn horseshoe(&self) -> Horseshoe<f64> {
        let h = self.filter.horseshoe_summary();
        Horseshoe {
            phi_mean: h.phi_mean,
            phi_sd: Some(h.phi_sd),
            shrinkage: Some(h.shrinkage),
            tau2_mean: h.tau2_mean,
            tau2_geometric_mean: Some(h.tau2_geometric_mean),
        }
    }

    fn single_precision(&self) -> bool {
        false
    }

    fn finish(&mut self) -> Result<(), EngineError> {
        if let Some((mover, xs, ys)) = &mut self.mover {
            let (filter, seed) = (&mut self.filter, self.seed);
            let mut result = Ok(());
            mover.finish(self.last_ess, |plan| {
                Self::sweep(filter, (xs, ys), seed, plan).unwrap_or_else(|error| {
                    // The first error is the one reported.
                    result = result.and(Err(error));
                    SweepOutcome::default()
                })
            });
            result?;
        }
        Ok(())
    }

    fn moves(&self) -> Option<MoveReport> {
        self.mover.as_ref().map(|(mover, ..)| mover.report())
    }
}

/// Posterior summaries at the end of the data, for every engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Final<F> {
    /// Posterior predictive at each row's `x`.
    pub predictive: Vec<PredictiveMoments<F>>,
    /// Mean gate probabilities at each row's `x` (T × K).
    pub gate_mean: Vec<Vec<F>>,
    /// Per row, allocation probabilities (T × K) given all the data: for
    /// the particle engines [`OnlineEngine::allocation`] of the row after
    /// the last one (the step's own, data up to t, are in the step
    /// reports); for gibbs the posterior mean of `P(z_t = k | rest)`.
    pub alloc: Vec<Vec<F>>,
    /// Allocation frequencies (length K, docs/model.md §8), see
    /// [`OnlineEngine::allocation_freq`]; for gibbs the posterior mean.
    pub allocation_freq: Vec<F>,
    /// The same with each particle's (or each Gibbs sweep's) frequencies
    /// sorted in decreasing order before averaging: label-free, the one to
    /// compare across engines.
    pub allocation_freq_sorted: Vec<F>,
    /// Router scores at the mean of the rows.
    pub router: Router<F>,
    /// Gate coefficients and horseshoe scales.
    pub horseshoe: Horseshoe<F>,
}

impl<F: Copy> Final<F> {
    /// `f` applied to every number.
    pub fn map<G>(&self, f: &impl Fn(F) -> G) -> Final<G> {
        Final {
            predictive: self.predictive.iter().map(|p| p.map(f)).collect(),
            gate_mean: map_rows(&self.gate_mean, f),
            alloc: map_rows(&self.alloc, f),
            allocation_freq: self.allocation_freq.iter().map(|&v| f(v)).collect(),
            allocation_freq_sorted: self.allocation_freq_sorted.iter().map(|&v| f(v)).collect(),
            router: self.router.map(f),
            horseshoe: self.horseshoe.map(f),
        }
    }
}

/// Mean and standard deviation (divisor n) of each column of `rows`.
fn column_moments(rows: &[Vec<f64>], width: usize) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0.0; width];
    let mut second = vec![0.0; width];
    for row in rows {
        for ((m, s), v) in mean.iter_mut().zip(&mut second).zip(row) {
            *m += v / n;
            *s += v * v / n;
        }
    }
    let sd = mean
        .iter()
        .zip(&second)
        .map(|(m, s)| (s - m * m).max(0.0).sqrt())
        .collect();
    (mean, sd)
}

/// Runs `chains` chains of the batch Gibbs sampler with `k` experts of
/// `family` on all rows of `data` ([`gibbs::run_chains`]) and summarizes
/// their pooled kept sweeps as a [`Final`] (`router` at the mean feature
/// row), with the chains' agreement.
///
/// Label switching can make per-expert summaries (`allocation_freq`,
/// `horseshoe`) average over relabelled modes (see [`crate::gibbs`]);
/// the predictive and the gate probabilities are label-invariant.
///
/// # Errors
/// The sampler's refusal of the data or options.
///
/// # Examples
/// ```
/// use hsmoe_host::data::Dataset;
/// use hsmoe_host::engine::gibbs_final;
/// use hsmoe_host::family::Family;
/// use hsmoe_host::gibbs::{GibbsOptions, Ladder};
/// let x: Vec<Vec<f64>> = (0..40).map(|t| vec![1.0, t as f64 / 40.0]).collect();
/// let y: Vec<f64> = x.iter().map(|x| 2.0 * x[1]).collect();
/// let data = Dataset { feature_names: vec!["intercept".into(), "x".into()], x, y };
/// let opts = GibbsOptions { iterations: 200, burn_in: 50, thin: 1, seed: 3, ladder: Ladder::NONE };
/// let config = hsmoe_core::Config::default_for(2);
/// let (fin, conv) = gibbs_final(&data, 2, Family::Gaussian, &config, &opts, 2).unwrap();
/// assert_eq!((fin.predictive.len(), fin.alloc[0].len()), (40, 2));
/// assert_eq!((conv.chains, conv.kept_per_chain), (2, 150));
/// assert!((fin.predictive[20].mean - 1.0).abs() < 0.2);
/// ```
pub fn gibbs_final(
    data: &Dataset,
    k: usize,
    family: Family,
    config: &Config,
    opts: &GibbsOptions,
    chains: usize,
) -> Result<(Final<f64>, gibbs::Convergence), EngineError> {
    let (xs, ys, x_mean) = (&data.x, &data.y, &data.x_mean());
    let (result, convergence) = gibbs::run_chains(xs, ys, k, family, config, opts, chains)?;
    let draws = &result.draws;
    let n = draws.len() as f64;
    let gate_at = |phi: &[Vec<f64>], x: &[f64]| -> Vec<f64> {
        log_stick_breaking(&logits(phi, x))
            .iter()
            .map(|l| l.exp())
            .collect()
    };

    let mut predictive = Vec::with_capacity(xs.len());
    let mut gate_mean = Vec::with_capacity(xs.len());
    let mut alloc = Vec::with_capacity(xs.len());
    for (x, &y) in xs.iter().zip(ys) {
        let (mean, var) = result.predict(x);
        predictive.push(PredictiveMoments { mean, var });
        let mut gate = vec![0.0; k];
        let mut resp = vec![0.0; k];
        for draw in draws {
            let pi = gate_at(&draw.phi, x);
            // P(z = k | x, y, draw) ∝ π_k p(y | β_k, σ²_k).
            let log_joint: Vec<f64> = pi
                .iter()
                .zip(&draw.beta)
                .zip(&draw.sigma2)
                .map(|((p, beta), &s2)| {
                    p.ln() + expert::log_likelihood(family, y, dot(beta, x), s2)
                })
                .collect();
            let total = log_sum_exp(&log_joint);
            for (((g, r), p), l) in gate.iter_mut().zip(&mut resp).zip(&pi).zip(&log_joint) {
                *g += p / n;
                *r += (l - total).exp() / n;
            }
        }
        gate_mean.push(gate);
        alloc.push(resp);
    }

    let pis: Vec<Vec<f64>> = draws.iter().map(|d| gate_at(&d.phi, x_mean)).collect();
    let psis: Vec<Vec<f64>> = draws.iter().map(|d| logits(&d.phi, x_mean)).collect();
    let (gate_mean_x, gate_sd_x) = column_moments(&pis, k);
    let (logit_mean, logit_sd) = column_moments(&psis, k - 1);
    let router = Router {
        x: x_mean.to_vec(),
        gate_mean: gate_mean_x,
        gate_sd: gate_sd_x,
        logit_mean,
        logit_sd,
    };

    let d = x_mean.len();
    let mut phi_sd = vec![vec![0.0; d]; k - 1];
    for (j, row) in phi_sd.iter_mut().enumerate() {
        let values: Vec<Vec<f64>> = draws.iter().map(|dr| dr.phi[j].clone()).collect();
        *row = column_moments(&values, d).1;
    }
    let ln_tau2 = draws.iter().map(|dr| dr.tau2.ln()).sum::<f64>() / n;
    let horseshoe = Horseshoe {
        phi_mean: result.phi_mean.clone(),
        phi_sd: Some(phi_sd),
        shrinkage: None,
        tau2_mean: result.tau2_mean,
        tau2_geometric_mean: Some(ln_tau2.exp()),
    };
    let sorted_draws: Vec<Vec<f64>> = result
        .allocation_draws
        .iter()
        .map(|a| gibbs::sorted_decreasing(a))
        .collect();
    let fin = Final {
        predictive,
        gate_mean,
        alloc,
        allocation_freq: result.allocation_freq.clone(),
        allocation_freq_sorted: column_moments(&sorted_draws, k).0,
        router,
        horseshoe,
    };
    Ok((fin, convergence))
}
