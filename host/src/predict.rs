//! `hsmoe predict`: a saved model's posterior predictive at new rows, in
//! the data's original units, with the router's top-k experts
//! (docs/model.md §8).
//!
//! The model holds the filter as the continuing filter would use it (no
//! report-time final sweeps), so its prediction at a row is, bit for
//! bit, the one-step-ahead predictive that an uninterrupted fit would
//! have made for that row next.

use crate::args::read_noting_skips;
use crate::engine::EngineError;
use crate::mixture::mixture_quantile;
use crate::model::Model;
use crate::output;
use anyhow::{bail, Context as _};
use clap::Args;
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Rows whose predictive mixtures are held at once for the quantile search.
const QUANTILE_CHUNK: usize = 64;

/// `hsmoe predict`.
#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// The saved model (`hsmoe fit --save`).
    #[arg(long)]
    pub model: PathBuf,
    /// CSV rows to predict (`-`: standard input), read with the model's
    /// data options; the response column may be absent.
    #[arg(long = "data", value_name = "CSV")]
    pub data: PathBuf,
    /// Quantiles of the predictive to report, each in (0, 1); none for a
    /// model of Bernoulli experts, whose mean is P(y = 1).
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.5,0.95", value_parser = probability)]
    pub quantiles: Vec<f64>,
    /// Route each row to this many experts, ranked by router score.
    #[arg(long, default_value_t = 1, value_parser = crate::args::positive_usize)]
    pub top_k: usize,
    /// Router score of expert k: mean − ALPHA·sd of its gate probability
    /// over particles (larger ALPHA prefers experts the posterior is sure of).
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Write the rows as CSV here (`-`: standard output); the default when
    /// neither --csv nor --json is given is CSV on standard output.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write the rows as JSON here (`-`: standard output).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Parses a probability strictly between 0 and 1 (clap value parser).
fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p < 1.0 => Ok(p),
        _ => Err(format!("{s:?} is not a number strictly between 0 and 1")),
    }
}

/// One predicted row, in original units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictedRow {
    /// 1-based row of the rows used (rows skipped by `--drop-missing`
    /// are not counted).
    pub row: usize,
    /// The observed response, if the file has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<f64>,
    /// Predictive mean.
    pub mean: f64,
    /// Predictive standard deviation.
    pub sd: f64,
    /// The requested quantiles of the predictive mixture.
    pub quantiles: Vec<f64>,
    /// Particle-mean gate probability of each expert.
    pub gate: Vec<f64>,
    /// Router score of each expert: gate mean − α·gate sd.
    pub score: Vec<f64>,
    /// The `top_k` experts (1-based), best score first.
    pub top: Vec<usize>,
}

/// The output of `hsmoe predict --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Predictions {
    /// The model file.
    pub model: String,
    /// Rows the model had absorbed.
    pub model_rows: usize,
    /// The quantile levels, in the order of each row's `quantiles`.
    pub quantile_levels: Vec<f64>,
    /// Experts routed to per row.
    pub top_k: usize,
    /// The router's α.
    pub alpha: f64,
    /// One entry per data row.
    pub rows: Vec<PredictedRow>,
}

impl Predictions {
    /// The rows as CSV: `row,[y,]mean,sd,q…,gate_k…,score_k…,top`, with
    /// the top experts separated by spaces.
    pub fn to_csv(&self) -> String {
        let k = self.rows.first().map_or(0, |r| r.gate.len());
        let has_y = self.rows.first().is_some_and(|r| r.y.is_some());
        let mut header = vec!["row".to_owned()];
        header.extend(has_y.then(|| "y".to_owned()));
        header.extend(["mean".to_owned(), "sd".to_owned()]);
        header.extend(self.quantile_levels.iter().map(|p| format!("q{p}")));
        header.extend((1..=k).map(|j| format!("gate_{j}")));
        header.extend((1..=k).map(|j| format!("score_{j}")));
        header.push("top".to_owned());
        let mut text = header.join(",") + "\n";
        for r in &self.rows {
            let mut fields = vec![r.row.to_string()];
            fields.extend(r.y.map(|y| y.to_string()));
            fields.extend([r.mean, r.sd].iter().map(f64::to_string));
            fields.extend(
                r.quantiles
                    .iter()
                    .chain(&r.gate)
                    .chain(&r.score)
                    .map(f64::to_string),
            );
            let top: Vec<String> = r.top.iter().map(usize::to_string).collect();
            fields.push(top.join(" "));
            let _ = writeln!(text, "{}", fields.join(","));
        }
        text
    }
}

