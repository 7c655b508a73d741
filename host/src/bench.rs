//! `hsmoe bench`: how fast the core is, measured against its limits
//! (issue "Performance"), in one process so every ratio compares figures
//! taken in the same run on the same machine.
//!
//! - one PL update of the core (`hsmoe_core::ParticleSet`) against the same
//!   update by the f64 reference engine
//!   ([`ReferenceFilter`]), interleaved round by round;
//! - the fitted exponent of the core's update time in `D` at fixed `N`, `K`
//!   and `R = D` (the paper promises `O(N K D²)`);
//! - `PG(1, c)` draws per second over `c ∈ [0, 50]`, the core's f32
//!   approximation against the exact (Devroye) sampler;
//! - the rank-1 Cholesky update against refactoring, and the horseshoe
//!   refresh every observation (`R = 1`) against every `D` (`R = D`);
//! - with `--qemu`, the firmware's instructions per update in QEMU.
//!
//! Times are wall-clock medians over rounds; on a shared machine the
//! ratios (both engines measured alternately) are steadier than the
//! absolute figures. The criterion benches in `tests/benches/` measure the
//! same functions, at the same points (the constants below), with
//! criterion's statistics; `hsmoe bench --criterion DIR` reads their
//! results instead of measuring and prints the same report
//! (`scripts/bench-host.sh` runs both steps for `BENCHMARKS.md`).

use crate::reference::{self, ReferenceFilter};
use crate::run::{self, RunArgs};
use anyhow::{anyhow, bail, Context as _};
use clap::Args;
use hsmoe_core::dist::polya_gamma;
use hsmoe_core::linalg::{self, Factor};
use hsmoe_core::{Config, FilterState, Particle, ParticleSet};
use plotters::prelude::*;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xorshift::XorShiftRng;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

/// `hsmoe bench`.
#[derive(Debug, Clone, Default, Args)]
pub struct BenchArgs {
    /// A short run: the headline figures only, fewer and shorter rounds.
    #[arg(long)]
    pub quick: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also boot the default firmware in QEMU (`-icount shift=0`) and
    /// report its instructions per update.
    #[arg(long)]
    pub qemu: bool,
    /// Also draw update time against D and against N to this PNG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Measure nothing on the host: report the criterion benches' results
    /// found in this directory (their `CRITERION_HOME`, e.g.
    /// `target/criterion`), the full grid included.
    #[arg(long, value_name = "DIR", conflicts_with = "quick")]
    pub criterion: Option<PathBuf>,
    /// Also replace the block between the lines `<!-- hsmoe bench: begin -->`
    /// and `<!-- hsmoe bench: end -->` of this Markdown file with the
    /// report (e.g. `BENCHMARKS.md`).
    #[arg(long, value_name = "FILE")]
    pub into: Option<PathBuf>,
}

/// The (K, D) shapes the benchmarks are compiled for (`N` is a runtime
/// length): the issue's grid K ∈ {2, 4, 10} × D ∈ {2, 4, 8, 16}, the
/// target point K = 10, D = 6 and the exponent series K = 4,
/// D ∈ {4, 6, 8, 12, 16}.
pub const SHAPES: [(usize, usize); 15] = [
    (2, 2),
    (2, 4),
    (2, 8),
    (2, 16),
    (4, 2),
    (4, 4),
    (4, 6),
    (4, 8),
    (4, 12),
    (4, 16),
    (10, 2),
    (10, 4),
    (10, 6),
    (10, 8),
    (10, 16),
];

/// Calls `$f::<K, D>($args)` for a runtime `(k, d)` among [`SHAPES`].
macro_rules! with_shape {
    ($k:expr, $d:expr, $f:ident($($arg:expr),*)) => {
        match ($k, $d) {
            (2, 2) => $f::<2, 2>($($arg),*),
            (2, 4) => $f::<2, 4>($($arg),*),
            (2, 8) => $f::<2, 8>($($arg),*),
            (2, 16) => $f::<2, 16>($($arg),*),
            (4, 2) => $f::<4, 2>($($arg),*),
            (4, 4) => $f::<4, 4>($($arg),*),
            (4, 6) => $f::<4, 6>($($arg),*),
            (4, 8) => $f::<4, 8>($($arg),*),
            (4, 12) => $f::<4, 12>($($arg),*),
            (4, 16) => $f::<4, 16>($($arg),*),
            (10, 2) => $f::<10, 2>($($arg),*),
            (10, 4) => $f::<10, 4>($($arg),*),
            (10, 6) => $f::<10, 6>($($arg),*),
            (10, 8) => $f::<10, 8>($($arg),*),
            (10, 16) => $f::<10, 16>($($arg),*),
            (k, d) => Err(anyhow!("no benchmark build for K = {k}, D = {d}; built: {SHAPES:?}")),
        }
    };
}

/// Where one update is measured: particles, experts, features and the
/// horseshoe refresh period `R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Point {
    /// Particles.
    pub n: usize,
    /// Experts.
    pub k: usize,
    /// Features, intercept included.
    pub d: usize,
    /// Horseshoe refresh period.
    pub r: u32,
}

impl Point {
    /// `(n, k, d)` with the default refresh period `R = D`.
    ///
    /// # Examples
    /// ```
    /// let p = hsmoe_host::bench::Point::new(1000, 10, 6);
    /// assert_eq!((p.n, p.k, p.d, p.r), (1000, 10, 6, 6));
    /// ```
    pub fn new(n: usize, k: usize, d: usize) -> Point {
        Point {
            n,
            k,
            d,
            r: Config::default_for(d).refresh_every,
        }
    }

    fn config(&self) -> Config {
        Config {
            refresh_every: self.r,
            ..Config::default_for(self.d)
        }
    }

    /// The criterion benchmark label of the point, `N{n}_K{k}_D{d}_R{r}`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::bench::Point;
    /// let p = Point::new(64, 2, 8);
    /// assert_eq!(p.label(), "N64_K2_D8_R8");
    /// assert_eq!(Point::from_label(&p.label()), Some(p));
    /// ```
    pub fn label(&self) -> String {
        format!("N{}_K{}_D{}_R{}", self.n, self.k, self.d, self.r)
    }

    /// Parses a [`Point::label`].
    pub fn from_label(label: &str) -> Option<Point> {
        let mut fields = label.split('_');
        let mut field = |tag: char| fields.next()?.strip_prefix(tag)?.parse::<usize>().ok();
        let (n, k, d, r) = (field('N')?, field('K')?, field('D')?, field('R')?);
        Some(Point {
            n,
            k,
            d,
            r: u32::try_from(r).ok()?,
        })
    }
}

/// Particles of the issue's grid.
pub const GRID_N: [usize; 3] = [64, 256, 1024];

/// Experts of the issue's grid.
pub const GRID_K: [usize; 3] = [2, 4, 10];

/// Features of the issue's grid.
pub const GRID_D: [usize; 4] = [2, 4, 8, 16];

/// The issue's grid `N × K × D` at `R = D`.
///
/// # Examples
/// ```
/// assert_eq!(hsmoe_host::bench::grid_points().len(), 36);
/// ```
pub fn grid_points() -> Vec<Point> {
    GRID_N
        .iter()
        .flat_map(|&n| {
            GRID_K
                .iter()
                .flat_map(move |&k| GRID_D.iter().map(move |&d| Point::new(n, k, d)))
        })
        .collect()
}

