//! `hsmoe compare`: how far fits are from a reference fit of the same
//! data, e.g. particle-filter runs at many seeds against a long tempered
//! Gibbs run, the batch posterior they target (docs/model.md §9).
//!
//! Two label-free distances per fit:
//!
//! - the RMS over rows of the difference between the final posterior
//!   predictive means at each row's `x` (the function the fit learned);
//! - the largest difference between the sorted allocation frequencies
//!   (how the data is shared out among the experts).
//!
//! A particle filter's error varies heavily from seed to seed, so one run
//! says little: give many fits and read the quantiles and the count
//! within a tolerance. The reference has Monte Carlo error of its own;
//! two independent reference runs compared with each other show its size.

use crate::args::positive_finite;
use crate::fit::FitReport;
use crate::output;
use anyhow::{ensure, Context as _};
use clap::Args;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// `hsmoe compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference fit report (`hsmoe fit --json`), e.g. a long
    /// tempered Gibbs run (`--engine gibbs --gibbs-rungs 20`).
    #[arg(long)]
    pub reference: PathBuf,
    /// Fit reports of the same data to compare with the reference.
    #[arg(required = true)]
    pub fits: Vec<PathBuf>,
    /// Fail (exit status 1) if any fit's predictive-mean RMS exceeds this.
    #[arg(long, value_parser = positive_finite::<f64>)]
    pub max_rms: Option<f64>,
    /// Fail (exit status 1) if any fit's sorted allocation frequencies
    /// differ from the reference's by more than this.
    #[arg(long, value_parser = positive_finite::<f64>)]
    pub max_allocation: Option<f64>,
    /// Also write the comparison as JSON (`-` for stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One fit's distance from the reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distance {
    /// The fit report's file.
    pub fit: String,
    /// Its seed.
    pub seed: u64,
    /// Its particles (`None` for gibbs).
    pub n_particles: Option<usize>,
    /// Its log marginal likelihood (`None` for gibbs).
    pub log_marginal: Option<f64>,
    /// RMS over rows of the difference of the final predictive means.
    pub predictive_rms: f64,
    /// Largest |difference| of the sorted allocation frequencies.
    pub allocation_max: f64,
}

impl Distance {
    /// The distance of `fit` from `reference`.
    ///
    /// # Errors
    /// The two do not describe the same data and model: different rows,
    /// features or experts, data read differently (e.g. one standardized),
    /// or a final predictive mean that is not finite (the row is named).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::{compare::Distance, engine::EngineKind, fit, simulate};
    /// let data = simulate::simulate(simulate::Design::Linear, 30, 1).dataset(true);
    /// let run = |seed| fit::fit(&data, &fit::FitOptions::new(EngineKind::Core, 2, 50, seed, &data)).unwrap();
    /// // Two experts: the final posterior depends on the seed (with one it is exact).
    /// let (a, b) = (run(1), run(2));
    /// let same = Distance::between(&a, &a, "a").unwrap();
    /// assert_eq!((same.predictive_rms, same.allocation_max), (0.0, 0.0));
    /// assert!(Distance::between(&a, &b, "b").unwrap().predictive_rms > 0.0);
    /// ```
    pub fn between(
        reference: &FitReport<f64>,
        fit: &FitReport<f64>,
        name: &str,
    ) -> anyhow::Result<Distance> {
        let shape = |r: &FitReport<f64>| (r.n_obs, r.d, r.k, r.final_.predictive.len());
        let (ours, theirs) = (shape(fit), shape(reference));
        ensure!(
            ours == theirs,
            "{name}: rows, features, experts, predictive rows {ours:?} differ from the reference's {theirs:?}"
        );
        if let (Some(ours), Some(theirs)) = (&fit.data, &reference.data) {
            ensure!(
                ours == theirs,
                "{name}: the data was read differently from the reference's \
                 (file options or standardization differ)"
            );
        }
        let mut sum_sq = 0.0;
        let rows = &fit.final_.predictive;
        for (row, (ours, theirs)) in rows.iter().zip(&reference.final_.predictive).enumerate() {
            ensure!(
                ours.mean.is_finite() && theirs.mean.is_finite(),
                "{name}: row {row}: predictive mean {} against the reference's {}",
                ours.mean,
                theirs.mean
            );
            sum_sq += (ours.mean - theirs.mean).powi(2);
        }
        let (ours, theirs) = (
            &fit.final_.allocation_freq_sorted,
            &reference.final_.allocation_freq_sorted,
        );
        ensure!(
            ours.len() == theirs.len() && ours.iter().chain(theirs).all(|v| v.is_finite()),
            "{name}: sorted allocation frequencies {ours:?} against the reference's {theirs:?}"
        );
        let allocation_max = ours
            .iter()
            .zip(theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        Ok(Distance {
            fit: name.to_string(),
            seed: fit.seed,
            n_particles: fit.n_particles,
            log_marginal: fit.log_marginal,
            predictive_rms: (sum_sq / rows.len().max(1) as f64).sqrt(),
            allocation_max,
        })
    }
}

/// Every fit's distance, their quantiles and the tolerances' verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The reference fit report's file.
    pub reference: String,
    /// One per fit, in the order given.
    pub fits: Vec<Distance>,
    /// The tolerance on the predictive-mean RMS, if any.
    pub max_rms: Option<f64>,
    /// The tolerance on the allocation frequencies, if any.
    pub max_allocation: Option<f64>,
}

