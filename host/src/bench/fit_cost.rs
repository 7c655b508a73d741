//! `hsmoe bench --fit-cost T,…`: what the default fit's rejuvenation moves
//! cost against the plain filter as the stream grows (docs/model.md §4).
//!
//! The workload is the paper design (`hsmoe simulate --design paper`, seed
//! 1, intercept added) fitted with K = 10, N = 1000, seed 1, by the core
//! with `--moves none` and with the default moves. Both fits run on one
//! thread (a one-thread rayon pool, so no idle worker spins) and are timed
//! in process CPU time: the ratio compares work, whatever else the machine
//! runs and however many cores it has. The schedule bounds move work by a multiple
//! of the filter's plus a fixed allowance, so the ratio should not grow
//! with T.

use crate::engine::EngineKind;
use crate::fit::{self, FitOptions};
use crate::moves::{default_islands, MoveOptions};
use crate::simulate::{self, Design};
use cpu_time::ProcessTime;
use serde::Serialize;
use std::fmt::Write as _;

/// Experts, particles and seed of the workload.
pub const WORKLOAD: (usize, usize, u64) = (10, 1000, 1);

/// One stream length's cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitCost {
    /// Rows T.
    pub t: usize,
    /// CPU seconds of the plain filter (`--moves none`), one thread.
    pub plain_seconds: f64,
    /// CPU seconds of the default fit (moves and final sweeps), one thread.
    pub moves_seconds: f64,
    /// Sweeps of every particle the default fit ran, final ones included.
    pub sweeps: usize,
    /// Its move work over filter work, in particle-observations.
    pub work_ratio: f64,
    /// Log marginal of the plain filter and of the default fit.
    pub log_marginal: (f64, f64),
}

/// The `--json` form of a `--fit-cost` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitCostReport {
    /// Experts, particles and seed of the workload.
    pub workload: (usize, usize, u64),
    /// One entry per T, in the order asked.
    pub costs: Vec<FitCost>,
}

impl FitCost {
    /// Default fit time over plain filter time.
    pub fn ratio(&self) -> f64 {
        self.moves_seconds / self.plain_seconds
    }
}

/// Fits the workload at each `T` in `ts`, plain then default, reporting
/// each finished fit through `progress`.
///
/// # Errors
/// A fit fails, or the one-thread pool cannot be built.
pub fn measure(ts: &[usize], progress: &mut dyn FnMut(&str)) -> anyhow::Result<Vec<FitCost>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let (k, n, seed) = WORKLOAD;
    ts.iter()
        .map(|&t| {
            let data = simulate::simulate(Design::Paper, t, seed).dataset(true);
            let mut opts = FitOptions::new(EngineKind::Core, k, n, seed, &data);
            let mut timed = |moves: Option<MoveOptions>| {
                opts.moves = moves.into();
                opts.islands = if moves.is_some() {
                    default_islands(n)
                } else {
                    1
                };
                let start = ProcessTime::now();
                let report = pool.install(|| fit::fit(&data, &opts))?;
                let seconds = start.elapsed().as_secs_f64();
                progress(&format!(
                    "T = {t}, moves {}: {seconds:.1} s CPU",
                    if moves.is_some() { "auto" } else { "none" }
                ));
                anyhow::Ok((seconds, report))
            };
            let (plain_seconds, plain) = timed(None)?;
            let (moves_seconds, moved) = timed(Some(MoveOptions::DEFAULT))?;
            let moves = moved
                .moves
                .ok_or_else(|| anyhow::anyhow!("T = {t}: the default fit reported no moves"))?;
            Ok(FitCost {
                t,
                plain_seconds,
                moves_seconds,
                sweeps: moves.sweeps,
                work_ratio: moves.work_ratio,
                log_marginal: (
                    plain.log_marginal.unwrap_or(f64::NAN),
                    moved.log_marginal.unwrap_or(f64::NAN),
                ),
            })
        })
        .collect()
}

/// The Markdown table of `costs`.
pub fn markdown(costs: &[FitCost]) -> String {
    let (k, n, seed) = WORKLOAD;
    let mut s = format!(
        "Paper design, K = {k}, N = {n}, seed {seed}, core, CPU seconds on one thread:\n\n\
         | T | `--moves none` | default | ratio | work ratio | sweeps |\n\
         |---|---|---|---|---|---|\n"
    );
    for c in costs {
        let _ = writeln!(
            s,
            "| {} | {:.2} s | {:.2} s | {:.2}× | {:.1} | {} |",
            c.t,
            c.plain_seconds,
            c.moves_seconds,
            c.ratio(),
            c.work_ratio,
            c.sweeps
        );
    }
    s
}
