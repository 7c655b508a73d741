//! Bad values, degenerate data and bounded random inputs through the core
//! (docs/model.md §7). Each refused input must leave the filter bit for bit as
//! it was; accepted ones must give NaN-free outputs and positive-definite
//! factors. The random-input loops run the fuzz targets' own checks
//! (`fuzz/src/lib.rs`) on seeded inputs and on the kept fuzz corpus, so CI
//! exercises them in a few seconds.

use hsmoe_core::frame::{self, MAX_FRAME};
use hsmoe_core::protocol::{FeatureVec, ObserveMsg, PredictMsg, Request};
use hsmoe_core::snapshot::xorshift_state;
use hsmoe_core::{Config, Const, Error, Experts, Features, Filter, Update, MAX_ABS_INPUT};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xorshift::XorShiftRng;
use std::path::Path;

// Only some of the fuzz helpers are needed here.
#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod checks;

type Small = Filter<24, 3, 3>;

/// Two experts switched by the sign of `x_1`, rows `(1, x_1, x_2)`.
fn gated_row(rng: &mut XorShiftRng) -> ([f32; 3], f32) {
    let (x1, x2, e): (f32, f32, f32) = (
        rng.sample(StandardNormal),
        rng.sample(StandardNormal),
        rng.sample(StandardNormal),
    );
    let mean = if x1 < 0.0 { 1.0 + 2.0 * x2 } else { -1.0 - x2 };
    ([1.0, x1, x2], mean + 0.2 * e)
}

fn warmed_up<const N: usize, const K: usize>(
    seed: u64,
    steps: usize,
) -> (Box<Filter<N, K, 3>>, XorShiftRng)
where
    Const<K>: Experts,
{
    let mut filter: Box<Filter<N, K, 3>> = Box::new(Filter::new());
    let mut rng = XorShiftRng::seed_from_u64(seed);
    let mut data = XorShiftRng::seed_from_u64(seed + 1000);
    filter.reset(&Config::default_for(3), &mut rng).unwrap();
    for _ in 0..steps {
        let (x, y) = gated_row(&mut data);
        filter.observe(&x, y, &mut rng).unwrap();
    }
    (filter, rng)
}

/// Every bit, step scratch included (Debug output of floats round-trips
/// exactly; the RNG by its state, which its Debug output hides).
fn fingerprint<const N: usize, const K: usize, const D: usize>(
    filter: &Filter<N, K, D>,
    rng: &XorShiftRng,
) -> String
where
    Const<K>: Experts,
    Const<D>: Features,
{
    format!(
        "{:?}{:?}{:?}",
        filter.particles(),
        filter.state(),
        xorshift_state(rng)
    )
}

fn assert_sane<const K: usize>(u: &Update<K>, n: usize) {
    assert!(
        u.pred_mean.is_finite() && u.pred_var.is_finite() && u.pred_var > 0.0,
        "{u:?}"
    );
    assert!(u.log_pred.is_finite(), "{u:?}");
    assert!(
        u.ess >= 1.0 - 1e-4 && u.ess <= n as f32 * (1.0 + 1e-4),
        "{u:?}"
    );
    for p in [&u.gate, &u.alloc] {
        assert!(p.iter().all(|v| v.is_finite() && *v >= 0.0), "{u:?}");
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{u:?}");
    }
}

