//! `hsmoe fit`: run an engine over a data set and collect the report
//! whose JSON form (`--json`) is what scripts read.

use crate::data::{Dataset, LoadOptions, Scaling, INTERCEPT_NAME};
use crate::engine::{
    gibbs_final, online_engine_with_moves, EngineChoice, EngineKind, EngineState, Final,
    IslandSummary, OnlineEngine, Step,
};
use crate::family::Family;
use crate::gibbs::{Convergence, GibbsOptions, Ladder};
use crate::islands::islands_of;
use crate::mixture::{ExpertCoefficients, Unstandardize};
use crate::moves::{MoveReport, Moves, WindowOptions};
use crate::progress::Progress;
use anyhow::{bail, Context as _};
use hsmoe_core::Config;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::time::Instant;

/// Run length of the Gibbs sampler (`--gibbs-iterations`, `--gibbs-burn-in`,
/// `--gibbs-thin`, `--chains`, `--gibbs-rungs`, `--gibbs-hottest`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GibbsSettings {
    /// Total sweeps, burn-in included.
    pub iterations: usize,
    /// Sweeps discarded first.
    pub burn_in: usize,
    /// Keep every `thin`-th sweep after burn-in.
    pub thin: usize,
    /// Independent chains, pooled; their agreement is the reported R-hat.
    pub chains: usize,
    /// Tempered copies of every chain.
    #[serde(default)]
    pub ladder: Ladder,
}

impl GibbsSettings {
    /// The sampler's options for a fit with `seed` (each chain derives its
    /// own seed from it).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::fit::GibbsSettings;
    /// let opts = GibbsSettings::default().options(7);
    /// assert_eq!((opts.iterations, opts.burn_in, opts.seed), (2000, 500, 7));
    /// ```
    pub fn options(&self, seed: u64) -> GibbsOptions {
        GibbsOptions {
            iterations: self.iterations,
            burn_in: self.burn_in,
            thin: self.thin,
            seed,
            ladder: self.ladder,
        }
    }
}

impl Default for GibbsSettings {
    /// 2000 sweeps, 500 burn-in, no thinning, 4 chains, no tempering.
    fn default() -> Self {
        GibbsSettings {
            iterations: 2000,
            burn_in: 500,
            thin: 1,
            chains: 4,
            ladder: Ladder::NONE,
        }
    }
}

/// Everything `fit` needs besides the data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Which engine.
    pub engine: EngineKind,
    /// Number of experts K.
    pub k: usize,
    /// Number of particles N (particle engines).
    pub n_particles: usize,
    /// Seed of `XorShiftRng::seed_from_u64`.
    pub seed: u64,
    /// Prior and refresh period.
    pub config: Config,
    /// Gibbs run length (gibbs engine).
    pub gibbs: GibbsSettings,
    /// Show a progress bar on a terminal for runs over a second.
    pub progress: bool,
    /// Rejuvenation moves of the particle engines (docs/model.md §4);
    /// [`Moves::None`] runs plain particle learning, bit for bit the
    /// device's.
    pub moves: Moves,
    /// Independent filters sharing the particles, combined by evidence
    /// (particle engines, [`crate::islands`]); 1 is one filter.
    pub islands: usize,
    /// The experts' likelihood (docs/model.md §10).
    pub family: Family,
}

impl FitOptions {
    /// Default settings for `data` (docs/model.md §1):
    /// `Config::default_for(d)` with the gate intercept on exactly when the
    /// data's first feature is the added intercept, default Gibbs settings, no
    /// progress bar, no moves and one island (the `hsmoe fit` command line
    /// turns moves and islands on).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::{engine::EngineKind, fit::FitOptions, simulate};
    /// let data = simulate::simulate(simulate::Design::Linear, 10, 1).dataset(false);
    /// let opts = FitOptions::new(EngineKind::Core, 2, 100, 7, &data);
    /// assert!(!opts.config.gate_intercept);
    /// assert_eq!(opts.config.refresh_every, 3);
    /// ```
    pub fn new(
        engine: EngineKind,
        k: usize,
        n_particles: usize,
        seed: u64,
        data: &Dataset,
    ) -> Self {
        let mut config = Config::default_for(data.d());
        config.gate_intercept =
            data.feature_names.first().map(String::as_str) == Some(INTERCEPT_NAME);
        FitOptions {
            engine,
            k,
            n_particles,
            seed,
            config,
            gibbs: GibbsSettings::default(),
            progress: false,
            moves: Moves::None,
            islands: 1,
            family: Family::Gaussian,
        }
    }
}

