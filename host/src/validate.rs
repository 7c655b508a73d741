//! `hsmoe validate`: compares one particle-learning run (recorded device
//! telemetry, or an engine run on the host) with R independent runs of the
//! f64 reference engine, in units of Monte Carlo error.
//!
//! Two correct implementations of the same particle filter never agree
//! bit for bit: they compute in different float types and draw different
//! random numbers, so their outputs differ by the Monte Carlo error of the
//! particle approximation. Each difference is therefore divided by its
//! Monte Carlo standard error, estimated from the spread of the reference
//! replicates (seeds `S + 2^32 + r`, r = 0…R−1):
//!
//! - one candidate run: `SE = s_ref · √(1 + 1/R)` (a correct candidate has
//!   the reference's spread; the reference mean adds its own);
//! - M ≥ 2 candidate runs (`--engine-replicates`): Welch's
//!   `SE = √(s_cand²/M + s_ref²/R)`;
//! - either way at least [`FLOAT_FLOOR`] × max(1, |reference|), for
//!   quantities the filter computes (nearly) without Monte Carlo error —
//!   the first row's prior predictive, every row when K = 1 — where only
//!   f32 rounding separates the core from the reference.
//!
//! If the candidate runs the same algorithm, `z = difference / SE` is
//! roughly Student-t with R − 1 degrees of freedom. Checked against
//! `--max-z`: |z| of the log marginal likelihood, the root mean square
//! over rows of z for the one-step-ahead predictive mean, log variance
//! (not for a 0/1 response, whose variance is a function of its mean) and
//! log density, and |z| of the logits of the mean gate probabilities at
//! the last row, sorted largest first (runs may number the same experts
//! differently).
//! The spreads are heavy-tailed — the PL log marginal estimate is
//! left-skewed (a rare seed collapses the particle cloud and loses many
//! nats), a rare run keeps a second expert in the gate — so R defaults to
//! 16: with 8, 2 of 9 seeds of a correct core run (K = 4, N = 128, the
//! linear design) exceeded |z| = 3 on a gate logit because the 8
//! replicates had missed the tail; with 16, 16 of 16 seeds stayed below 2.
//! A single failing seed is worth rerunning with more `--replicates` or
//! `--engine-replicates`.

use crate::args::{at_least_two, positive_finite, positive_usize, DataArgs, ModelArgs};
use crate::data::Dataset;
use crate::engine::EngineKind;
use crate::family::{self, Family};
use crate::fit::{self, FitOptions};
use crate::progress::Progress;
use crate::trace::{Trace, TraceStep};
use anyhow::{bail, ensure, Context as _};
use clap::Args;
use serde::Serialize;
use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::path::PathBuf;

/// Reference replicate `r` runs at seed `S + REFERENCE_SEED_OFFSET + r`,
/// far from the candidate's seeds `S, S + 1, …` so that no two runs share
/// a random stream.
pub const REFERENCE_SEED_OFFSET: u64 = 1 << 32;

/// Smallest standard error, relative to max(1, |reference value|): the
/// f32 core's rounding error, which is all that separates it from the
/// reference where there is no Monte Carlo error (K = 1 is exact). Its
/// largest measured effect: 3.7e-4 in a ln predictive variance (K = 1,
/// T = 500, linear design); 1e-3 keeps that below z = 0.4.
pub const FLOAT_FLOOR: f64 = 1e-3;

/// Gate probabilities are clamped to [GATE_EPS, 1 − GATE_EPS] before the
/// logit: about 17 f32 ulps below 1, so a gate of exactly 1 (K = 1) is
/// finite.
const GATE_EPS: f64 = 1e-6;

/// How many of the largest per-row |z| a [`SeriesComparison`] keeps.
const WORST_ROWS: usize = 3;

