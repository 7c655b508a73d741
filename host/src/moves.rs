//! Resample-move on the host (docs/model.md §4 Rejuvenation): the
//! `--moves` flags, the record of the moves a fit ran, and the parallel
//! sweep of the core's particles over the stored stream.
//!
//! Each particle's sweep in a move draws from its own random stream,
//! seeded from `(fit seed, move number, particle index)`, so the result
//! does not depend on how rayon spreads the particles over threads, and
//! the filter's own stream is never touched: `--moves none` is the device.

use clap::{Args, ValueEnum};
use hsmoe_core::dims::Zeroed;
use hsmoe_core::expert::Expert;
use hsmoe_core::gate_move::{GateMove, Row};
use hsmoe_core::rejuvenate;
use hsmoe_core::schedule::{Schedule, Scheduler, Trigger};
use hsmoe_core::{Config, Const, Experts, Features, Particle};
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Whether `hsmoe fit` rejuvenates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MoveMode {
    /// The resample-move schedule and final sweeps.
    Auto,
    /// Plain particle learning, bit for bit the device's run.
    None,
}

/// The `--moves` flags of `hsmoe fit`.
#[derive(Debug, Clone, Args)]
pub struct MoveArgs {
    /// Rejuvenation moves: `auto` (the schedule below, then final sweeps)
    /// or `none` (exactly the device's particle learning).
    #[arg(long, value_enum, default_value_t = MoveMode::Auto)]
    pub moves: MoveMode,
    /// Move when a step's ESS falls below this fraction of N (0: never;
    /// 1: whenever the budget allows).
    #[arg(long, default_value_t = Schedule::DEFAULT.ess_fraction)]
    pub move_ess: f32,
    /// First geometric move time t₀ (then 2t₀, 4t₀, …; 0: none).
    #[arg(long, default_value_t = Schedule::DEFAULT.first)]
    pub move_first: u32,
    /// Total move work at most this many times the filter's work.
    #[arg(long, default_value_t = MoveOptions::DEFAULT.budget)]
    pub move_budget: f32,
    /// Move work allowed on top of the budget, in observations swept per
    /// particle times K·D² (a sweep's cost per observation): a fixed
    /// compute allowance, so small models on short streams, whose moves
    /// are cheap, move at nearly every step.
    #[arg(long, default_value_t = MoveOptions::DEFAULT.allowance)]
    pub move_allowance: f64,
    /// Sweeps over the whole stream after the last observation.
    #[arg(long, default_value_t = MoveOptions::DEFAULT_FINAL_SWEEPS)]
    pub final_sweeps: u32,
    /// Collapsed gate-move proposals per sweep (docs/model.md §4, "Gate
    /// move"), in the sweeps the allowance pays for (0: none).
    #[arg(long, default_value_t = MoveOptions::DEFAULT.gate_proposals)]
    pub gate_proposals: u32,
    /// Core engine, `--moves none`: the bounded-memory block window move
    /// a device can run (docs/model.md §4), every W observations.
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u32).range(1..))]
    pub window: Option<u32>,
    /// Sweeps of each particle over each block of the window move.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub window_sweeps: u32,
    /// Split the particles into M independent filters combined by their
    /// evidence (docs/model.md §4, "Islands") [default: 4 with moves, 1
    /// with `--moves none` or `--window`, the device's single filter].
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..))]
    pub islands: Option<u32>,
}

impl MoveArgs {
    /// The options these flags ask for (`None` for `--moves none`).
    ///
    /// # Examples
    /// ```
    /// use clap::Parser;
    /// use hsmoe_host::moves::MoveArgs;
    /// #[derive(Parser)]
    /// struct Cmd {
    ///     #[command(flatten)]
    ///     moves: MoveArgs,
    /// }
    /// assert!(Cmd::parse_from(["x", "--moves", "none"]).moves.options().is_none());
    /// let opts = Cmd::parse_from(["x", "--final-sweeps", "2"]).moves.options().unwrap();
    /// assert_eq!(opts.final_sweeps, 2);
    /// ```
    pub fn options(&self) -> Option<MoveOptions> {
        (self.moves == MoveMode::Auto).then_some(MoveOptions {
            ess_fraction: self.move_ess,
            first: self.move_first,
            budget: self.move_budget,
            allowance: self.move_allowance,
            final_sweeps: self.final_sweeps,
            gate_proposals: self.gate_proposals,
        })
    }

