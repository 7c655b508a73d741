//! Resample-move on the motorcycle data (standardized, K = 3, sorted by
//! time as recorded): with the default moves the final posterior does not
//! depend on the order of the rows, while the plain filter's does
//! (docs/model.md §4). Compared as distributions over many seeds at small
//! N, one summary per seed.

use hsmoe_host::data::Dataset;
use hsmoe_host::engine::{online_engine_with_moves, EngineKind};
use hsmoe_host::fit::FitOptions;
use hsmoe_host::moves::MoveOptions;
use hsmoe_tests::fit::mcycle;
use hsmoe_tests::{assert_same_law, ks_critical, ks_two_sample, mann_whitney_z, par_map};
use rand::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

/// Seeds per arm and particles per run.
const SEEDS: usize = 100;
const N: usize = 100;
/// Rows (of the time-sorted data) whose `x` the predictive is read at:
/// the early flat part, the first dip and the rebound.
const PROBES: [usize; 3] = [20, 50, 80];

/// `data` with its rows in a random order (Fisher–Yates, fixed seed).
fn shuffled(data: &Dataset, seed: u64) -> Dataset {
    let mut rng = XorShiftRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..data.y.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    Dataset {
        feature_names: data.feature_names.clone(),
        x: order.iter().map(|&i| data.x[i].clone()).collect(),
        y: order.iter().map(|&i| data.y[i]).collect(),
    }
}

/// Per seed, the final summaries of a core fit of `data`: the predictive
/// mean at each probe `x`, then the largest sorted allocation share.
fn summaries(data: &Dataset, probes: &[Vec<f64>], moves: Option<MoveOptions>) -> Vec<Vec<f64>> {
    par_map(SEEDS, |s| {
        let opts = FitOptions::new(EngineKind::Core, 3, N, 1 + s as u64, data);
        let mut engine = online_engine_with_moves(
            EngineKind::Core,
            3,
            data.d(),
            N,
            &opts.config,
            opts.seed,
            moves,
        )
        .unwrap();
        for (x, &y) in data.x.iter().zip(&data.y) {
            engine.observe(x, y).unwrap();
        }
        engine.finish().unwrap();
        let mut out: Vec<f64> = probes
            .iter()
            .map(|x| engine.predict(x).unwrap().0.mean)
            .collect();
        out.push(engine.allocation_freq_sorted()[0]);
        out
    })
}

/// Column `i` of per-seed summaries.
fn column(rows: &[Vec<f64>], i: usize) -> Vec<f64> {
    rows.iter().map(|r| r[i]).collect()
}

/// The names of the summaries, in the order of [`summaries`].
fn names() -> Vec<String> {
    let mut names: Vec<String> = PROBES
        .iter()
        .map(|r| format!("predictive mean at row {r}"))
        .collect();
    names.push("largest sorted allocation share".to_string());
    names
}

/// With the default moves, every summary passes the rank and KS tests of
/// [`assert_same_law`] (each at α = 10⁻³; four summaries, so a family
/// error below 10⁻²) between the sorted rows and a shuffled order.
/// Without moves (the control) at least one summary must differ at the
/// same level, so the comparison has the power to see an order effect.
#[test]
fn mcycle_order_does_not_change_the_moved_posterior() {
    let sorted = mcycle();
    let shuffled = shuffled(&sorted, 7);
    let probes: Vec<Vec<f64>> = PROBES.iter().map(|&r| sorted.x[r].clone()).collect();

    let plain = (
        summaries(&sorted, &probes, None),
        summaries(&shuffled, &probes, None),
    );
    let critical = ks_critical(SEEDS, SEEDS, 1e-3);
    let differs = names().iter().enumerate().any(|(i, name)| {
        let (a, b) = (column(&plain.0, i), column(&plain.1, i));
        let (z, d) = (mann_whitney_z(&a, &b), ks_two_sample(&a, &b));
        println!("no moves, {name}: Mann–Whitney z {z:+.2}, KS {d:.3} (critical {critical:.3})");
        z.abs() >= 3.29 || d >= critical
    });
    assert!(differs, "without moves the order should matter");

    let moved = (
        summaries(&sorted, &probes, Some(MoveOptions::DEFAULT)),
        summaries(&shuffled, &probes, Some(MoveOptions::DEFAULT)),
    );
    for (i, name) in names().iter().enumerate() {
        assert_same_law(
            &format!("default moves, {name}, sorted vs shuffled"),
            &column(&moved.0, i),
            &column(&moved.1, i),
        );
    }
}
