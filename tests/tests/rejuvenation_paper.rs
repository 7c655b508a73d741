//! Resample-move on the paper design (K = 10, d = 5 + intercept) at small
//! N over many seeds: per-seed log marginals of a particle filter are
//! heavy-tailed, so the comparison is by ranks and quantiles, not by a
//! handful of runs (docs/model.md §4).

use hsmoe_host::engine::EngineKind;
use hsmoe_host::fit::{fit, FitOptions};
use hsmoe_host::moves::MoveOptions;
use hsmoe_host::simulate::{simulate, Design};

/// Seeds per arm, particles, rows.
const SEEDS: u64 = 120;
const N: usize = 100;
const T: usize = 200;

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Mann–Whitney U of `a` over `b` as a normal z score (no ties among
/// continuous log marginals): positive when `a` tends to be larger.
fn mann_whitney_z(a: &[f64], b: &[f64]) -> f64 {
    let u: f64 = a
        .iter()
        .map(|x| b.iter().filter(|y| x > y).count() as f64)
        .sum();
    let (n, m) = (a.len() as f64, b.len() as f64);
    (u - n * m / 2.0) / (n * m * (n + m + 1.0) / 12.0).sqrt()
}

#[test]
fn moves_raise_and_tighten_the_log_marginal_on_the_paper_design() {
    let data = simulate(Design::Paper, T, 1).dataset(true);
    let run = |moves: Option<MoveOptions>| -> Vec<f64> {
        let mut lms: Vec<f64> = (1..=SEEDS)
            .map(|seed| {
                let mut opts = FitOptions::new(EngineKind::Core, 10, N, seed, &data);
                opts.moves = moves.into();
                fit(&data, &opts).unwrap().log_marginal.unwrap()
            })
            .collect();
        lms.sort_by(f64::total_cmp);
        lms
    };
    let off = run(None);
    let on = run(Some(MoveOptions::DEFAULT));
    let summary = |v: &[f64]| {
        (
            quantile(v, 0.1),
            quantile(v, 0.25),
            quantile(v, 0.5),
            quantile(v, 0.75),
            quantile(v, 0.9),
        )
    };
    let (z, s_off, s_on) = (mann_whitney_z(&on, &off), summary(&off), summary(&on));
    println!("quantiles 10/25/50/75/90 %, moves off: {s_off:.1?}");
    println!("quantiles 10/25/50/75/90 %, moves on:  {s_on:.1?}");
    println!("Mann–Whitney z (on over off) = {z:.2}");
    // Ranks: with moves the log marginal must be stochastically larger;
    // z > 4 is a one-sided p < 3e-5 under "no difference".
    assert!(z > 4.0, "z = {z}");
    assert!(s_on.2 > s_off.2, "median");
    // Spread: a rank test on absolute deviations from each arm's median
    // (Brown–Forsythe form of Levene's test, by ranks): the deviations
    // without moves must be stochastically larger, z > 3 (one-sided
    // p < 0.0014).
    let deviations = |v: &[f64]| -> Vec<f64> {
        let median = quantile(v, 0.5);
        v.iter().map(|x| (x - median).abs()).collect()
    };
    let z_spread = mann_whitney_z(&deviations(&off), &deviations(&on));
    println!("spread rank z (off over on) = {z_spread:.2}");
    assert!(z_spread > 3.0, "spread z = {z_spread}");
}