/// `hsmoe validate`.
#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("candidate").required(true).args(["telemetry", "engine"]))]
#[command(mut_arg("experts", |a| a.required_unless_present("telemetry")))]
pub struct ValidateArgs {
    /// The data the candidate saw.
    #[command(flatten)]
    pub data: DataArgs,
    /// Sizes, seed and prior of the candidate and the reference. With
    /// --telemetry, K and N default to the device's.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Telemetry recorded by `hsmoe run --telemetry`; the device's D and
    /// seed must match the data and --seed, and its K and N --experts and
    /// --particles where they are given.
    #[arg(long)]
    pub telemetry: Option<PathBuf>,
    /// Instead of telemetry, run this engine on the host: `core` (the
    /// device's f32 filter) or `reference` (a self-check of the method).
    #[arg(long, value_enum)]
    pub engine: Option<EngineKind>,
    /// The experts' likelihood (docs/model.md §10); with --telemetry it
    /// defaults to the device's, and must match it when given.
    #[arg(long, value_parser = family::parser())]
    pub family: Option<Family>,
    /// Runs of --engine, at seeds S, S+1, …; with 2 or more the standard
    /// error is Welch's.
    #[arg(long, default_value_t = 1, value_parser = positive_usize, requires = "engine")]
    pub engine_replicates: usize,
    /// Independent reference runs R that estimate the Monte Carlo spread.
    /// The spreads are heavy-tailed (a rare run keeps a second expert or
    /// loses many nats); with fewer runs the standard errors are often too
    /// small.
    #[arg(long, default_value_t = 16, value_parser = at_least_two)]
    pub replicates: usize,
    /// Fail when a check exceeds this many Monte Carlo standard errors.
    #[arg(long, default_value_t = 4.0, value_parser = positive_finite::<f64>)]
    pub max_z: f64,
    /// Write the numbers (per-row z included) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Runs `opts` once per seed (on all cores) and returns the traces in
/// seed order.
///
/// # Errors
/// The first failing run's error, naming its engine and seed.
///
/// # Examples
/// ```
/// use hsmoe_host::{engine::EngineKind, fit::FitOptions, simulate, validate};
/// let data = simulate::simulate(simulate::Design::Linear, 20, 1).dataset(true);
/// let opts = FitOptions::new(EngineKind::Reference, 1, 20, 0, &data);
/// let runs = validate::traces(&data, &opts, &[3, 4]).unwrap();
/// assert_eq!((runs[0].seed, runs[1].seed), (3, 4));
/// ```
pub fn traces(data: &Dataset, opts: &FitOptions, seeds: &[u64]) -> anyhow::Result<Vec<Trace>> {
    let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let chunk = seeds.len().div_ceil(threads).max(1);
    let run = |seed: u64| -> anyhow::Result<Trace> {
        let opts = FitOptions {
            seed,
            progress: false,
            ..*opts
        };
        let report = fit::fit(data, &opts)
            .with_context(|| format!("{} engine, seed {seed}", opts.engine))?;
        Trace::from_report(&report)
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = seeds
            .chunks(chunk)
            .map(|seeds| scope.spawn(move || seeds.iter().map(|&s| run(s)).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(seeds.len());
        for worker in workers {
            let runs = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for trace in runs {
                out.push(trace?);
            }
        }
        Ok(out)
    })
}

/// `ln(p / (1 − p))` of `p` clamped to [`GATE_EPS`, 1 − `GATE_EPS`]. An
/// expert's small gate probability varies between runs by factors, not
/// by amounts (a skewed, heavy-tailed spread that a few replicates
/// underestimate); on the logit scale it is closer to normal.
fn logit(p: f64) -> f64 {
    let p = p.clamp(GATE_EPS, 1.0 - GATE_EPS);
    (p / (1.0 - p)).ln()
}

/// Whether `|z|` is over `max_z`; a NaN (a non-finite value) always is.
fn exceeds(z: f64, max_z: f64) -> bool {
    z.is_nan() || z.abs() > max_z
}

/// Mean and sample standard deviation (divisor n − 1; 0 for n < 2).
fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    (mean, (ss / (n - 1.0)).sqrt())
}

/// One quantity of the candidate against the reference replicates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// The candidate's value (mean over its runs).
    pub candidate: f64,
    /// Mean over the reference replicates.
    pub reference: f64,
    /// Sample standard deviation of the reference replicates: the Monte
    /// Carlo spread of one run.
    pub reference_sd: f64,
    /// `candidate − reference`.
    pub diff: f64,
    /// Monte Carlo standard error of `diff` (see the module docs).
    pub se: f64,
    /// `diff / se`.
    pub z: f64,
}