/// Float type of the engine's own arithmetic; the JSON numbers of a
/// `f32` run are written as f32 so they round-trip bit-exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The core engine.
    F32,
    /// The reference and Gibbs engines.
    F64,
}

/// The result of a fit; its JSON form ([`FitReport::to_json`]) is the
/// `hsmoe fit --json` contract. Numbers are held as `F` (f64 in memory,
/// narrowed to f32 in the JSON of a core run).
///
/// For `gibbs`, `log_marginal` is `None` (the sampler does not estimate
/// the evidence), `predictive` is empty (there is no sequential
/// one-step-ahead output) and `n_particles` is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport<F> {
    /// Rows T.
    pub n_obs: usize,
    /// Features d, intercept included.
    pub d: usize,
    /// Experts K.
    pub k: usize,
    /// Particles N (`None` for gibbs).
    pub n_particles: Option<usize>,
    /// The engine.
    pub engine: EngineKind,
    /// The experts' likelihood.
    #[serde(default)]
    pub family: Family,
    /// The seed.
    pub seed: u64,
    /// `Σ_t ln p̂(y_t | past)` (`None` for gibbs).
    pub log_marginal: Option<f64>,
    /// Per row, the step report (empty for gibbs).
    pub predictive: Vec<Step<F>>,
    /// Posterior summaries after all the rows.
    #[serde(rename = "final")]
    pub final_: Final<F>,
    /// Names of the d features.
    pub feature_names: Vec<String>,
    /// Prior and refresh period in force.
    pub prior: Config,
    /// Gibbs run length (gibbs only).
    pub gibbs: Option<GibbsSettings>,
    /// Agreement of the Gibbs chains: R-hat and run length (gibbs only).
    pub gibbs_convergence: Option<Convergence>,
    /// The engine's float type.
    pub precision: Precision,
    /// Wall-clock time of the fit.
    pub elapsed_seconds: f64,
    /// What the rejuvenation moves did (particle engines with moves only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moves: Option<MoveReport>,
    /// The core's block window move, if it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowOptions>,
    /// Each island's seed, particles, log marginal and weight, when the
    /// particles were split into independent islands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub islands: Option<Vec<IslandSummary>>,
    /// Each expert's posterior coefficients (in the order of
    /// `feature_names`, in the data's original units) and allocation
    /// share (core engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experts: Option<Vec<ExpertCoefficients>>,
    /// Rows the filter had absorbed before these (`hsmoe update`); the
    /// log marginal is over all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continued_from: Option<usize>,
    /// How the data file was read (features by name, the
    /// standardization's moments), so `hsmoe plot` can read it again the
    /// same way; set by the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<LoadOptions>,
}

impl<F: Copy> FitReport<F> {
    /// `f` applied to every engine output number.
    pub fn map<G>(&self, f: &impl Fn(F) -> G) -> FitReport<G> {
        FitReport {
            n_obs: self.n_obs,
            d: self.d,
            k: self.k,
            n_particles: self.n_particles,
            engine: self.engine,
            family: self.family,
            seed: self.seed,
            log_marginal: self.log_marginal,
            predictive: self.predictive.iter().map(|s| s.map(f)).collect(),
            final_: self.final_.map(f),
            feature_names: self.feature_names.clone(),
            prior: self.prior,
            gibbs: self.gibbs,
            gibbs_convergence: self.gibbs_convergence.clone(),
            precision: self.precision,
            elapsed_seconds: self.elapsed_seconds,
            moves: self.moves.clone(),
            window: self.window,
            islands: self.islands.clone(),
            experts: self.experts.clone(),
            continued_from: self.continued_from,
            data: self.data.clone(),
        }
    }
}

