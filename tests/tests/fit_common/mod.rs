//! Helpers shared by the `fit_*` statistical tests: running an engine
//! over a data set and Monte Carlo summaries of replicated runs.

#![allow(dead_code)] // each test file uses a subset

use hsmoe_host::data::Dataset;
use hsmoe_host::engine::{online_engine, EngineKind, OnlineEngine};
use hsmoe_host::fit::FitOptions;

/// Feeds every row of `data` to a fresh `kind` engine built from `opts`
/// (its K, N, seed and prior) and returns the engine.
pub fn run_engine(kind: EngineKind, data: &Dataset, opts: &FitOptions) -> Box<dyn OnlineEngine> {
    let mut engine = online_engine(
        kind,
        opts.k,
        data.d(),
        opts.n_particles,
        &opts.config,
        opts.seed,
    )
    .unwrap();
    for (x, &y) in data.x.iter().zip(&data.y) {
        engine.observe(x, y).unwrap();
    }
    engine
}

/// Mean and standard error (sd/√n, divisor n − 1) of independent replicates.
pub fn mean_se(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// Welch's two-sample statistic for independent replicates:
/// `(mean(a) − mean(b), SE of the difference)`.
pub fn welch(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (ma, sa) = mean_se(a);
    let (mb, sb) = mean_se(b);
    (ma - mb, (sa * sa + sb * sb).sqrt())
}

/// Sum of the `m` largest entries.
pub fn top_mass(freq: &[f64], m: usize) -> f64 {
    let mut sorted = freq.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    sorted.iter().take(m).sum()
}
