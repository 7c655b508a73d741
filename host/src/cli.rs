//! The `hsmoe` command line (SPEC-interfaces "CLI"): argument structs and
//! their execution. `main` only parses and reports errors.
//!
//! `run`, `decode`, `validate`, `plot` and `bench` keep their argument
//! structs in [`crate::run`], [`crate::telemetry`], [`crate::validate`],
//! [`crate::plot`] and [`crate::bench`]; further subcommands plug into
//! [`Command`] the same way: `Command::Name(NameArgs)` and an `execute`
//! arm. [`DataArgs`] and [`ModelArgs`] are the flag groups several
//! subcommands share.

use crate::bench::{self, BenchArgs};
use crate::data::{self, Dataset, LoadOptions};
use crate::engine::EngineKind;
use crate::fit::{self, FitOptions, GibbsSettings};
use crate::moves::MoveArgs;
use crate::plot::{self, PlotArgs};
use crate::run::{self, RunArgs};
use crate::simulate::{self, Design};
use crate::telemetry::{self, DecodeArgs};
use crate::validate::{self, Trace, ValidateArgs};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::io::Write as _;
use std::path::PathBuf;

/// Online Bayesian horseshoe mixtures of experts by particle learning.
#[derive(Debug, Parser)]
#[command(name = "hsmoe", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a synthetic data set (CSV) and its truth (NAME.truth.json).
    Simulate(SimulateArgs),
    /// Fit a mixture of experts to a CSV file and summarize the posterior.
    Fit(FitArgs),
    /// Stream a CSV file to the device (serial port or QEMU) and record
    /// its telemetry.
    Run(RunArgs),
    /// Decode recorded telemetry to CSV or JSON.
    Decode(DecodeArgs),
    /// Compare device telemetry or a core run with the f64 reference
    /// engine, in units of Monte Carlo error.
    ///
    /// The candidate is recorded telemetry (`--telemetry`, from `hsmoe run
    /// --telemetry`; a `hsmoe fit --json` report also works) or a run of
    /// `--engine core` on this machine. The f64 reference engine runs R
    /// times (`--replicates`) with the same data, sizes and prior at
    /// independent seeds. Compared: the log marginal likelihood
    /// Σ_t ln p̂(y_t | past); per row, the one-step-ahead predictive mean,
    /// ln variance and ln density at y_t; the logits of the mean gate
    /// probabilities at the last row, largest first.
    ///
    /// Two correct particle filters never agree exactly: they draw
    /// different random numbers (and the core computes in f32), so their
    /// outputs differ by the Monte Carlo error of N particles. Each
    /// difference is therefore divided by its Monte Carlo standard error,
    /// estimated from the spread of the reference runs: z = difference /
    /// SE, about Student-t with R − 1 degrees of freedom when the
    /// candidate is right, whatever the data and N. The command fails
    /// (exit status 1) when |z| of a scalar, or the RMS of z over the rows
    /// of a per-row quantity, exceeds --max-z. A telemetry file whose
    /// device N, K, D or seed differs from the flags and the data is an
    /// error before any comparison.
    Validate(ValidateArgs),
    /// Plot a run over t: one-step predictive mean ± 2 sd against y, ESS,
    /// mean gate probabilities.
    ///
    /// The run is a fit report (`hsmoe fit --json`, a `.json` file) or
    /// recorded telemetry (`hsmoe run --telemetry`, any other file name);
    /// `--data` gives y (with the same --no-intercept and --standardize as
    /// the run). The image is PNG or SVG by the extension of `-o`.
    Plot(PlotArgs),
    /// Measure the core's speed against the reference engine and its limits.
    Bench(BenchArgs),
}

/// `hsmoe simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The design.
    #[arg(long, value_enum)]
    pub design: Design,
    /// Number of rows T.
    #[arg(long, value_parser = positive_usize)]
    pub n: usize,
    /// Seed of the random stream.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output CSV; the truth goes beside it as NAME.truth.json.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// The data file and how it is prepared (`--data`, `--no-intercept`,