/// The target point of the issue.
pub const TARGET: (usize, usize, usize) = (1000, 10, 6);

/// Particles and experts of the exponent series.
pub const EXPONENT_NK: (usize, usize) = (256, 4);

/// D series of the exponent fit (the issue's D from 4 to 16).
pub const EXPONENT_DS: [usize; 5] = [4, 6, 8, 12, 16];

/// The exponent series: D ∈ [`EXPONENT_DS`] at [`EXPONENT_NK`], `R = D`.
///
/// # Examples
/// ```
/// let ds: Vec<usize> = hsmoe_host::bench::exponent_points().iter().map(|p| p.d).collect();
/// assert_eq!(ds, [4, 6, 8, 12, 16]);
/// ```
pub fn exponent_points() -> Vec<Point> {
    EXPONENT_DS
        .iter()
        .map(|&d| Point::new(EXPONENT_NK.0, EXPONENT_NK.1, d))
        .collect()
}

/// Experts and features of the series in N (N ∈ [`GRID_N`]).
pub const N_SERIES_KD: (usize, usize) = (4, 8);

/// Every point the update benchmarks time, core and reference: the
/// target, the exponent series and the grid, without repeats.
///
/// # Examples
/// ```
/// // 36 grid points, the target, and D = 6, 12 of the exponent series.
/// assert_eq!(hsmoe_host::bench::update_points().len(), 39);
/// ```
pub fn update_points() -> Vec<Point> {
    let mut points = vec![Point::new(TARGET.0, TARGET.1, TARGET.2)];
    for p in exponent_points().into_iter().chain(grid_points()) {
        if !points.contains(&p) {
            points.push(p);
        }
    }
    points
}

/// The horseshoe refresh comparison: `R = D` (the default) and `R = 1` at
/// N = 256, K = 4, D = 8.
///
/// # Examples
/// ```
/// let [rd, r1] = hsmoe_host::bench::refresh_points();
/// assert_eq!((rd.r, r1.r, rd.d), (8, 1, 8));
/// ```
pub fn refresh_points() -> [Point; 2] {
    let rd = Point::new(256, 4, 8);
    [rd, Point { r: 1, ..rd }]
}

/// The single values of `c` at which PG draws are also timed.
pub const PG_CS: [f64; 5] = [0.0, 1.0, 5.0, 20.0, 50.0];

/// The criterion label of PG draws at one `c`, or over the whole grid
/// ([`pg_grid`]) for `None`.
///
/// # Examples
/// ```
/// use hsmoe_host::bench::pg_label;
/// assert_eq!((pg_label(Some(5.0)), pg_label(None)), ("c5".into(), "c0-50".into()));
/// ```
pub fn pg_label(c: Option<f64>) -> String {
    c.map_or_else(|| "c0-50".to_owned(), |c| format!("c{c}"))
}

/// Dimensions of the rank-1 update against refactorization.
pub const CHOLESKY_DS: [usize; 4] = [2, 4, 8, 16];

/// Rows of the benchmark design: `x = (1, x₁, …, x_{d−1})` with
/// `x_l ~ N(0, 1)`, and `y` from three linear experts switched by `x₁`
/// (`x₁ < −½`, `|x₁| ≤ ½`, `x₁ > ½`) plus `N(0, 0.3²)` noise. Seeded. Any
/// non-degenerate stream costs the same per update; this one keeps several
/// experts busy.
///
/// # Examples
/// ```
/// let rows = hsmoe_host::bench::rows(4, 10, 1);
/// assert_eq!((rows.len(), rows[0].0.len(), rows[0].0[0]), (10, 4, 1.0));
/// ```
pub fn rows(d: usize, t: usize, seed: u64) -> Vec<(Vec<f32>, f32)> {
    let mut rng = XorShiftRng::seed_from_u64(seed);
    (0..t)
        .map(|_| {
            let x: Vec<f32> = (0..d)
                .map(|l| {
                    if l == 0 {
                        1.0
                    } else {
                        rng.sample(StandardNormal)
                    }
                })
                .collect();
            let (x1, x2) = (
                x.get(1).copied().unwrap_or(0.0),
                x.get(2).copied().unwrap_or(0.0),
            );
            let mean = if x1 < -0.5 {
                -1.0 - x2
            } else if x1 > 0.5 {
                1.0 + x2
            } else {
                2.0 * x2
            };
            let noise: f32 = rng.sample(StandardNormal);
            (x, mean + 0.3 * noise)
        })
        .collect()
}

/// Rows fed before timing starts, so experts and sticks hold data.
const WARM_UP: usize = 20;

/// Length of the cycled row stream.
const STREAM: usize = 4_000;

/// Seed of the data stream (the engines' own streams are seeded apart).
const DATA_SEED: u64 = 11;

/// A filter fed an endless stream of rows, one PL update per call.
pub trait UpdateLoop {
    /// Absorbs the next row.
    ///
    /// # Errors
    /// If the engine refuses the row (it should not on this design).
    fn update(&mut self) -> anyhow::Result<()>;
}

/// The core filter of one shape, its storage on the heap.
struct CoreLoop<const K: usize, const D: usize> {
    particles: Vec<Particle<K, D>>,
    weights: Vec<f32>,
    counts: Vec<u32>,
    state: FilterState<K>,
    rng: XorShiftRng,
    rows: Vec<([f32; D], f32)>,
    next: usize,
}

impl<const K: usize, const D: usize> UpdateLoop for CoreLoop<K, D> {
    fn update(&mut self) -> anyhow::Result<()> {
        let (x, y) = &self.rows[self.next % self.rows.len()];
        self.next += 1;
        let mut set = ParticleSet::new(
            &mut self.particles,
            &mut self.weights,
            &mut self.counts,
            &mut self.state,
        )?;
        black_box(set.observe(x, *y, &mut self.rng)?);
        Ok(())
    }
}

fn core_loop_of<const K: usize, const D: usize>(
    point: Point,
    seed: u64,
) -> anyhow::Result<Box<dyn UpdateLoop>> {
    let n = point.n;
    let mut filter = CoreLoop::<K, D> {
        particles: vec![Particle::ZERO; n],
        weights: vec![0.0; n],
        counts: vec![0; n],
        state: FilterState::new(point.config()),
        rng: XorShiftRng::seed_from_u64(seed),
        rows: rows(D, STREAM, DATA_SEED)
            .into_iter()
            .map(|(x, y)| Ok((<[f32; D]>::try_from(x.as_slice())?, y)))
            .collect::<anyhow::Result<_>>()?,
        next: 0,
    };
    ParticleSet::new(
        &mut filter.particles,
        &mut filter.weights,
        &mut filter.counts,
        &mut filter.state,
    )?
    .reset(&point.config(), &mut filter.rng)?;
    for _ in 0..WARM_UP {
        filter.update()?;
    }
    Ok(Box::new(filter))
}

