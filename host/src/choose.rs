//! `hsmoe choose-k`: the number of experts by the log marginal likelihood
//! (docs/model.md §8, "Choosing K").
//!
//! Each K = 1, …, K_max is fitted with the same data, prior and particle
//! engine, at one or more seeds. The rule is parsimonious: take the
//! *smallest* K whose log marginal is within a margin of the best K's,
//! where the margin is the larger of
//!
//! - one nat: a Bayes factor below e is "not worth more than a bare
//!   mention" (Kass and Raftery, 1995, whose scale is 2 ln B < 2), so a
//!   larger model must win by more than that to be preferred; and
//! - two standard errors of the difference over the seeds, when there are
//!   several, so Monte Carlo noise alone cannot pick a larger K.
//!
//! The arg-max itself is not stable where the evidence curve is flat: on
//! the motorcycle data K = 4, 5 and 6 are within about half a nat and the
//! arg-max moves between them from seed to seed, while the rule picks the
//! same K on every seed (`tests/tests/choose_k.rs`).

use crate::args::{positive_usize, DataArgs, ModelArgs};
use crate::data::Dataset;
use crate::engine::EngineKind;
use crate::fit::{self, FitOptions};
use crate::moves::MoveArgs;
use crate::output;
use anyhow::Context as _;
use clap::Args;
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The least margin, in nats, by which a larger K must beat a smaller one.
pub const MIN_MARGIN_NATS: f64 = 1.0;

/// `hsmoe choose-k`.
#[derive(Debug, Args)]
#[command(mut_arg("experts", |a| a
    .required(true)
    .help("Largest number of experts tried: K = 1, …, this")))]
pub struct ChooseKArgs {
    /// The data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Sizes, first seed and prior.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The particle engine: the f32 core or the f64 reference.
    #[arg(long, value_enum, default_value_t = EngineKind::Core)]
    pub engine: EngineKind,
    /// Seeds per K: `--seed`, `--seed + 1`, …; with two or more the margin
    /// also covers two standard errors of each difference.
    #[arg(long, default_value_t = 1, value_parser = positive_usize)]
    pub replicates: usize,
    /// Write the table and the choice as JSON here (`-`: standard output).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Rejuvenation of the particle engines.
    #[command(flatten)]
    pub moves: MoveArgs,
}

/// One K's log marginal likelihoods over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Number of experts.
    pub k: usize,
    /// `Σ_t ln p̂(y_t | past)`, one per seed, in seed order.
    pub log_marginals: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// Standard error of the mean (`None` for one seed).
    pub standard_error: Option<f64>,
}

impl Candidate {
    fn new(k: usize, log_marginals: Vec<f64>) -> Self {
        let r = log_marginals.len() as f64;
        let mean = log_marginals.iter().sum::<f64>() / r;
        let standard_error = (log_marginals.len() > 1).then(|| {
            let ss: f64 = log_marginals.iter().map(|v| (v - mean).powi(2)).sum();
            (ss / (r - 1.0) / r).sqrt()
        });
        Candidate {
            k,
            log_marginals,
            mean,
            standard_error,
        }
    }
}

/// The table and the K it picks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// One row per K, K = 1, 2, ….
    pub candidates: Vec<Candidate>,
    /// The K with the largest mean log marginal.
    pub best_k: usize,
    /// The smallest K within the margin of the best: the answer.
    pub chosen_k: usize,
    /// The margin applied to the chosen K, in nats.
    pub margin: f64,
    /// Seeds used per K.
    pub seeds: Vec<u64>,
}

impl Choice {
    /// Applies the rule (module docs) to `candidates`, ordered by K.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::choose::{Candidate, Choice};
    /// let row = |k, lm: &[f64]| Candidate { k, log_marginals: lm.to_vec(), mean: lm[0], standard_error: None };
    /// let choice = Choice::pick(vec![row(1, &[-150.0]), row(2, &[-131.3]), row(3, &[-130.9])], vec![1]);
    /// assert_eq!((choice.best_k, choice.chosen_k), (3, 2));
    /// ```
    ///
    /// # Panics
    /// On an empty table (the command always fits K = 1 at least).
    pub fn pick(candidates: Vec<Candidate>, seeds: Vec<u64>) -> Self {
        let best = candidates
            .iter()
            .max_by(|a, b| a.mean.total_cmp(&b.mean))
            .expect("at least one K");
        let margin_to = |c: &Candidate| {
            let se = match (c.standard_error, best.standard_error) {
                (Some(a), Some(b)) => (a * a + b * b).sqrt(),
                _ => 0.0,
            };
            MIN_MARGIN_NATS.max(2.0 * se)
        };
        let chosen = candidates
            .iter()
            .find(|c| c.mean >= best.mean - margin_to(c))
            .unwrap_or(best);
        Choice {
            best_k: best.k,
            chosen_k: chosen.k,
            margin: margin_to(chosen),
            seeds,
            candidates,
        }
    }