/// The experts' 1-based indices by decreasing score (ties: lower index
/// first), the first `top_k`.
///
/// # Examples
/// ```
/// assert_eq!(hsmoe_host::predict::top_experts(&[0.2, 0.5, 0.5, 0.1], 2), [2, 3]);
/// ```
pub fn top_experts(score: &[f64], top_k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    order.into_iter().take(top_k).map(|k| k + 1).collect()
}

/// Predicts every row of `args.data` with the model in `args.model`.
///
/// # Errors
/// A model file that cannot be read ([`crate::model::ModelError`]), a
/// data file that does not have the model's feature columns, `--top-k`
/// above K.
pub fn predict(args: &PredictArgs) -> anyhow::Result<Predictions> {
    let model = Model::load(&args.model)?;
    let meta = &model.meta;
    if args.top_k > meta.k {
        bail!(
            "--top-k {} exceeds the model's {} experts",
            args.top_k,
            meta.k
        );
    }
    let load_options = model.load_options(true);
    // A 0/1 response has no useful quantiles: its mean is P(y = 1).
    let quantile_levels = if load_options.binary_response {
        Vec::new()
    } else {
        args.quantiles.clone()
    };
    let loaded = read_noting_skips(&args.data, &load_options)?;
    let data = &loaded.data;
    let engine = model.engine().map_err(|kind| crate::model::ModelError {
        path: args.model.clone(),
        kind,
    })?;
    let scaling = model.scaling();
    let (y_mean, y_sd) = scaling.map_or((0.0, 1.0), |s| (s.y_mean, s.y_sd));
    let original = |v: f64| v * y_sd + y_mean;
    let mut rows = Vec::with_capacity(data.x.len());
    // The engine is read row by row; the quantiles, the costly part, are
    // searched in parallel over a chunk of rows at a time.
    for (chunk_index, chunk) in data.x.chunks(QUANTILE_CHUNK).enumerate() {
        let first = chunk_index * QUANTILE_CHUNK;
        let answers = chunk
            .iter()
            .enumerate()
            .map(|(i, x)| -> Result<_, EngineError> {
                let (p, gate) = engine.predict(x)?;
                let router = engine.router(x)?;
                let mixture = if quantile_levels.is_empty() {
                    Vec::new()
                } else {
                    engine.mixture(x)?
                };
                Ok((first + i, p, gate, router, mixture))
            })
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{}: predicting", args.data.display()))?;
        let predicted: Vec<PredictedRow> = answers
            .into_par_iter()
            .map(|(t, p, gate, router, mixture)| {
                let score: Vec<f64> = router
                    .gate_mean
                    .iter()
                    .zip(&router.gate_sd)
                    .map(|(m, s)| m - args.alpha * s)
                    .collect();
                PredictedRow {
                    row: t + 1,
                    y: data.y.get(t).map(|&y| original(y)),
                    // Without standardization these are the engine's
                    // values exactly (y_sd = 1, y_mean = 0).
                    mean: original(p.mean),
                    sd: p.var.sqrt() * y_sd,
                    quantiles: quantile_levels
                        .iter()
                        .map(|&q| original(mixture_quantile(&mixture, q)))
                        .collect(),
                    gate,
                    top: top_experts(&score, args.top_k),
                    score,
                }
            })
            .collect();
        rows.extend(predicted);
    }
    Ok(Predictions {
        model: args.model.display().to_string(),
        model_rows: meta.n_obs,
        quantile_levels,
        top_k: args.top_k,
        alpha: args.alpha,
        rows,
    })
}

/// `hsmoe predict`: predicts and writes the rows where asked.
///
/// # Errors
/// As [`predict`], and a file that cannot be written.
pub fn predict_command(args: &PredictArgs) -> anyhow::Result<()> {
    let predictions = predict(args)?;
    if let Some(path) = &args.json {
        let json = output::json(&predictions)?;
        output::write(path, (json + "\n").as_bytes())?;
    }
    let csv = match (&args.csv, &args.json) {
        (Some(path), _) => Some(path.clone()),
        (None, None) => Some(PathBuf::from(output::STDOUT)),
        (None, Some(_)) => None,
    };
    if let Some(path) = &csv {
        output::write(path, predictions.to_csv().as_bytes())?;
    }
    let quiet = [&csv, &args.json]
        .iter()
        .any(|p| p.as_deref().is_some_and(output::is_stdout));
    if !quiet {
        for path in [&args.csv, &args.json].into_iter().flatten() {
            println!("wrote {} ({} rows)", path.display(), predictions.rows.len());
        }
    }
    Ok(())
}
