//! One particle-filter run over a data set, row by row, whether it came
//! from an engine or from device telemetry: what `validate` compares and
//! `plot` draws.

use crate::family::Family;
use crate::fit::FitReport;
use crate::link::{config_of, Received};
use crate::telemetry;
use anyhow::{bail, ensure, Context as _};
use hsmoe_core::protocol::{ConfigMsg, RejectMsg, RejectReason, Response, UpdateMsg};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One row of a [`Trace`]: the one-step-ahead predictive of `y_t` (before
/// `y_t` was absorbed), its log density at `y_t`, the ESS before
/// resampling and the particle-mean gate probabilities at `x_t`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStep {
    /// Predictive mean.
    pub mean: f64,
    /// Predictive variance.
    pub var: f64,
    /// `ln p̂(y_t | past)`.
    pub log_pred: f64,
    /// Effective sample size before resampling.
    pub ess: f64,
    /// Mean gate probabilities (length K).
    pub gate: Vec<f64>,
}

/// One particle-filter run over a data set, row by row: what `validate`
/// compares and `plot` draws. Built from an engine run
/// ([`Trace::from_report`]) or from device telemetry
/// ([`Trace::from_telemetry`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// Where the run came from (engine and seed, or the telemetry file).
    pub source: String,
    /// Particles N.
    pub n_particles: usize,
    /// Experts K.
    pub k: usize,
    /// Features D, intercept included.
    pub d: usize,
    /// Seed of the run.
    pub seed: u64,
    /// The experts' family.
    pub family: Family,
    /// One step per data row, in row order.
    pub steps: Vec<TraceStep>,
}

impl Trace {
    /// `Σ_t ln p̂(y_t | past)`, summed in f64 as `hsmoe fit` and `hsmoe run` do.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::{engine::EngineKind, fit, simulate, trace::Trace};
    /// let data = simulate::simulate(simulate::Design::Linear, 20, 1).dataset(true);
    /// let report = fit::fit(&data, &fit::FitOptions::new(EngineKind::Core, 1, 10, 1, &data)).unwrap();
    /// let trace = Trace::from_report(&report).unwrap();
    /// assert_eq!(Some(trace.log_marginal()), report.log_marginal);
    /// ```
    pub fn log_marginal(&self) -> f64 {
        self.steps.iter().map(|s| s.log_pred).sum()
    }

    /// The per-row output of a particle-engine fit (`hsmoe fit`, or its
    /// JSON read back).
    ///
    /// # Errors
    /// A fit without one-step-ahead output (the Gibbs engine).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::{engine::EngineKind, fit, simulate, trace::Trace};
    /// let data = simulate::simulate(simulate::Design::Piecewise, 30, 1).dataset(true);
    /// let report = fit::fit(&data, &fit::FitOptions::new(EngineKind::Reference, 2, 20, 4, &data)).unwrap();
    /// let trace = Trace::from_report(&report).unwrap();
    /// assert_eq!((trace.steps.len(), trace.k, trace.n_particles, trace.seed), (30, 2, 20, 4));
    /// assert_eq!(trace.source, "reference engine, seed 4");
    /// ```
    pub fn from_report(report: &FitReport<f64>) -> anyhow::Result<Trace> {
        let n_particles = match report.n_particles {
            Some(n) if !report.predictive.is_empty() => n,
            _ => bail!(
                "the {} engine has no one-step-ahead predictive (use core or reference)",
                report.engine
            ),
        };
        Ok(Trace {
            source: format!("{} engine, seed {}", report.engine, report.seed),
            n_particles,
            k: report.k,
            d: report.d,
            seed: report.seed,
            family: report.family,
            steps: report
                .predictive
                .iter()
                .map(|s| TraceStep {
                    mean: s.mean,
                    var: s.var,
                    log_pred: s.log_pred,
                    ess: s.ess,
                    gate: s.gate.clone(),
                })
                .collect(),
        })
    }

