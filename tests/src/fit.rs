//! Helpers of the `fit_*` statistical tests: running an engine over a
//! data set and Monte Carlo summaries of replicated runs.

use hsmoe_host::data::{load, Dataset, LoadOptions};
use hsmoe_host::engine::{online_engine, EngineKind, OnlineEngine};
use hsmoe_host::fit::FitOptions;

use crate::mean_se;

/// The motorcycle data (`data/mcycle.csv`), standardized, intercept added,
/// rows in the file's time order.
pub fn mcycle() -> Dataset {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mcycle.csv");
    let opts = LoadOptions {
        standardize: true,
        ..LoadOptions::default()
    };
    load(path.as_ref(), &opts).unwrap()
}

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
