//! The paper's reference example (SPEC §6; issue 4 "What it must show"):
//! `paper` design, T = 500, K = 10, N = 1000, fitted by the core and the
//! reference PL and by the batch Gibbs sampler.
//!
//! The CI version runs 5 PL seeds per engine and 4 Gibbs chains; the
//! `#[ignore]`d `paper_long` repeats every check with 20 seeds and 8
//! longer chains (`cargo test --release -- --ignored paper_long`).

use hsmoe_host::data::Dataset;
use hsmoe_host::engine::EngineKind;
use hsmoe_host::fit::FitOptions;
use hsmoe_host::gibbs::{self, GibbsOptions};
use hsmoe_host::simulate::{simulate, Design};
use hsmoe_tests::fit::{run_engine, top_mass, welch};
use hsmoe_tests::mean_se;
use std::sync::OnceLock;

const K: usize = 10;
const N: usize = 1000;

/// How many replicates to run.
struct Plan {
    pl_seeds: u64,
    gibbs_chains: u64,
    gibbs_iterations: usize,
}

/// One PL run: its evidence, allocation frequencies and final predictive
/// means at the held-out points.
struct PlRun {
    log_marginal: f64,
    allocation_freq: Vec<f64>,
    held_out_means: Vec<f64>,
}

/// Every run of a plan.
struct Runs {
    core: Vec<PlRun>,
    reference: Vec<PlRun>,
    /// Per Gibbs chain, the posterior predictive means at the held-out points.
    gibbs: Vec<Vec<f64>>,
    /// Per Gibbs chain, its allocation frequencies.
    gibbs_alloc: Vec<Vec<f64>>,
}

fn data() -> Dataset {
    simulate(Design::Paper, 500, 1).dataset(true)
}

/// Held-out points: 8 fresh draws of x from the design (another seed).
fn held_out() -> Vec<Vec<f64>> {
    simulate(Design::Paper, 8, 999).dataset(true).x
}

fn pl_run(kind: EngineKind, data: &Dataset, held_out: &[Vec<f64>], seed: u64) -> PlRun {
    let engine = run_engine(kind, data, &FitOptions::new(kind, K, N, seed, data));
    PlRun {
        log_marginal: engine.log_marginal(),
        allocation_freq: engine.allocation_freq(),
        held_out_means: held_out
            .iter()
            .map(|x| engine.predict(x).unwrap().0.mean)
            .collect(),
    }
}

/// Runs the plan, every replicate on its own thread.
fn run(plan: &Plan) -> Runs {
    let (data, held_out) = (&data(), &held_out());
    let config = FitOptions::new(EngineKind::Gibbs, K, 1, 1, data).config;
    std::thread::scope(|scope| {
        let pl = |kind| {
            (1..=plan.pl_seeds)
                .map(|seed| scope.spawn(move || pl_run(kind, data, held_out, seed)))
                .collect::<Vec<_>>()
        };
        let core = pl(EngineKind::Core);
        let reference = pl(EngineKind::Reference);
        let chains: Vec<_> = (1..=plan.gibbs_chains)
            .map(|seed| {
                scope.spawn(move || {
                    let opts = GibbsOptions {
                        iterations: plan.gibbs_iterations,
                        burn_in: plan.gibbs_iterations / 4,
                        thin: 1,
                        seed,
                    };
                    let g = gibbs::run(&data.x, &data.y, K, &config, &opts).unwrap();
                    let means: Vec<f64> = held_out.iter().map(|x| g.predict(x).0).collect();
                    (means, g.allocation_freq)
                })
            })
            .collect();
        let join = |handles: Vec<std::thread::ScopedJoinHandle<'_, PlRun>>| {
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        };
        let (gibbs, gibbs_alloc) = chains.into_iter().map(|h| h.join().unwrap()).unzip();
        Runs {
            core: join(core),
            reference: join(reference),
            gibbs,
            gibbs_alloc,
        }
    })
}

