//! The benchmark plots: update time against D and against N, and fit
//! time against T (log-log).

use crate::bench::fit_cost::{FitCost, WORKLOAD};
use crate::bench::points::{Point, EXPONENT_NK};
use crate::bench::report::BenchReport;
use crate::bench::timing::UpdateTiming;
use anyhow::anyhow;
use plotters::prelude::*;
use std::path::Path;

use super::font::register_font;

/// Size of the plot in pixels.
const PLOT_SIZE: (u32, u32) = (1100, 500);
/// Colours of the core (or default fit), the reference (or plain filter)
/// and the guide.
const BLUE_LINE: RGBColor = RGBColor(20, 60, 200);
const ORANGE_LINE: RGBColor = RGBColor(230, 120, 20);
const GREY_GUIDE: RGBColor = RGBColor(120, 120, 120);

/// Draws update time against D and against N (log-log) to a PNG file: the
/// core's exponent and N series, and, from a full run's grid, the core and
/// the reference engine at K = 4 and K = 10.
///
/// # Errors
/// A drawing or I/O failure naming `path`.
pub fn plot(report: &BenchReport, path: &Path) -> anyhow::Result<()> {
    register_font();
    let failed =
        |e: &dyn std::fmt::Display| anyhow!("{}: cannot draw the plot: {e}", path.display());
    let root = BitMapBackend::new(path, PLOT_SIZE).into_drawing_area();
    draw(&root, report).map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))
}

/// Draws the default fit's and the plain filter's time against T
/// (log-log, with a slope-1 guide) to a PNG file.
///
/// # Errors
/// A drawing or I/O failure naming `path`.
pub fn plot_fit_cost(costs: &[FitCost], path: &Path) -> anyhow::Result<()> {
    register_font();
    let failed =
        |e: &dyn std::fmt::Display| anyhow!("{}: cannot draw the plot: {e}", path.display());
    let root = BitMapBackend::new(path, (PLOT_SIZE.0 / 2, PLOT_SIZE.1)).into_drawing_area();
    let series: Vec<Series> = vec![
        (
            "default (moves)".to_owned(),
            BLUE_LINE,
            false,
            costs
                .iter()
                .map(|c| (c.t as f64, c.moves_seconds))
                .collect(),
        ),
        (
            "--moves none".to_owned(),
            ORANGE_LINE,
            false,
            costs
                .iter()
                .map(|c| (c.t as f64, c.plain_seconds))
                .collect(),
        ),
    ];
    let (k, n, _) = WORKLOAD;
    let title = format!("fit time vs T (paper, K = {k}, N = {n})");
    root.fill(&WHITE)
        .and_then(|()| {
            panel(
                &root,
                &title,
                "T (rows)",
                "CPU seconds, one thread",
                &series,
                1.0,
            )
        })
        .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))
}

type PlotResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// One line of a panel: label, colour, dashed or not, `(x, µs)` points.
type Series = (String, RGBColor, bool, Vec<(f64, f64)>);