impl Comparison {
    /// Compares candidate runs' values with reference replicates' values
    /// (at least one of each).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::validate::Comparison;
    /// // One candidate run: SE = s_ref √(1 + 1/R).
    /// let c = Comparison::new(&[3.0], &[0.0, 2.0]);
    /// assert_eq!((c.diff, c.reference_sd), (2.0, 2.0f64.sqrt()));
    /// assert!((c.z - 2.0 / 3.0f64.sqrt()).abs() < 1e-12);
    /// // Two: Welch, √(s_c²/M + s_r²/R).
    /// let w = Comparison::new(&[1.0, 3.0], &[0.0, 2.0]);
    /// assert!((w.se - 2.0f64.sqrt()).abs() < 1e-12);
    /// // No spread at all: the f32 floor.
    /// assert_eq!(Comparison::new(&[5.0], &[5.0, 5.0]).se, 5.0e-3);
    /// ```
    pub fn new(candidate: &[f64], reference: &[f64]) -> Comparison {
        let (c, s_c) = mean_sd(candidate);
        let (r, s_r) = mean_sd(reference);
        let (m, n) = (candidate.len() as f64, reference.len() as f64);
        let se = if candidate.len() < 2 {
            // A correct candidate has the reference's spread.
            s_r * (1.0 + 1.0 / n).sqrt()
        } else {
            (s_c * s_c / m + s_r * s_r / n).sqrt()
        };
        let se = se.max(FLOAT_FLOOR * r.abs().max(1.0));
        Comparison {
            candidate: c,
            reference: r,
            reference_sd: s_r,
            diff: c - r,
            se,
            z: (c - r) / se,
        }
    }
}

/// One of the largest per-row differences of a [`SeriesComparison`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WorstRow {
    /// Data row, 1-based.
    pub row: usize,
    /// The comparison at that row.
    pub comparison: Comparison,
}

/// A per-row quantity compared row by row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesComparison {
    /// What is compared.
    pub quantity: &'static str,
    /// Root mean square over rows of z; the checked summary.
    pub rms_z: f64,
    /// The rows with the largest |z|, largest first.
    pub worst: Vec<WorstRow>,
    /// z at each row.
    pub z: Vec<f64>,
}

/// The outcome of `hsmoe validate`; `Display`-like text from
/// [`Validation::table`], JSON from serde.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    /// The candidate's source.
    pub candidate: String,
    /// Candidate runs M.
    pub candidate_runs: usize,
    /// Reference replicates R.
    pub reference_runs: usize,
    /// Rows T.
    pub n_obs: usize,
    /// Features D, intercept included.
    pub d: usize,
    /// Experts K.
    pub k: usize,
    /// Particles N.
    pub n_particles: usize,
    /// The threshold on |z| and on RMS z.
    pub max_z: f64,
    /// `Σ_t ln p̂(y_t | past)`.
    pub log_marginal: Comparison,
    /// Per row: predictive mean, ln predictive variance, ln predictive
    /// density.
    pub steps: Vec<SeriesComparison>,
    /// Logits of the mean gate probabilities at the last row, largest
    /// first.
    pub final_gate: Vec<Comparison>,
    /// The checks that exceed `max_z`, one sentence each (empty: passed).
    pub failures: Vec<String>,
}

