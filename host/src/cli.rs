//! The `hsmoe` command line (README.md; each command's `--help`): argument
//! structs and their execution. `main` only parses and reports errors.
//!
//! `choose-k`, `run`, `decode`, `validate`, `compare`, `plot` and `bench` keep their
//! argument structs in [`crate::choose`], [`crate::run`], [`crate::telemetry`],
//! [`crate::validate`], [`crate::compare`], [`crate::plot`] and [`crate::bench`]; further subcommands plug into
//! [`Command`] the same way: `Command::Name(NameArgs)` and an `execute`
//! arm. [`DataArgs`] and [`ModelArgs`] are the flag groups several
//! subcommands share.

use crate::args::{positive_finite, positive_usize, read_noting_skips, DataArgs, ModelArgs};
use crate::bench::{self, BenchArgs};
use crate::choose::{self, ChooseKArgs};
use crate::compare::{self, CompareArgs};
use crate::data::LoadOptions;
use crate::engine::EngineKind;
use crate::family::{self, Family};
use crate::fit::{self, FitOptions, FitReport, FitWith, GibbsSettings};
use crate::gibbs::Ladder;
use crate::model::{Model, ModelError, ModelMeta};
use crate::moves::MoveArgs;
use crate::output;
use crate::plot::{self, PlotArgs};
use crate::predict::{self, PredictArgs};
use crate::run::{self, RunArgs};
use crate::serial;
use crate::simulate::{self, Design};
use crate::telemetry::{self, DecodeArgs};
use crate::trace::Trace;
use crate::validate::{self, ValidateArgs};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::io::Write as _;
use std::path::PathBuf;

/// Online Bayesian horseshoe mixtures of experts by particle learning.
#[derive(Debug, Parser)]
#[command(name = "hsmoe", version, arg_required_else_help = true)]
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
    /// Predict new rows with a saved model (`hsmoe fit --save`): mean, sd
    /// and quantiles of the predictive in original units, the gate
    /// probabilities and the router's top-k experts.
    Predict(PredictArgs),
    /// Continue filtering a saved model with more rows: the same filter
    /// as one fit over all the rows with the same seed.
    Update(UpdateArgs),
    /// Choose the number of experts by the log marginal likelihood: fit
    /// K = 1, …, --experts and take the smallest K within one nat (and two
    /// standard errors over --replicates seeds) of the best.
    ChooseK(ChooseKArgs),
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
    /// Measure how far fits are from a reference fit of the same data
    /// (e.g. runs at many seeds against a long tempered Gibbs run): per
    /// fit, the RMS over rows of the difference of the final predictive
    /// means and the largest difference of the sorted allocation
    /// frequencies; then their median, 90 % quantile and largest value.
    /// With --max-rms or --max-allocation, fails (exit status 1) if any
    /// fit exceeds it.
    Compare(CompareArgs),
    /// Plot a run over t: one-step predictive mean ± 2 sd against y, ESS,
    /// mean gate probabilities.
    ///
    /// The run is a fit report (`hsmoe fit --json`, a `.json` file) or
    /// recorded telemetry (`hsmoe run --telemetry`, any other file name);
    /// `--data` gives y, read as the fit read it (a fit report records its
    /// data options; for telemetry give them as flags or take them from a
    /// saved model with `--model`). The image is PNG or SVG by the
    /// extension of `-o`.
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
    /// The experts' likelihood: `bernoulli` draws a 0/1 response from each
    /// expert's logistic regression on the same features and gate,
    /// `student` adds Student-t (4 degrees of freedom) noise.
    #[arg(long, default_value_t = Family::Gaussian, value_parser = family::parser())]
    pub family: Family,
    /// Output CSV; the truth goes beside it as NAME.truth.json (`-`:
    /// standard output, without the truth).
    #[arg(short, long)]
    pub output: PathBuf,
}

