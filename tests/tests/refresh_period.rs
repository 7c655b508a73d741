//! The staggered horseshoe refresh every R = D observations
//! (docs/model.md §6) must not change the answer compared with the plain
//! Gibbs step R = 1.

use hsmoe_core::{Config, Filter};
use hsmoe_tests::{assert_same_law, gated_rows, par_map, quartiles};
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;

/// Seeds per setting. The per-seed log marginal has a heavy lower tail, so
/// the settings are compared as distributions over many seeds at small N.
const SEEDS: usize = 300;

fn log_marginal(refresh_every: u32, seed: u64) -> f64 {
    let (xs, ys) = gated_rows(100, 200, 0.3);
    let mut config = Config::default_for(3);
    config.refresh_every = refresh_every;
    let mut filter = Box::new(Filter::<128, 3, 3>::new());
    let mut rng = XorShiftRng::seed_from_u64(seed);
    filter.reset(&config, &mut rng).unwrap();
    for (x, y) in xs.iter().zip(&ys) {
        filter.observe(x, *y, &mut rng).unwrap();
    }
    filter.state().log_marginal()
}

/// Same data, 300 independent filter seeds per setting (disjoint seed
/// sets), N = 128: the two log-marginal samples must pass the rank and
/// KS tests of [`assert_same_law`] (each at α = 10⁻³).
#[test]
fn refresh_every_d_matches_refresh_every_step() {
    let every_step = par_map(SEEDS, |s| log_marginal(1, s as u64));
    let every_d = par_map(SEEDS, |s| log_marginal(3, 10_000 + s as u64));
    assert_same_law("log marginal, R = 1 vs R = D", &every_step, &every_d);
    // The test has power: the two experts are far better than one line.
    let medians = [quartiles(&every_step)[1], quartiles(&every_d)[1]];
    assert!(medians.iter().all(|&m| m > -250.0), "{medians:?}");
}