    /// The table for the terminal.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "  K   log marginal (mean ± SE over seeds {:?})",
            self.seeds
        );
        for c in &self.candidates {
            let se = c
                .standard_error
                .map_or_else(String::new, |se| format!(" ± {se:.2}"));
            let mark = match (c.k == self.chosen_k, c.k == self.best_k) {
                (true, true) => "  ← chosen (best)",
                (true, false) => "  ← chosen",
                (false, true) => "  ← best",
                (false, false) => "",
            };
            let _ = writeln!(s, "{:>3}   {:.2}{se}{mark}", c.k, c.mean);
        }
        let _ = write!(
            s,
            "K = {}: the smallest K within {:.2} nats of the best (K = {})",
            self.chosen_k, self.margin, self.best_k
        );
        s
    }
}

/// Fits K = 1, …, `k_max` at `replicates` seeds from `base.seed` (in
/// parallel; each fit's result does not depend on the thread count) and
/// applies the rule.
///
/// # Errors
/// A fit fails, or `base` is the Gibbs engine (it has no evidence).
pub fn choose_k(
    data: &Dataset,
    base: &FitOptions,
    k_max: usize,
    replicates: usize,
) -> anyhow::Result<Choice> {
    anyhow::ensure!(
        base.engine != EngineKind::Gibbs,
        "choose-k needs a particle engine (core or reference): gibbs does not estimate the evidence"
    );
    let seeds: Vec<u64> = (0..replicates as u64).map(|r| base.seed + r).collect();
    let runs: Vec<(usize, u64)> = (1..=k_max)
        .flat_map(|k| seeds.iter().map(move |&s| (k, s)))
        .collect();
    let log_marginals = runs
        .par_iter()
        .map(|&(k, seed)| {
            let opts = FitOptions { k, seed, ..*base };
            let report = fit::fit(data, &opts).with_context(|| format!("K = {k}, seed {seed}"))?;
            report
                .log_marginal
                .ok_or_else(|| anyhow::anyhow!("K = {k}: the engine gave no log marginal"))
        })
        .collect::<anyhow::Result<Vec<f64>>>()?;
    let candidates = log_marginals
        .chunks(replicates)
        .zip(1..)
        .map(|(lm, k)| Candidate::new(k, lm.to_vec()))
        .collect();
    Ok(Choice::pick(candidates, seeds))
}

/// `hsmoe choose-k`.
///
/// # Errors
/// The data or a fit fails, or an output cannot be written.
pub fn command(args: &ChooseKArgs) -> anyhow::Result<()> {
    let data = args.data.load()?;
    let mut base = args
        .model
        .fit_options(args.engine, &data, !args.data.no_intercept)?;
    base.moves = args.moves.moves()?;
    base.islands = args.moves.islands(base.n_particles);
    let choice = choose_k(&data, &base, base.k, args.replicates)
        .with_context(|| args.data.path.display().to_string())?;
    output::table_and_json(
        args.json.as_deref(),
        || Ok(output::json(&choice)?),
        &choice.table(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(k: usize, lm: &[f64]) -> Candidate {
        Candidate::new(k, lm.to_vec())
    }

    #[test]
    fn a_larger_k_must_win_by_a_nat() {
        let c = Choice::pick(vec![row(1, &[-10.0]), row(2, &[-8.9])], vec![1]);
        assert_eq!(c.chosen_k, 2);
        let c = Choice::pick(vec![row(1, &[-10.0]), row(2, &[-9.1])], vec![1]);
        assert_eq!((c.best_k, c.chosen_k), (2, 1));
    }

    #[test]
    fn noisy_seeds_widen_the_margin() {
        // Differences of 1.5 nats, but SE ≈ 1.5 per K: not evidence.
        let c = Choice::pick(
            vec![row(1, &[-12.0, -9.0, -10.5]), row(2, &[-10.5, -7.5, -9.0])],
            vec![1, 2, 3],
        );
        assert_eq!((c.best_k, c.chosen_k), (2, 1));
        assert!(c.margin > 2.0, "{}", c.margin);
    }
}
