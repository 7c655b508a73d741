//! The motorcycle data, standardized (issue 4): three experts beat one by
//! a wide margin in log marginal likelihood, and the core and reference
//! engines agree on the K = 3 evidence within Monte Carlo error.

use hsmoe_host::data::{load, Dataset, LoadOptions};
use hsmoe_host::engine::EngineKind;
use hsmoe_host::fit::FitOptions;
use hsmoe_tests::fit::{run_engine, welch};
use hsmoe_tests::mean_se;

fn mcycle() -> Dataset {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mcycle.csv");
    let opts = LoadOptions {
        intercept: true,
        standardize: true,
    };
    load(path.as_ref(), &opts).unwrap()
}

fn log_marginals(kind: EngineKind, k: usize, data: &Dataset) -> Vec<f64> {
    (1..=5)
        .map(|seed| {
            run_engine(kind, data, &FitOptions::new(kind, k, 1000, seed, data)).log_marginal()
        })
        .collect()
}

/// K = 1 is exact (all particles equal); K = 3 over 5 seeds. Its mean
/// minus 3 SE must exceed K = 1 by 20 nats (a Bayes factor beyond e²⁰).
#[test]
fn mcycle_three_experts_beat_one() {
    let data = mcycle();
    let one = log_marginals(EngineKind::Core, 1, &data)[0];
    let three = log_marginals(EngineKind::Core, 3, &data);
    let (mean, se) = mean_se(&three);
    println!("K = 1: {one:.2}; K = 3: {three:.2?}, mean {mean:.2} ± {se:.2}");
    assert!(mean - 3.0 * se > one + 20.0);
}

/// Welch's statistic on 5 independent seeds per engine: the difference
/// of mean log marginals is within 3 SE.
#[test]
fn mcycle_core_and_reference_agree() {
    let data = mcycle();
    let core = log_marginals(EngineKind::Core, 3, &data);
    let reference = log_marginals(EngineKind::Reference, 3, &data);
    let (diff, se) = welch(&core, &reference);
    println!("core {core:.2?}\nreference {reference:.2?}\ndifference {diff:.2} ± {se:.2}");
    assert!(diff.abs() <= 3.0 * se);
}
