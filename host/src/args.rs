//! Command-line arguments shared by several commands, and the value
//! parsers the commands' flags use.

use crate::data::{self, Dataset, LoadOptions, Loaded};
use crate::engine::EngineKind;
use crate::family::Family;
use crate::fit::FitOptions;
use clap::Args;
use std::path::{Path, PathBuf};

/// The data file and how it is prepared (`--data`, `--y`, `--features`,
/// `--drop-missing`, `--no-intercept`, `--standardize`); shared by `fit`,
/// `run`, `validate` and `plot`.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// CSV data file with a header row (`-`: standard input). A first
    /// column without a name (pandas' row index) is ignored.
    #[arg(long = "data", value_name = "CSV")]
    pub path: PathBuf,
    /// The response column.
    #[arg(long = "y", value_name = "NAME", default_value = "y")]
    pub y: String,
    /// The feature columns, in this order [default: every other column].
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Skip rows with a missing value (empty, NA, NaN, null) in a used
    /// column, and say which; without it such a row is an error.
    #[arg(long)]
    pub drop_missing: bool,
    /// Do not add an intercept column of ones as the first feature.
    #[arg(long)]
    pub no_intercept: bool,
    /// Z-score every feature column and y over the whole file first.
    #[arg(long)]
    pub standardize: bool,
}

impl DataArgs {
    /// `path` read with every default (response `y`, every other column a
    /// feature, intercept on, no standardization).
    ///
    /// # Examples
    /// ```
    /// let args = hsmoe_host::args::DataArgs::file("d.csv".into());
    /// assert_eq!(args.load_options(), hsmoe_host::data::LoadOptions::default());
    /// ```
    pub fn file(path: PathBuf) -> DataArgs {
        DataArgs {
            path,
            y: "y".to_owned(),
            features: None,
            drop_missing: false,
            no_intercept: false,
            standardize: false,
        }
    }

    /// How the flags ask for the file to be read.
    ///
    /// # Examples
    /// ```
    /// use clap::Parser;
    /// use hsmoe_host::args::DataArgs;
    /// #[derive(Parser)]
    /// struct Cmd {
    ///     #[command(flatten)]
    ///     data: DataArgs,
    /// }
    /// let cmd = Cmd::parse_from(["x", "--data", "d.csv", "--no-intercept", "--features", "a,b"]);
    /// let opts = cmd.data.load_options();
    /// assert!(!opts.intercept && !opts.standardize);
    /// assert_eq!(opts.features.unwrap(), ["a", "b"]);
    /// ```
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            intercept: !self.no_intercept,
            standardize: self.standardize,
            y: self.y.clone(),
            features: self.features.clone(),
            drop_missing: self.drop_missing,
            ..LoadOptions::default()
        }
    }

    /// Loads the file as the flags ask; rows skipped for a missing value
    /// are listed on stderr.
    ///
    /// # Errors
    /// The file's [`data::DataError`], naming the file, line and column.
    pub fn load(&self) -> anyhow::Result<Dataset> {
        Ok(self.read()?.data)
    }

    /// [`DataArgs::load`], keeping what the loader recorded (the
    /// standardization's moments, the rows skipped).
    ///
    /// # Errors
    /// As [`DataArgs::load`].
    pub fn read(&self) -> anyhow::Result<Loaded> {
        read_noting_skips(&self.path, &self.load_options())
    }

    /// [`DataArgs::read`] for experts of `family`: a Bernoulli response
    /// must be 0 or 1 and is never standardized.
    ///
    /// # Errors
    /// As [`DataArgs::load`].
    pub fn read_for(&self, family: Family) -> anyhow::Result<Loaded> {
        read_noting_skips(&self.path, &self.load_options_for(family))
    }

    /// [`DataArgs::load_options`] for experts of `family`.
    pub fn load_options_for(&self, family: Family) -> LoadOptions {
        LoadOptions {
            binary_response: family.binary_response(),
            ..self.load_options()
        }
    }
}

/// [`data::read`], listing rows skipped for a missing value on stderr.
///
/// # Errors
/// The file's [`data::DataError`], naming the file, line and column.
pub fn read_noting_skips(path: &Path, opts: &LoadOptions) -> anyhow::Result<Loaded> {
    let loaded = data::read(path, opts)?;
    if let Some(note) = loaded.skipped_note(path) {
        eprintln!("hsmoe: {note}");
    }
    Ok(loaded)
}

/// Particles N when `--particles` is not given.
pub const DEFAULT_PARTICLES: usize = 1000;