/// Compares candidate runs with reference replicates (see the module
/// docs for the standard errors and the checks).
///
/// # Errors
/// No candidate run, fewer than two reference runs, or runs of different
/// lengths or numbers of experts.
///
/// # Examples
/// ```
/// use hsmoe_host::{engine::EngineKind, fit::FitOptions, simulate, validate};
/// let data = simulate::simulate(simulate::Design::Piecewise, 40, 2).dataset(true);
/// let opts = FitOptions::new(EngineKind::Reference, 2, 100, 1, &data);
/// let reference = validate::traces(&data, &opts, &[10, 11, 12, 13]).unwrap();
/// let core = FitOptions { engine: EngineKind::Core, ..opts };
/// let candidate = validate::traces(&data, &core, &[1]).unwrap();
/// let v = validate::compare(&candidate, &reference, 4.0).unwrap();
/// assert_eq!((v.n_obs, v.k, v.final_gate.len()), (40, 2, 2));
/// assert!(validate::compare(&candidate, &reference[..1], 4.0).is_err());
/// ```
pub fn compare(candidate: &[Trace], reference: &[Trace], max_z: f64) -> anyhow::Result<Validation> {
    let Some(first) = candidate.first() else {
        bail!("no candidate run to compare");
    };
    ensure!(
        reference.len() >= 2,
        "the Monte Carlo spread needs at least 2 reference runs, got {}",
        reference.len()
    );
    let (t, k, family) = (
        reference[0].steps.len(),
        reference[0].k,
        reference[0].family,
    );
    for run in candidate.iter().chain(reference) {
        ensure!(
            run.family == family,
            "{} has {} experts, the reference {family} experts",
            run.source,
            run.family
        );
        ensure!(
            run.k == k,
            "{} has K = {} experts, the reference K = {k}",
            run.source,
            run.k
        );
        ensure!(
            run.steps.len() == t,
            "{} has {} rows, the reference {t}",
            run.source,
            run.steps.len()
        );
    }
    ensure!(t > 0, "no rows to compare");
    let at =
        |runs: &[Trace], f: &dyn Fn(&Trace) -> f64| -> Vec<f64> { runs.iter().map(f).collect() };
    let compare_at =
        |f: &dyn Fn(&Trace) -> f64| Comparison::new(&at(candidate, f), &at(reference, f));

    let log_marginal = compare_at(&Trace::log_marginal);
    let series = |quantity: &'static str, f: &dyn Fn(&TraceStep) -> f64| {
        let rows: Vec<Comparison> = (0..t)
            .map(|row| compare_at(&|r| f(&r.steps[row])))
            .collect();
        let z: Vec<f64> = rows.iter().map(|c| c.z).collect();
        let rms_z = (z.iter().map(|z| z * z).sum::<f64>() / t as f64).sqrt();
        let mut order: Vec<usize> = (0..t).collect();
        // NaN first: a non-finite value is the worst difference.
        order.sort_by(|&a, &b| {
            let key = |z: f64| if z.is_nan() { f64::INFINITY } else { z.abs() };
            key(z[b]).total_cmp(&key(z[a]))
        });
        let worst = order
            .iter()
            .take(WORST_ROWS)
            .map(|&row| WorstRow {
                row: row + 1,
                comparison: rows[row],
            })
            .collect();
        SeriesComparison {
            quantity,
            rms_z,
            worst,
            z,
        }
    };
    let mut steps = vec![series("predictive mean", &|s| s.mean)];
    // A 0/1 response's variance p(1 − p) says nothing the mean does not,
    // and its logarithm is flat at p = ½, where the reference spread then
    // vanishes and any difference in p looks like dozens of standard errors.
    if !family.binary_response() {
        steps.push(series("ln predictive variance", &|s| s.var.ln()));
    }
    steps.push(series("ln predictive density", &|s| s.log_pred));
    // Largest first: runs may number the same experts differently.
    let sorted_gate = |run: &Trace| {
        let mut gate: Vec<f64> = run.steps[t - 1].gate.iter().map(|&p| logit(p)).collect();
        gate.sort_by(|a, b| b.total_cmp(a));
        gate
    };
    let (candidate_gates, reference_gates): (Vec<_>, Vec<_>) = (
        candidate.iter().map(sorted_gate).collect(),
        reference.iter().map(sorted_gate).collect(),
    );
    let final_gate: Vec<Comparison> = (0..k)
        .map(|j| {
            let nth = |gates: &[Vec<f64>]| gates.iter().map(|g| g[j]).collect::<Vec<_>>();
            Comparison::new(&nth(&candidate_gates), &nth(&reference_gates))
        })
        .collect();

    let mut failures = Vec::new();
    if exceeds(log_marginal.z, max_z) {
        failures.push(format!(
            "log marginal likelihood: z = {:.2} ({:.3} vs reference {:.3} ± {:.3})",
            log_marginal.z,
            log_marginal.candidate,
            log_marginal.reference,
            log_marginal.reference_sd
        ));
    }
    for s in &steps {
        if exceeds(s.rms_z, max_z) {
            let worst = s.worst.first().map_or_else(String::new, |w| {
                format!(", worst row {} z = {:.1}", w.row, w.comparison.z)
            });
            failures.push(format!(
                "{}: RMS z = {:.2} over {t} rows{worst}",
                s.quantity, s.rms_z
            ));
        }
    }
    for (j, g) in final_gate.iter().enumerate() {
        if exceeds(g.z, max_z) {
            failures.push(format!(
                "final gate logit, rank {}: z = {:.2} ({:.3} vs reference {:.3} ± {:.3})",
                j + 1,
                g.z,
                g.candidate,
                g.reference,
                g.reference_sd
            ));
        }
    }
    Ok(Validation {
        candidate: first.source.clone(),
        candidate_runs: candidate.len(),
        reference_runs: reference.len(),
        n_obs: t,
        d: first.d,
        k,
        n_particles: first.n_particles,
        max_z,
        log_marginal,
        steps,
        final_gate,
        failures,
    })
}

