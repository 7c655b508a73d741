//! The paper's reference example: `paper` design, T = 500, K = 10,
//! N = 1000, fitted by the core and the reference PL and by the batch
//! Gibbs sampler; and the two PL engines compared over many seeds at
//! small N.
//!
//! The CI version runs 5 core seeds at N = 1000 (the reference engine is
//! held to the core by the many-seed comparison) and no Gibbs:
//! 4 chains of 4000 sweeps do not converge here (split R-hat 2.76 on the
//! predictive mean at a data row), so a comparison with them would mean
//! nothing. The `#[ignore]`d `paper_long` runs 20 seeds and 8 chains of
//! 20 000 sweeps and compares with Gibbs only if the chains' R-hat is
//! ≤ 1.05 (`cargo test --release -- --ignored paper_long`).

use hsmoe_host::data::Dataset;
use hsmoe_host::engine::EngineKind;
use hsmoe_host::family::Family;
use hsmoe_host::fit::FitOptions;
use hsmoe_host::gibbs::{self, GibbsOptions, Ladder};
use hsmoe_host::simulate::{simulate, Design};
use hsmoe_tests::fit::{run_engine, top_mass, welch};
use hsmoe_tests::{assert_same_law, mean_se, par_map};
use std::sync::OnceLock;

const K: usize = 10;
const N: usize = 1000;

/// How many replicates to run.
struct Plan {
    pl_seeds: u64,
    /// Whether the (slower) reference engine runs the PL seeds too.
    with_reference: bool,
    gibbs_chains: usize,
    gibbs_iterations: usize,
}

/// One PL run: its allocation frequencies and final predictive means at
/// the held-out points.
struct PlRun {
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
    /// Largest split R-hat of the chains (predictive means at every row,
    /// sorted allocation frequencies).
    gibbs_rhat: f64,
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
        allocation_freq: engine.allocation_freq(),
        held_out_means: held_out
            .iter()
            .map(|x| engine.predict(x).unwrap().0.mean)
            .collect(),
    }
}

/// Per Gibbs chain, the predictive means at the held-out points and the
/// allocation frequencies; and the chains' largest split R-hat.
fn gibbs_runs(
    plan: &Plan,
    data: &Dataset,
    held_out: &[Vec<f64>],
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, f64) {
    let config = FitOptions::new(EngineKind::Gibbs, K, 1, 1, data).config;
    let opts = GibbsOptions {
        iterations: plan.gibbs_iterations,
        burn_in: plan.gibbs_iterations / 4,
        thin: 1,
        seed: 1,
        ladder: Ladder::NONE,
    };
    let (pooled, convergence) = gibbs::run_chains(
        &data.x,
        &data.y,
        K,
        Family::Gaussian,
        &config,
        &opts,
        plan.gibbs_chains,
    )
    .unwrap();
    println!("gibbs: {convergence:?}");
    // Pooled draws are in chain order, `kept_per_chain` each.
    let per_chain = |c: usize| &pooled.draws[c * opts.kept()..(c + 1) * opts.kept()];
    let per_chain_alloc =
        |c: usize| &pooled.allocation_draws[c * opts.kept()..(c + 1) * opts.kept()];
    let gibbs = (0..plan.gibbs_chains)
        .map(|c| {
            let draws = per_chain(c);
            held_out
                .iter()
                .map(|x| draws.iter().map(|d| d.predictive(x).0).sum::<f64>() / draws.len() as f64)
                .collect()
        })
        .collect();
    let gibbs_alloc = (0..plan.gibbs_chains)
        .map(|c| {
            let draws = per_chain_alloc(c);
            let mut mean = vec![0.0; K];
            for a in draws {
                for (m, v) in mean.iter_mut().zip(a) {
                    *m += v / draws.len() as f64;
                }
            }
            mean
        })
        .collect();
    (gibbs, gibbs_alloc, convergence.rhat_max)
}

/// Runs the plan, every PL replicate on its own thread.
fn run(plan: &Plan) -> Runs {
    let (data, held_out) = (&data(), &held_out());
    std::thread::scope(|scope| {
        let pl = |kind, seeds| {
            (1..=seeds)
                .map(|seed| scope.spawn(move || pl_run(kind, data, held_out, seed)))
                .collect::<Vec<_>>()
        };
        let core = pl(EngineKind::Core, plan.pl_seeds);
        let reference_seeds = if plan.with_reference {
            plan.pl_seeds
        } else {
            0
        };
        let reference = pl(EngineKind::Reference, reference_seeds);
        let (gibbs, gibbs_alloc, gibbs_rhat) = if plan.gibbs_chains == 0 {
            (Vec::new(), Vec::new(), f64::NAN)
        } else {
            gibbs_runs(plan, data, held_out)
        };
        let join = |handles: Vec<std::thread::ScopedJoinHandle<'_, PlRun>>| {
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        };
        Runs {
            core: join(core),
            reference: join(reference),
            gibbs,
            gibbs_alloc,
            gibbs_rhat,
        }
    })
}

/// The CI plan's runs, shared by the tests below (computed once).
fn ci_runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        run(&Plan {
            pl_seeds: 5,
            with_reference: false,
            gibbs_chains: 0,
            gibbs_iterations: 0,
        })
    })
}

/// ≥ 90% of the allocation mass on 3 experts, averaged over seeds (single
/// seeds range from about 0.85 to 0.99: a seed that splits a true expert
/// spreads its mass), for both PL engines; every Gibbs chain as well.
fn check_allocation_mass(runs: &Runs) {
    for (name, pl) in [("core", &runs.core), ("reference", &runs.reference)] {
        if pl.is_empty() {
            continue;
        }
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
    // The gold standard must have converged for the comparison to mean
    // anything (docs/model.md §9).
    println!("gibbs split R-hat max {:.3}", runs.gibbs_rhat);
    assert!(runs.gibbs_rhat <= 1.05, "Gibbs R-hat {}", runs.gibbs_rhat);
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

/// Core and reference estimate the same log marginal likelihood: 150
/// seeds per engine at N = 100 on the first T = 200 rows of a paper-design
/// draw (K = 10), compared by the rank and KS tests of [`assert_same_law`]
/// (each at α = 10⁻³). The per-seed values spread over tens of nats with
/// a heavy lower tail (a seed that splits a true expert early never merges
/// it), so a handful of seeds at large N could not tell the engines apart.
#[test]
fn paper_core_and_reference_log_marginals_agree() {
    let data = simulate(Design::Paper, 200, 1).dataset(true);
    let log_marginals = |kind| {
        par_map(150, |s| {
            let opts = FitOptions::new(kind, K, 100, 1 + s as u64, &data);
            run_engine(kind, &data, &opts).log_marginal()
        })
    };
    let core = log_marginals(EngineKind::Core);
    let reference = log_marginals(EngineKind::Reference);
    assert_same_law("paper log marginal, core vs reference", &core, &reference);
}

#[test]
fn paper_puts_90_percent_of_allocation_mass_on_three_experts() {
    check_allocation_mass(ci_runs());
}

#[test]
#[ignore = "long: 20 seeds per engine and 8 Gibbs chains (several minutes)"]
fn paper_long() {
    let runs = run(&Plan {
        pl_seeds: 20,
        with_reference: true,
        gibbs_chains: 8,
        gibbs_iterations: 20_000,
    });
    check_allocation_mass(&runs);
    check_predictive(&runs);
}