/// `--standardize`); shared by `fit`, `validate` and `plot`.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// CSV data file: a header row, a column `y`, every other column a feature.
    #[arg(long = "data", value_name = "CSV")]
    pub path: PathBuf,
    /// Do not add an intercept column of ones as the first feature.
    #[arg(long)]
    pub no_intercept: bool,
    /// Z-score every feature column and y over the whole file first.
    #[arg(long)]
    pub standardize: bool,
}

impl DataArgs {
    /// How the flags ask for the file to be read.
    ///
    /// # Examples
    /// ```
    /// use clap::Parser;
    /// use hsmoe_host::cli::DataArgs;
    /// #[derive(Parser)]
    /// struct Cmd {
    ///     #[command(flatten)]
    ///     data: DataArgs,
    /// }
    /// let cmd = Cmd::parse_from(["x", "--data", "d.csv", "--no-intercept"]);
    /// let opts = cmd.data.load_options();
    /// assert!(!opts.intercept && !opts.standardize);
    /// ```
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            intercept: !self.no_intercept,
            standardize: self.standardize,
        }
    }

    /// Loads the file as the flags ask.
    ///
    /// # Errors
    /// The file's [`data::DataError`], naming the file, line and column.
    pub fn load(&self) -> anyhow::Result<Dataset> {
        Ok(data::load(&self.path, &self.load_options())?)
    }
}

/// Model sizes, seed and prior (`--experts`, `--particles`, `--seed`,
/// `--prior-*`, `--refresh`); shared by `fit` and `validate`.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Number of experts K.
    #[arg(long, value_parser = positive_usize)]
    pub experts: usize,
    /// Number of particles N (core, reference).
    #[arg(long, default_value_t = 1000, value_parser = positive_usize)]
    pub particles: usize,
    /// Seed of the random stream.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Prior scale of expert coefficients, V0 = v0·I [default: 10].
    #[arg(long, value_parser = positive_f32)]
    pub prior_v0: Option<f32>,
    /// Inverse-gamma shape of expert noise variances [default: 2].
    #[arg(long, value_parser = positive_f32)]
    pub prior_a0: Option<f32>,
    /// Inverse-gamma scale of expert noise variances [default: 1].
    #[arg(long, value_parser = positive_f32)]
    pub prior_b0: Option<f32>,
    /// Prior sd of the unshrunk gate intercepts [default: 2].
    #[arg(long, value_parser = positive_f32)]
    pub prior_s0: Option<f32>,
    /// Refresh horseshoe scales every R observations [default: d].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub refresh: Option<u32>,
}

impl ModelArgs {
    /// The fit options of `engine` on `data`: these sizes and seed, the
    /// SPEC prior with the flags' overrides, and the gate intercept on
    /// exactly when `data` was loaded with the intercept column.
    ///
    /// # Examples
    /// ```
    /// use clap::Parser;
    /// use hsmoe_host::{cli::ModelArgs, engine::EngineKind, simulate};
    /// #[derive(Parser)]
    /// struct Cmd {
    ///     #[command(flatten)]
    ///     model: ModelArgs,
    /// }
    /// let cmd = Cmd::parse_from(["x", "--experts", "3", "--prior-b0", "0.5"]);
    /// let data = simulate::simulate(simulate::Design::Linear, 10, 1).dataset(true);
    /// let opts = cmd.model.fit_options(EngineKind::Core, &data, true);
    /// assert_eq!((opts.k, opts.n_particles, opts.seed), (3, 1000, 1));
    /// assert_eq!((opts.config.b0, opts.config.a0), (0.5, 2.0));
    /// assert!(opts.config.gate_intercept);
    /// ```
    pub fn fit_options(&self, engine: EngineKind, data: &Dataset, intercept: bool) -> FitOptions {
        let mut opts = FitOptions::new(engine, self.experts, self.particles, self.seed, data);
        let config = &mut opts.config;
        config.gate_intercept = intercept;
        config.v0 = self.prior_v0.unwrap_or(config.v0);
        config.a0 = self.prior_a0.unwrap_or(config.a0);
        config.b0 = self.prior_b0.unwrap_or(config.b0);
        config.s0 = self.prior_s0.unwrap_or(config.s0);
        config.refresh_every = self.refresh.unwrap_or(config.refresh_every);
        opts
    }
}