impl Validation {
    /// Whether every check is within `max_z`.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The numbers as pretty JSON.
    pub fn to_json(&self) -> String {
        crate::output::json(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// A short table for the terminal, ending in PASS or FAIL.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::{engine::EngineKind, fit::FitOptions, simulate, validate};
    /// let data = simulate::simulate(simulate::Design::Linear, 30, 1).dataset(true);
    /// let opts = FitOptions::new(EngineKind::Reference, 1, 50, 1, &data);
    /// let reference = validate::traces(&data, &opts, &[7, 8, 9]).unwrap();
    /// let v = validate::compare(&reference[..1], &reference[1..], 4.0).unwrap();
    /// let table = v.table();
    /// assert!(table.contains("log marginal likelihood"), "{table}");
    /// assert!(table.lines().last().unwrap().starts_with("PASS"), "{table}");
    /// ```
    pub fn table(&self) -> String {
        let mut s = String::new();
        let runs = if self.candidate_runs > 1 {
            format!(" ({} runs)", self.candidate_runs)
        } else {
            String::new()
        };
        let _ = writeln!(s, "candidate: {}{runs}", self.candidate);
        let _ = writeln!(
            s,
            "reference: {} runs of the f64 reference engine; T = {} rows, D = {}, K = {}, N = {}",
            self.reference_runs, self.n_obs, self.d, self.k, self.n_particles
        );
        let _ = writeln!(s, "z = difference / its Monte Carlo standard error\n");
        let _ = writeln!(
            s,
            "{:<28} {:>12} {:>24} {:>8}",
            "", "candidate", "reference ± sd", "z"
        );
        let mut row = |name: &str, c: &Comparison, digits: usize| {
            let reference = format!("{:.digits$} ± {:.digits$}", c.reference, c.reference_sd);
            let _ = writeln!(
                s,
                "{name:<28} {:>12.digits$} {reference:>24} {:>8.2}",
                c.candidate, c.z
            );
        };
        row("log marginal likelihood", &self.log_marginal, 3);
        for (j, g) in self.final_gate.iter().enumerate() {
            row(&format!("final gate logit, rank {}", j + 1), g, 3);
        }
        let _ = writeln!(
            s,
            "\n{:<28} {:>8}   worst rows (row: z)",
            "per row", "RMS z"
        );
        for series in &self.steps {
            let worst: Vec<String> = series
                .worst
                .iter()
                .map(|w| format!("{}: {:.1}", w.row, w.comparison.z))
                .collect();
            let _ = writeln!(
                s,
                "{:<28} {:>8.2}   {}",
                series.quantity,
                series.rms_z,
                worst.join(", ")
            );
        }
        let checks = 1 + self.steps.len() + self.final_gate.len();
        if self.passed() {
            let _ = write!(
                s,
                "\nPASS: all {checks} checks within --max-z {} (|z| of each scalar, RMS z of each per-row quantity)",
                self.max_z
            );
        } else {
            let _ = write!(
                s,
                "\nFAIL: {} of {checks} checks exceed --max-z {}: {}",
                self.failures.len(),
                self.max_z,
                self.failures.join("; ")
            );
        }
        s
    }
}

/// Checks a recorded run's `Config` and length against the flags and the
/// data, naming every mismatch.
fn check_recorded(
    trace: &Trace,
    (model, family): (&ModelArgs, Option<Family>),
    data: &Dataset,
    no_intercept: bool,
) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    if let Some(k) = model.experts.filter(|&k| k != trace.k) {
        wrong.push(format!("K = {} experts, but --experts {k}", trace.k));
    }
    if let Some(n) = model.particles.filter(|&n| n != trace.n_particles) {
        wrong.push(format!(
            "N = {} particles, but --particles {n}",
            trace.n_particles
        ));
    }
    if trace.d != data.d() {
        let hint = if no_intercept { "without" } else { "with" };
        wrong.push(format!(
            "D = {} features, but the data have {} ({hint} the intercept)",
            trace.d,
            data.d()
        ));
    }
    if let Some(family) = family.filter(|&f| f != trace.family) {
        wrong.push(format!("{} experts, but --family {family}", trace.family));
    }
    if trace.seed != model.seed {
        wrong.push(format!("seed {}, but --seed {}", trace.seed, model.seed));
    }
    if trace.steps.len() != data.y.len() {
        wrong.push(format!(
            "{} rows answered, but the data have {}",
            trace.steps.len(),
            data.y.len()
        ));
    }
    ensure!(
        wrong.is_empty(),
        "{}: the recorded run does not match: {}",
        trace.source,
        wrong.join("; ")
    );
    Ok(())
}

/// `hsmoe validate`: loads the data, gets the candidate (telemetry or an
/// engine run), runs the reference replicates and compares.
///
/// # Errors
/// Unreadable inputs, a recording that does not match the flags, or a
/// failing engine run. A comparison that exceeds `--max-z` is not an
/// error here: see [`Validation::passed`].
///
/// # Examples
/// ```
/// use clap::Parser;
/// use hsmoe_host::{simulate, validate::{validate, ValidateArgs}};
/// #[derive(Parser)]
/// struct Cmd {
///     #[command(flatten)]
///     args: ValidateArgs,
/// }
/// let csv = std::env::temp_dir().join("hsmoe-doc-validate.csv");
/// simulate::write(&simulate::simulate(simulate::Design::Linear, 40, 1), &csv).unwrap();
/// let csv = csv.to_str().unwrap();
/// let flags = ["x", "--data", csv, "--engine", "core", "--experts", "2", "--particles", "50", "--replicates", "4"];
/// let v = validate(&Cmd::parse_from(flags).args).unwrap();
/// assert_eq!((v.n_obs, v.reference_runs, v.candidate_runs), (40, 4, 1));
/// assert!(v.log_marginal.se > 0.0);
/// ```
pub fn validate(args: &ValidateArgs) -> anyhow::Result<Validation> {
    let recorded = args.telemetry.as_deref().map(Trace::read).transpose()?;
    let family = args
        .family
        .or(recorded.as_ref().map(|t| t.family))
        .unwrap_or(Family::Gaussian);
    let data = args.data.read_for(family)?.data;
    let intercept = !args.data.no_intercept;
    if let Some(trace) = &recorded {
        let flags = (&args.model, args.family);
        check_recorded(trace, flags, &data, args.data.no_intercept)?;
    }
    // The recording's sizes where the flags give none.
    let model = ModelArgs {
        experts: args.model.experts.or(recorded.as_ref().map(|t| t.k)),
        particles: args
            .model
            .particles
            .or(recorded.as_ref().map(|t| t.n_particles)),
        ..args.model.clone()
    };
    let reference = FitOptions {
        family,
        ..model.fit_options(EngineKind::Reference, &data, intercept)?
    };
    let candidate = match (recorded, args.engine) {
        (Some(trace), None) => vec![trace],
        (None, Some(EngineKind::Gibbs)) => {
            bail!("--engine gibbs has no one-step-ahead output to compare; use core or reference")
        }
        (None, Some(engine)) => {
            let seeds: Vec<u64> = (0..args.engine_replicates as u64)
                .map(|i| args.model.seed.wrapping_add(i))
                .collect();
            traces(
                &data,
                &FitOptions {
                    engine,
                    ..reference
                },
                &seeds,
            )?
        }
        _ => bail!("give exactly one of --telemetry and --engine"),
    };
    let seeds: Vec<u64> = (0..args.replicates as u64)
        .map(|r| args.model.seed.wrapping_add(REFERENCE_SEED_OFFSET + r))
        .collect();
    let label = format!("{} reference runs", seeds.len());
    let reference = Progress::spin(true, &label, || traces(&data, &reference, &seeds))?;
    compare(&candidate, &reference, args.max_z)
}
