//! Behaviour of the whole PL step through the public API.

use hsmoe_core::snapshot::xorshift_state;
use hsmoe_core::{Config, Error, Filter};
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;

type Small = Filter<24, 3, 3>;

fn warmed_up(seed: u64) -> (Box<Small>, XorShiftRng) {
    let mut filter = Box::new(Small::new());
    let mut rng = XorShiftRng::seed_from_u64(seed);
    filter.reset(&Config::default_for(3), &mut rng).unwrap();
    for t in 0..40 {
        let u = t as f32 / 40.0;
        let x = [1.0, u, (3.0 * u).sin()];
        let y = if u < 0.5 { 1.0 + x[1] } else { -2.0 * x[2] };
        filter.observe(&x, y, &mut rng).unwrap();
    }
    (filter, rng)
}

/// Debug output of f32 round-trips exactly, so equal strings mean equal
/// bits. The RNG enters through its state words: `XorShiftRng`'s `Debug`
/// hides them.
fn fingerprint(filter: &Small, rng: &XorShiftRng) -> String {
    format!(
        "{:?}{:?}{:?}",
        filter.particles(),
        filter.state(),
        xorshift_state(rng)
    )
}

#[test]
fn bad_inputs_are_rejected_and_change_nothing() {
    let (mut filter, mut rng) = warmed_up(1);
    let before = fingerprint(&filter, &rng);
    let cases: [(&[f32], f32, Error); 9] = [
        (&[1.0, f32::NAN, 0.0], 0.0, Error::NonFinite),
        (&[1.0, 0.0, f32::INFINITY], 0.0, Error::NonFinite),
        (&[1.0, 0.0, f32::NEG_INFINITY], 0.0, Error::NonFinite),
        (&[1.0, 0.0, 0.0], f32::NAN, Error::NonFinite),
        (&[1.0, 0.0, 0.0], f32::INFINITY, Error::NonFinite),
        (&[1.0, 1.0e30, 0.0], 0.0, Error::OutOfRange),
        (&[1.0, 0.0, 0.0], -1.0e30, Error::OutOfRange),
        (&[1.0, 0.0], 0.0, Error::WrongLength),
        (&[1.0, 0.0, 0.0, 0.0], 0.0, Error::WrongLength),
    ];
    for (x, y, expected) in cases {
        assert_eq!(
            filter.observe(x, y, &mut rng).unwrap_err(),
            expected,
            "{x:?} {y}"
        );
        assert_eq!(
            fingerprint(&filter, &rng),
            before,
            "state changed by {x:?} {y}"
        );
    }
    assert_eq!(
        filter.predict(&[f32::NAN, 0.0, 0.0]).unwrap_err(),
        Error::NonFinite
    );
    // The next good observation is processed as if nothing had happened.
    let (mut twin, mut twin_rng) = warmed_up(1);
    let a = filter.observe(&[1.0, 0.2, 0.1], 0.4, &mut rng).unwrap();
    let b = twin.observe(&[1.0, 0.2, 0.1], 0.4, &mut twin_rng).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn use_before_reset_is_an_error() {
    let mut filter = Small::new();
    let mut rng = XorShiftRng::seed_from_u64(1);
    assert_eq!(
        filter.observe(&[1.0, 0.0, 0.0], 0.0, &mut rng).unwrap_err(),
        Error::Uninitialized
    );
    assert_eq!(
        filter.predict(&[1.0, 0.0, 0.0]).unwrap_err(),
        Error::Uninitialized
    );
}

#[test]
fn invalid_config_is_refused() {
    let mut filter = Small::new();
    let mut rng = XorShiftRng::seed_from_u64(1);
    let mut config = Config::default_for(3);
    config.b0 = f32::NAN;
    assert_eq!(
        filter.reset(&config, &mut rng).unwrap_err(),
        Error::InvalidConfig
    );
}

/// An outlier near `MAX_ABS_INPUT` leaves every weight finite but tiny
/// (the Student-t predictives have polynomial tails, ln p ≈ −100 here):
/// the weights are normalized after subtracting the largest, so the step
/// is an ordinary one and its outputs stay finite. (A weight that is
/// exactly zero for every particle, i.e. `Degenerate`, needs a posterior
/// mean near f32's range; `tests/tests/robustness.rs` builds one.)
#[test]
fn an_extreme_outlier_is_absorbed_with_finite_outputs() {
    let (mut filter, mut rng) = warmed_up(2);
    let u = filter.observe(&[1.0, 0.0, 0.0], 9.0e8, &mut rng).unwrap();
    assert!(u.log_pred.is_finite() && u.log_pred < -50.0, "{u:?}");
    assert!((1.0..=24.0 * (1.0 + 1e-5)).contains(&u.ess), "{}", u.ess);
    assert!(u.pred_mean.is_finite() && u.pred_var.is_finite());
    let next = filter.observe(&[1.0, 0.1, 0.3], 0.5, &mut rng).unwrap();
    assert!(next.pred_mean.is_finite() && next.pred_var.is_finite());
    assert!(next.log_pred.is_finite());
}

#[test]
fn outputs_are_probabilities_and_ess_is_bounded() {
    let (mut filter, mut rng) = warmed_up(3);
    for t in 0..30 {
        let x = [1.0, t as f32 / 30.0, -0.5];
        let u = filter.observe(&x, 0.3, &mut rng).unwrap();
        assert!(
            (1.0 - 1e-3..=24.0 * (1.0 + 1e-5)).contains(&u.ess),
            "{}",
            u.ess
        );
        assert!((u.gate.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!((u.alloc.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(u.pred_var > 0.0 && u.log_pred.is_finite());
    }
    let freq = filter.state().allocation_freq();
    assert!((freq.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert_eq!(filter.state().repairs(), 0);
}

#[test]
fn seeded_runs_are_reproducible() {
    let (a, ra) = warmed_up(9);
    let (b, rb) = warmed_up(9);
    assert_eq!(fingerprint(&a, &ra), fingerprint(&b, &rb));
    let (c, rc) = warmed_up(10);
    assert_ne!(fingerprint(&a, &ra), fingerprint(&c, &rc));
}
