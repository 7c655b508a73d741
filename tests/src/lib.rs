//! Helpers shared by the cross-crate tests: small seeded data sets, a
//! simulated stream on disk, the QEMU run of the default firmware build,
//! telemetry compared bit for bit, and Monte Carlo summaries of
//! replicated fits ([`fit`]).
#![deny(missing_docs)]

use hsmoe_core::protocol::{Response, UpdateMsg};
use hsmoe_core::Update;
use hsmoe_host::data::{self, Dataset, LoadOptions};
use hsmoe_host::link::{HostResponse, Received};
use hsmoe_host::run::RunArgs;
use hsmoe_host::simulate::{self, Design};
use hsmoe_host::telemetry;
use rand::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;
use std::path::{Path, PathBuf};

pub mod fit;

/// The default firmware build's N on every board (firmware/build.rs).
pub const FIRMWARE_N: usize = 128;
/// The default firmware build's K.
pub const FIRMWARE_K: usize = 4;
/// The default firmware build's D, intercept included.
pub const FIRMWARE_D: usize = 4;

/// A fresh scratch directory for the test `test` of this test binary.
pub fn scratch(test: &str) -> PathBuf {
    let binary = std::env::current_exe().ok();
    let suite = binary
        .as_deref()
        .and_then(Path::file_stem)
        .and_then(|stem| stem.to_str())
        .unwrap_or("hsmoe");
    let dir = std::env::temp_dir().join(format!("hsmoe-{suite}-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `rows` rows of the simulated `design` (seeded), written as `data.csv`
/// in `dir` and loaded back exactly as the CLI loads it.
pub fn simulated_csv(dir: &Path, design: Design, rows: usize, seed: u64) -> (PathBuf, Dataset) {
    let csv = dir.join("data.csv");
    simulate::write(&simulate::simulate(design, rows, seed), &csv).unwrap();
    let data = data::load(&csv, &LoadOptions::default()).unwrap();
    (csv, data)
}

/// A quiet `hsmoe run --qemu` of `csv` with the device seed `seed` and
/// `timeout_ms` to wait for an answer before resending.
pub fn qemu_run_args(csv: &Path, seed: u64, timeout_ms: u64) -> RunArgs {
    RunArgs {
        seed,
        timeout_ms,
        quiet: true,
        ..RunArgs::qemu(csv.to_path_buf())
    }
}

/// The `Update`s recorded in a telemetry file, in arrival order; panics
/// on a file that is not telemetry or a damaged frame.
pub fn recorded_updates(path: &Path) -> Vec<UpdateBits> {
    telemetry::Recording::read(path)
        .unwrap()
        .frames
        .iter()
        .filter_map(|frame| match frame {
            Received::Response(response) => UpdateBits::of_response(response),
            Received::Damaged(error) => panic!("{}: damaged frame: {error}", path.display()),
        })
        .collect()
}

/// Rows `x = (1, x_1, …, x_{d−1})` with `x_l ~ N(0, 1)` and
/// `y = xᵀβ + σ ε`, β = (0.5, −1, 0.25, …), seeded.
///
/// # Examples
/// ```
/// let (xs, ys) = hsmoe_tests::linear_rows(7, 50, 3, 0.3);
/// assert_eq!((xs.len(), xs[0].len(), ys.len()), (50, 3, 50));
/// assert_eq!(xs[0][0], 1.0);
/// ```
pub fn linear_rows(seed: u64, t: usize, d: usize, sigma: f32) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut rng = XorShiftRng::seed_from_u64(seed);
    let beta: Vec<f32> = (0..d).map(|l| [0.5, -1.0, 0.25, 2.0][l % 4]).collect();
    let mut xs = Vec::with_capacity(t);
    let mut ys = Vec::with_capacity(t);
    for _ in 0..t {
        let x: Vec<f32> = (0..d)
            .map(|l| {
                if l == 0 {
                    1.0
                } else {
                    rng.sample(rand_distr::StandardNormal)
                }
            })
            .collect();
        let noise: f32 = rng.sample(rand_distr::StandardNormal);
        ys.push(x.iter().zip(&beta).map(|(a, b)| a * b).sum::<f32>() + sigma * noise);
        xs.push(x);
    }
    (xs, ys)
}

/// Widens f32 rows to f64 exactly, for the f64 engines.
pub fn widen(xs: &[Vec<f32>]) -> Vec<Vec<f64>> {
    xs.iter()
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

/// Two experts switched by the sign of `x_1`: rows `(1, x_1, x_2)` with
/// `y = 1 + 2x_2` when `x_1 < 0` and `y = −1 − x_2` otherwise, plus
/// `N(0, σ²)` noise. Seeded.
///
/// # Examples
/// ```
/// let (xs, ys) = hsmoe_tests::gated_rows(1, 10, 0.1);
/// assert_eq!((xs.len(), xs[3].len(), ys.len()), (10, 3, 10));
/// ```
pub fn gated_rows(seed: u64, t: usize, sigma: f32) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut rng = XorShiftRng::seed_from_u64(seed);
    let mut xs = Vec::with_capacity(t);
    let mut ys = Vec::with_capacity(t);
    for _ in 0..t {
        let (x1, x2, noise): (f32, f32, f32) = (
            rng.sample(rand_distr::StandardNormal),
            rng.sample(rand_distr::StandardNormal),
            rng.sample(rand_distr::StandardNormal),
        );
        let mean = if x1 < 0.0 { 1.0 + 2.0 * x2 } else { -1.0 - x2 };
        ys.push(mean + sigma * noise);
        xs.push(vec![1.0, x1, x2]);
    }
    (xs, ys)
}

/// Mean and standard error of the mean of a sample.
///
/// # Examples
/// ```
/// let (m, se) = hsmoe_tests::mean_se(&[1.0, 2.0, 3.0]);
/// assert_eq!(m, 2.0);
/// assert!((se - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
/// ```
pub fn mean_se(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// The telemetry of one `Update`, as bits: everything but `ticks` (a cost,
/// not a result), so that equal values mean bit-identical telemetry and
/// a mismatch prints which field differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateBits {
    /// Sequence number.
    pub seq: u32,
    /// `pred_mean`, `pred_var`, `log_pred`, `ess`, as `f32::to_bits`.
    pub values: [u32; 4],
    /// Whether the step resampled.
    pub resampled: bool,
    /// The mean gate probabilities, as bits.
    pub gate: Vec<u32>,
}

impl UpdateBits {
    /// The bits of a device's `Response::Update`; `None` for any other
    /// response.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::protocol::{RejectReason, Response, RejectMsg};
    /// use hsmoe_tests::UpdateBits;
    /// let reject = Response::Reject(RejectMsg { seq: Some(3), reason: RejectReason::NonFinite });
    /// assert_eq!(UpdateBits::of_response(&reject), None);
    /// ```
    pub fn of_response(answer: &HostResponse) -> Option<UpdateBits> {
        let Response::Update(UpdateMsg {
            seq,
            pred_mean,
            pred_var,
            log_pred,
            ess,
            resampled,
            gate,
            ..
        }) = answer
        else {
            return None;
        };
        Some(UpdateBits {
            seq: *seq,
            values: [*pred_mean, *pred_var, *log_pred, *ess].map(f32::to_bits),
            resampled: *resampled,
            gate: gate.iter().map(|g| g.to_bits()).collect(),
        })
    }

    /// The bits of a host core step's [`Update`], tagged with `seq` to
    /// compare against a device's answer.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::{Config, Filter};
    /// use hsmoe_tests::UpdateBits;
    /// use rand_core::SeedableRng;
    /// let mut filter: Filter<8, 2, 2> = Filter::new();
    /// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
    /// filter.reset(&Config::default_for(2), &mut rng).unwrap();
    /// let update = filter.observe(&[1.0, 0.5], 0.2, &mut rng).unwrap();
    /// assert_eq!(UpdateBits::of_update(&update, 0).seq, 0);
    /// ```
    pub fn of_update<const K: usize>(update: &Update<K>, seq: u32) -> UpdateBits {
        UpdateBits {
            seq,
            values: [
                update.pred_mean,
                update.pred_var,
                update.log_pred,
                update.ess,
            ]
            .map(f32::to_bits),
            resampled: update.resampled,
            gate: update.gate.iter().map(|g| g.to_bits()).collect(),
        }
    }
}

/// `f(0), …, f(n − 1)` computed on every available core, returned in
/// index order: each index is computed exactly as it would be alone, so
/// the result does not depend on the number of threads.
///
/// # Examples
/// ```
/// assert_eq!(hsmoe_tests::par_map(5, |i| i * i), [0, 1, 4, 9, 16]);
/// ```
pub fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    let f = &f;
    let mut parts: Vec<Vec<(usize, T)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|w| scope.spawn(move || (w..n).step_by(threads).map(|i| (i, f(i))).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut all: Vec<(usize, T)> = parts.iter_mut().flat_map(std::mem::take).collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, v)| v).collect()
}