/// The core filter at `point`, reset and warmed up on the benchmark
/// design.
///
/// # Errors
/// If `(k, d)` is not among [`SHAPES`] or the filter fails.
///
/// # Examples
/// ```
/// use hsmoe_host::bench::{core_loop, Point};
/// let mut filter = core_loop(Point::new(16, 2, 2), 1).unwrap();
/// filter.update().unwrap();
/// assert!(core_loop(Point::new(16, 3, 5), 1).is_err());
/// ```
pub fn core_loop(point: Point, seed: u64) -> anyhow::Result<Box<dyn UpdateLoop>> {
    with_shape!(point.k, point.d, core_loop_of(point, seed))
}

/// The reference engine fed the same rows, widened to f64.
struct ReferenceLoop {
    filter: ReferenceFilter,
    rows: Vec<(Vec<f64>, f64)>,
    next: usize,
}

impl UpdateLoop for ReferenceLoop {
    fn update(&mut self) -> anyhow::Result<()> {
        let (x, y) = &self.rows[self.next % self.rows.len()];
        self.next += 1;
        black_box(self.filter.observe(x, *y)?);
        Ok(())
    }
}

/// The f64 reference engine at `point`, warmed up on the benchmark design.
///
/// # Errors
/// If the engine refuses the configuration or a row.
///
/// # Examples
/// ```
/// use hsmoe_host::bench::{reference_loop, Point};
/// let mut filter = reference_loop(Point::new(16, 3, 5), 1).unwrap();
/// filter.update().unwrap();
/// ```
pub fn reference_loop(point: Point, seed: u64) -> anyhow::Result<Box<dyn UpdateLoop>> {
    let filter = ReferenceFilter::new(point.n, point.k, point.d, &point.config(), seed)?;
    let rows = rows(point.d, STREAM, DATA_SEED)
        .into_iter()
        .map(|(x, y)| (x.iter().map(|&v| f64::from(v)).collect(), f64::from(y)))
        .collect();
    let mut filter = ReferenceLoop {
        filter,
        rows,
        next: 0,
    };
    for _ in 0..WARM_UP {
        filter.update()?;
    }
    Ok(Box::new(filter))
}

/// How long to measure: rounds per figure and the wall time of one round.
#[derive(Debug, Clone, Copy)]
struct Budget {
    rounds: usize,
    round: Duration,
}

impl Budget {
    fn of(args: &BenchArgs) -> Budget {
        if args.quick {
            Budget {
                rounds: 3,
                round: Duration::from_millis(100),
            }
        } else {
            Budget {
                rounds: 7,
                round: Duration::from_millis(400),
            }
        }
    }
}

/// Nanoseconds per call of `f` in one round of about `round` wall time
/// (at least one call).
fn time_round(f: &mut dyn FnMut() -> anyhow::Result<()>, round: Duration) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut calls = 0u32;
    while calls == 0 || start.elapsed() < round {
        f()?;
        calls += 1;
    }
    Ok(start.elapsed().as_nanos() as f64 / f64::from(calls))
}

/// Median of non-empty `values`.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let m = values.len() / 2;
    if values.len() % 2 == 1 {
        values[m]
    } else {
        0.5 * (values[m - 1] + values[m])
    }
}

/// Per-call nanoseconds of several workloads measured in alternating
/// rounds (so a burst of load on the machine hits them all alike), each
/// the median over rounds, and the median of the per-round ratios of each
/// to the first.
fn interleaved(
    workloads: &mut [&mut dyn FnMut() -> anyhow::Result<()>],
    budget: Budget,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut times = vec![Vec::with_capacity(budget.rounds); workloads.len()];
    for _ in 0..budget.rounds {
        for (f, t) in workloads.iter_mut().zip(&mut times) {
            t.push(time_round(*f, budget.round)?);
        }
    }
    let ratios: Vec<f64> = times
        .iter()
        .map(|t| {
            let mut per_round: Vec<f64> = t.iter().zip(&times[0]).map(|(a, b)| a / b).collect();
            median(&mut per_round)
        })
        .collect();
    let medians = times.iter_mut().map(|t| median(t)).collect();
    Ok((medians, ratios))
}

/// One grid point: core and reference side by side.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct UpdateTiming {
    /// Where.
    pub point: Point,
    /// Core ns per update (median over rounds).
    pub core_ns: f64,
    /// Reference ns per update, if measured.
    pub reference_ns: Option<f64>,
    /// Reference over core, median of the per-round ratios.
    pub ratio: Option<f64>,
}

/// Times the core and, if `with_reference`, the reference at `point`.
fn time_update(point: Point, with_reference: bool, budget: Budget) -> anyhow::Result<UpdateTiming> {
    let mut core = core_loop(point, 1)?;
    let mut core_step = || core.update();
    if !with_reference {
        let (t, _) = interleaved(&mut [&mut core_step], budget)?;
        return Ok(UpdateTiming {
            point,
            core_ns: t[0],
            reference_ns: None,
            ratio: None,
        });
    }
    let mut reference = reference_loop(point, 1)?;
    let mut reference_step = || reference.update();
    let (t, r) = interleaved(&mut [&mut core_step, &mut reference_step], budget)?;
    Ok(UpdateTiming {
        point,
        core_ns: t[0],
        reference_ns: Some(t[1]),
        ratio: Some(r[1]),
    })
}

/// Least-squares slope of `ln y` on `ln x`: the exponent `b` of `y ∝ xᵇ`.
///
/// # Examples
/// ```
/// let xs = [2.0, 4.0, 8.0];
/// let ys = xs.map(|x: f64| 3.0 * x * x);
/// assert!((hsmoe_host::bench::loglog_slope(&xs, &ys) - 2.0).abs() < 1e-12);
/// ```
pub fn loglog_slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len().min(ys.len()) as f64;
    let (lx, ly): (Vec<f64>, Vec<f64>) = xs.iter().zip(ys).map(|(x, y)| (x.ln(), y.ln())).unzip();
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = lx.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

/// The `c` grid of the PG measurements: 0, 0.5, …, 50.
pub fn pg_grid() -> Vec<f64> {
    (0..=100).map(|i| f64::from(i) * 0.5).collect()
}

/// Calls per round of the PG timings (one pass over the grid is 101).
const PG_BATCH: usize = 10_100;

/// `batch` draws of the core's `PG(1, c)` approximation cycling over `cs`.
///
/// # Examples
/// ```
/// let mut rng = <rand_xorshift::XorShiftRng as rand::SeedableRng>::seed_from_u64(1);
/// assert!(hsmoe_host::bench::core_pg_draws(&mut rng, &[0.0, 50.0], 4) > 0.0);
/// ```
pub fn core_pg_draws(rng: &mut XorShiftRng, cs: &[f64], batch: usize) -> f32 {
    let cs: Vec<f32> = cs.iter().map(|&c| c as f32).collect();
    (0..batch)
        .map(|i| polya_gamma::sample(rng, black_box(cs[i % cs.len()])))
        .sum()
}

/// `batch` draws of the exact (Devroye) `PG(1, c)` sampler cycling over
/// `cs`.
///
/// # Examples
/// ```
/// let mut rng = <rand_xorshift::XorShiftRng as rand::SeedableRng>::seed_from_u64(1);
/// assert!(hsmoe_host::bench::exact_pg_draws(&mut rng, &[0.0, 50.0], 4) > 0.0);
/// ```
pub fn exact_pg_draws(rng: &mut XorShiftRng, cs: &[f64], batch: usize) -> f64 {
    (0..batch)
        .map(|i| reference::polya_gamma::sample(rng, black_box(cs[i % cs.len()])))
        .sum()
}

