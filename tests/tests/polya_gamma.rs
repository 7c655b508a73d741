//! The core's f32 `PG(1, c)` approximation against the exact f64 Devroye
//! sampler of the host (docs/model.md §5): moments, Kolmogorov–Smirnov
//! distance, extreme inputs.
//!
//! Run with `cargo test --release -p hsmoe-tests --test polya_gamma
//! -- --nocapture` to see the per-c table and the draws/s.

use hsmoe_core::dist::polya_gamma as approx;
use hsmoe_host::reference::polya_gamma as exact;
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;
use std::time::Instant;

/// Draws per sampler per `c`. The two-sample KS statistic of two samples of
/// this size from one law has mean ≈ 0.87·√(2/N) = 0.0012 and 99.9%
/// quantile 1.95·√(2/N) = 0.0028 (Kolmogorov distribution), so a KS of
/// 0.005 means a real discrepancy, and an approximation with true distance
/// ≤ 0.001 stays below 0.004.
const N: usize = 1_000_000;

/// Required bound (docs/model.md §5) on the KS distance to an exact sampler,
/// for c in [0, 50].
const KS_BOUND: f64 = 0.005;

/// Exact mean and variance of PG(1, c) in f64 (docs/model.md §5); for
/// |c| < 0.1 the variance's closed form cancels and for |c| > 100 it
/// overflows, so its series are used there.
fn exact_moments(c: f64) -> (f64, f64) {
    let c = c.abs();
    if c == 0.0 {
        return (0.25, 1.0 / 24.0);
    }
    let mean = (0.5 * c).tanh() / (2.0 * c);
    let var = if c < 0.1 {
        // 1/24 − c²/120 + 17c⁴/20160 − … (error < 1e-9 relative at c = 0.1)
        let c2 = c * c;
        1.0 / 24.0 - c2 / 120.0 + 17.0 * c2 * c2 / 20160.0
    } else if c > 100.0 {
        // sinh overflows far out; the neglected terms are O(c·e^{−c}).
        0.5 / (c * c * c)
    } else {
        let ch = (0.5 * c).cosh();
        (c.sinh() - c) / (4.0 * c * c * c * ch * ch)
    };
    (mean, var)
}

/// Sample mean, variance and fourth central moment.
fn sample_moments(xs: &[f64]) -> (f64, f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let m2 = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let m4 = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n;
    (mean, m2, m4)
}

/// Two-sample Kolmogorov–Smirnov statistic `sup |F_a − F_b|`; sorts both.
fn ks_two_sample(a: &mut [f64], b: &mut [f64]) -> f64 {
    a.sort_unstable_by(f64::total_cmp);
    b.sort_unstable_by(f64::total_cmp);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    d
}

/// Draws `N` values and the rate in millions per second.
fn draw(mut one: impl FnMut() -> f64) -> (Vec<f64>, f64) {
    let start = Instant::now();
    let xs: Vec<f64> = (0..N).map(|_| one()).collect();
    (xs, N as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// (a) mean and variance of the core's draws within 4 Monte Carlo SEs of
/// the exact values, SE(mean) = √(m₂/N), SE(var) = √((m₄ − m₂²)/N) from the
/// sample fourth central moment (20 checks at 4 SE: false-alarm rate 10⁻³,
/// and the seeds are fixed); (b) two-sample KS against the exact sampler
/// ≤ 0.005. Prints the table of measured errors.
#[test]
fn approximation_matches_exact_sampler() {
    let grid = [0.0f32, 0.1, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, -1.0, -20.0];
    println!("     c   KS      mean rel err  (SEs)   var rel err  (SEs)   core M/s  exact M/s");
    for (i, &c) in grid.iter().enumerate() {
        let seed = 1000 + i as u64;
        let mut rng = XorShiftRng::seed_from_u64(seed);
        let (mut ours, core_rate) = draw(|| f64::from(approx::sample(&mut rng, c)));
        let mut rng = XorShiftRng::seed_from_u64(seed + 500);
        let (mut reference, exact_rate) = draw(|| exact::sample(&mut rng, f64::from(c)));

        let (mean, var) = exact_moments(f64::from(c));
        let (m1, m2, m4) = sample_moments(&ours);
        let nf = N as f64;
        let z_mean = (m1 - mean) / (m2 / nf).sqrt();
        let z_var = (m2 - var) / ((m4 - m2 * m2) / nf).sqrt();
        let ks = ks_two_sample(&mut ours, &mut reference);
        println!(
            "{c:6.1}  {ks:.4}  {:+.2e}  ({z_mean:+.1})  {:+.2e}  ({z_var:+.1})  {core_rate:7.2}  {exact_rate:8.2}",
            m1 / mean - 1.0,
            m2 / var - 1.0,
        );
        assert!(z_mean.abs() < 4.0, "c = {c}: mean {m1} vs {mean}");
        assert!(z_var.abs() < 4.0, "c = {c}: variance {m2} vs {var}");
        assert!(ks <= KS_BOUND, "c = {c}: KS {ks}");
    }
}

/// (c) Extreme and non-finite `c` give finite draws at or above the floor,
/// and a huge but finite `c` still has the right mean (4 SE, n = 10⁴).
#[test]
fn extreme_inputs_are_finite_and_floored() {
    let mut rng = XorShiftRng::seed_from_u64(77);
    let cases = [
        1e6,
        -1e6,
        1e30,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
    ];
    for c in cases {
        for _ in 0..1000 {
            let w = approx::sample(&mut rng, c);
            assert!(w.is_finite() && w >= approx::FLOOR, "c = {c}: {w}");
        }
    }
    let c = 1e6f32;
    let n = 10_000;
    let avg = (0..n)
        .map(|_| f64::from(approx::sample(&mut rng, c)))
        .sum::<f64>()
        / n as f64;
    let (mean, var) = exact_moments(f64::from(c));
    assert!(
        (avg - mean).abs() < 4.0 * (var / n as f64).sqrt(),
        "{avg} vs {mean}"
    );
}
