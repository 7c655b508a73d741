//! The plots of a fit report and of a run trace.

use crate::args::DataArgs;
use crate::data::{Dataset, INTERCEPT_NAME};
use crate::fit::FitReport;
use crate::trace::Trace;

use super::calibration;
use super::font::register_font;
use super::style::{legend, Chart};
use anyhow::{anyhow, bail, ensure};
use clap::Args;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Size of the `fit --plot` image in pixels.
const SIZE: (u32, u32) = (1000, 750);

/// Size of the `hsmoe plot` image in pixels.
const TRACE_SIZE: (u32, u32) = (1000, 900);

/// Colour of the one-step-ahead predictive band.
const ONE_STEP: RGBColor = RGBColor(230, 120, 20);

/// `hsmoe plot`.
#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    /// The run: a fit report (`hsmoe fit --json`, a `.json` file) or
    /// recorded telemetry (`hsmoe run --telemetry`, any other name).
    pub input: PathBuf,
    /// The data the run saw (y is drawn from it). A fit report's recorded
    /// data options take the place of these flags.
    #[command(flatten)]
    pub data: DataArgs,
    /// Read the data with this saved model's data options (for telemetry,
    /// which records none).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The image to write, `.png` or `.svg`.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Something drawable on any plotters backend.
trait Figure {
    /// Image size in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws on `root` and presents it.
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Writes the plot of `report` on `data` to `path` (`.svg` or `.png`).
///
/// The horizontal axis is the one non-intercept feature when there is
/// exactly one (y vs x), else the row number t (y vs t).
///
/// # Errors
/// An unknown extension, or a drawing or I/O failure naming `path`.
///
/// # Examples
/// ```
/// use hsmoe_host::{engine::EngineKind, fit, plot, simulate};
/// let data = simulate::simulate(simulate::Design::Piecewise, 50, 1).dataset(true);
/// let report = fit::fit(&data, &fit::FitOptions::new(EngineKind::Core, 2, 50, 1, &data)).unwrap();
/// let path = std::env::temp_dir().join("hsmoe-doc-plot.svg");
/// plot::plot(&data, &report, &path).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
/// assert!(plot::plot(&data, &report, "x.gif".as_ref()).is_err());
/// ```
pub fn plot(data: &Dataset, report: &FitReport<f64>, path: &Path) -> anyhow::Result<()> {
    write_figure(&FitFigure { data, report }, path)
}

/// Writes the run `trace` over t, with the observed `y` (one per row), to
/// `path` (`.svg` or `.png`): the one-step-ahead predictive mean ± 2 sd
/// against y, the ESS before resampling, and the mean gate probabilities.
///
/// # Errors
/// `y` and `trace` of different lengths, an unknown extension, or a
/// drawing or I/O failure naming `path`.
///
/// # Examples
/// ```
/// use hsmoe_host::{engine::EngineKind, fit, plot, simulate, trace::Trace};
/// let data = simulate::simulate(simulate::Design::Piecewise, 50, 1).dataset(true);
/// let report = fit::fit(&data, &fit::FitOptions::new(EngineKind::Core, 2, 50, 1, &data)).unwrap();
/// let trace = Trace::from_report(&report).unwrap();
/// let path = std::env::temp_dir().join("hsmoe-doc-plot-trace.svg");
/// plot::plot_trace(&trace, &data.y, &path).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
/// assert!(plot::plot_trace(&trace, &data.y[1..], &path).is_err());
/// ```
pub fn plot_trace(trace: &Trace, y: &[f64], path: &Path) -> anyhow::Result<()> {
    ensure!(
        trace.steps.len() == y.len(),
        "{} has {} rows, the data {}",
        trace.source,
        trace.steps.len(),
        y.len()
    );
    write_figure(&TraceFigure { trace, y }, path)
}

/// Draws `figure` to `path`, SVG or PNG by its extension.
fn write_figure(figure: &impl Figure, path: &Path) -> anyhow::Result<()> {
    register_font();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let failed =
        |e: &dyn std::fmt::Display| anyhow!("{}: cannot draw the plot: {e}", path.display());
    let size = figure.size();
    match ext.as_deref() {
        Some("svg") => figure
            .draw(SVGBackend::new(path, size).into_drawing_area())
            .map_err(|e| failed(&e)),
        Some("png") => figure
            .draw(BitMapBackend::new(path, size).into_drawing_area())
            .map_err(|e| failed(&e)),
        _ => bail!(
            "{}: the plot file name must end in .svg or .png",
            path.display()
        ),
    }
}

/// What the horizontal axis shows.
struct Axis {
    label: String,
    values: Vec<f64>,
}

fn horizontal_axis(data: &Dataset) -> Axis {
    let features: Vec<usize> = (0..data.d())
        .filter(|&l| data.feature_names[l] != INTERCEPT_NAME)
        .collect();
    match features[..] {
        [l] => Axis {
            label: data.feature_names[l].clone(),
            values: data.x.iter().map(|row| row[l]).collect(),
        },
        _ => Axis {
            label: "row t".to_owned(),
            values: (1..=data.y.len()).map(|t| t as f64).collect(),
        },
    }
}

/// `(min, max)` of finite values, widened by 5% (and never empty).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return (-1.0, 1.0);
    }
    let pad = 0.05 * (hi - lo).max(1e-9);
    (lo - pad, hi + pad)
}