impl Comparison {
    /// Fits whose distances exceed a tolerance, with what and by how much.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in &self.fits {
            let checks = [
                ("predictive-mean RMS", d.predictive_rms, self.max_rms),
                (
                    "allocation difference",
                    d.allocation_max,
                    self.max_allocation,
                ),
            ];
            for (what, value, tolerance) in checks {
                if let Some(tol) = tolerance.filter(|&tol| value.is_nan() || value > tol) {
                    out.push(format!("{}: {what} {value:.4} > {tol}", d.fit));
                }
            }
        }
        out
    }

    /// One line per fit, then the quantiles of each distance over the fits.
    pub fn table(&self) -> String {
        let mut s = format!(
            "reference {}\n{:<40} {:>6} {:>9} {:>13} {:>15} {:>10}\n",
            self.reference,
            "fit",
            "seed",
            "particles",
            "log marginal",
            "predictive RMS",
            "allocation"
        );
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        for d in &self.fits {
            let _ = writeln!(
                s,
                "{:<40} {:>6} {:>9} {:>13} {:>15.4} {:>10.4}",
                d.fit,
                d.seed,
                or_dash(d.n_particles.map(|n| n.to_string())),
                or_dash(d.log_marginal.map(|l| format!("{l:.2}"))),
                d.predictive_rms,
                d.allocation_max
            );
        }
        let rms = self.fits.iter().map(|d| d.predictive_rms).collect();
        let allocation = self.fits.iter().map(|d| d.allocation_max).collect();
        let columns: [(_, _, Vec<f64>); 2] = [
            ("predictive RMS", self.max_rms, rms),
            ("allocation", self.max_allocation, allocation),
        ];
        for (what, tolerance, mut values) in columns {
            values.sort_by(f64::total_cmp);
            let _ = write!(
                s,
                "{what}: median {:.4}, 90 % {:.4}, largest {:.4} over {} fits",
                quantile(&values, 0.5),
                quantile(&values, 0.9),
                quantile(&values, 1.0),
                values.len()
            );
            if let Some(tol) = tolerance {
                let within = values.iter().filter(|&&v| v <= tol).count();
                let _ = write!(s, "; {within} within {tol}");
            }
            s.push('\n');
        }
        s
    }
}

/// The `q`-quantile of sorted `values` by the nearest rank (the smallest
/// value with at least a share `q` of the values at or below it); NaN if
/// there are none.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or(f64::NAN)
}

/// Reads the reference and every fit and measures each fit's distance.
///
/// # Errors
/// A file cannot be read or is not a fit report, or a fit does not match
/// the reference's data and model (see [`Distance::between`]).
pub fn compare(args: &CompareArgs) -> anyhow::Result<Comparison> {
    let reference = FitReport::read(&args.reference)?;
    let fits = args
        .fits
        .iter()
        .map(|path| {
            let fit = FitReport::read(path)?;
            Distance::between(&reference, &fit, &path.display().to_string())
        })
        .collect::<anyhow::Result<_>>()
        .with_context(|| format!("against {}", args.reference.display()))?;
    Ok(Comparison {
        reference: args.reference.display().to_string(),
        fits,
        max_rms: args.max_rms,
        max_allocation: args.max_allocation,
    })
}

/// `hsmoe compare`: prints the table (and writes the JSON); fails if a fit
/// exceeds a tolerance.
pub fn command(args: &CompareArgs) -> anyhow::Result<()> {
    let comparison = compare(args)?;
    output::table_and_json(
        args.json.as_deref(),
        || Ok(output::json(&comparison)?),
        &comparison.table(),
    )?;
    let failures = comparison.failures();
    ensure!(
        failures.is_empty(),
        "comparison failed: {}",
        failures.join("; ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distance(fit: &str, rms: f64, allocation: f64) -> Distance {
        Distance {
            fit: fit.into(),
            seed: 1,
            n_particles: Some(10),
            log_marginal: Some(-1.0),
            predictive_rms: rms,
            allocation_max: allocation,
        }
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(quantile(&v, 0.5), 5.0);
        assert_eq!(quantile(&v, 0.9), 9.0);
        assert_eq!(quantile(&v, 1.0), 10.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn a_fit_beyond_a_tolerance_fails_by_name() {
        let c = Comparison {
            reference: "gold.json".into(),
            fits: vec![
                distance("a.json", 0.01, 0.001),
                distance("b.json", 0.05, 0.04),
            ],
            max_rms: Some(0.03),
            max_allocation: None,
        };
        assert_eq!(c.failures(), ["b.json: predictive-mean RMS 0.0500 > 0.03"]);
        let table = c.table();
        assert!(
            table.contains("largest 0.0500 over 2 fits; 1 within 0.03"),
            "{table}"
        );
        let lenient = Comparison { max_rms: None, ..c };
        assert!(lenient.failures().is_empty());
    }

    #[test]
    fn nan_distance_is_a_failure_not_a_pass() {
        let c = Comparison {
            reference: "gold.json".into(),
            fits: vec![distance("a.json", f64::NAN, 0.0)],
            max_rms: Some(0.03),
            max_allocation: Some(0.03),
        };
        assert_eq!(c.failures().len(), 1);
    }
}