/// `hsmoe fit`.
#[derive(Debug, Args)]
#[command(mut_arg("experts", |a| a.required(true)))]
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
    /// The experts' likelihood (docs/model.md §10): `bernoulli` for a 0/1
    /// response (logistic experts; never standardized), `student` for
    /// robust experts (Student-t noise, 4 degrees of freedom). Every
    /// engine takes every family, but the Gibbs sampler cannot temper
    /// Bernoulli experts.
    #[arg(long, default_value_t = Family::Gaussian, value_parser = family::parser())]
    pub family: Family,
    /// Write the full report as JSON here (`-`: standard output, and the
    /// summary goes to standard error).
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
    /// Gibbs: independent chains, run in parallel; the report gives their
    /// split R-hat.
    #[arg(long, default_value_t = GibbsSettings::default().chains, value_parser = positive_usize)]
    pub chains: usize,
    /// Gibbs: tempered copies of every chain (parallel tempering of the
    /// experts' likelihood; 1 = plain Gibbs). Only the untempered copy is
    /// kept; the report gives the exchange acceptance between neighbours.
    #[arg(long, default_value_t = GibbsSettings::default().ladder.rungs, value_parser = positive_usize)]
    pub gibbs_rungs: usize,
    /// Gibbs: inverse temperature of the hottest copy, in (0, 1]; the
    /// others are spaced geometrically up to 1.
    #[arg(long, default_value_t = 0.05, value_parser = positive_finite::<f64>)]
    pub gibbs_hottest: f64,
    /// Rejuvenation of the particle engines.
    #[command(flatten)]
    pub moves: MoveArgs,
    /// Save the model here (core engine): the filter as it stands after
    /// the last row, before the report's final sweeps, with the data
    /// options, for `hsmoe predict` and `hsmoe update`.
    #[arg(long, value_name = "MODEL")]
    pub save: Option<PathBuf>,
}

/// `hsmoe update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The saved model to continue.
    #[arg(long)]
    pub model: PathBuf,
    /// The new rows (`-`: standard input), read with the model's data
    /// options (the same standardization as the fit's).
    #[arg(long = "data", value_name = "CSV")]
    pub data: PathBuf,
    /// Save the continued model here (may be the same file).
    #[arg(long, value_name = "MODEL")]
    pub save: Option<PathBuf>,
    /// Write the report of the new rows as JSON here (`-`: standard
    /// output); its log marginal is over every row the model has seen.
    #[arg(long)]
    pub json: Option<PathBuf>,
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
        Command::Predict(args) => predict::predict_command(&args),
        Command::Update(args) => update_command(&args),
        Command::ChooseK(args) => choose::command(&args),
        Command::Run(args) => {
            serial::kill_qemu_on_signals()?;
            let summary = run::run(&args)?;
            writeln!(std::io::stdout().lock(), "{summary}")?;
            Ok(())
        }
        Command::Decode(args) => telemetry::decode(&args),
        Command::Validate(args) => validate_command(&args),
        Command::Compare(args) => compare::command(&args),
        Command::Plot(args) => plot_command(&args),
        Command::Bench(args) => bench::bench(&args),
    }
}