/// PG draws per second at the values `cs`: (core, exact, core/exact).
fn time_pg(cs: &[f64], budget: Budget) -> anyhow::Result<(f64, f64, f64)> {
    let mut rng = XorShiftRng::seed_from_u64(5);
    let mut rng_exact = XorShiftRng::seed_from_u64(6);
    let mut core = || {
        black_box(core_pg_draws(&mut rng, cs, PG_BATCH));
        Ok(())
    };
    let mut exact = || {
        black_box(exact_pg_draws(&mut rng_exact, cs, PG_BATCH));
        Ok(())
    };
    let (t, r) = interleaved(&mut [&mut core, &mut exact], budget)?;
    let per_s = |ns: f64| PG_BATCH as f64 * 1e9 / ns;
    Ok((per_s(t[0]), per_s(t[1]), r[1]))
}

/// A random SPD matrix `G Gᵀ + I` (lower triangle) and its factor.
fn spd_and_factor<const D: usize>(rng: &mut XorShiftRng) -> anyhow::Result<(Factor<D>, Factor<D>)> {
    let g: Vec<f32> = (0..D * D).map(|_| rng.sample(StandardNormal)).collect();
    let row = |i: usize| &g[i * D..(i + 1) * D];
    let mut a = [[0.0f32; D]; D];
    for (i, a_row) in a.iter_mut().enumerate() {
        for (j, v) in a_row.iter_mut().enumerate().take(i + 1) {
            let gg: f32 = row(i).iter().zip(row(j)).map(|(p, q)| p * q).sum();
            *v = gg + f32::from(u8::from(i == j));
        }
    }
    let mut l = a;
    linalg::cholesky_in_place(&mut l)?;
    Ok((a, l))
}

/// Adds `x xᵀ` to the factor of `a` in O(D²): the rank-1 update, each
/// call on the same starting factor so nothing grows.
///
/// # Errors
/// If the update fails (it does not for an SPD start).
pub fn rank1_update<const D: usize>(l: &Factor<D>, x: &[f32; D]) -> anyhow::Result<Factor<D>> {
    let (mut l, mut work) = (*l, *x);
    linalg::cholesky_rank1_update(&mut l, &mut work)?;
    Ok(l)
}

/// Adds `x xᵀ` to `a` and factors from scratch in O(D³): what a
/// refactorizing engine does per observation.
///
/// # Errors
/// If the factorization fails (it does not for an SPD start).
pub fn refactor<const D: usize>(a: &Factor<D>, x: &[f32; D]) -> anyhow::Result<Factor<D>> {
    let mut a = *a;
    for (i, row) in a.iter_mut().enumerate() {
        for (v, xj) in row.iter_mut().zip(x).take(i + 1) {
            *v += x[i] * xj;
        }
    }
    linalg::cholesky_in_place(&mut a)?;
    Ok(a)
}

/// Calls per round of the Cholesky timings.
const CHOL_BATCH: usize = 1_000;

/// ns per rank-1 update and per refactorization at dimension `D`.
fn time_cholesky_of<const D: usize>(budget: Budget) -> anyhow::Result<(f64, f64)> {
    let mut rng = XorShiftRng::seed_from_u64(D as u64);
    let (a, l) = spd_and_factor::<D>(&mut rng)?;
    let x: [f32; D] = std::array::from_fn(|_| rng.sample(StandardNormal));
    let mut update = || {
        for _ in 0..CHOL_BATCH {
            black_box(rank1_update(black_box(&l), black_box(&x))?);
        }
        Ok(())
    };
    let mut refactored = || {
        for _ in 0..CHOL_BATCH {
            black_box(refactor(black_box(&a), black_box(&x))?);
        }
        Ok(())
    };
    let (t, _) = interleaved(&mut [&mut update, &mut refactored], budget)?;
    Ok((t[0] / CHOL_BATCH as f64, t[1] / CHOL_BATCH as f64))
}

fn time_cholesky(d: usize, budget: Budget) -> anyhow::Result<(f64, f64)> {
    match d {
        2 => time_cholesky_of::<2>(budget),
        4 => time_cholesky_of::<4>(budget),
        8 => time_cholesky_of::<8>(budget),
        16 => time_cholesky_of::<16>(budget),
        _ => bail!("no Cholesky benchmark for D = {d}"),
    }
}

/// A measured value and where it was measured (the JSON shape of the
/// issue's keys).
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// The value.
    pub value: f64,
    /// Particles, if the figure has them.
    pub n: Option<usize>,
    /// Experts.
    pub k: Option<usize>,
    /// Features (for `exponent_d`, the largest of the series).
    pub d: Option<usize>,
    /// Further context (the D series, the c range, the source).
    pub note: String,
}

impl Figure {
    fn at(value: f64, point: Point, note: impl Into<String>) -> Figure {
        Figure {
            value,
            n: Some(point.n),
            k: Some(point.k),
            d: Some(point.d),
            note: note.into(),
        }
    }

    fn bare(value: f64, note: impl Into<String>) -> Figure {
        Figure {
            value,
            n: None,
            k: None,
            d: None,
            note: note.into(),
        }
    }
}

/// The machine and toolchain the figures were taken on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model (from `/proc/cpuinfo` where available).
    pub cpu: String,
    /// Logical CPUs available to this process.
    pub cpus: usize,
    /// 1-minute load average when the report was made (from
    /// `/proc/loadavg`), a hint of how shared the machine was.
    pub load_average: Option<f64>,
    /// Operating system and architecture.
    pub os: String,
    /// `rustc -V` of the toolchain in the working directory, if any.
    pub rustc: Option<String>,
    /// UTC date of the report, `YYYY-MM-DD`.
    pub date: String,
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01
/// (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms",
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

impl Machine {
    /// Reads what it can about this machine.
    ///
    /// # Examples
    /// ```
    /// assert!(hsmoe_host::bench::Machine::this().cpus >= 1);
    /// ```
    pub fn this() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()));
        let rustc = std::process::Command::new("rustc")
            .arg("-V")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs() / 86_400);
        let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_average,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            rustc,
            date: format!("{y:04}-{m:02}-{d:02}"),
        }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {} logical CPUs, {}", self.cpu, self.cpus, self.os)?;
        if let Some(rustc) = &self.rustc {
            write!(f, ", {rustc}")?;
        }
        write!(f, ", {}", self.date)?;
        if let Some(load) = self.load_average {
            write!(f, ", load average {load:.2}")?;
        }
        Ok(())
    }
}