    /// The run recorded in telemetry (`hsmoe run --telemetry`): N, K, D and
    /// the seed from the device's `Config` answer to `Reset` (the last one
    /// before the first `Update`), one step per `seq` from the first
    /// `Update` with that `seq` (a resent observation is answered again
    /// from the device's cache, identically). Damaged frames and
    /// link-level rejects are skipped: the host repaired them by resending;
    /// an unfinished last frame (the recording stopped) is left out.
    /// `source` names the recording in messages.
    ///
    /// # Errors
    /// Bytes that are not telemetry ([`telemetry::TelemetryError`]); no
    /// `Config`; a second run (another `Config`) after the updates began;
    /// a row without an `Update` (never answered, or rejected), named by
    /// its 1-based data row.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::frame;
    /// use hsmoe_core::protocol::{GateVec, Response, ConfigMsg, UpdateMsg};
    /// use hsmoe_host::trace::Trace;
    /// let config: Response<4> = Response::Config(ConfigMsg { version: 1, n: 64, k: 1, d: 2, family_tag: 1, seed: 9, max_frame: 256, resample_ess: 1.0 });
    /// let update: Response<4> = Response::Update(UpdateMsg {
    ///     seq: 0, pred_mean: 0.5, pred_var: 2.0, log_pred: -1.5, ess: 64.0,
    ///     resampled: false, gate: GateVec::from_slice(&[1.0]).unwrap(), ticks: 0,
    /// });
    /// let mut bytes = hsmoe_host::telemetry::header().to_vec();
    /// let mut buf = [0u8; 256];
    /// for response in [&config, &update, &update] {
    ///     bytes.extend_from_slice(frame::encode(response, &mut buf).unwrap());
    /// }
    /// let trace = Trace::from_telemetry(&bytes, "t.bin").unwrap();
    /// assert_eq!((trace.n_particles, trace.k, trace.d, trace.seed), (64, 1, 2, 9));
    /// assert_eq!(trace.steps.len(), 1);
    /// assert_eq!(trace.log_marginal(), -1.5);
    /// let error = Trace::from_telemetry(&bytes[8..], "t.bin").unwrap_err();
    /// assert!(format!("{error:#}").starts_with("t.bin: not hsmoe telemetry"));
    /// ```
    pub fn from_telemetry(bytes: &[u8], source: &str) -> anyhow::Result<Trace> {
        let mut config: Option<ConfigMsg> = None;
        let mut updates: BTreeMap<u32, TraceStep> = BTreeMap::new();
        let mut rejected: BTreeMap<u32, RejectReason> = BTreeMap::new();
        let recording = telemetry::Recording::parse(bytes).with_context(|| source.to_owned())?;
        for frame in recording.frames {
            // A damaged frame was repaired by a resend.
            let Received::Response(response) = frame else {
                continue;
            };
            if let Some(new) = config_of(&response) {
                match config {
                    Some(run) if !updates.is_empty() => ensure!(
                        (new.n, new.k, new.d, new.seed) == (run.n, run.k, run.d, run.seed),
                        "{source}: a second run (N = {}, K = {}, D = {}, seed {}) follows the first; record one run per file",
                        new.n,
                        new.k,
                        new.d,
                        new.seed
                    ),
                    _ => config = Some(new),
                }
                continue;
            }
            match response {
                Response::Update(UpdateMsg {
                    seq,
                    pred_mean,
                    pred_var,
                    log_pred,
                    ess,
                    gate,
                    ..
                }) => {
                    updates.entry(seq).or_insert_with(|| TraceStep {
                        mean: pred_mean.into(),
                        var: pred_var.into(),
                        log_pred: log_pred.into(),
                        ess: ess.into(),
                        gate: gate.iter().map(|&g| f64::from(g)).collect(),
                    });
                }
                // OutOfOrder answers a request the host sent too early; it
                // is resent. Any other reason is final for that row.
                Response::Reject(RejectMsg {
                    seq: Some(seq),
                    reason,
                }) if reason != RejectReason::OutOfOrder => {
                    rejected.insert(seq, reason);
                }
                _ => {}
            }
        }
        let Some(config) = config else {
            bail!(
                "{source}: no Config frame; is this telemetry recorded by `hsmoe run --telemetry`?"
            );
        };
        let Some(family) = Family::from_tag(config.family_tag) else {
            bail!(
                "{source}: a device with experts of an unknown family (tag {:#x})",
                config.family_tag
            );
        };
        let rows = [updates.keys().last(), rejected.keys().last()]
            .into_iter()
            .flatten()
            .max()
            .map_or(0, |&last| last as usize + 1);
        let mut steps = Vec::with_capacity(rows);
        for seq in 0..rows as u32 {
            let Some(step) = updates.remove(&seq) else {
                let why = rejected.get(&seq).map_or_else(
                    || "never answered".to_owned(),
                    |r| format!("rejected ({r:?})"),
                );
                bail!(
                    "{source}: data row {} was {why}; every row needs an Update",
                    seq + 1
                );
            };
            ensure!(
                step.gate.len() == config.k as usize,
                "{source}: data row {}: {} gate probabilities, but the device has K = {}",
                seq + 1,
                step.gate.len(),
                config.k
            );
            steps.push(step);
        }
        Ok(Trace {
            source: source.to_owned(),
            n_particles: config.n as usize,
            k: config.k as usize,
            d: config.d as usize,
            seed: config.seed,
            family,
            steps,
        })
    }

    /// Reads a fit report (`hsmoe fit --json`, a file named `.json`) or
    /// recorded telemetry (any other name).
    ///
    /// # Errors
    /// An unreadable file, JSON that is not a fit report, or the errors of
    /// [`Trace::from_report`] and [`Trace::from_telemetry`], naming `path`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::{engine::EngineKind, fit, simulate, trace::Trace};
    /// let data = simulate::simulate(simulate::Design::Linear, 20, 1).dataset(true);
    /// let report = fit::fit(&data, &fit::FitOptions::new(EngineKind::Core, 1, 10, 3, &data)).unwrap();
    /// let path = std::env::temp_dir().join("hsmoe-doc-trace.json");
    /// std::fs::write(&path, report.to_json()).unwrap();
    /// let trace = Trace::read(&path).unwrap();
    /// assert_eq!((trace.steps.len(), trace.seed), (20, 3));
    /// assert_eq!(Some(trace.log_marginal()), report.log_marginal);
    /// ```
    pub fn read(path: &Path) -> anyhow::Result<Trace> {
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            let report = FitReport::read(path)?;
            let mut trace =
                Trace::from_report(&report).with_context(|| path.display().to_string())?;
            trace.source = format!("{} ({})", path.display(), trace.source);
            Ok(trace)
        } else {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Trace::from_telemetry(&bytes, &path.display().to_string())
        }
    }

    /// The data options a fit report at `path` recorded (`hsmoe fit`
    /// writes them), or `None` (telemetry, an older report, no file).
    pub fn recorded_data_options(path: &Path) -> Option<crate::data::LoadOptions> {
        #[derive(serde::Deserialize)]
        struct Recorded {
            data: Option<crate::data::LoadOptions>,
        }
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice::<Recorded>(&bytes).ok()?.data
    }
}