    /// The moves these flags ask for.
    ///
    /// # Errors
    /// `--window` without `--moves none`: the window move is the device's
    /// alternative to the stream moves, not an addition to them.
    ///
    /// # Examples
    /// ```
    /// use clap::Parser;
    /// use hsmoe_host::moves::{MoveArgs, MoveOptions, Moves, WindowOptions};
    /// #[derive(Parser)]
    /// struct Cmd {
    ///     #[command(flatten)]
    ///     moves: MoveArgs,
    /// }
    /// let cmd = Cmd::parse_from(["x", "--moves", "none", "--window", "16", "--window-sweeps", "2"]);
    /// let window = WindowOptions { rows: 16, sweeps: 2 };
    /// assert_eq!(cmd.moves.moves().unwrap(), Moves::Window(window));
    /// assert_eq!(Cmd::parse_from(["x"]).moves.moves().unwrap(), Moves::Stream(MoveOptions::DEFAULT));
    /// assert!(Cmd::parse_from(["x", "--window", "16"]).moves.moves().is_err());
    /// ```
    pub fn moves(&self) -> anyhow::Result<Moves> {
        match (self.options(), self.window) {
            (options, None) => Ok(options.into()),
            (None, Some(rows)) => Ok(Moves::Window(WindowOptions {
                rows: rows as usize,
                sweeps: self.window_sweeps,
            })),
            (Some(_), Some(_)) => anyhow::bail!("--window needs --moves none"),
        }
    }

    /// The islands these flags ask for a fit of `n` particles:
    /// `--islands`, else [`default_islands`]`(n)` with the stream moves
    /// and 1 without them.
    ///
    /// # Examples
    /// ```
    /// use clap::Parser;
    /// use hsmoe_host::moves::MoveArgs;
    /// #[derive(Parser)]
    /// struct Cmd {
    ///     #[command(flatten)]
    ///     moves: MoveArgs,
    /// }
    /// assert_eq!(Cmd::parse_from(["x"]).moves.islands(1000), 4);
    /// assert_eq!(Cmd::parse_from(["x", "--moves", "none"]).moves.islands(1000), 1);
    /// assert_eq!(Cmd::parse_from(["x", "--islands", "2"]).moves.islands(1000), 2);
    /// ```
    pub fn islands(&self, n: usize) -> usize {
        let default = if matches!(self.moves(), Ok(Moves::Stream(_))) {
            default_islands(n)
        } else {
            1
        };
        self.islands.map_or(default, |m| m as usize)
    }
}

/// Particles per island of the default split, and the most islands.
const PARTICLES_PER_ISLAND: usize = 250;
const MAX_ISLANDS: usize = 8;

/// Islands of a fit of `n` particles with the stream moves when
/// `--islands` is not given: one per 250 particles, from 1 to 8, as
/// measured on the paper design (docs/model.md §4, "Islands").
///
/// # Examples
/// ```
/// use hsmoe_host::moves::default_islands;
/// assert_eq!((default_islands(100), default_islands(1000), default_islands(5000)), (1, 4, 8));
/// ```
pub fn default_islands(n: usize) -> usize {
    (n / PARTICLES_PER_ISLAND).clamp(1, MAX_ISLANDS)
}

/// Which moves a particle engine makes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Moves {
    /// Plain particle learning.
    None,
    /// Resample-move over the stored stream, then final sweeps.
    Stream(MoveOptions),
    /// The core's bounded-memory block window move.
    Window(WindowOptions),
}

impl Moves {
    /// The window move's options, if this is the window move.
    pub fn window(&self) -> Option<WindowOptions> {
        match self {
            Moves::Window(options) => Some(*options),
            _ => None,
        }
    }
}

impl From<Option<MoveOptions>> for Moves {
    fn from(moves: Option<MoveOptions>) -> Self {
        moves.map_or(Moves::None, Moves::Stream)
    }
}

/// The block window move of the core engine ([`hsmoe_core::block`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowOptions {
    /// Observations per block, `W`.
    pub rows: usize,
    /// Sweeps of each particle over each full block, `S`.
    pub sweeps: u32,
}