impl FitReport<f64> {
    /// The JSON text; a core run's numbers are written as f32 (they are
    /// exact f32 values), so parsing them as f32 gives the engine's bits.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::{engine::EngineKind, fit, simulate};
    /// let data = simulate::simulate(simulate::Design::Linear, 20, 1).dataset(true);
    /// let report = fit::fit(&data, &fit::FitOptions::new(EngineKind::Core, 1, 10, 1, &data)).unwrap();
    /// let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    /// let first = json["predictive"][0]["mean"].as_f64().unwrap() as f32;
    /// assert_eq!(first, report.predictive[0].mean as f32);
    /// ```
    pub fn to_json(&self) -> String {
        let text = match self.precision {
            // Narrowing is exact: every value came from an f32.
            Precision::F32 => crate::output::json(&self.map(&|v| v as f32)),
            Precision::F64 => crate::output::json(self),
        };
        text.unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Reads a report written by `hsmoe fit --json`. A core run's numbers
    /// were written as f32 and are read back as f32, so they are the
    /// engine's exact values.
    ///
    /// # Errors
    /// The file cannot be read, or is not a fit report (the message names
    /// the file).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::{engine::EngineKind, fit, simulate};
    /// let data = simulate::simulate(simulate::Design::Linear, 20, 1).dataset(true);
    /// let report = fit::fit(&data, &fit::FitOptions::new(EngineKind::Core, 1, 10, 1, &data)).unwrap();
    /// let path = std::env::temp_dir().join("hsmoe-doc-fit-report-read.json");
    /// std::fs::write(&path, report.to_json()).unwrap();
    /// assert_eq!(fit::FitReport::read(&path).unwrap().log_marginal, report.log_marginal);
    /// ```
    pub fn read(path: &std::path::Path) -> anyhow::Result<FitReport<f64>> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let not_a_report = || format!("{}: not a fit report of `hsmoe fit --json`", path.display());
        crate::output::check_schema(&bytes).with_context(not_a_report)?;
        let report: FitReport<f64> = serde_json::from_slice(&bytes).with_context(not_a_report)?;
        Ok(match report.precision {
            Precision::F32 => report.map(&|v| f64::from(v as f32)),
            Precision::F64 => report,
        })
    }

    /// A few lines for the terminal.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::{engine::EngineKind, fit, simulate};
    /// let data = simulate::simulate(simulate::Design::Linear, 20, 1).dataset(true);
    /// let report = fit::fit(&data, &fit::FitOptions::new(EngineKind::Reference, 1, 10, 1, &data)).unwrap();
    /// assert!(report.summary().contains("log marginal likelihood"));
    /// ```
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let n = self
            .n_particles
            .map_or_else(String::new, |n| format!(", N = {n} particles"));
        let _ = writeln!(
            s,
            "engine {}: T = {} rows, d = {} ({}), K = {} experts{n}, seed {}",
            self.engine,
            self.n_obs,
            self.d,
            self.feature_names.join(", "),
            self.k,
            self.seed
        );
        if let Some(rows) = self.continued_from {
            let _ = writeln!(
                s,
                "continued                a model of {rows} rows; the log marginal is over all {}",
                rows + self.n_obs
            );
        }
        match self.log_marginal {
            Some(lm) => {
                let _ = writeln!(s, "log marginal likelihood  {lm:.4}");
            }
            None => {
                let _ = writeln!(
                    s,
                    "log marginal likelihood  n/a (gibbs does not estimate it)"
                );
            }
        }
        let freq: Vec<String> = self
            .final_
            .allocation_freq
            .iter()
            .map(|f| format!("{f:.3}"))
            .collect();
        let _ = writeln!(s, "allocation frequencies   {}", freq.join(" "));
        for (k, e) in self.experts.iter().flatten().enumerate() {
            let terms: Vec<String> = self
                .feature_names
                .iter()
                .zip(&e.mean)
                .zip(&e.sd)
                .map(|((name, m), sd)| match sd {
                    Some(sd) => format!("{name} {m:.4} ± {sd:.4}"),
                    None => format!("{name} {m:.4}"),
                })
                .collect();
            let _ = writeln!(
                s,
                "expert {:<2} (share {:.3})   {}",
                k + 1,
                e.share,
                terms.join(", ")
            );
        }
        if !self.predictive.is_empty() {
            let ess: Vec<f64> = self.predictive.iter().map(|p| p.ess).collect();
            let mean = ess.iter().sum::<f64>() / ess.len() as f64;
            let min = ess.iter().copied().fold(f64::INFINITY, f64::min);
            let _ = writeln!(s, "ESS                      mean {mean:.1}, min {min:.1}");
        }
        if let Some(m) = &self.moves {
            let _ = writeln!(
                s,
                "moves                    {} during the stream + {} final sweeps, {:.0} % of the time",
                m.moves,
                m.sweeps - m.moves,
                100.0 * m.time_share
            );
        }
        if let Some(g) = self.gibbs {
            let _ = writeln!(
                s,
                "gibbs sweeps             {} ({} burn-in, thin {}) × {} chains",
                g.iterations, g.burn_in, g.thin, g.chains
            );
            if g.ladder.rungs > 1 {
                let _ = writeln!(
                    s,
                    "gibbs tempering          {} rungs, hottest β = {}",
                    g.ladder.rungs, g.ladder.hottest
                );
            }
        }
        if let Some(c) = &self.gibbs_convergence {
            let _ = writeln!(
                s,
                "gibbs split R-hat        max {:.3} ({}); allocation frequencies max {:.3}",
                c.rhat_max, c.rhat_max_at, c.rhat_max_allocation
            );
            if !c.exchange_acceptance.is_empty() {
                let rates: Vec<String> = c
                    .exchange_acceptance
                    .iter()
                    .map(|a| format!("{a:.2}"))
                    .collect();
                let _ = writeln!(s, "gibbs exchanges accepted {}", rates.join(" "));
            }
        }
        let _ = write!(s, "time                     {:.2} s", self.elapsed_seconds);
        s
    }
}