/// Two-sample Kolmogorov–Smirnov distance `sup |F_a − F_b|`.
///
/// # Examples
/// ```
/// assert_eq!(hsmoe_tests::ks_two_sample(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
/// assert_eq!(hsmoe_tests::ks_two_sample(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
/// ```
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> f64 {
    let sorted = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s
    };
    let (a, b) = (sorted(a), sorted(b));
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let v = a[i].min(b[j]);
        while i < a.len() && a[i] <= v {
            i += 1;
        }
        while j < b.len() && b[j] <= v {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// Asymptotic critical value of [`ks_two_sample`] at level `alpha`:
/// `√(−ln(α/2)/2)·√((n + m)/(n·m))` (Smirnov).
pub fn ks_critical(n: usize, m: usize, alpha: f64) -> f64 {
    let (n, m) = (n as f64, m as f64);
    (-(alpha / 2.0).ln() / 2.0).sqrt() * ((n + m) / (n * m)).sqrt()
}

/// Mann–Whitney `U` of `a` against `b` as a standard score (normal
/// approximation, midranks for ties, no continuity correction): positive
/// when `a` tends to exceed `b`. Under "same law" it is ≈ N(0, 1).
///
/// # Examples
/// ```
/// let z = hsmoe_tests::mann_whitney_z(&[5.0, 6.0, 7.0, 8.0], &[1.0, 2.0, 3.0, 4.0]);
/// assert!(z > 2.0);
/// ```
pub fn mann_whitney_z(a: &[f64], b: &[f64]) -> f64 {
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&v| (v, true))
        .chain(b.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|u, v| u.0.total_cmp(&v.0));
    let (mut rank_sum_a, mut ties, mut i) = (0.0, 0.0, 0);
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let midrank = (i + j + 1) as f64 / 2.0;
        rank_sum_a += midrank * all[i..j].iter().filter(|e| e.1).count() as f64;
        let t = (j - i) as f64;
        ties += t * t * t - t;
        i = j;
    }
    let (n, m) = (a.len() as f64, b.len() as f64);
    let u = rank_sum_a - n * (n + 1.0) / 2.0;
    let total = n + m;
    let var = n * m / 12.0 * (total + 1.0 - ties / (total * (total - 1.0)));
    (u - n * m / 2.0) / var.sqrt()
}