/// A resample-move schedule and the final sweeps (see
/// [`hsmoe_core::schedule`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MoveOptions {
    /// Move when a step's ESS is below this fraction of N.
    pub ess_fraction: f32,
    /// First geometric move time (0: none).
    pub first: u32,
    /// Move work at most this multiple of the filter's work…
    pub budget: f32,
    /// …plus this many observations swept per particle times K·D².
    pub allowance: f64,
    /// Sweeps over the whole stream after the last observation.
    pub final_sweeps: u32,
    /// Gate-move proposals per sweep, in the sweeps within the allowance
    /// (absent from models saved before the gate move: none).
    #[serde(default)]
    pub gate_proposals: u32,
}

impl MoveOptions {
    /// Default number of final sweeps (measured; see BENCHMARKS.md).
    pub const DEFAULT_FINAL_SWEEPS: u32 = 8;

    /// The default schedule and final sweeps. The allowance buys a move
    /// after nearly every early step, when the configurations that later
    /// trap a filter form and sweeps are cheap; a ratio budget of 3 then
    /// spaces the later moves (ratio ≈ 4/3). On the paper design this
    /// costs what budget 6 with a 100 000 allowance did and leaves a
    /// fifth as many runs stuck (measured; see BENCHMARKS.md).
    pub const DEFAULT: Self = MoveOptions {
        ess_fraction: Schedule::DEFAULT.ess_fraction,
        first: Schedule::DEFAULT.first,
        budget: 3.0,
        allowance: 700_000.0,
        final_sweeps: Self::DEFAULT_FINAL_SWEEPS,
        gate_proposals: 4,
    };

    /// The core schedule of these options for `k` experts and `d`
    /// features: the allowance in observations swept per particle.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::moves::MoveOptions;
    /// let opts = MoveOptions { allowance: 1200.0, ..MoveOptions::DEFAULT };
    /// assert_eq!(opts.schedule(3, 2).allowance, 100); // 1200 / (3·2²)
    /// ```
    pub fn schedule(&self, k: usize, d: usize) -> Schedule {
        let weight = (k * d * d).max(1) as f64;
        Schedule {
            ess_fraction: self.ess_fraction,
            first: self.first,
            budget: self.budget,
            // Saturates at u32::MAX for absurd allowances.
            allowance: (self.allowance.max(0.0) / weight) as u32,
        }
    }

    /// Sweep number `index` of a run under `schedule` (these options'
    /// [`MoveOptions::schedule`]), after which the run's move work will be
    /// `work` observations swept per particle. The gate move runs in the
    /// sweeps the allowance pays for, counting from the first: where sweeps
    /// are cheap in absolute terms (small K·D², short streams) that is every
    /// sweep; on a large model only the early ones, so its cost is a
    /// constant, not a term growing with T.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::moves::MoveOptions;
    /// let opts = MoveOptions { allowance: 1200.0, gate_proposals: 4, ..MoveOptions::DEFAULT };
    /// let schedule = opts.schedule(3, 2); // 100 observations per particle
    /// assert_eq!(opts.sweep_plan(&schedule, 0, 100.0).gate_proposals, 4);
    /// assert_eq!(opts.sweep_plan(&schedule, 1, 101.0).gate_proposals, 0);
    /// ```
    pub fn sweep_plan(&self, schedule: &Schedule, index: u64, work: f64) -> SweepPlan {
        let within = work <= f64::from(schedule.allowance);
        SweepPlan {
            index,
            gate_proposals: if within { self.gate_proposals } else { 0 },
        }
    }
}

/// One move of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveEvent {
    /// After step `t` (1-based); `T` for the final sweeps.
    pub t: usize,
    /// `ess`, `geometric` or `final`.
    pub trigger: String,
    /// The step's ESS before resampling (the last step's for final sweeps).
    pub ess: f64,
    /// Particles whose sweep failed and were left as they were.
    pub failed: usize,
}