/// Index of the largest entry.
fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (k, &v)| {
            if v > best.1 {
                (k, v)
            } else {
                best
            }
        })
        .0
}

/// A mean line and its ±2 sd band, in the order of `order`.
struct Band {
    label: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64, f64)>,
}

impl Band {
    fn new(
        label: &'static str,
        color: RGBColor,
        x: &[f64],
        order: &[usize],
        mean_var: impl Fn(usize) -> (f64, f64),
    ) -> Self {
        let points = order
            .iter()
            .map(|&t| {
                let (m, v) = mean_var(t);
                (x[t], m, 2.0 * v.max(0.0).sqrt())
            })
            .filter(|(_, m, s)| m.is_finite() && s.is_finite())
            .collect();
        Band {
            label,
            color,
            points,
        }
    }

    fn upper(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.points.iter().map(|&(x, m, s)| (x, m + s))
    }

    fn lower(&self) -> impl DoubleEndedIterator<Item = (f64, f64)> + '_ {
        self.points.iter().map(|&(x, m, s)| (x, m - s))
    }
}

impl Band {
    /// Draws the ±2 sd polygon and the mean line, with a legend entry.
    fn draw<DB: DrawingBackend>(
        &self,
        chart: &mut Chart<'_, DB>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let polygon: Vec<(f64, f64)> = self.upper().chain(self.lower().rev()).collect();
        chart.draw_series(std::iter::once(Polygon::new(polygon, self.color.mix(0.15))))?;
        let color = self.color;
        chart
            .draw_series(LineSeries::new(
                self.points.iter().map(|&(x, m, _)| (x, m)),
                color.stroke_width(2),
            ))?
            .label(self.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        Ok(())
    }
}

/// Colour of expert `k` (0-based) in every plot.
fn expert_color(k: usize) -> RGBAColor {
    Palette99::pick(k).to_rgba()
}

/// The `fit --plot` figure.
struct FitFigure<'a> {
    data: &'a Dataset,
    report: &'a FitReport<f64>,
}

impl Figure for FitFigure<'_> {
    fn size(&self) -> (u32, u32) {
        SIZE
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (data, report) = (self.data, self.report);
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(SIZE.1 * 7 / 10);
        let axis = horizontal_axis(data);
        let mut order: Vec<usize> = (0..data.y.len()).collect();
        order.sort_by(|&a, &b| axis.values[a].total_cmp(&axis.values[b]));

        let mut bands = Vec::new();
        if !report.predictive.is_empty() {
            bands.push(Band::new(
                "one-step predictive mean ± 2 sd",
                ONE_STEP,
                &axis.values,
                &order,
                |t| (report.predictive[t].mean, report.predictive[t].var),
            ));
        }
        bands.push(Band::new(
            "final predictive mean ± 2 sd",
            RGBColor(20, 60, 200),
            &axis.values,
            &order,
            |t| {
                let p = &report.final_.predictive[t];
                (p.mean, p.var)
            },
        ));

        let x_range = range(axis.values.iter().copied());
        // The data and the final band set the scale; the one-step band starts
        // at the (very wide) prior predictive and is clipped to it.
        let final_band = &bands[bands.len() - 1];
        let y_range = range(
            data.y
                .iter()
                .copied()
                .chain(final_band.upper().chain(final_band.lower()).map(|(_, y)| y)),
        );
        let lm = report
            .log_marginal
            .map_or_else(String::new, |lm| format!(", log marginal {lm:.2}"));
        let caption = format!(
            "hsmoe fit: {} engine, K = {}, T = {}{lm}",
            report.engine, report.k, report.n_obs
        );
        let mut chart = ChartBuilder::on(&top)
            .caption(caption, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)?;
        chart
            .configure_mesh()
            .x_desc(axis.label.as_str())
            .y_desc("y")
            .light_line_style(WHITE.mix(0.0))
            .draw()?;

        // The one-step line last, on top of the final band it would hide.
        for band in bands.iter().rev() {
            band.draw(&mut chart)?;
        }

        // One series per expert, so the legend names the point colours.
        let most_likely: Vec<usize> = (0..data.y.len())
            .map(|t| report.final_.alloc.get(t).map_or(0, |a| argmax(a)))
            .collect();
        for k in 0..report.k {
            let color = expert_color(k);
            let points = (0..data.y.len())
                .filter(|&t| most_likely[t] == k)
                .map(|t| Circle::new((axis.values[t], data.y[t]), 3, color.filled()));
            chart
                .draw_series(points)?
                .label(format!("expert {}", k + 1))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        }
        legend(&mut chart)?;

        // Allocation frequencies (docs/model.md §8), one bar per expert in its
        // point colour.
        let k = report.k;
        let top_freq = report
            .final_
            .allocation_freq
            .iter()
            .copied()
            .fold(0.0, f64::max)
            .max(1e-3);
        let mut bars = ChartBuilder::on(&bottom)
            .caption(
                "allocation frequencies (points coloured by most likely expert)",
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d((0..k).into_segmented(), 0.0..top_freq * 1.1)?;
        bars.configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_labels(k.min(20))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(j) if *j < k => format!("{}", j + 1),
                _ => String::new(),
            })
            .x_desc("expert")
            .y_desc("frequency")
            .draw()?;
        bars.draw_series(
            report
                .final_
                .allocation_freq
                .iter()
                .enumerate()
                .map(|(j, &f)| {
                    let mut bar = Rectangle::new(
                        [
                            (SegmentValue::Exact(j), 0.0),
                            (SegmentValue::Exact(j + 1), f),
                        ],
                        expert_color(j).filled(),
                    );
                    bar.set_margin(0, 0, 8, 8);
                    bar
                }),
        )?;
        root.present()
    }
}

