//! Robust (Student-t) experts through the core filter and the f64
//! reference filter (docs/model.md §10): the evidence estimate is unbiased
//! in both, they agree on a mixture, the moves leave the exact posterior
//! at K = 1 in place, and gross outliers barely move the fit.

use hsmoe_core::expert::{Expert, Gaussian, Student};
use hsmoe_core::{Config, Filter};
use hsmoe_host::engine::{online_engine_with_moves, EngineChoice, EngineKind};
use hsmoe_host::family::Family;
use hsmoe_host::gibbs::{self, batch_means_se, GibbsOptions, Ladder};
use hsmoe_host::moves::MoveOptions;
use hsmoe_host::reference::ReferenceFilter;
use hsmoe_host::simulate::{simulate_family, Design};
use hsmoe_tests::fit::{core_fit_with_moves, log_marginals};
use hsmoe_tests::{assert_same_law, assert_unbiased_evidence, mean_se};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xorshift::XorShiftRng;

/// `ln Γ(5/2)`: the Student-t normalizer at ν = 4 is
/// `Γ(5/2)/(Γ(2)√(4π))`, and `Γ(2) = 1`.
const LN_GAMMA_5_2: f64 = 0.284_682_870_472_919_2;

/// Six responses around 0 with one gross outlier (8.0).
const ROWS: [f32; 6] = [0.3, -0.5, 1.2, 0.1, 8.0, -0.2];

/// The exact posterior of an intercept-only robust expert (ν = 4) under
/// the default NIG prior, by the midpoint rule on `(β, ln σ²)`:
/// `(p(y), E[β | y], E[σ² | y])`.
fn exact_posterior(ys: &[f32], config: &Config) -> (f64, f64, f64) {
    let (v0, a0, b0) = (
        f64::from(config.v0),
        f64::from(config.a0),
        f64::from(config.b0),
    );
    let ln_gamma_a0 = 0.0; // Γ(2) = 1 for the default a0 = 2
    assert_eq!(a0, 2.0);
    let nu = 4.0f64;
    let ln_c = LN_GAMMA_5_2 - 0.5 * (nu * std::f64::consts::PI).ln();
    let (steps, (b_lo, b_hi), (s_lo, s_hi)) = (1200, (-12.0, 12.0), (-9.0, 7.0));
    let (hb, hs) = ((b_hi - b_lo) / steps as f64, (s_hi - s_lo) / steps as f64);
    let (mut z, mut zb, mut zs) = (0.0, 0.0, 0.0);
    for i in 0..steps {
        let beta = b_lo + (i as f64 + 0.5) * hb;
        for j in 0..steps {
            let s = s_lo + (j as f64 + 0.5) * hs;
            let sigma2 = s.exp();
            // N(β; 0, σ² v0) · IG(σ²; a0, b0) · σ² (the Jacobian of ln σ²).
            let ln_prior = -0.5 * (2.0 * std::f64::consts::PI * sigma2 * v0).ln()
                - beta * beta / (2.0 * sigma2 * v0)
                + a0 * b0.ln()
                - ln_gamma_a0
                - (a0 + 1.0) * s
                - b0 / sigma2
                + s;
            let ln_lik: f64 = ys
                .iter()
                .map(|&y| {
                    let e = f64::from(y) - beta;
                    ln_c - 0.5 * s - 0.5 * (nu + 1.0) * (e * e / (nu * sigma2)).ln_1p()
                })
                .sum();
            let w = (ln_prior + ln_lik).exp();
            z += w;
            zb += w * beta;
            zs += w * sigma2;
        }
    }
    (z * hb * hs, zb / z, zs / z)
}

#[test]
fn k1_evidence_estimate_is_unbiased() {
    // The particle carries (β, σ²) and each step weighs by the exact
    // t₄(y; β, σ²), draws λ and then (β, σ²) from exact conditionals, so
    // E[p̂(y)] = p(y) at any N. N = 20, T = 6, 2 000 seeds, for the core
    // and for the independent f64 reference filter
    // (`assert_unbiased_evidence`: the mean of p̂/p within 4 standard
    // errors of 1).
    let config = Config::default_for(1);
    let (exact, _, _) = exact_posterior(&ROWS, &config);
    let core = |seed| {
        let mut filter: Filter<20, 1, 1, Student<1>> = Filter::new();
        let mut rng = XorShiftRng::seed_from_u64(seed);
        filter.reset(&config, &mut rng).unwrap();
        for y in ROWS {
            filter.observe(&[1.0], y, &mut rng).unwrap();
        }
        filter.state().log_marginal()
    };
    let reference = |seed| {
        let mut filter =
            ReferenceFilter::for_family(Family::Student, 20, (1, 1), &config, seed).unwrap();
        for y in ROWS {
            filter.observe(&[1.0], f64::from(y)).unwrap();
        }
        filter.log_marginal()
    };
    assert_unbiased_evidence("core", &core, exact.ln(), 2000);
    assert_unbiased_evidence("reference", &reference, exact.ln(), 2000);
}

