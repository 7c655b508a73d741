//! Cross-checks of the host gold standards against each other (SPEC §5):
//! the reference PL against the closed form (K = 1) and against the batch
//! Gibbs sampler's posterior predictive (K = 2), and the horseshoe refresh
//! period R = D against R = 1.

use hsmoe_core::Config;
use hsmoe_host::gibbs::{self, GibbsOptions};
use hsmoe_host::reference::{conjugate_log_marginal, ReferenceFilter};
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

/// Final PL predictive means on the grid and the log marginal likelihood.
fn pl_run(xs: &[Vec<f64>], ys: &[f64], config: &Config, seed: u64) -> (Vec<f64>, f64) {
    let mut filter = ReferenceFilter::new(500, 2, 3, config, seed).unwrap();
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

/// SPEC §5: PL at the end of the data matches the Gibbs posterior
/// predictive within Monte Carlo error. The PL error is estimated from
/// independent seeds, the Gibbs error by batch means; tolerance 4 combined
/// SE plus 0.02 for the PL's finite-N bias (path degeneracy of the static
/// parameters), which independent seeds cannot measure.
#[test]
fn pl_matches_gibbs_posterior_predictive() {
    let (xs, ys) = two_expert_data(200, 41);
    let config = Config::default_for(3);
    let opts = GibbsOptions {
        iterations: 6000,
        burn_in: 1000,
        thin: 1,
        seed: 1,
    };
    let gibbs = gibbs::run(&xs, &ys, 2, &config, &opts).unwrap();
    let runs: Vec<(Vec<f64>, f64)> = (0..4).map(|s| pl_run(&xs, &ys, &config, 100 + s)).collect();
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

    // Model choice by the PL evidence (SPEC §3): two experts beat one by
    // far more than the PL's own spread across seeds.
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

/// SPEC §3 step 7: refreshing the horseshoe every R = D observations gives
/// the same answer as every observation (R = 1), within the PL's Monte
/// Carlo error measured over independent seeds (4 combined SE).
#[test]
fn refresh_period_does_not_change_the_answer() {
    let (xs, ys) = two_expert_data(200, 43);
    let default = Config::default_for(3);
    let every = Config {
        refresh_every: 1,
        ..default
    };
    let seeds = 0..4;
    let a: Vec<(Vec<f64>, f64)> = seeds
        .clone()
        .map(|s| pl_run(&xs, &ys, &default, s))
        .collect();
    let b: Vec<(Vec<f64>, f64)> = seeds.map(|s| pl_run(&xs, &ys, &every, 50 + s)).collect();
    let compare = |name: &str, va: Vec<f64>, vb: Vec<f64>| {
        let ((ma, sa), (mb, sb)) = (mean_se(&va), mean_se(&vb));
        let tolerance = 4.0 * (sa * sa + sb * sb).sqrt();
        println!(
            "{name}: R = D {ma:+.4} (SE {sa:.4}), R = 1 {mb:+.4} (SE {sb:.4}), tol {tolerance:.4}"
        );
        assert!((ma - mb).abs() < tolerance.max(1e-3), "{name}");
    };
    compare(
        "log marginal",
        a.iter().map(|r| r.1).collect(),
        b.iter().map(|r| r.1).collect(),
    );
    for (i, x1) in X1_GRID.iter().enumerate() {
        compare(
            &format!("mean at x1 = {x1:+.1}"),
            a.iter().map(|r| r.0[i]).collect(),
            b.iter().map(|r| r.0[i]).collect(),
        );
    }
}