/// Everything one `hsmoe bench` run measured; serialized as its JSON.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Where.
    pub machine: Machine,
    /// How the figures were taken: in this process or by criterion.
    pub source: String,
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// Core ns per update at the target point N = 1000, K = 10, D = 6.
    pub core_update_ns: Figure,
    /// Reference ns per update at the same point, same run.
    pub reference_update_ns: Figure,
    /// Reference time over core time there.
    pub ratio_core_vs_reference: Figure,
    /// Fitted exponent of the core's update time in D (R = D).
    pub exponent_d: Figure,
    /// Core `PG(1, c)` draws per second over the c grid.
    pub pg_draws_per_s: Figure,
    /// Exact (Devroye) draws per second over the same grid.
    pub pg_exact_draws_per_s: Figure,
    /// Core over exact draws per second.
    pub ratio_pg_vs_exact: Figure,
    /// Update time with R = 1 over R = D.
    pub ratio_refresh_r1_vs_rd: Figure,
    /// Firmware instructions per update (`--qemu` only).
    pub firmware_instructions_per_update: Option<Figure>,
    /// The D series of the exponent fit.
    pub update_vs_d: Vec<UpdateTiming>,
    /// Core update time against N.
    pub update_vs_n: Vec<UpdateTiming>,
    /// The issue's grid, core and reference (full runs only).
    pub grid: Vec<UpdateTiming>,
    /// PG draws per second by c: (c, core, exact).
    pub pg_by_c: Vec<(f64, f64, f64)>,
    /// Cholesky ns by D: (D, rank-1 update, refactorization).
    pub cholesky: Vec<(usize, f64, f64)>,
}

/// The raw measurements behind a [`BenchReport`], however taken.
struct Measured {
    source: String,
    quick: bool,
    /// How the ratios were formed, for the figures' notes.
    ratio_note: &'static str,
    headline: UpdateTiming,
    update_vs_d: Vec<UpdateTiming>,
    update_vs_n: Vec<UpdateTiming>,
    /// Core and exact draws per second over [`pg_grid`], and their ratio.
    pg: (f64, f64, f64),
    pg_by_c: Vec<(f64, f64, f64)>,
    refresh_ratio: f64,
    cholesky: Vec<(usize, f64, f64)>,
    grid: Vec<UpdateTiming>,
}

impl BenchReport {
    /// Fits the exponent, attaches the firmware figure and labels every
    /// figure with where it was measured.
    fn of(m: Measured, firmware_instructions_per_update: Option<Figure>) -> BenchReport {
        let ds: Vec<f64> = m.update_vs_d.iter().map(|u| u.point.d as f64).collect();
        let ts: Vec<f64> = m.update_vs_d.iter().map(|u| u.core_ns).collect();
        let series = format!("D in {EXPONENT_DS:?}, R = D, least squares on ln t against ln D");
        let exponent_point = Point::new(
            EXPONENT_NK.0,
            EXPONENT_NK.1,
            EXPONENT_DS[EXPONENT_DS.len() - 1],
        );
        let target = m.headline.point;
        let pg_note = "c = 0, 0.5, ..., 50, cycled";
        let [rd, _] = refresh_points();
        BenchReport {
            machine: Machine::this(),
            source: m.source,
            quick: m.quick,
            core_update_ns: Figure::at(m.headline.core_ns, target, "median"),
            reference_update_ns: Figure::at(
                m.headline.reference_ns.unwrap_or(f64::NAN),
                target,
                "median, same run as the core",
            ),
            ratio_core_vs_reference: Figure::at(
                m.headline.ratio.unwrap_or(f64::NAN),
                target,
                format!("reference time / core time, {}", m.ratio_note),
            ),
            exponent_d: Figure::at(loglog_slope(&ds, &ts), exponent_point, series),
            pg_draws_per_s: Figure::bare(m.pg.0, pg_note),
            pg_exact_draws_per_s: Figure::bare(m.pg.1, pg_note),
            ratio_pg_vs_exact: Figure::bare(
                m.pg.2,
                format!("core draws/s over exact draws/s, {}", m.ratio_note),
            ),
            ratio_refresh_r1_vs_rd: Figure::at(
                m.refresh_ratio,
                rd,
                format!("update time at R = 1 over R = D, {}", m.ratio_note),
            ),
            firmware_instructions_per_update,
            update_vs_d: m.update_vs_d,
            update_vs_n: m.update_vs_n,
            grid: m.grid,
            pg_by_c: m.pg_by_c,
            cholesky: m.cholesky,
        }
    }
}