/// Asserts that `a` and `b` (independent replicates, e.g. one value per
/// seed) look like draws of one law: Mann–Whitney `|z| < 3.29` (location,
/// two-sided α = 10⁻³) and the KS distance below its α = 10⁻³ critical
/// value (shape). Fixed seeds make the outcome deterministic; under "same
/// law" a given seed set fails with probability ≤ 2·10⁻³.
///
/// # Panics
/// When either test rejects, naming `what` and printing both statistics
/// and the quartiles of each sample.
pub fn assert_same_law(what: &str, a: &[f64], b: &[f64]) {
    let z = mann_whitney_z(a, b);
    let d = ks_two_sample(a, b);
    let critical = ks_critical(a.len(), b.len(), 1e-3);
    println!(
        "{what}: quartiles {:.3?} vs {:.3?}; Mann–Whitney z {z:+.2}, KS {d:.3} (critical {critical:.3})",
        quartiles(a),
        quartiles(b)
    );
    assert!(
        z.abs() < 3.29 && d < critical,
        "{what}: z {z:.2}, KS {d:.3} ≥ {critical:.3}?"
    );
}

/// Asserts that an evidence estimate is unbiased: over seeds
/// `0..seeds`, the mean of `p̂/p = exp(log_marginal(seed) − ln p)` is
/// within 4 standard errors of 1 (a false alarm about once in 16 000
/// runs), `ln_exact` being `ln p(y)`. `engine` names the estimator in
/// the message.
///
/// # Panics
/// When the mean is farther from 1.
pub fn assert_unbiased_evidence(
    engine: &str,
    log_marginal: &dyn Fn(u64) -> f64,
    ln_exact: f64,
    seeds: u64,
) {
    let ratios: Vec<f64> = (0..seeds)
        .map(|seed| (log_marginal(seed) - ln_exact).exp())
        .collect();
    let (mean, se) = mean_se(&ratios);
    println!("{engine}: ln p(y) = {ln_exact:.6}; mean p̂/p = {mean:.5} ± {se:.5}");
    assert!(
        (mean - 1.0).abs() < 4.0 * se,
        "{engine}: mean p̂/p = {mean} ± {se}"
    );
}

/// Lower quartile, median and upper quartile (nearest rank).
pub fn quartiles(values: &[f64]) -> [f64; 3] {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    [0.25, 0.5, 0.75].map(|q| s[((s.len() - 1) as f64 * q).round() as usize])
}