#[test]
fn core_and_reference_agree_on_a_mixture() {
    // The f32 core and the f64 reference filter, written independently,
    // estimate the same log marginal likelihood of a robust mixture: 200
    // seeds per engine at N = 100 on T = 150 rows of the `device` design
    // with t₄ noise (K = 4, D = 4), compared by the rank and KS tests of
    // `assert_same_law` (each at α = 10⁻³).
    let data = simulate_family(Design::Device, Family::Student, 150, 3).dataset(true);
    let of = |kind| {
        let choice = EngineChoice {
            kind,
            family: Family::Student,
        };
        log_marginals(choice, (4, 100), (&data.x, &data.y), 200)
    };
    let (core, reference) = (of(EngineKind::Core), of(EngineKind::Reference));
    assert_same_law(
        "robust mixture log marginal, core vs reference",
        &core,
        &reference,
    );
}

#[test]
fn k1_moves_keep_the_exact_posterior() {
    // With the host's default moves (a sweep after nearly every step and
    // 8 final sweeps), the particles must describe p(β, σ² | y): over 60
    // seeds at N = 200, the seed-average of the particle means of β and σ²
    // is within 4 standard errors (from the seeds' spread) of the
    // quadrature's posterior means. The same for β with the reference
    // filter's own moves (its predictive mean is the particle mean of β).
    let config = Config::default_for(1);
    let (_, beta, sigma2) = exact_posterior(&ROWS, &config);
    let stream: Vec<([f32; 1], f32)> = ROWS.iter().map(|&y| ([1.0], y)).collect();
    let (mut betas, mut sigma2s, mut reference_betas) = (Vec::new(), Vec::new(), Vec::new());
    for seed in 0..60 {
        let particles = core_fit_with_moves::<1, 1, Student<1>>(&stream, 200, seed);
        let n = particles.len() as f64;
        let draw = |p: &hsmoe_core::Particle<1, 1, Student<1>>| *p.experts()[0].parameters();
        betas.push(
            particles
                .iter()
                .map(|p| f64::from(draw(p).beta[0]))
                .sum::<f64>()
                / n,
        );
        sigma2s.push(
            particles
                .iter()
                .map(|p| f64::from(draw(p).sigma2))
                .sum::<f64>()
                / n,
        );
        let choice = EngineChoice {
            kind: EngineKind::Reference,
            family: Family::Student,
        };
        let moves = Some(MoveOptions::DEFAULT);
        let mut reference =
            online_engine_with_moves(choice, 1, 1, 200, &config, seed, moves).unwrap();
        for y in ROWS {
            reference.observe(&[1.0], f64::from(y)).unwrap();
        }
        reference.finish().unwrap();
        reference_betas.push(reference.predict(&[1.0]).unwrap().0.mean);
    }
    for (what, values, exact) in [
        ("β", &betas, beta),
        ("σ²", &sigma2s, sigma2),
        ("β (reference)", &reference_betas, beta),
    ] {
        let (mean, se) = mean_se(values);
        println!("E[{what} | y]: particles {mean:.4} ± {se:.4}, quadrature {exact:.4}");
        assert!(
            (mean - exact).abs() < 4.0 * se,
            "{what}: {mean} ± {se} vs {exact}"
        );
    }
}

