//! The motorcycle data, standardized: three experts beat one by a wide
//! margin in log marginal likelihood, and the core and reference engines
//! agree on the K = 3 evidence within Monte Carlo error.

use hsmoe_host::data::Dataset;
use hsmoe_host::engine::EngineKind;
use hsmoe_host::fit::FitOptions;
use hsmoe_tests::fit::{mcycle, run_engine};
use hsmoe_tests::{assert_same_law, par_map, quartiles};

/// Seeds per engine: the per-seed log marginal has a heavy lower tail, so
/// engines are compared as distributions over many seeds at small N.
const SEEDS: usize = 200;
/// Particles per run (small, so 200 seeds run in seconds).
const N: usize = 100;

fn log_marginals(kind: EngineKind, k: usize, data: &Dataset) -> Vec<f64> {
    par_map(SEEDS, |s| {
        let opts = FitOptions::new(kind, k, N, 1 + s as u64, data);
        run_engine(kind, data, &opts).log_marginal()
    })
}

/// K = 1 is exact (all particles equal, any seed); K = 3 over 200 seeds
/// at N = 100. Its lower quartile must exceed K = 1 by 20 nats (a Bayes
/// factor beyond e²⁰ in three runs out of four even at this small N).
#[test]
fn mcycle_three_experts_beat_one() {
    let data = mcycle();
    let opts = FitOptions::new(EngineKind::Core, 1, N, 1, &data);
    let one = run_engine(EngineKind::Core, &data, &opts).log_marginal();
    let three = quartiles(&log_marginals(EngineKind::Core, 3, &data));
    println!("K = 1: {one:.2}; K = 3 quartiles {three:.2?}");
    assert!(three[0] > one + 20.0);
}

/// 200 independent seeds per engine at N = 100: the core's and the
/// reference's K = 3 log marginals pass the rank and KS tests of
/// [`assert_same_law`] (each at α = 10⁻³).
#[test]
fn mcycle_core_and_reference_agree() {
    let data = mcycle();
    let core = log_marginals(EngineKind::Core, 3, &data);
    let reference = log_marginals(EngineKind::Reference, 3, &data);
    assert_same_law(
        "mcycle K = 3 log marginal, core vs reference",
        &core,
        &reference,
    );
}