/// `hsmoe fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// The data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Sizes, seed and prior.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Which engine: the f32 core (as on the device), the f64 reference
    /// particle filter, or the batch Gibbs sampler.
    #[arg(long, value_enum, default_value_t = EngineKind::Core)]
    pub engine: EngineKind,
    /// Write the full report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw the fit to this .svg or .png file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Gibbs: total sweeps, burn-in included.
    #[arg(long, default_value_t = GibbsSettings::default().iterations, value_parser = positive_usize)]
    pub gibbs_iterations: usize,
    /// Gibbs: sweeps discarded first.
    #[arg(long, default_value_t = GibbsSettings::default().burn_in)]
    pub gibbs_burn_in: usize,
    /// Gibbs: keep every THIN-th sweep.
    #[arg(long, default_value_t = GibbsSettings::default().thin, value_parser = positive_usize)]
    pub gibbs_thin: usize,
    /// Rejuvenation of the particle engines.
    #[command(flatten)]
    pub moves: MoveArgs,
}

/// Parses a whole number ≥ 1 (clap value parser).
pub(crate) fn positive_usize(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("{s:?} is not a whole number ≥ 1")),
    }
}

fn positive_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a finite number > 0")),
    }
}

/// Runs one parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; the caller prints it on one line.
///
/// # Examples
/// ```
/// use clap::Parser;
/// use hsmoe_host::cli::{execute, Cli};
/// let out = std::env::temp_dir().join("hsmoe-doc-cli.csv");
/// let out = out.to_str().unwrap();
/// execute(Cli::parse_from(["hsmoe", "simulate", "--design", "linear", "--n", "30", "-o", out])).unwrap();
/// execute(Cli::parse_from(["hsmoe", "fit", "--data", out, "--experts", "1", "--particles", "10"])).unwrap();
/// ```
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate(args) => simulate_command(&args),
        Command::Fit(args) => fit_command(&args),
        Command::Run(args) => {
            let summary = run::run(&args)?;
            writeln!(std::io::stdout().lock(), "{summary}")?;
            Ok(())
        }
        Command::Decode(args) => telemetry::decode(&args),
        Command::Validate(args) => validate_command(&args),
        Command::Plot(args) => plot_command(&args),
        Command::Bench(args) => bench::bench(&args),
    }
}

fn simulate_command(args: &SimulateArgs) -> anyhow::Result<()> {
    let sim = simulate::simulate(args.design, args.n, args.seed);
    simulate::write(&sim, &args.output)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {} ({} rows, {} features) and {}",
        args.output.display(),
        args.n,
        sim.truth.feature_names.len(),
        simulate::truth_path(&args.output).display()
    )?;
    Ok(())
}

fn fit_command(args: &FitArgs) -> anyhow::Result<()> {
    let data = args.data.load()?;
    let mut opts = args
        .model
        .fit_options(args.engine, &data, !args.data.no_intercept);
    opts.gibbs = GibbsSettings {
        iterations: args.gibbs_iterations,
        burn_in: args.gibbs_burn_in,
        thin: args.gibbs_thin,
    };
    opts.progress = true;
    opts.moves = args.moves.options();

    let report = fit::fit(&data, &opts).with_context(|| args.data.path.display().to_string())?;
    // Files first: a closed stdout must not lose them.
    let mut wrote = Vec::new();
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json() + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
        wrote.push(path);
    }
    if let Some(path) = &args.plot {
        plot::plot(&data, &report, path)?;
        wrote.push(path);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", report.summary())?;
    for path in wrote {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}

fn validate_command(args: &ValidateArgs) -> anyhow::Result<()> {
    let validation = validate::validate(args)?;
    // Files first: a closed stdout must not lose them.
    if let Some(path) = &args.json {
        std::fs::write(path, validation.to_json() + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", validation.table())?;
    if let Some(path) = &args.json {
        writeln!(out, "wrote {}", path.display())?;
    }
    anyhow::ensure!(
        validation.passed(),
        "validation failed: {}",
        validation.failures.join("; ")
    );
    Ok(())
}

fn plot_command(args: &PlotArgs) -> anyhow::Result<()> {
    let trace = Trace::read(&args.input)?;
    let data = args.data.load()?;
    plot::plot_trace(&trace, &data.y, &args.output)?;
    writeln!(std::io::stdout().lock(), "wrote {}", args.output.display())?;
    Ok(())
}
