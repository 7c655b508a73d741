//! The timers: one PL update of the core and of the reference engine,
//! `PG(1, c)` draws, and the rank-1 Cholesky update.

use crate::engine::OwnedSet;
use crate::reference::{self, ReferenceFilter};
use anyhow::bail;
use hsmoe_core::dist::polya_gamma;
use hsmoe_core::linalg::{self, Factor, Triangle};
use hsmoe_core::{Const, Experts, Features};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xorshift::XorShiftRng;
use serde::Serialize;
use std::hint::black_box;
use std::time::{Duration, Instant};

use super::args::BenchArgs;
use super::points::{rows, with_shape, Point};

/// Rows fed before timing starts, so experts and sticks hold data.
const WARM_UP: usize = 20;

/// Length of the cycled row stream.
const STREAM: usize = 4_000;

/// Seed of the data stream (the engines' own streams are seeded apart).
pub(super) const DATA_SEED: u64 = 11;

/// A filter fed an endless stream of rows, one PL update per call.
pub trait UpdateLoop {
    /// Absorbs the next row.
    ///
    /// # Errors
    /// If the engine refuses the row (it should not on this design).
    fn update(&mut self) -> anyhow::Result<()>;
}

/// The core filter of one shape, its storage on the heap.
struct CoreLoop<const K: usize, const D: usize>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    storage: OwnedSet<K, D>,
    rng: XorShiftRng,
    rows: Vec<([f32; D], f32)>,
    next: usize,
}

impl<const K: usize, const D: usize> UpdateLoop for CoreLoop<K, D>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    fn update(&mut self) -> anyhow::Result<()> {
        let (x, y) = &self.rows[self.next % self.rows.len()];
        self.next += 1;
        black_box(self.storage.as_set()?.observe(x, *y, &mut self.rng)?);
        Ok(())
    }
}

fn core_loop_of<const K: usize, const D: usize>(
    point: Point,
    seed: u64,
) -> anyhow::Result<Box<dyn UpdateLoop>>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let n = point.n;
    let mut filter = CoreLoop::<K, D> {
        storage: OwnedSet::new(n, point.config()),
        rng: XorShiftRng::seed_from_u64(seed),
        rows: rows(D, STREAM, DATA_SEED)
            .into_iter()
            .map(|(x, y)| Ok((<[f32; D]>::try_from(x.as_slice())?, y)))
            .collect::<anyhow::Result<_>>()?,
        next: 0,
    };
    filter
        .storage
        .as_set()?
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
/// If `(k, d)` is not among [`SHAPES`](super::points::SHAPES) or the filter fails.
///
/// # Examples
/// ```
/// use hsmoe_host::bench::{points::Point, timing::core_loop};
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
/// use hsmoe_host::bench::{points::Point, timing::reference_loop};
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
pub(super) struct Budget {
    rounds: usize,
    round: Duration,
}

impl Budget {
    pub(super) fn of(args: &BenchArgs) -> Budget {
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
pub(super) fn median(values: &mut [f64]) -> f64 {
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
pub(super) fn interleaved(
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
pub(super) fn time_update(
    point: Point,
    with_reference: bool,
    budget: Budget,
) -> anyhow::Result<UpdateTiming> {
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
/// assert!((hsmoe_host::bench::timing::loglog_slope(&xs, &ys) - 2.0).abs() < 1e-12);
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
/// assert!(hsmoe_host::bench::timing::core_pg_draws(&mut rng, &[0.0, 50.0], 4) > 0.0);
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
/// assert!(hsmoe_host::bench::timing::exact_pg_draws(&mut rng, &[0.0, 50.0], 4) > 0.0);
/// ```
pub fn exact_pg_draws(rng: &mut XorShiftRng, cs: &[f64], batch: usize) -> f64 {
    (0..batch)
        .map(|i| reference::polya_gamma::sample(rng, black_box(cs[i % cs.len()])))
        .sum()
}

/// PG draws per second at the values `cs`: (core, exact, core/exact).
pub(super) fn time_pg(cs: &[f64], budget: Budget) -> anyhow::Result<(f64, f64, f64)> {
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
fn spd_and_factor<const D: usize>(rng: &mut XorShiftRng) -> anyhow::Result<(Triangle<D>, Factor<D>)>
where
    Const<D>: Features,
{
    let g: Vec<f32> = (0..D * D).map(|_| rng.sample(StandardNormal)).collect();
    let row = |i: usize| &g[i * D..(i + 1) * D];
    let a = Triangle::from_fn(|i, j| {
        let gg: f32 = row(i).iter().zip(row(j)).map(|(p, q)| p * q).sum();
        gg + f32::from(u8::from(i == j))
    });
    let mut l = a;
    linalg::cholesky_in_place(&mut l)?;
    Ok((a, l))
}

/// Adds `x xᵀ` to the factor of `a` in O(D²): the rank-1 update, each
/// call on the same starting factor so nothing grows.
///
/// # Errors
/// If the update fails (it does not for an SPD start).
pub fn rank1_update<const D: usize>(l: &Factor<D>, x: &[f32; D]) -> anyhow::Result<Factor<D>>
where
    Const<D>: Features,
{
    let (mut l, mut work) = (*l, *x);
    linalg::cholesky_rank1_update(&mut l, &mut work)?;
    Ok(l)
}

/// Adds `x xᵀ` to `a` and factors from scratch in O(D³): what a
/// refactorizing engine does per observation.
///
/// # Errors
/// If the factorization fails (it does not for an SPD start).
pub fn refactor<const D: usize>(a: &Triangle<D>, x: &[f32; D]) -> anyhow::Result<Factor<D>>
where
    Const<D>: Features,
{
    let mut a = Triangle::from_fn(|i, j| a[(i, j)] + x[i] * x[j]);
    linalg::cholesky_in_place(&mut a)?;
    Ok(a)
}

/// Calls per round of the Cholesky timings.
const CHOL_BATCH: usize = 1_000;

/// ns per rank-1 update and per refactorization at dimension `D`.
fn time_cholesky_of<const D: usize>(budget: Budget) -> anyhow::Result<(f64, f64)>
where
    Const<D>: Features,
{
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

pub(super) fn time_cholesky(d: usize, budget: Budget) -> anyhow::Result<(f64, f64)> {
    match d {
        2 => time_cholesky_of::<2>(budget),
        4 => time_cholesky_of::<4>(budget),
        8 => time_cholesky_of::<8>(budget),
        16 => time_cholesky_of::<16>(budget),
        _ => bail!("no Cholesky benchmark for D = {d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::points::SHAPES;

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

    #[test]
    fn rank1_update_and_refactor_agree() {
        let mut rng = XorShiftRng::seed_from_u64(2);
        let (a, l) = spd_and_factor::<8>(&mut rng).unwrap();
        let x = [0.5f32; 8];
        let (u, f) = (rank1_update(&l, &x).unwrap(), refactor(&a, &x).unwrap());
        for (p, q) in u.entries().iter().zip(f.entries()) {
            assert!((p - q).abs() < 1e-4, "{p} vs {q}");
        }
    }
}