/// Model sizes, seed and prior (`--experts`, `--particles`, `--seed`,
/// `--prior-*`, `--refresh`, `--resample-ess`); shared by `fit` and `validate`. A command
/// that needs `--experts` makes it required (`fit`), or takes it from a
/// recording (`validate --telemetry`).
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Number of experts K.
    #[arg(long, value_parser = positive_usize)]
    pub experts: Option<usize>,
    /// Number of particles N (core, reference) [default: 1000].
    #[arg(long, value_parser = positive_usize)]
    pub particles: Option<usize>,
    /// Seed of the random stream.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Prior scale of expert coefficients, V0 = v0·I [default: 10].
    #[arg(long, value_parser = positive_finite::<f32>)]
    pub prior_v0: Option<f32>,
    /// Inverse-gamma shape of expert noise variances [default: 2].
    #[arg(long, value_parser = positive_finite::<f32>)]
    pub prior_a0: Option<f32>,
    /// Inverse-gamma scale of expert noise variances [default: 1].
    #[arg(long, value_parser = positive_finite::<f32>)]
    pub prior_b0: Option<f32>,
    /// Prior sd of the unshrunk gate intercepts [default: 2].
    #[arg(long, value_parser = positive_finite::<f32>)]
    pub prior_s0: Option<f32>,
    /// Refresh horseshoe scales every R observations [default: d].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub refresh: Option<u32>,
    /// Core engine: resample when a step's ESS is below this fraction of
    /// N, else carry the weights (1: every step, as the device by default;
    /// 0: never) [default: 1].
    #[arg(long, value_parser = unit_interval)]
    pub resample_ess: Option<f32>,
}

impl ModelArgs {
    /// The fit options of `engine` on `data`: these sizes and seed, the
    /// default prior (docs/model.md §1) with the flags' overrides, and the
    /// gate intercept on exactly when `data` was loaded with the intercept
    /// column.
    ///
    /// # Examples
    /// ```
    /// use clap::Parser;
    /// use hsmoe_host::{args::ModelArgs, engine::EngineKind, simulate};
    /// #[derive(Parser)]
    /// struct Cmd {
    ///     #[command(flatten)]
    ///     model: ModelArgs,
    /// }
    /// let cmd = Cmd::parse_from(["x", "--experts", "3", "--prior-b0", "0.5"]);
    /// let data = simulate::simulate(simulate::Design::Linear, 10, 1).dataset(true);
    /// let opts = cmd.model.fit_options(EngineKind::Core, &data, true).unwrap();
    /// assert_eq!((opts.k, opts.n_particles, opts.seed), (3, 1000, 1));
    /// assert_eq!((opts.config.b0, opts.config.a0), (0.5, 2.0));
    /// assert!(opts.config.gate_intercept);
    /// let none = Cmd::parse_from(["x"]).model.fit_options(EngineKind::Core, &data, true);
    /// assert!(none.unwrap_err().to_string().contains("--experts K"));
    /// ```
    ///
    /// # Errors
    /// No `--experts`.
    pub fn fit_options(
        &self,
        engine: EngineKind,
        data: &Dataset,
        intercept: bool,
    ) -> anyhow::Result<FitOptions> {
        let k = self
            .experts
            .ok_or_else(|| anyhow::anyhow!("give the number of experts with --experts K"))?;
        let n = self.particles.unwrap_or(DEFAULT_PARTICLES);
        let mut opts = FitOptions::new(engine, k, n, self.seed, data);
        let config = &mut opts.config;
        config.gate_intercept = intercept;
        config.v0 = self.prior_v0.unwrap_or(config.v0);
        config.a0 = self.prior_a0.unwrap_or(config.a0);
        config.b0 = self.prior_b0.unwrap_or(config.b0);
        config.s0 = self.prior_s0.unwrap_or(config.s0);
        config.refresh_every = self.refresh.unwrap_or(config.refresh_every);
        config.resample_ess = self.resample_ess.unwrap_or(config.resample_ess);
        Ok(opts)
    }
}

/// Parses a whole number ≥ 1 (clap value parser).
pub fn positive_usize(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("{s:?} is not a whole number ≥ 1")),
    }
}

/// Parses a finite number > 0 (clap value parser), as `f32` or `f64`.
///
/// # Examples
/// ```
/// use hsmoe_host::args::positive_finite;
/// assert_eq!(positive_finite::<f32>("0.5"), Ok(0.5));
/// assert!(positive_finite::<f64>("0").is_err());
/// assert!(positive_finite::<f64>("inf").is_err());
/// ```
pub fn positive_finite<T: std::str::FromStr + Copy + Into<f64>>(s: &str) -> Result<T, String> {
    match s.parse::<T>() {
        Ok(v) if v.into().is_finite() && v.into() > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a finite number > 0")),
    }
}

/// Parses a number in `[0, 1]` (clap value parser).
///
/// # Examples
/// ```
/// use hsmoe_host::args::unit_interval;
/// assert_eq!(unit_interval("0.5"), Ok(0.5));
/// assert!(unit_interval("1.5").is_err());
/// assert!(unit_interval("NaN").is_err());
/// ```
pub fn unit_interval(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number in [0, 1]")),
    }
}

/// Parses a whole number ≥ 2 (clap value parser).
pub fn at_least_two(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 2 => Ok(v),
        _ => Err(format!("{s:?} is not a whole number ≥ 2")),
    }
}