/// Bad values (docs/model.md §7, "Inputs"): NaN, ±inf, 1e30 and wrong lengths
/// get their documented error and change nothing; subnormals are finite and
/// accepted. Every value is tried in every feature slot and as `y`.
#[test]
fn bad_values_are_refused_bit_for_bit_and_subnormals_accepted() {
    let (mut filter, mut rng) = warmed_up::<24, 3>(1, 60);
    let next_up = f32::from_bits(MAX_ABS_INPUT.to_bits() + 1);
    let bad = [
        (f32::NAN, Error::NonFinite),
        (-f32::NAN, Error::NonFinite),
        (f32::INFINITY, Error::NonFinite),
        (f32::NEG_INFINITY, Error::NonFinite),
        (1.0e30, Error::OutOfRange),
        (-1.0e30, Error::OutOfRange),
        (f32::MAX, Error::OutOfRange),
        (next_up, Error::OutOfRange),
    ];
    let mut refused = 0;
    for (value, expected) in bad {
        for slot in 0..4 {
            let before = fingerprint(&filter, &rng);
            let mut x = [1.0, 0.3, -0.2];
            let mut y = 0.5;
            if slot < 3 {
                x[slot] = value;
            } else {
                y = value;
            }
            assert_eq!(
                filter.observe(&x, y, &mut rng).unwrap_err(),
                expected,
                "{x:?} {y}"
            );
            if slot < 3 {
                assert_eq!(filter.predict(&x).unwrap_err(), expected, "{x:?}");
            }
            assert_eq!(fingerprint(&filter, &rng), before, "{x:?} {y}");
            refused += 1;
        }
    }
    for x in [
        &[][..],
        &[1.0],
        &[1.0, 0.0],
        &[1.0, 0.0, 0.0, 0.0],
        &[f32::NAN; 7],
    ] {
        let before = fingerprint(&filter, &rng);
        assert_eq!(
            filter.observe(x, 0.0, &mut rng).unwrap_err(),
            Error::WrongLength
        );
        assert_eq!(filter.predict(x).unwrap_err(), Error::WrongLength);
        assert_eq!(fingerprint(&filter, &rng), before);
        refused += 1;
    }
    println!("{refused} bad observations refused, state unchanged each time");

    // Finite values at the edges are accepted and give sane outputs.
    let subnormal = f32::from_bits(1);
    assert!(subnormal > 0.0 && !subnormal.is_normal());
    let edges = [
        ([1.0, subnormal, -subnormal], subnormal),
        ([subnormal, 1.0e-40, 0.5], -1.0e-44),
        ([1.0, -0.0, 0.0], -0.0),
        ([1.0, 0.2, 0.1], 1.0e-38),
    ];
    for (x, y) in edges {
        assert_sane(&filter.observe(&x, y, &mut rng).unwrap(), 24);
        let p = filter.predict(&x).unwrap();
        assert!(p.mean.is_finite() && p.var.is_finite() && p.var > 0.0);
    }
    // The largest accepted magnitude is accepted, and the filter survives it.
    let u = filter
        .observe(
            &[1.0, MAX_ABS_INPUT, -MAX_ABS_INPUT],
            MAX_ABS_INPUT,
            &mut rng,
        )
        .unwrap();
    assert!(!u.pred_mean.is_nan() && !u.pred_var.is_nan() && u.log_pred.is_finite());
    let mut data = XorShiftRng::seed_from_u64(77);
    for _ in 0..50 {
        let (x, y) = gated_row(&mut data);
        assert_sane(&filter.observe(&x, y, &mut rng).unwrap(), 24);
    }
    let image = checks::image(&filter, &rng);
    assert!(checks::factors_are_positive_definite(&image, 24, 3, 3));
}

/// One observation whose predictive density underflows to 0 in f32 for
/// every particle: `Degenerate`, the posterior unchanged, and the next
/// observation processed as if the outlier had never come.
///
/// With `b ≥ b0` a Student-t log density is `-∞` only when `(y − xᵀm)²`
/// overflows, i.e. `|xᵀm| ≳ 1.8e19`. With the default prior the posterior
/// mean obeys the ridge bound `‖m‖ ≤ √(v0)/2 · ‖y‖₂`, so this needs
/// hundreds of observations at `|y| = MAX_ABS_INPUT` on a tiny `x`, then
/// `x = MAX_ABS_INPUT`. Standardized data cannot get there.
#[test]
fn an_outlier_that_underflows_every_weight_is_degenerate_and_recoverable() {
    // One expert, so every particle's expert sees every observation.
    let mut filter: Box<Filter<16, 1, 1>> = Box::new(Filter::new());
    let mut rng = XorShiftRng::seed_from_u64(3);
    filter.reset(&Config::default_for(1), &mut rng).unwrap();
    // s = √(0.1/n) maximizes the ridge mean n·s·y/(0.1 + n s²).
    let n = 1_000;
    let s = (0.1f32 / n as f32).sqrt();
    for _ in 0..n {
        let u = filter.observe(&[s], MAX_ABS_INPUT, &mut rng).unwrap();
        assert!(!u.pred_mean.is_nan() && !u.pred_var.is_nan() && u.log_pred.is_finite());
    }
    let means: Vec<f32> = filter
        .particles()
        .iter()
        .flat_map(|p| p.experts().iter().map(|e| e.mean()[0]))
        .collect();
    let smallest = means.iter().fold(f32::INFINITY, |m, v| m.min(v.abs()));
    println!("after {n} observations at x = {s:.2e}, y = 1e9: min |m| = {smallest:.3e}");

    let image = checks::image(&filter, &rng);
    let before = fingerprint(&filter, &rng);
    let err = filter.observe(&[MAX_ABS_INPUT], 0.0, &mut rng).unwrap_err();
    assert_eq!(err, Error::Degenerate);
    // The posterior, state and RNG are untouched; only the step scratch
    // (the allocation weights, not part of the snapshot) was rewritten.
    assert_eq!(checks::image(&filter, &rng), image);
    assert_ne!(fingerprint(&filter, &rng), before);
    let p = filter.predict(&[MAX_ABS_INPUT]).unwrap();
    println!("prediction at the outlier's x: {p:?}");
    assert!(!p.mean.is_nan() && !p.var.is_nan());

    // Recovery: the next ordinary observation is processed normally, and
    // exactly as a twin that never saw the outlier processes it.
    let mut twin = filter.clone();
    let mut twin_rng = rng.clone();
    let a = filter.observe(&[s], MAX_ABS_INPUT, &mut rng).unwrap();
    let b = twin.observe(&[s], MAX_ABS_INPUT, &mut twin_rng).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    println!(
        "next step after Degenerate: ess {:.2}, log_pred {:.2}",
        a.ess, a.log_pred
    );
}