/// The CI plan's runs, shared by the tests below (computed once).
fn ci_runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        run(&Plan {
            pl_seeds: 5,
            gibbs_chains: 4,
            gibbs_iterations: 4000,
        })
    })
}

/// Core and reference estimate the same log marginal likelihood: Welch's
/// statistic on independent seeds, `|mean_core − mean_ref| ≤ 3 SE` with
/// SE from the between-seed spreads. (The PL log marginal varies by tens
/// of nats between seeds here: with K = 10 some runs split a true expert
/// in two early on and never merge it.)
fn check_log_marginals(runs: &Runs) {
    let lm = |r: &[PlRun]| r.iter().map(|r| r.log_marginal).collect::<Vec<_>>();
    let (core, reference) = (lm(&runs.core), lm(&runs.reference));
    let (diff, se) = welch(&core, &reference);
    println!("log marginal: core {core:.2?}\n              reference {reference:.2?}");
    println!("difference of means {diff:.2} ± {se:.2} (SE)");
    assert!(
        diff.abs() <= 3.0 * se,
        "core − reference = {diff:.2}, SE {se:.2}"
    );
}

/// ≥ 90% of the allocation mass on 3 experts, averaged over seeds (single
/// seeds range from about 0.85 to 0.99: a seed that splits a true expert
/// spreads its mass), for both PL engines; every Gibbs chain as well.
fn check_allocation_mass(runs: &Runs) {
    for (name, pl) in [("core", &runs.core), ("reference", &runs.reference)] {
        let top: Vec<f64> = pl.iter().map(|r| top_mass(&r.allocation_freq, 3)).collect();
        let mean = top.iter().sum::<f64>() / top.len() as f64;
        println!("{name}: mass on the top 3 experts per seed {top:.3?}, mean {mean:.3}");
        assert!(mean >= 0.9, "{name}: {mean}");
    }
    for alloc in &runs.gibbs_alloc {
        assert!(top_mass(alloc, 3) >= 0.9, "gibbs: {alloc:?}");
    }
}

/// At every held-out x, the final PL predictive mean (core and reference,
/// each the mean of its seeds) agrees with the Gibbs posterior predictive
/// mean (mean of the chains): `|PL − Gibbs| ≤ 4 SE`, SE combining the
/// between-seed and between-chain standard errors. Between-chain (not
/// within-chain batch means) because a chain can sit in one ordering of
/// the stick-breaking labels for thousands of sweeps. 4 SE because both
/// SEs are estimated from a handful of replicates (Student-t tails).
fn check_predictive(runs: &Runs) {
    for (i, _) in held_out().iter().enumerate() {
        let chains: Vec<f64> = runs.gibbs.iter().map(|g| g[i]).collect();
        let (g, g_se) = mean_se(&chains);
        print!("x{i}: gibbs {g:+.3} ± {g_se:.3}");
        for (name, pl) in [("core", &runs.core), ("reference", &runs.reference)] {
            let means: Vec<f64> = pl.iter().map(|r| r.held_out_means[i]).collect();
            let (diff, se) = welch(&means, &chains);
            print!("; {name} − gibbs {diff:+.3} ± {se:.3}");
            assert!(
                diff.abs() <= 4.0 * se,
                "{name}, held-out x{i}: {diff} vs SE {se}"
            );
        }
        println!();
    }
}

#[test]
fn paper_core_and_reference_log_marginals_agree() {
    check_log_marginals(ci_runs());
}

#[test]
fn paper_puts_90_percent_of_allocation_mass_on_three_experts() {
    check_allocation_mass(ci_runs());
}

#[test]
fn paper_final_predictive_matches_gibbs_at_held_out_x() {
    check_predictive(ci_runs());
}

#[test]
#[ignore = "long: 20 seeds per engine and 8 Gibbs chains (several minutes)"]
fn paper_long() {
    let runs = run(&Plan {
        pl_seeds: 20,
        gibbs_chains: 8,
        gibbs_iterations: 20_000,
    });
    check_log_marginals(&runs);
    check_allocation_mass(&runs);
    check_predictive(&runs);
}