/// What the moves of a fit did; `hsmoe fit --json` reports it as `moves`.
/// The per-step ESS history is `predictive[t].ess` of the same report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveReport {
    /// The options in force.
    pub options: MoveOptions,
    /// Moves during the stream (each one sweep of every particle).
    pub moves: usize,
    /// Sweeps of every particle in total, final sweeps included.
    pub sweeps: usize,
    /// Move work over filter work, both in particle-observations.
    pub work_ratio: f64,
    /// Wall-clock seconds spent in moves and final sweeps.
    pub seconds: f64,
    /// `seconds` over the fit's elapsed time (filled in by the fit).
    pub time_share: f64,
    /// Gate-move proposals made, over all particles.
    #[serde(default)]
    pub gate_proposals: u64,
    /// Of those, accepted.
    #[serde(default)]
    pub gate_accepted: u64,
    /// Every move, in order.
    pub events: Vec<MoveEvent>,
}

/// Seed of particle `particle`'s stream in move `move_index` of a fit
/// with seed `seed` (splitmix64 finalizer over the three).
///
/// # Examples
/// ```
/// use hsmoe_host::moves::sweep_seed;
/// assert_ne!(sweep_seed(1, 0, 0), sweep_seed(1, 0, 1));
/// assert_ne!(sweep_seed(1, 0, 0), sweep_seed(1, 1, 0));
/// assert_eq!(sweep_seed(7, 3, 9), sweep_seed(7, 3, 9));
/// ```
pub fn sweep_seed(seed: u64, move_index: u64, particle: u64) -> u64 {
    splitmix64(splitmix64(splitmix64(seed) ^ move_index) ^ particle)
}

/// The splitmix64 output function: a bijection of `u64` that turns
/// nearby inputs into unrelated outputs, for deriving seeds.
///
/// # Examples
/// ```
/// use hsmoe_host::moves::splitmix64;
/// assert_ne!(splitmix64(1), splitmix64(2));
/// ```
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What one sweep of every particle is to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepPlan {
    /// The sweep's number in the fit, which seeds the particles' streams
    /// ([`sweep_seed`]).
    pub index: u64,
    /// Gate-move proposals per particle (0: a plain sweep).
    pub gate_proposals: u32,
}

/// What one sweep of every particle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    /// Particles whose sweep failed and were left as they were.
    pub failed: usize,
    /// Gate-move proposals made, over all particles.
    pub gate_proposals: u64,
    /// Of those, accepted.
    pub gate_accepted: u64,
}

impl SweepOutcome {
    /// Both outcomes' counts added.
    fn plus(self, other: Self) -> Self {
        SweepOutcome {
            failed: self.failed + other.failed,
            gate_proposals: self.gate_proposals + other.gate_proposals,
            gate_accepted: self.gate_accepted + other.gate_accepted,
        }
    }
}

/// One sweep of every particle over `stream`, in parallel, as `plan`
/// says.
pub fn sweep_all<const K: usize, const D: usize, E: Expert<D>>(
    particles: &mut [Particle<K, D, E>],
    stream: &[([f32; D], f32)],
    config: &Config,
    seed: u64,
    plan: SweepPlan,
) -> SweepOutcome
where
    Const<K>: Experts,
    Const<D>: Features,
{
    // The gate move's cache is scratch, overwritten before it is read, so
    // one per thread leaves the result independent of the threads.
    particles
        .par_iter_mut()
        .enumerate()
        .map_init(Vec::new, |rows, (i, particle)| {
            let mut rng = XorShiftRng::seed_from_u64(sweep_seed(seed, plan.index, i as u64));
            let on = plan.gate_proposals > 0;
            if on {
                rows.resize(stream.len(), Row::ZERO);
            }
            let first = plan.index as usize * plan.gate_proposals as usize;
            let mut gate = GateMove::new(plan.gate_proposals, first, rows);
            let failed =
                rejuvenate::sweep(particle, stream, on.then_some(&mut gate), config, &mut rng);
            SweepOutcome {
                failed: usize::from(failed.is_err()),
                gate_proposals: u64::from(plan.gate_proposals),
                gate_accepted: u64::from(gate.accepted),
            }
        })
        .reduce(SweepOutcome::default, SweepOutcome::plus)
}

/// The moves of one fit, for any engine: the schedule's state and the
/// record. The engine keeps the stream and performs each sweep (its
/// `sweep` closure gets the [`SweepPlan`] and returns what the sweep did).
#[derive(Debug, Clone)]
pub(crate) struct Mover {
    scheduler: Scheduler,
    /// Steps seen.
    t: usize,
    /// Move work so far in particle-observations per particle.
    work: f64,
    report: MoveReport,
}

