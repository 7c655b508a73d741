//! SPEC §3 step 7: the staggered horseshoe refresh every R = D observations
//! must not change the answer compared with the plain Gibbs step R = 1.

use hsmoe_core::{Config, Filter};
use hsmoe_tests::{gated_rows, mean_se};
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;

fn log_marginal(refresh_every: u32, seed: u64) -> f64 {
    let (xs, ys) = gated_rows(100, 200, 0.3);
    let mut config = Config::default_for(3);
    config.refresh_every = refresh_every;
    let mut filter = Box::new(Filter::<256, 3, 3>::new());
    let mut rng = XorShiftRng::seed_from_u64(seed);
    filter.reset(&config, &mut rng).unwrap();
    for (x, y) in xs.iter().zip(&ys) {
        filter.observe(x, *y, &mut rng).unwrap();
    }
    filter.state().log_marginal()
}

#[test]
fn refresh_every_d_matches_refresh_every_step() {
    // Same data, 12 independent filter seeds per setting. Welch's test on
    // the log marginal: the difference of means must lie within 3.5 of its
    // standard errors (two-sided p ≈ 5e-4 under "no difference").
    let seeds = 1..=12u64;
    let every_step: Vec<f64> = seeds.clone().map(|s| log_marginal(1, s)).collect();
    let every_d: Vec<f64> = seeds.map(|s| log_marginal(3, 1_000 + s)).collect();
    let (m1, se1) = mean_se(&every_step);
    let (m3, se3) = mean_se(&every_d);
    let z = (m1 - m3).abs() / (se1 * se1 + se3 * se3).sqrt();
    assert!(
        z < 3.5,
        "R = 1: {m1:.3} ± {se1:.3}, R = D: {m3:.3} ± {se3:.3}, z = {z:.2}"
    );
    // The test has power: the two experts are far better than one line.
    assert!(m1 > -250.0 && m3 > -250.0, "{m1} {m3}");
}