fn simulate_command(args: &SimulateArgs) -> anyhow::Result<()> {
    let sim = simulate::simulate_family(args.design, args.family, args.n, args.seed);
    if output::is_stdout(&args.output) {
        return output::write(&args.output, simulate::csv(&sim)?.as_bytes());
    }
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
    let load = args.data.load_options_for(args.family);
    let loaded = read_noting_skips(&args.data.path, &load)?;
    let data = &loaded.data;
    let mut opts = args
        .model
        .fit_options(args.engine, data, !args.data.no_intercept)?;
    opts.family = args.family;
    opts.gibbs = GibbsSettings {
        iterations: args.gibbs_iterations,
        burn_in: args.gibbs_burn_in,
        thin: args.gibbs_thin,
        chains: args.chains,
        ladder: Ladder::new(args.gibbs_rungs, args.gibbs_hottest),
    };
    opts.progress = true;
    opts.moves = args.moves.moves()?;
    opts.islands = args.moves.islands(opts.n_particles);

    if args.save.is_some() && args.engine != EngineKind::Core {
        anyhow::bail!("--save needs --engine core (only the core filter has a saved form)");
    }
    let with = FitWith {
        save: args.save.is_some(),
        scaling: loaded.scaling.as_ref(),
        ..FitWith::default()
    };
    let (mut report, saved) =
        fit::fit_with(data, &opts, with).with_context(|| args.data.path.display().to_string())?;
    let recorded = load.recorded(&loaded);
    report.data = Some(recorded.clone());
    // Files first: a closed stdout must not lose them.
    let mut wrote = Vec::new();
    if let (Some(path), Some(states)) = (&args.save, saved) {
        let meta = model_meta(&report, &opts, recorded, 0);
        Model { meta, states }.save(path)?;
        wrote.push(path);
    }
    if let Some(path) = &args.json {
        output::write(path, (report.to_json() + "\n").as_bytes())?;
        wrote.extend(Some(path).filter(|p| !output::is_stdout(p)));
    }
    if let Some(path) = &args.plot {
        plot::plot(data, &report, path)?;
        wrote.push(path);
    }
    let mut out = output::messages(args.json.as_deref());
    writeln!(out, "{}", report.summary())?;
    for path in wrote {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}

/// What a saved model records of a fit (or an update) whose filter had
/// absorbed `before` rows before `report`'s.
fn model_meta(
    report: &FitReport<f64>,
    opts: &FitOptions,
    data: LoadOptions,
    before: usize,
) -> ModelMeta {
    ModelMeta {
        written_by: format!("hsmoe {}", env!("CARGO_PKG_VERSION")),
        data,
        feature_names: report.feature_names.clone(),
        engine: opts.engine,
        n_particles: opts.n_particles,
        k: opts.k,
        d: report.d,
        seed: opts.seed,
        prior: opts.config,
        n_obs: before + report.n_obs,
        log_marginal: report.log_marginal.unwrap_or(f64::NAN),
    }
}

fn update_command(args: &UpdateArgs) -> anyhow::Result<()> {
    let model = Model::load(&args.model)?;
    let meta = &model.meta;
    let loaded = read_noting_skips(&args.data, &model.load_options(false))?;
    let data = &loaded.data;
    let model_error = |kind| ModelError {
        path: args.model.clone(),
        kind,
    };
    let engine = model.engine().map_err(model_error)?;
    let mut opts = FitOptions::new(meta.engine, meta.k, meta.n_particles, meta.seed, data);
    opts.family = model.family().map_err(model_error)?;
    opts.config = meta.prior;
    opts.progress = true;
    opts.moves = model
        .states
        .first()
        .and_then(|s| s.moves.as_ref())
        .map(|m| m.report.options)
        .into();
    opts.islands = model.states.len();
    let with = FitWith {
        engine: Some((engine, meta.n_obs)),
        save: args.save.is_some(),
        scaling: model.scaling(),
    };
    let (mut report, saved) =
        fit::fit_with(data, &opts, with).with_context(|| args.data.display().to_string())?;
    report.data = Some(meta.data.clone());
    let mut wrote = Vec::new();
    if let (Some(path), Some(states)) = (&args.save, saved) {
        let meta = model_meta(&report, &opts, meta.data.clone(), meta.n_obs);
        Model { meta, states }.save(path)?;
        wrote.push(path);
    }
    if let Some(path) = &args.json {
        output::write(path, (report.to_json() + "\n").as_bytes())?;
        wrote.extend(Some(path).filter(|p| !output::is_stdout(p)));
    }
    let mut out = output::messages(args.json.as_deref());
    writeln!(out, "{}", report.summary())?;
    for path in wrote {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}

fn validate_command(args: &ValidateArgs) -> anyhow::Result<()> {
    let validation = validate::validate(args)?;
    output::table_and_json(
        args.json.as_deref(),
        || Ok(validation.to_json()),
        &validation.table(),
    )?;
    anyhow::ensure!(
        validation.passed(),
        "validation failed: {}",
        validation.failures.join("; ")
    );
    Ok(())
}

fn plot_command(args: &PlotArgs) -> anyhow::Result<()> {
    let trace = Trace::read(&args.input)?;
    // The fit's own data options, when it recorded them, over the flags.
    let recorded = match &args.model {
        Some(path) => Some(Model::load(path)?.meta.data),
        None => Trace::recorded_data_options(&args.input),
    };
    let opts = recorded.unwrap_or_else(|| args.data.load_options());
    let data = read_noting_skips(&args.data.path, &opts)?.data;
    plot::plot_trace(&trace, &data.y, &args.output)?;
    writeln!(std::io::stdout().lock(), "wrote {}", args.output.display())?;
    Ok(())
}
