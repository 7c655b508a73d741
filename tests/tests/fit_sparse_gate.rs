//! The horseshoe on the `sparse-gate` design: one stick driven
//! by x1 and x2 among 8 features. The core engine (K = 2, N = 1000,
//! T = 500) must keep both active gate features and shrink ≥ 90% of the
//! null ones, pooled over 3 data sets (18 null coefficients).
//!
//! Classification rule (Carvalho, Polson & Scott 2010): a coefficient is
//! kept as signal when its posterior mean shrinkage factor
//! κ = 1/(1 + τ²λ²) is below ½, and shrunk when κ > ½. A kept active
//! feature must also have |posterior mean φ| ≥ 4 posterior sd.

use hsmoe_host::engine::EngineKind;
use hsmoe_host::fit::FitOptions;
use hsmoe_host::simulate::{simulate, Design};
use hsmoe_tests::fit::run_engine;

#[test]
fn horseshoe_keeps_active_gate_features_and_shrinks_null_ones() {
    let (mut null, mut null_shrunk) = (0, 0);
    for seed in [1, 2, 3] {
        let data = simulate(Design::SparseGate, 500, seed).dataset(true);
        let opts = FitOptions::new(EngineKind::Core, 2, 1000, 1, &data);
        let hs = run_engine(EngineKind::Core, &data, &opts).horseshoe();
        let (mean, sd, kappa) = (
            &hs.phi_mean[0],
            &hs.phi_sd.unwrap()[0],
            &hs.shrinkage.unwrap()[0],
        );
        println!("data seed {seed}: kappa {kappa:.2?}");
        println!(
            "               |mean|/sd {:.1?}",
            mean.iter()
                .zip(sd)
                .map(|(m, s)| m.abs() / s)
                .collect::<Vec<_>>()
        );
        // Column 0 is the (unshrunk) intercept, 1 and 2 are x1 and x2.
        for l in [1, 2] {
            assert!(
                kappa[l] < 0.5,
                "seed {seed}: active x{l} shrunk (kappa {})",
                kappa[l]
            );
            assert!(
                mean[l].abs() >= 4.0 * sd[l],
                "seed {seed}: x{l} {} ± {}",
                mean[l],
                sd[l]
            );
        }
        for &k in &kappa[3..] {
            null += 1;
            null_shrunk += usize::from(k > 0.5);
        }
    }
    println!("null coefficients shrunk: {null_shrunk} of {null}");
    assert!(null_shrunk as f64 >= 0.9 * null as f64);
}