/// Grid points with `(n, k)` or `(k, d)` fixed, as `(x, µs)` for the core
/// or the reference.
fn grid_series(
    grid: &[UpdateTiming],
    keep: impl Fn(&Point) -> Option<f64>,
    reference: bool,
) -> Vec<(f64, f64)> {
    grid.iter()
        .filter_map(|u| {
            let ns = if reference {
                u.reference_ns?
            } else {
                u.core_ns
            };
            keep(&u.point).map(|x| (x, ns / 1e3))
        })
        .collect()
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    report: &BenchReport,
) -> PlotResult<DB> {
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(PLOT_SIZE.0 / 2);
    let (blue, orange) = (BLUE_LINE, ORANGE_LINE);
    let core_d: Vec<(f64, f64)> = report
        .update_vs_d
        .iter()
        .map(|u| (u.point.d as f64, u.core_ns / 1e3))
        .collect();
    let mut by_d: Vec<Series> = vec![(
        format!(
            "core, K = {} (slope {:.2})",
            EXPONENT_NK.1, report.exponent_d.value
        ),
        blue,
        false,
        core_d,
    )];
    let n_d = EXPONENT_NK.0;
    let at = |k: usize| move |p: &Point| (p.n == n_d && p.k == k).then_some(p.d as f64);
    let core_k10 = grid_series(&report.grid, at(10), false);
    if !core_k10.is_empty() {
        by_d.push(("core, K = 10".to_owned(), blue, true, core_k10));
    }
    let reference = grid_series(&report.grid, at(EXPONENT_NK.1), true);
    if !reference.is_empty() {
        by_d.push((
            format!("reference, K = {}", EXPONENT_NK.1),
            orange,
            false,
            reference,
        ));
    }
    let title_d = format!("update vs D (N = {n_d}, R = D)");
    panel(&left, &title_d, "D (features)", PER_UPDATE, &by_d, 2.0)?;

    let core_n: Vec<(f64, f64)> = report
        .update_vs_n
        .iter()
        .map(|u| (u.point.n as f64, u.core_ns / 1e3))
        .collect();
    let mut by_n: Vec<Series> = vec![("core".to_owned(), blue, false, core_n)];
    let reference = grid_series(
        &report.grid,
        |p| (p.k == 4 && p.d == 8).then_some(p.n as f64),
        true,
    );
    if !reference.is_empty() {
        by_n.push(("reference".to_owned(), orange, false, reference));
    }
    panel(
        &right,
        "update vs N (K = 4, D = 8)",
        "N (particles)",
        PER_UPDATE,
        &by_n,
        1.0,
    )?;
    Ok(())
}

/// The distinct x values of the series, the natural ticks of a D or N
/// sweep.
fn x_ticks(series: &[Series]) -> Vec<f64> {
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs
}

/// Ticks 1, 2, 5 × 10ᵉ within `[lo, hi]` for a log axis, or only 10ᵉ
/// over more than three decades (so labels do not crowd).
fn one_two_five(lo: f64, hi: f64) -> Vec<f64> {
    let first = lo.log10().floor() as i32;
    let last = hi.log10().ceil() as i32;
    let mantissas: &[f64] = if last - first > 3 {
        &[1.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    (first..=last)
        .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
        .filter(|v| (lo..=hi).contains(v))
        .collect()
}

/// A tick label: no decimals from 1 up, else the shortest exact form
/// (0.5, 0.2, …).
fn tick_label(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{}", (v * 1e6).round() / 1e6)
    }
}

/// The y axis of the update-time panels.
const PER_UPDATE: &str = "µs per update";

/// One log-log panel: the series, and a dashed grey guide of slope `guide`
/// through the first point of the first series.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    guide: f64,
) -> PlotResult<DB> {
    let grey = GREY_GUIDE;
    let points = series.iter().flat_map(|s| s.3.iter().copied());
    let (x_lo, x_hi, y_lo, y_hi) = points.fold(
        (f64::INFINITY, 0.0f64, f64::INFINITY, 0.0f64),
        |(a, b, c, d), (x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    let (x_lo, x_hi) = if x_lo < x_hi {
        (x_lo, x_hi)
    } else {
        (1.0, 2.0)
    };
    let (y_lo, y_hi) = if y_lo < y_hi {
        (y_lo, y_hi)
    } else {
        (1.0, 2.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_lo * 0.85..x_hi * 1.15)
                .log_scale()
                .with_key_points(x_ticks(series)),
            (y_lo * 0.6..y_hi * 1.6)
                .log_scale()
                .with_key_points(one_two_five(y_lo * 0.6, y_hi * 1.6)),
        )?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| tick_label(*x))
        .y_label_formatter(&|y| tick_label(*y))
        .light_line_style(WHITE)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (label, color, dashed, points) in series {
        let style = color.stroke_width(2);
        let color = *color;
        if *dashed {
            chart
                .draw_series(DashedLineSeries::new(points.iter().copied(), 8, 5, style))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        } else {
            chart
                .draw_series(LineSeries::new(points.iter().copied(), style))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    if let Some(&(x0, y0)) = series.first().and_then(|s| s.3.first()) {
        let guide_points = [(x0, y0), (x_hi, y0 * (x_hi / x0).powf(guide))];
        chart
            .draw_series(DashedLineSeries::new(
                guide_points,
                4,
                4,
                grey.stroke_width(1),
            ))?
            .label(format!("slope {guide}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}