/// Where the moves of a run stand: what a saved model keeps so that an
/// update moves exactly as the uninterrupted run would have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoverState {
    /// The schedule's next geometric move time.
    pub next_geometric: u64,
    /// The schedule's move work spent, in particle-observations per particle.
    pub spent: u64,
    /// Steps seen.
    pub t: usize,
    /// Move work so far (for the report's work ratio).
    pub work: f64,
    /// The record so far; its sweep count numbers the next move's seeds.
    pub report: MoveReport,
}

impl Mover {
    /// No moves yet, for particles of `k` experts and `d` features.
    pub(crate) fn new(options: MoveOptions, k: usize, d: usize) -> Self {
        Mover {
            scheduler: Scheduler::new(options.schedule(k, d)),
            t: 0,
            work: 0.0,
            report: MoveReport {
                options,
                moves: 0,
                sweeps: 0,
                work_ratio: 0.0,
                seconds: 0.0,
                time_share: 0.0,
                gate_proposals: 0,
                gate_accepted: 0,
                events: Vec::new(),
            },
        }
    }

    /// After a step of `n` particles whose ESS was `ess` (the engine has
    /// stored the step's observation): moves if the schedule says so.
    pub(crate) fn after_step(
        &mut self,
        n: usize,
        ess: f64,
        sweep: impl FnOnce(SweepPlan) -> SweepOutcome,
    ) {
        self.t += 1;
        let t = u32::try_from(self.t).unwrap_or(u32::MAX);
        if let Some(trigger) = self.scheduler.after_step(t, ess as f32, n) {
            let trigger = match trigger {
                Trigger::Ess => "ess",
                Trigger::Geometric => "geometric",
            };
            self.sweep(trigger, ess, sweep);
            self.report.moves += 1;
        }
    }

    /// The final sweeps over the whole stream; `ess` is the last step's.
    pub(crate) fn finish(&mut self, ess: f64, mut sweep: impl FnMut(SweepPlan) -> SweepOutcome) {
        for _ in 0..self.report.options.final_sweeps {
            self.sweep("final", ess, &mut sweep);
        }
    }

    /// One sweep of every particle ([`MoveOptions::sweep_plan`]).
    fn sweep(&mut self, trigger: &str, ess: f64, sweep: impl FnOnce(SweepPlan) -> SweepOutcome) {
        let schedule = self.scheduler.schedule();
        let index = self.report.sweeps as u64;
        let plan = self
            .report
            .options
            .sweep_plan(schedule, index, self.work + self.t as f64);
        let start = Instant::now();
        let outcome = sweep(plan);
        self.report.seconds += start.elapsed().as_secs_f64();
        self.report.gate_proposals += outcome.gate_proposals;
        self.report.gate_accepted += outcome.gate_accepted;
        self.report.sweeps += 1;
        self.work += self.t as f64;
        self.report.events.push(MoveEvent {
            t: self.t,
            trigger: trigger.to_string(),
            ess,
            failed: outcome.failed,
        });
    }

    /// Where the moves stand, to save.
    pub(crate) fn state(&self) -> MoverState {
        MoverState {
            next_geometric: self.scheduler.next_geometric(),
            spent: self.scheduler.spent(),
            t: self.t,
            work: self.work,
            report: self.report.clone(),
        }
    }

    /// Moves continuing from a saved `state`, for particles of `k`
    /// experts and `d` features.
    pub(crate) fn resume(state: &MoverState, k: usize, d: usize) -> Self {
        let schedule = state.report.options.schedule(k, d);
        Mover {
            scheduler: Scheduler::resume(schedule, state.next_geometric, state.spent),
            t: state.t,
            work: state.work,
            // Seconds are this run's: the report's time share is of its time.
            report: MoveReport {
                seconds: 0.0,
                ..state.report.clone()
            },
        }
    }

    /// Whether any sweep has run (otherwise the particles are the plain
    /// filter's).
    pub(crate) fn swept(&self) -> bool {
        self.report.sweeps > 0
    }

    /// The record so far, with the work ratio over the steps so far.
    pub(crate) fn report(&self) -> MoveReport {
        MoveReport {
            work_ratio: self.work / self.t.max(1) as f64,
            ..self.report.clone()
        }
    }
}