/// Fits `opts.engine` to `data` (rows in file order).
///
/// The core engine narrows every value with `as f32` and runs the same
/// RNG stream as the firmware (see [`crate::engine::online_engine`]).
///
/// # Errors
/// Inconsistent data, unsupported sizes or options, and an engine's
/// refusal of a row (named by its 1-based data row, header excluded).
///
/// # Examples
/// ```
/// use hsmoe_host::{engine::EngineKind, fit, simulate};
/// let data = simulate::simulate(simulate::Design::Piecewise, 60, 2).dataset(true);
/// let opts = fit::FitOptions::new(EngineKind::Core, 3, 200, 5, &data);
/// let report = fit::fit(&data, &opts).unwrap();
/// assert_eq!((report.n_obs, report.d, report.k), (60, 2, 3));
/// assert_eq!(report.predictive.len(), 60);
/// let total: f64 = report.final_.allocation_freq.iter().sum();
/// assert!((total - 1.0).abs() < 1e-5);
/// ```
pub fn fit(data: &Dataset, opts: &FitOptions) -> anyhow::Result<FitReport<f64>> {
    fit_with(data, opts, FitWith::default()).map(|(report, _)| report)
}

/// What [`fit_with`] does besides a plain [`fit`].
#[derive(Default)]
pub struct FitWith<'a> {
    /// Continue this engine (a saved model's, `hsmoe update`) instead of
    /// starting one from the prior; it has absorbed `continued_from`
    /// rows.
    pub engine: Option<(Box<dyn OnlineEngine>, usize)>,
    /// Keep the engine's state after the last row, before the final
    /// sweeps (which are for the report only: a continuing filter never
    /// runs them).
    pub save: bool,
    /// How the data were standardized, so that the expert coefficients
    /// are reported in original units.
    pub scaling: Option<&'a Scaling>,
}