/// 10 000 identical feature vectors: `Σ x xᵀ` has rank one, so every
/// factor is conditioned only by its prior. The filter must keep its
/// factors positive definite (repairing a particle if needed) and its
/// outputs NaN-free.
#[test]
fn ten_thousand_identical_x_keep_the_factors_positive_definite() {
    let mut filter: Box<Small> = Box::new(Small::new());
    let mut rng = XorShiftRng::seed_from_u64(5);
    let mut noise = XorShiftRng::seed_from_u64(6);
    filter.reset(&Config::default_for(3), &mut rng).unwrap();
    let x = [1.0, 0.7, -1.3];
    let (mut min_ess, mut sum_ess) = (f32::INFINITY, 0.0f64);
    for t in 0..10_000 {
        let e: f32 = noise.sample(StandardNormal);
        let u = filter.observe(&x, 0.4 + 0.3 * e, &mut rng).unwrap();
        assert_sane(&u, 24);
        min_ess = min_ess.min(u.ess);
        sum_ess += f64::from(u.ess);
        if t % 1000 == 999 {
            let image = checks::image(&filter, &rng);
            assert!(
                checks::factors_are_positive_definite(&image, 24, 3, 3),
                "t = {t}"
            );
        }
    }
    let p = filter.predict(&x).unwrap();
    println!(
        "10 000 identical x: ESS min {min_ess:.2} mean {:.2}, repairs {}, prediction {p:?}",
        sum_ess / 1e4,
        filter.state().repairs()
    );
    // The predictive at that x has learned y's mean 0.4 and sd 0.3.
    assert!(
        (p.mean - 0.4).abs() < 0.05 && (p.var.sqrt() - 0.3).abs() < 0.05,
        "{p:?}"
    );
    // Other directions stay near the prior, without NaN.
    let far = filter.predict(&[1.0, -0.7, 1.3]).unwrap();
    assert!(
        far.mean.is_finite() && far.var.is_finite() && far.var > p.var,
        "{far:?}"
    );
}

/// One and two particles: the ESS is at most N, the estimate stays sane.
fn tiny<const N: usize>() {
    let mut filter: Box<Filter<N, 3, 3>> = Box::new(Filter::new());
    let mut rng = XorShiftRng::seed_from_u64(N as u64);
    let mut data = XorShiftRng::seed_from_u64(100 + N as u64);
    filter.reset(&Config::default_for(3), &mut rng).unwrap();
    let mut ess_below = 0;
    for _ in 0..3_000 {
        let (x, y) = gated_row(&mut data);
        let u = filter.observe(&x, y, &mut rng).unwrap();
        assert_sane(&u, N);
        ess_below += usize::from(u.ess < N as f32 * 0.999);
    }
    let image = checks::image(&filter, &rng);
    assert!(checks::factors_are_positive_definite(&image, N, 3, 3));
    let lm = filter.state().log_marginal();
    let p = filter.predict(&[1.0, -1.0, 0.5]).unwrap();
    println!(
        "N = {N}: ESS < N at {ess_below} of 3000 steps, repairs {}, log marginal {lm:.1}, predict at (-1, 0.5) {p:?}",
        filter.state().repairs()
    );
    assert!(lm.is_finite());
    // Even one particle learns the left expert's mean 1 + 2·0.5 = 2.
    assert!((p.mean - 2.0).abs() < 0.5, "{p:?}");
}

#[test]
fn one_and_two_particles_run_sanely() {
    tiny::<1>();
    tiny::<2>();
}

/// Regression (found by the `filter_step` fuzz target): with `|ln π t|`
/// beyond ~1e7 the allocation probabilities were normalized by an f32
/// `ln Σ` that had lost the `ln` of the sum, and summed to up to K.
#[test]
fn allocation_probabilities_sum_to_one_when_log_terms_are_huge() {
    let mut filter: Box<Filter<1, 2, 2>> = Box::new(Filter::new());
    let mut rng = XorShiftRng::seed_from_u64(0xff);
    // The most extreme valid prior: 2·10⁶ degrees of freedom and scale
    // 10⁻⁶, so y = 10³ has ln t ≈ −10⁶·ln(10¹²) ≈ −3·10⁷ for both experts.
    let config = Config {
        a0: hsmoe_core::config::PRIOR_MAX,
        b0: hsmoe_core::config::PRIOR_MIN,
        ..Config::default_for(2)
    };
    filter.reset(&config, &mut rng).unwrap();
    for y in [1.0e3, -3.0e3, 1.0e4] {
        let u = filter.observe(&[1.0, 0.5], y, &mut rng).unwrap();
        let sum: f32 = u.alloc.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-5,
            "alloc {:?} sums to {sum}",
            u.alloc
        );
    }
}

