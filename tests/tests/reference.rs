//! Cross-checks of the host gold standards against each other
//! (docs/model.md §9):
//! the reference PL against the closed form (K = 1) and against the batch
//! Gibbs sampler's posterior predictive (K = 2), and the horseshoe refresh
//! period R = D against R = 1.

use hsmoe_core::Config;
use hsmoe_host::family::Family;
use hsmoe_host::gibbs::{self, GibbsOptions, Ladder};
use hsmoe_host::reference::{conjugate_log_marginal, ReferenceFilter};
use hsmoe_tests::{assert_same_law, par_map};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xorshift::XorShiftRng;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Two experts behind a steep gate `σ(6 x1)` on rows `(1, x1, x2)`, x2
/// irrelevant: `y = 1 + x1` or `y = −1 − 0.5 x1`, noise sd 0.2.
fn two_expert_data(t: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut rng = XorShiftRng::seed_from_u64(seed);
    let mut xs = Vec::with_capacity(t);
    let mut ys = Vec::with_capacity(t);
    for _ in 0..t {
        let x = vec![1.0, rng.sample(StandardNormal), rng.sample(StandardNormal)];
        let mu = if rng.random::<f64>() < sigmoid(6.0 * x[1]) {
            1.0 + x[1]
        } else {
            -1.0 - 0.5 * x[1]
        };
        let noise: f64 = rng.sample(StandardNormal);
        ys.push(mu + 0.2 * noise);
        xs.push(x);
    }
    (xs, ys)
}

/// Test points across the gate boundary.
const X1_GRID: [f64; 4] = [-1.5, -0.5, 0.5, 1.5];

/// Final PL predictive means on the grid and the log marginal likelihood
/// of an `n`-particle run.
fn pl_run(xs: &[Vec<f64>], ys: &[f64], config: &Config, n: usize, seed: u64) -> (Vec<f64>, f64) {
    let mut filter = ReferenceFilter::new(n, 2, 3, config, seed).unwrap();
    for (x, &y) in xs.iter().zip(ys) {
        filter.observe(x, y).unwrap();
    }
    let means = X1_GRID
        .iter()
        .map(|&x1| filter.predict(&[1.0, x1, 0.3]).mean)
        .collect();
    (means, filter.log_marginal())
}

/// Mean and standard error (sd/√n) of independent replicates.
fn mean_se(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// PL at the end of the data matches the Gibbs posterior predictive
/// within Monte Carlo error (docs/model.md §9). The Gibbs run is 4 chains
/// of 3000 sweeps (750 burn-in) whose split R-hat must be ≤ 1.05. The PL
/// error is estimated from independent seeds, the Gibbs error by batch
/// means over the pooled draws; tolerance 4 combined SE plus 0.02 for the
/// PL's finite-N bias (path degeneracy of the static parameters), which
/// independent seeds cannot measure.
#[test]
fn pl_matches_gibbs_posterior_predictive() {
    let (xs, ys) = two_expert_data(200, 41);
    let config = Config::default_for(3);
    let opts = GibbsOptions {
        iterations: 3000,
        burn_in: 750,
        thin: 1,
        seed: 1,
        ladder: Ladder::NONE,
    };
    let (gibbs, convergence) =
        gibbs::run_chains(&xs, &ys, 2, Family::Gaussian, &config, &opts, 4).unwrap();
    println!("gibbs: {convergence:?}");
    assert!(convergence.rhat_max <= 1.05);
    let runs: Vec<(Vec<f64>, f64)> = par_map(4, |s| pl_run(&xs, &ys, &config, 500, 100 + s as u64));
    for (i, &x1) in X1_GRID.iter().enumerate() {
        let x = [1.0, x1, 0.3];
        let (g_mean, _) = gibbs.predict(&x);
        let g_se = gibbs.predict_mc_se(&x);
        let pl: Vec<f64> = runs.iter().map(|(m, _)| m[i]).collect();
        let (pl_mean, pl_se) = mean_se(&pl);
        let tolerance = 4.0 * (g_se * g_se + pl_se * pl_se).sqrt() + 0.02;
        println!(
            "x1 = {x1:+.1}: Gibbs {g_mean:+.4} (SE {g_se:.4}), PL {pl_mean:+.4} (SE {pl_se:.4}), \
             |diff| {:.4} < {tolerance:.4}",
            (g_mean - pl_mean).abs()
        );
        assert!((g_mean - pl_mean).abs() < tolerance);
    }

    // Model choice by the PL evidence (docs/model.md §8): two experts beat one
    // by far more than the PL's own spread across seeds.
    let k1 = conjugate_log_marginal(&xs, &ys, &config).unwrap();
    let (k2, k2_se) = mean_se(&runs.iter().map(|(_, l)| *l).collect::<Vec<_>>());
    println!("log marginal: K = 1 closed form {k1:.2}, K = 2 PL {k2:.2} (SE {k2_se:.2})");
    assert!(k2 - k1 > 20.0 && k2_se < 2.0);
}

/// The reference PL with K = 1 equals the closed form on the same data.
#[test]
fn pl_single_expert_equals_closed_form() {
    let (xs, ys) = two_expert_data(200, 42);
    let config = Config::default_for(3);
    let mut filter = ReferenceFilter::new(3, 1, 3, &config, 0).unwrap();
    for (x, &y) in xs.iter().zip(&ys) {
        filter.observe(x, y).unwrap();
    }
    let closed = conjugate_log_marginal(&xs, &ys, &config).unwrap();
    println!(
        "K = 1: PL {:.12}, closed form {closed:.12}",
        filter.log_marginal()
    );
    assert!((filter.log_marginal() - closed).abs() < 1e-9 * closed.abs());
}

/// Refreshing the horseshoe every R = D observations (docs/model.md §6)
/// gives the same answer as every observation (R = 1) in the reference
/// engine too: 200 independent seeds per setting at N = 100, the log
/// marginals and the final predictive means on the grid compared by the
/// rank and KS tests of [`assert_same_law`] (each at α = 10⁻³).
#[test]
fn refresh_period_does_not_change_the_answer() {
    let (xs, ys) = two_expert_data(200, 43);
    let default = Config::default_for(3);
    let every = Config {
        refresh_every: 1,
        ..default
    };
    let seeds = 200;
    let a = par_map(seeds, |s| pl_run(&xs, &ys, &default, 100, s as u64));
    let b = par_map(seeds, |s| pl_run(&xs, &ys, &every, 100, 10_000 + s as u64));
    let log_marginals = |runs: &[(Vec<f64>, f64)]| runs.iter().map(|r| r.1).collect::<Vec<_>>();
    assert_same_law(
        "log marginal, R = D vs R = 1",
        &log_marginals(&a),
        &log_marginals(&b),
    );
    for (i, x1) in X1_GRID.iter().enumerate() {
        let means = |runs: &[(Vec<f64>, f64)]| runs.iter().map(|r| r.0[i]).collect::<Vec<_>>();
        assert_same_law(&format!("mean at x1 = {x1:+.1}"), &means(&a), &means(&b));
    }
}