/// The batch Gibbs sampler with one robust expert (`--engine gibbs
/// --family student`: a Gamma λ per row, then (β, σ²) from the NIG
/// posterior of the λ-weighted rows) must describe p(β, σ² | y): its
/// posterior means of β and σ² within 4 batch-means standard errors of
/// the quadrature's (4 chains; a false alarm ≈ 6·10⁻⁵ per quantity).
fn k1_mixture_gibbs_matches_the_exact_posterior(ladder: Ladder, iterations: usize) {
    let config = Config::default_for(1);
    let (_, beta, sigma2) = exact_posterior(&ROWS, &config);
    let xs = vec![vec![1.0]; ROWS.len()];
    let ys: Vec<f64> = ROWS.iter().map(|&y| f64::from(y)).collect();
    let opts = GibbsOptions {
        iterations,
        burn_in: 1_000,
        thin: 1,
        seed: 4,
        ladder,
    };
    let (result, convergence) =
        gibbs::run_chains(&xs, &ys, 1, Family::Student, &config, &opts, 4).unwrap();
    println!("exchanges accepted {:?}", convergence.exchange_acceptance);
    let betas: Vec<f64> = result.draws.iter().map(|d| d.beta[0][0]).collect();
    let sigma2s: Vec<f64> = result.draws.iter().map(|d| d.sigma2[0]).collect();
    for (what, draws, exact) in [("β", &betas, beta), ("σ²", &sigma2s, sigma2)] {
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let se = batch_means_se(draws);
        println!("E[{what} | y]: Gibbs {mean:.4} ± {se:.4}, quadrature {exact:.4}");
        assert!(
            (mean - exact).abs() < 4.0 * se,
            "{what}: {mean} ± {se} vs {exact}"
        );
    }
}

#[test]
fn k1_plain_gibbs_matches_the_exact_posterior() {
    k1_mixture_gibbs_matches_the_exact_posterior(Ladder::NONE, 20_000);
}

/// The kept copy of a tempered chain still targets the posterior: its
/// hot copies temper the augmented likelihood `N(y; β, σ²/λ)^b`, and the
/// allocation weights and exchanges must use that tempered density.
/// Measured with the plain `t₄^b` there instead (the draws unchanged): β
/// 35 standard errors off. Rungs 1, 0.22, 0.05.
#[test]
fn k1_tempered_gibbs_matches_the_exact_posterior() {
    let ladder = Ladder {
        rungs: 3,
        hottest: 0.05,
    };
    k1_mixture_gibbs_matches_the_exact_posterior(ladder, 20_000);
}

/// `y = 1 + 2x + 0.3ε`, `x ~ N(0, 1)`, T rows; with `outliers`, every
/// 20th row (5 %) is a spike 10 noise sd up, as a sensor's glitches are.
fn line(t: usize, outliers: bool) -> Vec<([f32; 2], f32)> {
    let mut rng = XorShiftRng::seed_from_u64(5);
    (0..t)
        .map(|i| {
            let x: f32 = rng.sample(StandardNormal);
            let noise: f32 = rng.sample(StandardNormal);
            let mut y = 1.0 + 2.0 * x + 0.3 * noise;
            if outliers && i % 20 == 10 {
                y += 3.0;
            }
            ([1.0, x], y)
        })
        .collect()
}

/// The particle mean of the coefficients of a K = 1 fit.
fn coefficients<E: Expert<2>>(
    particles: &[hsmoe_core::Particle<1, 2, E>],
    beta: impl Fn(&E) -> [f32; 2],
) -> [f64; 2] {
    let n = particles.len() as f64;
    [0, 1].map(|l| {
        particles
            .iter()
            .map(|p| f64::from(beta(&p.experts()[0])[l]))
            .sum::<f64>()
            / n
    })
}

#[test]
fn gross_outliers_barely_move_a_robust_expert() {
    // 400 rows of a line with noise sd 0.3; 5 % of them spiked by +3
    // (10 sd). The Gaussian fit of the clean rows is the target. On the
    // contaminated rows the robust expert must stay within 0.05 of it in
    // both coefficients (their posterior sd is about 0.015); the Gaussian
    // expert's intercept follows the spikes' mean, 0.05 · 3 = 0.15 up.
    let clean = core_fit_with_moves::<1, 2, Gaussian<2>>(&line(400, false), 200, 1);
    let target = coefficients(&clean, |e| *e.mean());
    let dirty = line(400, true);
    let robust = coefficients(
        &core_fit_with_moves::<1, 2, Student<2>>(&dirty, 200, 1),
        |e| e.parameters().beta,
    );
    let gaussian = coefficients(
        &core_fit_with_moves::<1, 2, Gaussian<2>>(&dirty, 200, 1),
        |e| *e.mean(),
    );
    let off = |b: [f64; 2]| (b[0] - target[0]).abs().max((b[1] - target[1]).abs());
    println!(
        "clean {target:.4?}; contaminated: robust {robust:.4?} (off {:.4}), Gaussian {gaussian:.4?} (off {:.4})",
        off(robust),
        off(gaussian)
    );
    assert!(off(robust) < 0.05, "robust off by {}", off(robust));
    assert!(
        off(gaussian) > 2.0 * off(robust),
        "the Gaussian fit is not worse"
    );
}