/// [`fit`], continuing an engine and keeping its state as `with` asks;
/// returns the report and the state, one per island (when `with.save`).
///
/// # Errors
/// As [`fit`]; saving needs the core engine.
///
/// # Examples
/// ```
/// use hsmoe_host::{data::Dataset, engine::{resume_core, EngineKind}, fit, simulate};
/// let data = simulate::simulate(simulate::Design::Linear, 40, 3).dataset(true);
/// let part = |rows: std::ops::Range<usize>| Dataset {
///     feature_names: data.feature_names.clone(),
///     x: data.x[rows.clone()].to_vec(),
///     y: data.y[rows].to_vec(),
/// };
/// let mut opts = fit::FitOptions::new(EngineKind::Core, 2, 50, 9, &data);
/// opts.moves = hsmoe_host::moves::Moves::Stream(hsmoe_host::moves::MoveOptions::DEFAULT);
/// let with = fit::FitWith { save: true, ..Default::default() };
/// let (_, saved) = fit::fit_with(&part(0..20), &opts, with).unwrap();
/// let engine = resume_core(2, data.d(), &saved.unwrap()[0], 9).unwrap();
/// let rest = part(20..40);
/// let more = fit::FitWith { engine: Some((engine, 20)), ..Default::default() };
/// let (continued, _) = fit::fit_with(&rest, &opts, more).unwrap();
/// let whole = fit::fit(&data, &opts).unwrap();
/// assert_eq!(continued.log_marginal, whole.log_marginal);
/// ```
pub fn fit_with(
    data: &Dataset,
    opts: &FitOptions,
    with: FitWith<'_>,
) -> anyhow::Result<(FitReport<f64>, Option<Vec<EngineState>>)> {
    let start = Instant::now();
    let (t, d, k) = (data.y.len(), data.d(), opts.k);
    if t == 0 || data.x.len() != t {
        bail!(
            "the data have {} feature rows and {t} responses",
            data.x.len()
        );
    }
    if let Some(row) = data.x.iter().position(|r| r.len() != d) {
        bail!(
            "data row {}: {} features, expected {d}",
            row + 1,
            data.x[row].len()
        );
    }
    if k == 0 {
        bail!("--experts must be at least 1");
    }
    let x_mean = data.x_mean();
    let mut gibbs_convergence = None;
    let mut saved = None;
    let mut experts = None;
    let mut islands = None;
    let continued_from = with.engine.as_ref().map(|(_, rows)| *rows);
    let (log_marginal, predictive, final_, single, mut moves) = match opts.engine {
        EngineKind::Gibbs => {
            let g = opts.gibbs;
            let gibbs_opts = g.options(opts.seed);
            if gibbs_opts.kept() == 0 {
                bail!("the Gibbs options keep no sweep: need --gibbs-iterations > --gibbs-burn-in and --gibbs-thin ≥ 1");
            }
            if g.chains == 0 {
                bail!("--chains must be at least 1");
            }
            if !g.ladder.is_valid() {
                bail!(
                    "--gibbs-rungs must be at least 1 and --gibbs-hottest in (0, 1], not {} and {}",
                    g.ladder.rungs,
                    g.ladder.hottest
                );
            }
            let label = format!("gibbs: {} chains × {} sweeps", g.chains, g.iterations);
            if g.ladder.rungs > 1 && opts.family == Family::Bernoulli {
                bail!("--gibbs-rungs > 1 (tempering) is not available for bernoulli experts");
            }
            let run = || gibbs_final(data, k, opts.family, &opts.config, &gibbs_opts, g.chains);
            let (final_, convergence) = Progress::spin(opts.progress, &label, run)?;
            gibbs_convergence = Some(convergence);
            (None, Vec::new(), final_, false, None)
        }
        kind => {
            if opts.n_particles == 0 {
                bail!("--particles must be at least 1");
            }
            let n = opts.n_particles;
            if opts.moves.window().is_some() && with.engine.is_some() {
                bail!("--window needs a fresh fit");
            }
            let mut engine = match with.engine {
                Some((engine, _)) => engine,
                None => islands_of(n, opts.seed, opts.islands, |n, seed| {
                    let choice = EngineChoice {
                        kind,
                        family: opts.family,
                    };
                    online_engine_with_moves(choice, k, d, n, &opts.config, seed, opts.moves)
                })?,
            };
            let mut bar = Progress::new(opts.progress, 2 * t as u64, &format!("{kind}"));
            let mut steps = Vec::with_capacity(t);
            for (row, (x, &y)) in data.x.iter().zip(&data.y).enumerate() {
                let step = engine
                    .observe(x, y)
                    .with_context(|| format!("data row {}", row + 1))?;
                steps.push(step);
                bar.inc();
            }
            if with.save {
                saved = Some(engine.save()?);
            }
            engine.finish()?;
            let mut predictive = Vec::with_capacity(t);
            let mut gate_mean = Vec::with_capacity(t);
            let mut alloc = Vec::with_capacity(t);
            for (x, &y) in data.x.iter().zip(&data.y) {
                let (p, gate) = engine.predict(x)?;
                predictive.push(p);
                gate_mean.push(gate);
                alloc.push(engine.allocation(x, y)?);
                bar.inc();
            }
            bar.finish();
            let final_ = Final {
                predictive,
                gate_mean,
                alloc,
                allocation_freq: engine.allocation_freq(),
                allocation_freq_sorted: engine.allocation_freq_sorted(),
                router: engine.router(&x_mean)?,
                horseshoe: engine.horseshoe(),
            };
            let intercept = data.feature_names.first().map(String::as_str) == Some(INTERCEPT_NAME);
            experts = engine.coefficients(&Unstandardize::new(d, intercept, with.scaling));
            islands = engine.islands();
            (
                Some(engine.log_marginal()),
                steps,
                final_,
                engine.single_precision(),
                engine.moves(),
            )
        }
    };
    let elapsed_seconds = start.elapsed().as_secs_f64();
    if let Some(m) = &mut moves {
        m.time_share = m.seconds / elapsed_seconds;
    }
    let report = FitReport {
        n_obs: t,
        d,
        k,
        n_particles: (opts.engine != EngineKind::Gibbs).then_some(opts.n_particles),
        engine: opts.engine,
        family: opts.family,
        seed: opts.seed,
        log_marginal,
        predictive,
        final_,
        feature_names: data.feature_names.clone(),
        prior: opts.config,
        gibbs: (opts.engine == EngineKind::Gibbs).then_some(opts.gibbs),
        gibbs_convergence,
        precision: if single {
            Precision::F32
        } else {
            Precision::F64
        },
        elapsed_seconds,
        moves,
        window: opts.moves.window(),
        islands,
        experts,
        continued_from,
        data: None,
    };
    Ok((report, saved))
}
