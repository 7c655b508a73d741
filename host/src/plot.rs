//! `hsmoe fit --plot`: the data with the one-step-ahead and final
//! predictive mean ± 2 sd, points coloured by their most likely expert,
//! and a panel of allocation frequencies. SVG or PNG by file extension.
//!
//! Text is drawn with DejaVu Sans shipped in `host/assets/` (Bitstream
//! Vera licence, beside it), so no system font library is needed.

use crate::data::{Dataset, INTERCEPT_NAME};
use crate::fit::FitReport;
use anyhow::{anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// Size of the image in pixels.
const SIZE: (u32, u32) = (1000, 750);

/// Registers the shipped font as plotters' "sans-serif" (once).
fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // The font file is part of the build; it parses.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
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
    register_font();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let failed =
        |e: &dyn std::fmt::Display| anyhow!("{}: cannot draw the plot: {e}", path.display());
    match ext.as_deref() {
        Some("svg") => draw(
            SVGBackend::new(path, SIZE).into_drawing_area(),
            data,
            report,
        )
        .map_err(|e| failed(&e)),
        Some("png") => draw(
            BitMapBackend::new(path, SIZE).into_drawing_area(),
            data,
            report,
        )
        .map_err(|e| failed(&e)),
        _ => bail!("{}: --plot needs a .svg or .png file name", path.display()),
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

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    data: &Dataset,
    report: &FitReport<f64>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(SIZE.1 * 7 / 10);
    let axis = horizontal_axis(data);
    let mut order: Vec<usize> = (0..data.y.len()).collect();
    order.sort_by(|&a, &b| axis.values[a].total_cmp(&axis.values[b]));

    let mut bands = Vec::new();
    if !report.predictive.is_empty() {
        bands.push(Band::new(
            "one-step predictive mean ± 2 sd",
            RGBColor(230, 120, 20),
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

    for band in &bands {
        let polygon: Vec<(f64, f64)> = band.upper().chain(band.lower().rev()).collect();
        chart.draw_series(std::iter::once(Polygon::new(polygon, band.color.mix(0.15))))?;
        let color = band.color;
        chart
            .draw_series(LineSeries::new(
                band.points.iter().map(|&(x, m, _)| (x, m)),
                color.stroke_width(2),
            ))?
            .label(band.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }

    let expert_color = |k: usize| Palette99::pick(k).to_rgba();
    chart.draw_series(data.y.iter().enumerate().map(|(t, &y)| {
        let k = report.final_.alloc.get(t).map_or(0, |a| argmax(a));
        Circle::new((axis.values[t], y), 3, expert_color(k).filled())
    }))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .draw()?;

    // Allocation frequencies (SPEC §4), one bar per expert in its point colour.
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