/// Times the update at every point in `points`, core only or side by side.
fn time_updates(
    points: &[Point],
    with_reference: bool,
    budget: Budget,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<UpdateTiming>> {
    points
        .iter()
        .map(|&p| {
            progress(&format!("update at {}", p.label()));
            time_update(p, with_reference, budget)
        })
        .collect()
}

/// Takes every measurement of `hsmoe bench` in this process, interleaving
/// the workloads of each ratio round by round.
fn measure_here(args: &BenchArgs, progress: &mut dyn FnMut(&str)) -> anyhow::Result<Measured> {
    let budget = Budget::of(args);
    let target = Point::new(TARGET.0, TARGET.1, TARGET.2);
    progress(&format!("update at {}: core and reference", target.label()));
    let headline = time_update(target, true, budget)?;
    progress("update time against D (core)");
    let update_vs_d = time_updates(&exponent_points(), false, budget, progress)?;
    progress("update time against N (core)");
    let n_points: Vec<Point> = GRID_N
        .iter()
        .map(|&n| Point::new(n, N_SERIES_KD.0, N_SERIES_KD.1))
        .collect();
    let update_vs_n = time_updates(&n_points, false, budget, progress)?;

    progress("PG(1, c) draws over c in [0, 50]: core and exact");
    let pg = time_pg(&pg_grid(), budget)?;
    let mut pg_by_c = Vec::new();
    if !args.quick {
        for c in PG_CS {
            let (core, exact, _) = time_pg(&[c], budget)?;
            pg_by_c.push((c, core, exact));
        }
    }

    progress("horseshoe refresh every observation (R = 1) against every D");
    let [rd, r1] = refresh_points();
    let (mut at_rd, mut at_r1) = (core_loop(rd, 1)?, core_loop(r1, 1)?);
    let (_, refresh_ratio) = interleaved(
        &mut [&mut || at_rd.update(), &mut || at_r1.update()],
        budget,
    )?;

    let mut cholesky = Vec::new();
    let mut grid = Vec::new();
    if !args.quick {
        progress("rank-1 update against refactorization");
        for d in CHOLESKY_DS {
            let (update, refactored) = time_cholesky(d, budget)?;
            cholesky.push((d, update, refactored));
        }
        grid = time_updates(&grid_points(), true, budget, progress)?;
    }
    Ok(Measured {
        source: "hsmoe bench: wall-clock medians over interleaved rounds, one process".to_owned(),
        quick: args.quick,
        ratio_note: "median of per-round ratios",
        headline,
        update_vs_d,
        update_vs_n,
        pg,
        pg_by_c,
        refresh_ratio: refresh_ratio[1],
        cholesky,
        grid,
    })
}

/// Criterion results: per benchmark id `group/function/value`, the median
/// ns per iteration and the elements per iteration (its throughput).
struct CriterionResults(HashMap<String, (f64, Option<f64>)>);

impl CriterionResults {
    /// Reads every `*/new/{benchmark,estimates}.json` under `dir`.
    fn read(dir: &Path) -> anyhow::Result<CriterionResults> {
        let json = |path: PathBuf| -> anyhow::Result<serde_json::Value> {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        };
        let mut found = HashMap::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(d) = dirs.pop() {
            let entries =
                std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))?;
            for entry in entries {
                let path = entry?.path();
                if !path.is_dir() {
                    continue;
                }
                if !path.ends_with("new") {
                    dirs.push(path);
                    continue;
                }
                let id = json(path.join("benchmark.json"))?;
                let estimates = json(path.join("estimates.json"))?;
                let key = ["group_id", "function_id", "value_str"]
                    .map(|f| id[f].as_str().unwrap_or(""))
                    .join("/");
                let median = estimates["median"]["point_estimate"]
                    .as_f64()
                    .ok_or_else(|| anyhow!("{}: no median estimate", path.display()))?;
                let elements = id["throughput"]["Elements"].as_f64();
                found.insert(key, (median, elements));
            }
        }
        if found.is_empty() {
            bail!(
                "{}: no criterion results (run scripts/bench-host.sh)",
                dir.display()
            );
        }
        Ok(CriterionResults(found))
    }

    fn get(&self, group: &str, function: &str, value: &str) -> anyhow::Result<(f64, Option<f64>)> {
        let key = format!("{group}/{function}/{value}");
        self.0
            .get(&key)
            .copied()
            .ok_or_else(|| anyhow!("criterion results lack {key} (run scripts/bench-host.sh)"))
    }

    fn ns(&self, group: &str, function: &str, value: &str) -> anyhow::Result<f64> {
        Ok(self.get(group, function, value)?.0)
    }

    /// Core and reference at `p`, ratio of medians.
    fn update(&self, p: Point) -> anyhow::Result<UpdateTiming> {
        let core = self.ns("update", "core", &p.label())?;
        let reference = self.ns("update", "reference", &p.label())?;
        Ok(UpdateTiming {
            point: p,
            core_ns: core,
            reference_ns: Some(reference),
            ratio: Some(reference / core),
        })
    }

    /// Draws per second of the PG sampler `function` at `c`.
    fn pg_rate(&self, function: &str, c: Option<f64>) -> anyhow::Result<f64> {
        let (ns, elements) = self.get("pg", function, &pg_label(c))?;
        Ok(elements.unwrap_or(1.0) * 1e9 / ns)
    }

    /// The measurements of a full `hsmoe bench`, from criterion's results.
    fn measured(&self, dir: &Path) -> anyhow::Result<Measured> {
        let updates = |points: Vec<Point>| -> anyhow::Result<Vec<UpdateTiming>> {
            points.into_iter().map(|p| self.update(p)).collect()
        };
        let n_points = GRID_N
            .iter()
            .map(|&n| Point::new(n, N_SERIES_KD.0, N_SERIES_KD.1))
            .collect();
        let (pg_core, pg_exact) = (self.pg_rate("core", None)?, self.pg_rate("exact", None)?);
        let pg_by_c = PG_CS
            .iter()
            .map(|&c| {
                Ok((
                    c,
                    self.pg_rate("core", Some(c))?,
                    self.pg_rate("exact", Some(c))?,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        let [rd, r1] = refresh_points();
        let refresh = |p: Point| self.ns("refresh", "core", &p.label());
        let cholesky = CHOLESKY_DS
            .iter()
            .map(|&d| {
                let d_label = d.to_string();
                let update = self.ns("cholesky", "rank1_update", &d_label)?;
                Ok((d, update, self.ns("cholesky", "refactor", &d_label)?))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Measured {
            source: format!(
                "criterion medians, one `cargo bench` run (scripts/bench-host.sh), {}",
                dir.display()
            ),
            quick: false,
            ratio_note: "ratio of criterion medians",
            headline: self.update(Point::new(TARGET.0, TARGET.1, TARGET.2))?,
            update_vs_d: updates(exponent_points())?,
            update_vs_n: updates(n_points)?,
            pg: (pg_core, pg_exact, pg_core / pg_exact),
            pg_by_c,
            refresh_ratio: refresh(r1)? / refresh(rd)?,
            cholesky,
            grid: updates(grid_points())?,
        })
    }
}

/// Runs every measurement of `hsmoe bench` (see the module docs), or reads
/// them from criterion's results with `args.criterion`, and returns the
/// report; `progress` gets one line per figure as it is taken.
///
/// # Errors
/// If an engine fails, criterion's results are missing, or `args.qemu` and
/// the firmware run fails.
pub fn measure(args: &BenchArgs, progress: &mut dyn FnMut(&str)) -> anyhow::Result<BenchReport> {
    let measured = match &args.criterion {
        Some(dir) => {
            progress(&format!("reading criterion results from {}", dir.display()));
            CriterionResults::read(dir)?.measured(dir)?
        }
        None => measure_here(args, progress)?,
    };
    let firmware = if args.qemu {
        progress("firmware in QEMU");
        Some(firmware_instructions()?)
    } else {
        None
    };
    Ok(BenchReport::of(measured, firmware))
}

/// Firmware SysTick ticks per instruction under QEMU `-icount shift=0`
/// (one instruction per virtual ns) with the SysTick clocked at 25 MHz:
/// 40 instructions per tick (see `firmware/qemu-run.sh`).
const INSTRUCTIONS_PER_TICK: f64 = 40.0;

/// Rows streamed to the firmware, and how many of them warm it up.
const FIRMWARE_ROWS: (usize, usize) = (200, 20);

/// Boots the default firmware in QEMU, streams benchmark rows and returns
/// the mean instructions per update after warm-up, from the ticks each
/// `Update` reports.
fn firmware_instructions() -> anyhow::Result<Figure> {
    let dir = std::env::temp_dir().join(format!("hsmoe-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let csv = dir.join("rows.csv");
    // The default firmware has D = 4: an intercept (added by `run`) and 3
    // features.
    let mut text = String::from("x1,x2,x3,y\n");
    for (x, y) in rows(4, FIRMWARE_ROWS.0, DATA_SEED) {
        writeln!(text, "{},{},{},{}", x[1], x[2], x[3], y)?;
    }
    std::fs::write(&csv, text).with_context(|| format!("writing {}", csv.display()))?;
    let summary = run::run(&RunArgs {
        quiet: true,
        ..RunArgs::qemu(csv)
    })?;
    let ticks: Vec<f64> = summary
        .answers
        .iter()
        .skip(FIRMWARE_ROWS.1)
        .filter_map(|a| match a {
            hsmoe_core::protocol::Response::Update { ticks, .. } => Some(f64::from(*ticks)),
            _ => None,
        })
        .collect();
    if ticks.is_empty() {
        bail!("the firmware answered no update after warm-up");
    }
    let mean = ticks.iter().sum::<f64>() / ticks.len() as f64;
    let device = summary.device;
    Ok(Figure::at(
        mean * INSTRUCTIONS_PER_TICK,
        Point::new(device.n as usize, device.k as usize, device.d as usize),
        format!(
            "QEMU mps2-an386 -icount shift=0, mean over {} updates after {} warm-up, {} instructions per SysTick tick",
            ticks.len(),
            FIRMWARE_ROWS.1,
            INSTRUCTIONS_PER_TICK
        ),
    ))
}

/// Whether a figure meets its target, for the target column.
fn verdict(met: bool) -> &'static str {
    if met {
        ": met"
    } else {
        ": **not met**"
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

impl BenchReport {
    /// The report as Markdown tables (what `hsmoe bench` prints).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = self.write_markdown(&mut s);
        s
    }

    fn write_markdown(&self, s: &mut String) -> std::fmt::Result {
        writeln!(
            s,
            "Machine: {}{}.\nFigures: {}.\n",
            self.machine,
            if self.quick { " (--quick)" } else { "" },
            self.source
        )?;
        let at = |f: &Figure| match (f.n, f.k, f.d) {
            (Some(n), Some(k), Some(d)) => format!("N = {n}, K = {k}, D = {d}"),
            _ => f.note.clone(),
        };
        writeln!(s, "| figure | value | at | target |")?;
        writeln!(s, "|---|---|---|---|")?;
        let c = &self.core_update_ns;
        writeln!(s, "| core update | {} | {} | |", fmt_ns(c.value), at(c))?;
        let r = &self.reference_update_ns;
        writeln!(
            s,
            "| reference update | {} | {} | |",
            fmt_ns(r.value),
            at(r)
        )?;
        let ratio = &self.ratio_core_vs_reference;
        writeln!(
            s,
            "| core vs reference | {:.1}× faster | {} | ≥ 5×{} |",
            ratio.value,
            at(ratio),
            verdict(ratio.value >= 5.0)
        )?;
        let e = &self.exponent_d;
        writeln!(
            s,
            "| exponent of update time in D | {:.2} | N = {}, K = {}, {} | ≤ 2.2{} |",
            e.value,
            EXPONENT_NK.0,
            EXPONENT_NK.1,
            e.note,
            verdict(e.value <= 2.2)
        )?;
        let (pg, exact) = (&self.pg_draws_per_s, &self.pg_exact_draws_per_s);
        writeln!(
            s,
            "| PG(1, c) core (f32 approximation) | {:.2} M draws/s | {} | |",
            pg.value / 1e6,
            pg.note
        )?;
        writeln!(
            s,
            "| PG(1, c) exact (Devroye, f64) | {:.2} M draws/s | {} | |",
            exact.value / 1e6,
            exact.note
        )?;
        writeln!(
            s,
            "| PG core vs exact | {:.1}× | same run | ≥ 2×{} |",
            self.ratio_pg_vs_exact.value,
            verdict(self.ratio_pg_vs_exact.value >= 2.0)
        )?;
        let rr = &self.ratio_refresh_r1_vs_rd;
        writeln!(
            s,
            "| refresh R = 1 vs R = D | {:.2}× slower | {} | |",
            rr.value,
            at(rr)
        )?;
        match &self.firmware_instructions_per_update {
            Some(f) => {
                let per_particle = f.value / f.n.unwrap_or(1) as f64;
                writeln!(
                    s,
                    "| firmware instructions per update | {:.0} ({per_particle:.0} per particle) | {} (QEMU) | ≤ 5 000 per particle{} |",
                    f.value,
                    at(f),
                    verdict(per_particle <= 5_000.0)
                )?
            }
            None => writeln!(
                s,
                "| firmware instructions per update | not measured (--qemu) | | ≤ 5 000 per particle |"
            )?,
        }
        writeln!(
            s,
            "\nUpdate time against D (N = {}, K = {}, R = D):\n",
            EXPONENT_NK.0, EXPONENT_NK.1
        )?;
        series_table(s, "D", &self.update_vs_d, |p| p.d)?;
        writeln!(
            s,
            "\nUpdate time against N (K = {}, D = {}):\n",
            N_SERIES_KD.0, N_SERIES_KD.1
        )?;
        series_table(s, "N", &self.update_vs_n, |p| p.n)?;
        if !self.pg_by_c.is_empty() {
            writeln!(s, "\nPG(1, c) draws per second by c:\n")?;
            writeln!(s, "| c | core (M/s) | exact (M/s) | core vs exact |")?;
            writeln!(s, "|---|---|---|---|")?;
            for (c, core, exact) in &self.pg_by_c {
                writeln!(
                    s,
                    "| {c} | {:.2} | {:.2} | {:.1}× |",
                    core / 1e6,
                    exact / 1e6,
                    core / exact
                )?;
            }
        }
        if !self.cholesky.is_empty() {
            writeln!(
                s,
                "\nRank-1 Cholesky update against refactorization (P + x xᵀ):\n"
            )?;
            writeln!(s, "| D | rank-1 update | refactorization | ratio |")?;
            writeln!(s, "|---|---|---|---|")?;
            for (d, update, refactored) in &self.cholesky {
                writeln!(
                    s,
                    "| {d} | {} | {} | {:.1}× |",
                    fmt_ns(*update),
                    fmt_ns(*refactored),
                    refactored / update
                )?;
            }
        }
        if !self.grid.is_empty() {
            writeln!(
                s,
                "\nOne PL update, core against the f64 reference, same run (R = D):\n"
            )?;
            writeln!(
                s,
                "| N | K | D | core | core per particle | reference | core vs reference |"
            )?;
            writeln!(s, "|---|---|---|---|---|---|---|")?;
            for u in &self.grid {
                let p = u.point;
                writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {:.1}× |",
                    p.n,
                    p.k,
                    p.d,
                    fmt_ns(u.core_ns),
                    fmt_ns(u.core_ns / p.n as f64),
                    u.reference_ns.map_or("–".to_owned(), fmt_ns),
                    u.ratio.unwrap_or(f64::NAN)
                )?;
            }
            self.write_grid_exponents(s)?;
        }
        Ok(())
    }

    /// The exponent in D over the grid's D ≥ 4 at each (N, K).
    fn write_grid_exponents(&self, s: &mut String) -> std::fmt::Result {
        let ds: Vec<usize> = GRID_D.iter().copied().filter(|&d| d >= 4).collect();
        writeln!(
            s,
            "\nFitted exponent of update time in D over D ∈ {ds:?} (R = D), per (N, K):\n"
        )?;
        writeln!(s, "| N | K | core | reference |")?;
        writeln!(s, "|---|---|---|---|")?;
        for n in GRID_N {
            for k in GRID_K {
                let row: Vec<&UpdateTiming> = self
                    .grid
                    .iter()
                    .filter(|u| u.point.n == n && u.point.k == k && ds.contains(&u.point.d))
                    .collect();
                let xs: Vec<f64> = row.iter().map(|u| u.point.d as f64).collect();
                let core: Vec<f64> = row.iter().map(|u| u.core_ns).collect();
                let reference: Option<Vec<f64>> = row.iter().map(|u| u.reference_ns).collect();
                let reference = reference.map_or("–".to_owned(), |r| {
                    format!("{:.2}", loglog_slope(&xs, &r))
                });
                writeln!(
                    s,
                    "| {n} | {k} | {:.2} | {reference} |",
                    loglog_slope(&xs, &core)
                )?;
            }
        }
        Ok(())
    }
}

/// A series of update times against one coordinate of the point, with the
/// reference where measured.
fn series_table(
    s: &mut String,
    name: &str,
    series: &[UpdateTiming],
    x: impl Fn(&Point) -> usize,
) -> std::fmt::Result {
    writeln!(
        s,
        "| {name} | core | core per particle | reference | core vs reference |"
    )?;
    writeln!(s, "|---|---|---|---|---|")?;
    for u in series {
        writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            x(&u.point),
            fmt_ns(u.core_ns),
            fmt_ns(u.core_ns / u.point.n as f64),
            u.reference_ns.map_or("–".to_owned(), fmt_ns),
            u.ratio.map_or("–".to_owned(), |r| format!("{r:.1}×"))
        )?;
    }
    Ok(())
}

/// The lines around the generated block of a Markdown file (`--into`).
const BLOCK: (&str, &str) = ("<!-- hsmoe bench: begin -->", "<!-- hsmoe bench: end -->");

/// `text` with the block between the marker lines
/// `<!-- hsmoe bench: begin -->` and `<!-- hsmoe bench: end -->` replaced by
/// `report`, markers kept.
///
/// # Errors
/// If `text` lacks either marker, or has them out of order.
///
/// # Examples
/// ```
/// let doc = "# B\n<!-- hsmoe bench: begin -->\nold\n<!-- hsmoe bench: end -->\ntail\n";
/// let new = hsmoe_host::bench::splice(doc, "new\n").unwrap();
/// assert_eq!(new, "# B\n<!-- hsmoe bench: begin -->\nnew\n<!-- hsmoe bench: end -->\ntail\n");
/// assert!(hsmoe_host::bench::splice("# B\n", "new\n").is_err());
/// ```
pub fn splice(text: &str, report: &str) -> anyhow::Result<String> {
    let begin = text
        .find(BLOCK.0)
        .ok_or_else(|| anyhow!("no line {}", BLOCK.0))?
        + BLOCK.0.len();
    let end = text[begin..]
        .find(BLOCK.1)
        .ok_or_else(|| anyhow!("no line {} after {}", BLOCK.1, BLOCK.0))?
        + begin;
    Ok(format!("{}\n{report}{}", &text[..begin], &text[end..]))
}

/// Size of the plot in pixels.
const PLOT_SIZE: (u32, u32) = (1100, 500);

/// Registers the shipped DejaVu Sans as plotters' "sans-serif" (once).
fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // The font file is part of the build; it parses.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

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
    let (blue, orange, grey) = (
        RGBColor(20, 60, 200),
        RGBColor(230, 120, 20),
        RGBColor(120, 120, 120),
    );
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
    panel(&left, &title_d, "D (features)", &by_d, 2.0, grey)?;

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
        &by_n,
        1.0,
        grey,
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

/// One log-log panel: the series, and a dashed grey guide of slope `guide`
/// through the first point of the first series.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    series: &[Series],
    guide: f64,
    grey: RGBColor,
) -> PlotResult<DB> {
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
        .y_desc("µs per update")
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

/// `hsmoe bench`: measures (progress on stderr), prints the Markdown
/// tables, and writes the JSON and the plot if asked.
///
/// # Errors
/// A failed measurement, or a file that cannot be written.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let mut err = std::io::stderr();
    let report = measure(args, &mut |line| {
        let _ = writeln!(err, "bench: {line}");
    })?;
    write!(std::io::stdout().lock(), "{}", report.markdown())?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        plot(&report, path)?;
    }
    if let Some(path) = &args.into {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let text = splice(&text, &report.markdown()).with_context(|| path.display().to_string())?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_builds_and_updates() {
        for (k, d) in SHAPES {
            let mut filter = core_loop(Point::new(4, k, d), 3).unwrap();
            filter.update().unwrap();
        }
    }

    #[test]
    fn median_and_slope() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        let xs = [4.0, 8.0, 16.0];
        let ys = xs.map(|x: f64| 0.5 * x.powf(1.7));
        assert!((loglog_slope(&xs, &ys) - 1.7).abs() < 1e-12);
    }

    /// The JSON carries the issue's keys, each with where it was measured.
    #[test]
    fn json_has_the_issue_keys() {
        let p = Point::new(8, 2, 2);
        let fig = || Figure::at(1.0, p, "x");
        let report = BenchReport {
            machine: Machine::this(),
            source: "test".to_owned(),
            quick: true,
            core_update_ns: fig(),
            reference_update_ns: fig(),
            ratio_core_vs_reference: fig(),
            exponent_d: fig(),
            pg_draws_per_s: Figure::bare(1.0, "c"),
            pg_exact_draws_per_s: Figure::bare(1.0, "c"),
            ratio_pg_vs_exact: Figure::bare(1.0, "c"),
            ratio_refresh_r1_vs_rd: fig(),
            firmware_instructions_per_update: None,
            update_vs_d: Vec::new(),
            update_vs_n: Vec::new(),
            grid: Vec::new(),
            pg_by_c: Vec::new(),
            cholesky: Vec::new(),
        };
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        for key in [
            "core_update_ns",
            "reference_update_ns",
            "ratio_core_vs_reference",
            "exponent_d",
        ] {
            assert_eq!(json[key]["n"], 8, "{key}");
            assert_eq!(
                (json[key]["k"].clone(), json[key]["d"].clone()),
                (2.into(), 2.into())
            );
        }
        assert!(json["pg_draws_per_s"]["value"].is_number());
        assert!(json["pg_exact_draws_per_s"]["value"].is_number());
        assert!(json["firmware_instructions_per_update"].is_null());
        assert!(report
            .markdown()
            .contains("| core vs reference | 1.0× faster |"));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
    }

    /// Criterion's layout `<group>/<function>/<value>/new/*.json` is read
    /// by the ids inside the files, with throughput turned into rates.
    #[test]
    fn reads_criterion_results() {
        let dir = std::env::temp_dir().join(format!("hsmoe-criterion-{}", std::process::id()));
        let write = |sub: &str, id: &str, median: f64| {
            let new = dir.join(sub).join("new");
            std::fs::create_dir_all(&new).unwrap();
            std::fs::write(new.join("benchmark.json"), id).unwrap();
            let estimates = format!(r#"{{"median": {{"point_estimate": {median}}}}}"#);
            std::fs::write(new.join("estimates.json"), estimates).unwrap();
        };
        write(
            "pg/core/c0-50",
            r#"{"group_id": "pg", "function_id": "core", "value_str": "c0-50", "throughput": {"Elements": 1000}}"#,
            2000.0,
        );
        let label = Point::new(64, 2, 2).label();
        write(
            "update/core/x",
            &format!(
                r#"{{"group_id": "update", "function_id": "core", "value_str": "{label}", "throughput": null}}"#
            ),
            10.0,
        );
        let results = CriterionResults::read(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(results.pg_rate("core", None).unwrap(), 5e8);
        assert_eq!(results.ns("update", "core", &label).unwrap(), 10.0);
        assert!(
            results.update(Point::new(64, 2, 2)).is_err(),
            "no reference"
        );
    }

    #[test]
    fn rank1_update_and_refactor_agree() {
        let mut rng = XorShiftRng::seed_from_u64(2);
        let (a, l) = spd_and_factor::<8>(&mut rng).unwrap();
        let x = [0.5f32; 8];
        let (u, f) = (rank1_update(&l, &x).unwrap(), refactor(&a, &x).unwrap());
        for (ru, rf) in u.iter().zip(&f) {
            for (p, q) in ru.iter().zip(rf) {
                assert!((p - q).abs() < 1e-4, "{p} vs {q}");
            }
        }
    }
}
