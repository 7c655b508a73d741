//! The calibration (reliability) diagram of a run of Bernoulli experts:
//! the one-step-ahead `P(y_t = 1 | past)` binned, against how often
//! `y_t = 1` in each bin. Each prediction is made before its `y_t` is
//! absorbed, so the diagram is out of sample (prequential).

use super::style::legend;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Bins of equal width over [0, 1].
const BINS: usize = 10;

/// One bin of predicted probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationBin {
    /// Predictions in `[lo, hi)` (the last bin includes 1).
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Rows whose prediction falls in the bin.
    pub rows: usize,
    /// Their mean prediction.
    pub predicted: f64,
    /// The fraction of them with `y = 1`.
    pub observed: f64,
}

impl CalibrationBin {
    /// The binomial standard error of [`observed`](Self::observed) at the
    /// predicted rate: how far a calibrated forecast's bin wanders.
    pub fn se(&self) -> f64 {
        (self.predicted * (1.0 - self.predicted) / self.rows as f64).sqrt()
    }
}

/// The non-empty bins of `bins` equal-width bins of the predictions `p`
/// against the 0/1 outcomes `y` (paired by row).
///
/// # Examples
/// ```
/// use hsmoe_host::plot::calibration_bins;
/// let p = [0.05, 0.15, 0.12, 0.95];
/// let y = [0.0, 0.0, 1.0, 1.0];
/// let bins = calibration_bins(&p, &y, 10);
/// assert_eq!(bins.len(), 3);
/// assert_eq!((bins[1].rows, bins[1].observed), (2, 0.5));
/// assert!((bins[1].predicted - 0.135).abs() < 1e-12);
/// assert_eq!(bins[2].hi, 1.0);
/// ```
pub fn calibration_bins(p: &[f64], y: &[f64], bins: usize) -> Vec<CalibrationBin> {
    let width = 1.0 / bins as f64;
    let mut sums = vec![(0usize, 0.0, 0.0); bins];
    for (&p, &y) in p.iter().zip(y) {
        let bin = ((p / width) as usize).min(bins - 1);
        let (rows, predicted, ones) = &mut sums[bin];
        *rows += 1;
        *predicted += p;
        *ones += y;
    }
    sums.into_iter()
        .enumerate()
        .filter(|(_, (rows, _, _))| *rows > 0)
        .map(|(b, (rows, predicted, ones))| CalibrationBin {
            lo: b as f64 * width,
            hi: (b + 1) as f64 * width,
            rows,
            predicted: predicted / rows as f64,
            observed: ones / rows as f64,
        })
        .collect()
}

/// Draws the diagram of predictions `p` against outcomes `y` on `area`:
/// each bin's observed rate at its mean prediction with ± 2 binomial se
/// of a calibrated forecast, the diagonal, and the rows per bin.
pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: String,
    p: &[f64],
    y: &[f64],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let bins = calibration_bins(p, y, BINS);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("one-step-ahead P(y = 1), binned")
        .y_desc("observed frequency of y = 1")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4)))?
        .label("calibrated")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
    chart.draw_series(bins.iter().map(|b| {
        let half = 2.0 * b.se();
        PathElement::new(
            [
                (b.predicted, (b.predicted - half).max(0.0)),
                (b.predicted, (b.predicted + half).min(1.0)),
            ],
            BLUE.mix(0.35).stroke_width(6),
        )
    }))?;
    chart
        .draw_series(
            bins.iter()
                .map(|b| Circle::new((b.predicted, b.observed), 5, RED.filled())),
        )?
        .label("observed (band: ± 2 se if calibrated)")
        .legend(|(x, y)| Circle::new((x + 10, y), 5, RED.filled()));
    chart.draw_series(bins.iter().map(|b| {
        Text::new(
            format!("{}", b.rows),
            (b.predicted, (b.observed + 0.04).min(0.97)),
            ("sans-serif", 12),
        )
    }))?;
    legend(&mut chart)
}