/// The `hsmoe plot` figure: a run over t.
struct TraceFigure<'a> {
    trace: &'a Trace,
    /// Observed y, one per step.
    y: &'a [f64],
}

impl Figure for TraceFigure<'_> {
    fn size(&self) -> (u32, u32) {
        TRACE_SIZE
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (trace, y) = (self.trace, self.y);
        let steps = &trace.steps;
        root.fill(&WHITE)?;
        let (top, rest) = root.split_vertically(TRACE_SIZE.1 / 2);
        let (middle, bottom) = rest.split_vertically(TRACE_SIZE.1 / 4);
        let t: Vec<f64> = (1..=steps.len()).map(|t| t as f64).collect();
        let rows: Vec<usize> = (0..steps.len()).collect();
        let x_range = (0.5, steps.len() as f64 + 0.5);
        let chart_on = |area, caption: String, y_desc: &str, y_range: (f64, f64)| {
            let mut chart = ChartBuilder::on(area)
                .caption(caption, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(35)
                .y_label_area_size(55)
                .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)?;
            chart
                .configure_mesh()
                .x_desc("row t")
                .x_label_formatter(&|t| format!("{t:.0}"))
                .y_desc(y_desc)
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            Ok(chart)
        };

        let caption = format!(
            "{}: {} experts, K = {}, N = {}, T = {}, log marginal {:.2}",
            trace.source,
            trace.family,
            trace.k,
            trace.n_particles,
            steps.len(),
            trace.log_marginal()
        );
        if trace.family.binary_response() {
            // A 0/1 response: how well the one-step P(y = 1) is calibrated.
            let p: Vec<f64> = steps.iter().map(|s| s.mean).collect();
            calibration::draw(&top, caption, &p, y)?;
        } else {
            // The band starts at the (very wide) prior predictive: the
            // data and the mean set the scale, the band is clipped to it.
            let band = Band::new(
                "one-step predictive mean ± 2 sd",
                ONE_STEP,
                &t,
                &rows,
                |i| (steps[i].mean, steps[i].var),
            );
            let y_range = range(y.iter().copied().chain(band.points.iter().map(|p| p.1)));
            let mut chart = chart_on(&top, caption, "y", y_range)?;
            band.draw(&mut chart)?;
            chart
                .draw_series(
                    t.iter()
                        .zip(y)
                        .map(|(&t, &y)| Circle::new((t, y), 2, BLACK.filled())),
                )?
                .label("y")
                .legend(|(x, y)| Circle::new((x + 10, y), 2, BLACK.filled()));
            legend(&mut chart)?;
        }

        let n = trace.n_particles as f64;
        let mut ess = chart_on(
            &middle,
            format!("effective sample size before resampling (N = {n})"),
            "ESS",
            (0.0, n * 1.05),
        )?;
        ess.draw_series(LineSeries::new(
            t.iter().zip(steps).map(|(&t, s)| (t, s.ess)),
            ONE_STEP.stroke_width(1),
        ))?;

        let mut gate = chart_on(
            &bottom,
            "mean gate probabilities π_k(x_t)".to_owned(),
            "probability",
            (0.0, 1.05),
        )?;
        for k in 0..trace.k {
            let color = expert_color(k);
            gate.draw_series(LineSeries::new(
                t.iter()
                    .zip(steps)
                    .filter_map(|(&t, s)| s.gate.get(k).map(|&g| (t, g))),
                color.stroke_width(2),
            ))?
            .label(format!("expert {}", k + 1))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        legend(&mut gate)?;
        root.present()
    }
}
