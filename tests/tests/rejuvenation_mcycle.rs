//! Resample-move on the motorcycle data (standardized, K = 3, sorted by
//! time as recorded): the plain filter's final posterior depends on the
//! order of the rows; the default moves remove most of that dependence
//! (docs/model.md §4). Compared as distributions over many seeds at small
//! N, one summary per seed.

use hsmoe_host::data::Dataset;
use hsmoe_host::engine::{online_engine_with_moves, EngineKind};
use hsmoe_host::fit::FitOptions;
use hsmoe_host::moves::MoveOptions;
use hsmoe_tests::fit::mcycle;
use hsmoe_tests::{ks_critical, ks_two_sample, mann_whitney_z, par_map, quartiles};
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

/// The plain filter's final posterior depends on the order of the rows:
/// at least one summary differs between sorted and shuffled rows (KS
/// distance above its α = 10⁻³ critical value). With the default moves
/// the order effect must shrink wherever the plain filter shows one (KS
/// below the plain filter's), and appear nowhere it does not (KS below
/// the critical value). Where neither arm is significant, which of two
/// sub-critical KS distances is smaller is noise: with the step-1
/// arithmetic of 2026-12-05 (other random paths, same filter) row 80 gave
/// 0.21 both ways, where the previous build gave 0.19 / 0.09. Measured
/// (seeds 1–100, N = 100), KS without / with moves: 0.75 / 0.26 (row 20),
/// 0.36 / 0.19 (row 50), 0.21 / 0.21 (row 80), 0.34 / 0.21 (allocation
/// share), critical 0.276. The stricter claim, same law with moves, does
/// not hold at row 20 (Mann–Whitney z 3.94: medians −0.067 vs −0.074
/// around a Gibbs value of −0.071), a finite-N effect; at N = 1000 both
/// orders are within RMS 0.03 of Gibbs on seeds 1–6 (BENCHMARKS.md).
#[test]
fn mcycle_moves_remove_most_of_the_order_effect() {
    let sorted = mcycle();
    let shuffled = shuffled(&sorted, 7);
    let probes: Vec<Vec<f64>> = PROBES.iter().map(|&r| sorted.x[r].clone()).collect();
    let plain = (
        summaries(&sorted, &probes, None),
        summaries(&shuffled, &probes, None),
    );
    let moved = (
        summaries(&sorted, &probes, Some(MoveOptions::DEFAULT)),
        summaries(&shuffled, &probes, Some(MoveOptions::DEFAULT)),
    );
    let critical = ks_critical(SEEDS, SEEDS, 1e-3);
    let names = names();
    for (i, name) in names.iter().enumerate() {
        let stats = |arms: &(Vec<Vec<f64>>, Vec<Vec<f64>>)| {
            let (a, b) = (column(&arms.0, i), column(&arms.1, i));
            (
                mann_whitney_z(&a, &b),
                ks_two_sample(&a, &b),
                quartiles(&a),
                quartiles(&b),
            )
        };
        let (z0, d0, q0a, q0b) = stats(&plain);
        let (z1, d1, q1a, q1b) = stats(&moved);
        println!("{name}: no moves z {z0:+.2} KS {d0:.3} ({q0a:.3?} vs {q0b:.3?}); moves z {z1:+.2} KS {d1:.3} ({q1a:.3?} vs {q1b:.3?}); critical {critical:.3}");
    }
    let ks = |arms: &(Vec<Vec<f64>>, Vec<Vec<f64>>), i: usize| {
        ks_two_sample(&column(&arms.0, i), &column(&arms.1, i))
    };
    assert!(
        (0..names.len()).any(|i| ks(&plain, i) >= critical),
        "without moves the order should matter"
    );
    for (i, name) in names.iter().enumerate() {
        let (d0, d1) = (ks(&plain, i), ks(&moved, i));
        if d0 >= critical {
            assert!(d1 < d0, "{name}: KS {d1:.3} with moves vs {d0:.3} without");
        } else {
            assert!(
                d1 < critical,
                "{name}: KS {d1:.3} with moves, none without ({d0:.3})"
            );
        }
    }
}