/// Regression (found here): when the mixture's second moment overflowed
/// f32, `max(∞ − ∞, 0)` reported a predictive variance of 0, i.e.
/// certainty, instead of `+∞`. Two experts after 2 000 observations at
/// `y = 1e9` on a tiny `x`: at `x = 1e9` the means overflow the square.
#[test]
fn an_overflowing_predictive_variance_is_infinite_not_zero() {
    let mut filter: Box<Filter<16, 2, 1>> = Box::new(Filter::new());
    let mut rng = XorShiftRng::seed_from_u64(3);
    let config = Config {
        gate_intercept: false,
        ..Config::default_for(1)
    };
    filter.reset(&config, &mut rng).unwrap();
    let s = (0.1f32 / 1_000.0).sqrt();
    for _ in 0..2_000 {
        filter.observe(&[s], MAX_ABS_INPUT, &mut rng).unwrap();
    }
    let p = filter.predict(&[MAX_ABS_INPUT]).unwrap();
    assert!(p.mean.is_finite() && p.mean > 1.0e19, "{p:?}");
    assert_eq!(p.var, f32::INFINITY, "{p:?}");
    let u = filter.observe(&[MAX_ABS_INPUT], 0.0, &mut rng).unwrap();
    assert_eq!(u.pred_var, f32::INFINITY, "{u:?}");
    assert!(u.log_pred.is_finite() && u.ess >= 1.0, "{u:?}");
}

/// Valid request frames, 30% of them with one bit flipped, between bursts
/// of line noise: what a device's receiver sees on a bad link.
fn wire_stream(rng: &mut XorShiftRng) -> Vec<u8> {
    let mut wire = Vec::new();
    for _ in 0..rng.random_range(1..6) {
        let seq = rng.random();
        let len = rng.random_range(0..7);
        let x: Vec<f32> = (0..len).map(|_| rng.random::<f32>() - 0.5).collect();
        let x = FeatureVec::<8>::from_slice(&x).unwrap();
        let request = match rng.random_range(0..4) {
            0 => Request::Hello,
            1 => Request::Observe(ObserveMsg {
                seq,
                x,
                y: rng.random(),
            }),
            2 => Request::Predict(PredictMsg { seq, x }),
            _ => Request::Reset { seed: rng.random() },
        };
        let mut buf = [0u8; MAX_FRAME];
        let bytes = frame::encode(&request, &mut buf).unwrap();
        if rng.random_bool(0.3) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] ^= 1 << rng.random_range(0..8);
        }
        wire.extend_from_slice(bytes);
        if rng.random_bool(0.3) {
            let noise = rng.random_range(0..20);
            wire.extend((0..noise).map(|_| rng.random::<u8>()));
        }
    }
    wire
}

/// Seeded random inputs through the fuzz targets' checks.
#[test]
fn seeded_random_inputs_pass_the_fuzz_checks() {
    let mut rng = XorShiftRng::seed_from_u64(2024);
    let mut total = checks::Tally::default();
    for _ in 0..1_500 {
        let len = rng.random_range(0..400);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        total.add(&checks::run_frames(&data));
        total.add(&checks::run_frames(&wire_stream(&mut rng)));
        total.add(&checks::run_filter_any_shape(&data));
        total.add(&checks::run_snapshot(&data));
        total.add(&checks::run_checkpoint(&data));
    }
    println!("seeded inputs: {total:?}");
    assert!(
        total.frames > 1_000 && total.bad_frames > 1_000,
        "{total:?}"
    );
    assert!(total.observed > 1_000 && total.predicted > 100);
    assert!(total.rejected.iter().take(3).all(|&r| r > 100), "{total:?}");
}

/// The kept fuzz corpus (minimized inputs that reach distinct code paths)
/// replayed through the same checks.
#[test]
fn the_fuzz_corpus_passes_the_checks() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0;
    for (target, run) in [
        ("frame", checks::run_frames as fn(&[u8]) -> checks::Tally),
        ("snapshot", checks::run_snapshot),
        ("checkpoint", checks::run_checkpoint),
        ("filter_step", checks::run_filter_any_shape),
    ] {
        let Ok(entries) = std::fs::read_dir(corpus.join(target)) else {
            continue;
        };
        for entry in entries {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            run(&data);
            replayed += 1;
        }
    }
    println!("replayed {replayed} corpus inputs");
    assert!(
        replayed > 100,
        "the corpus is missing: {}",
        corpus.display()
    );
}
