//! Which expert explains each row: the fit report's `final.alloc` (the
//! final particles' `P(z_t = k | x_t, y_t)`, which the plot colours points
//! by) recovers the regimes of a simulated piecewise stream, with both
//! particle engines and the default moves.
//!
//! The stream is sorted by x, as real sensor streams often are, so the
//! step's own allocation probabilities (data up to t) mostly name the
//! expert that was covering new ground when the row arrived; they are
//! printed for comparison, not asserted.

use hsmoe_host::engine::EngineKind;
use hsmoe_host::fit::{fit, FitOptions};
use hsmoe_host::moves::{MoveOptions, Moves};
use hsmoe_host::simulate::{simulate, Design};

const ROWS: usize = 300;
const K: usize = 3;
const N: usize = 250;

/// Share of rows whose most probable expert is their true regime, under
/// the best of the K! relabellings.
fn agreement(alloc: &[Vec<f64>], truth: &[usize]) -> f64 {
    let most_likely: Vec<usize> = alloc
        .iter()
        .map(|a| (0..K).max_by(|&i, &j| a[i].total_cmp(&a[j])).unwrap())
        .collect();
    let relabellings = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    relabellings
        .iter()
        .map(|p| {
            let hits = most_likely.iter().zip(truth).filter(|(&a, &z)| p[a] == z);
            hits.count() as f64 / truth.len() as f64
        })
        .fold(0.0, f64::max)
}

/// Seeds 1–5 of each engine: at least 90 % of rows go to their regime.
/// Measured 0.937–0.950 for both engines; the regimes' noise grows along
/// x, so rows near a boundary are ambiguous even to the true parameters;
/// a fit that merged two of the three regimes would score about 2/3.
#[test]
fn final_allocations_recover_the_regimes() {
    let sim = simulate(Design::Piecewise, ROWS, 1);
    let data = sim.dataset(true);
    for kind in [EngineKind::Core, EngineKind::Reference] {
        for seed in 1..=5 {
            let mut opts = FitOptions::new(kind, K, N, seed, &data);
            opts.moves = Moves::Stream(MoveOptions::DEFAULT);
            let report = fit(&data, &opts).unwrap();
            let steps: Vec<Vec<f64>> = report.predictive.iter().map(|s| s.alloc.clone()).collect();
            let (last, along) = (
                agreement(&report.final_.alloc, &sim.truth.allocations),
                agreement(&steps, &sim.truth.allocations),
            );
            println!("{kind} seed {seed}: final {last:.3}, steps {along:.3}");
            assert!(last >= 0.9, "{kind} seed {seed}: {last:.3}");
        }
    }
}
