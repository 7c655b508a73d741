//! Long runs: the f32 core over many observations keeps every
//! factor positive definite and its log marginal finite, and its
//! predictive agrees with the f64 reference engine within Monte Carlo
//! error at checkpoints. CI runs 20 000 observations; the million-step
//! version is `#[ignore]`d (`cargo test --release -p hsmoe-tests --test
//! long_run -- --ignored`).

use hsmoe_core::{Config, Filter};
use hsmoe_host::reference::ReferenceFilter;
use hsmoe_tests::mean_se;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xorshift::XorShiftRng;
use std::time::Instant;

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod checks;

/// Points on both sides of the gate, `(1, x1, x2)`.
const GRID: [[f32; 3]; 4] = [
    [1.0, -1.5, 0.5],
    [1.0, -0.5, -0.5],
    [1.0, 0.5, 0.5],
    [1.0, 1.5, -0.5],
];

/// The data: two experts switched by the sign of `x1`, noise sd 0.3; the
/// same stream for every run.
struct Stream(XorShiftRng);

impl Stream {
    fn new() -> Self {
        Stream(XorShiftRng::seed_from_u64(20_240_601))
    }

    fn next_row(&mut self) -> ([f32; 3], f32) {
        let (x1, x2, e): (f32, f32, f32) = (
            self.0.sample(StandardNormal),
            self.0.sample(StandardNormal),
            self.0.sample(StandardNormal),
        );
        let mean = if x1 < 0.0 { 1.0 + 2.0 * x2 } else { -1.0 - x2 };
        ([1.0, x1, x2], mean + 0.3 * e)
    }
}

/// Predictive means on the grid at each checkpoint, and the run's time.
struct Run {
    means: Vec<[f64; 4]>,
    seconds: f64,
}

fn checkpoints(total: usize) -> Vec<usize> {
    let mut at: Vec<usize> = [1_000, 10_000, 100_000]
        .into_iter()
        .filter(|&t| t < total)
        .collect();
    at.push(total);
    at
}

fn run_core<const N: usize>(seed: u64, total: usize) -> Run {
    let mut filter: Box<Filter<N, 2, 3>> = Box::new(Filter::new());
    let mut rng = XorShiftRng::seed_from_u64(seed);
    filter.reset(&Config::default_for(3), &mut rng).unwrap();
    let mut data = Stream::new();
    let start = Instant::now();
    let mut means = Vec::new();
    let mut min_ess = f32::INFINITY;
    for t in 1..=total {
        let (x, y) = data.next_row();
        let u = filter.observe(&x, y, &mut rng).unwrap();
        assert!(u.pred_mean.is_finite() && u.pred_var.is_finite() && u.log_pred.is_finite());
        min_ess = min_ess.min(u.ess);
        if checkpoints(total).contains(&t) {
            let image = checks::image(&filter, &rng);
            assert!(
                checks::factors_are_positive_definite(&image, N, 2, 3),
                "core seed {seed}: a factor is not positive definite at t = {t}"
            );
            let log_marginal = filter.state().log_marginal();
            assert!(log_marginal.is_finite(), "t = {t}");
            let m = GRID.map(|x| f64::from(filter.predict(&x).unwrap().mean));
            println!(
                "core seed {seed} t = {t}: log marginal {log_marginal:.1}, repairs {}, \
                 min ESS so far {min_ess:.1}, means {m:.4?}",
                filter.state().repairs()
            );
            means.push(m);
        }
    }
    Run {
        means,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn run_reference(n: usize, seed: u64, total: usize) -> Run {
    let config = Config::default_for(3);
    let mut filter = ReferenceFilter::new(n, 2, 3, &config, seed).unwrap();
    let mut data = Stream::new();
    let start = Instant::now();
    let mut means = Vec::new();
    for t in 1..=total {
        let (x, y) = data.next_row();
        let x = x.map(f64::from);
        filter.observe(&x, f64::from(y)).unwrap();
        if checkpoints(total).contains(&t) {
            let m = GRID.map(|x| filter.predict(&x.map(f64::from)).mean);
            println!(
                "reference seed {seed} t = {t}: log marginal {:.1}, means {m:.4?}",
                filter.log_marginal()
            );
            means.push(m);
        }
    }
    Run {
        means,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Core and reference, `N` particles each, agree at every checkpoint and
/// grid point within 4 combined standard errors (from the spread of
/// independent seeds) plus 0.005 for what seeds cannot measure: the engines
/// share PL's finite-N bias, but not f32 rounding or the core's approximate
/// Pólya-Gamma draws.
fn compare<const N: usize>(total: usize, core_runs: u64, reference_runs: u64) {
    let core: Vec<Run> = (0..core_runs)
        .map(|s| run_core::<N>(10 + s, total))
        .collect();
    let reference: Vec<Run> = (0..reference_runs)
        .map(|s| run_reference(N, 20 + s, total))
        .collect();
    for (c, t) in checkpoints(total).iter().enumerate() {
        for (g, x) in GRID.iter().enumerate() {
            let (cm, cse) = mean_se(&core.iter().map(|r| r.means[c][g]).collect::<Vec<_>>());
            let (rm, rse) = mean_se(&reference.iter().map(|r| r.means[c][g]).collect::<Vec<_>>());
            let tolerance = 4.0 * (cse * cse + rse * rse).sqrt() + 0.005;
            println!(
                "t = {t} x = {x:?}: core {cm:+.4} (SE {cse:.4}), reference {rm:+.4} (SE {rse:.4}), \
                 |diff| {:.4} < {tolerance:.4}",
                (cm - rm).abs()
            );
            assert!((cm - rm).abs() < tolerance, "t = {t}, x = {x:?}");
        }
    }
    let seconds = |runs: &[Run]| runs.iter().map(|r| r.seconds).sum::<f64>() / runs.len() as f64;
    println!(
        "{total} observations, N = {N}: core {:.1} s per run, reference {:.1} s per run",
        seconds(&core),
        seconds(&reference)
    );
}

#[test]
fn twenty_thousand_observations_stay_sane_and_match_the_reference() {
    compare::<100>(20_000, 3, 3);
}

/// Three runs of each engine, 100 particles: ≈ 1 min per core run and
/// ≈ 6 min per reference run (which refactorizes every step).
#[test]
#[ignore = "a million observations per run: about 20 minutes in release"]
fn a_million_observations_stay_sane_and_match_the_reference() {
    compare::<100>(1_000_000, 3, 3);
}
