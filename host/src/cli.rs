//! The `hsmoe` command line (SPEC-interfaces "CLI"): argument structs and
//! their execution. `main` only parses and reports errors.
//!
//! `run`, `decode` and `bench` live in [`crate::run`],
//! [`crate::telemetry`] and [`crate::bench`]; further subcommands
//! (`validate`) plug into [`Command`] the same way:
//! `Command::Name(NameArgs)` and an `execute` arm.

use crate::bench::{self, BenchArgs};
use crate::data::{self, LoadOptions};
use crate::engine::EngineKind;
use crate::fit::{self, FitOptions, GibbsSettings};
use crate::plot;
use crate::run::{self, RunArgs};
use crate::simulate::{self, Design};
use crate::telemetry::{self, DecodeArgs};
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

/// `hsmoe fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// CSV data file: a header row, a column `y`, every other column a feature.
    #[arg(long)]
    pub data: PathBuf,
    /// Number of experts K.
    #[arg(long, value_parser = positive_usize)]
    pub experts: usize,
    /// Number of particles N (core, reference).
    #[arg(long, default_value_t = 1000, value_parser = positive_usize)]
    pub particles: usize,
    /// Seed of the random stream.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
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
    /// Do not add an intercept column of ones as the first feature.
    #[arg(long)]
    pub no_intercept: bool,
    /// Z-score every feature column and y over the whole file first.
    #[arg(long)]
    pub standardize: bool,
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
    /// Gibbs: total sweeps, burn-in included.
    #[arg(long, default_value_t = GibbsSettings::default().iterations, value_parser = positive_usize)]
    pub gibbs_iterations: usize,
    /// Gibbs: sweeps discarded first.
    #[arg(long, default_value_t = GibbsSettings::default().burn_in)]
    pub gibbs_burn_in: usize,
    /// Gibbs: keep every THIN-th sweep.
    #[arg(long, default_value_t = GibbsSettings::default().thin, value_parser = positive_usize)]
    pub gibbs_thin: usize,
}

fn positive_usize(s: &str) -> Result<usize, String> {
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
    let load = LoadOptions {
        intercept: !args.no_intercept,
        standardize: args.standardize,
    };
    let data = data::load(&args.data, &load)?;
    let mut opts = FitOptions::new(args.engine, args.experts, args.particles, args.seed, &data);
    let config = &mut opts.config;
    config.gate_intercept = load.intercept;
    config.v0 = args.prior_v0.unwrap_or(config.v0);
    config.a0 = args.prior_a0.unwrap_or(config.a0);
    config.b0 = args.prior_b0.unwrap_or(config.b0);
    config.s0 = args.prior_s0.unwrap_or(config.s0);
    config.refresh_every = args.refresh.unwrap_or(config.refresh_every);
    opts.gibbs = GibbsSettings {
        iterations: args.gibbs_iterations,
        burn_in: args.gibbs_burn_in,
        thin: args.gibbs_thin,
    };
    opts.progress = true;

    let report = fit::fit(&data, &opts).with_context(|| args.data.display().to_string())?;
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
