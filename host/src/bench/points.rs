//! Where the benchmarks measure: the compiled shapes, the grids and series
//! of points, and the data stream they time.

use hsmoe_core::Config;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xorshift::XorShiftRng;
use serde::Serialize;

/// The (K, D) shapes the benchmarks are compiled for (`N` is a runtime
/// length): the benchmark grid K ∈ {2, 4, 10} × D ∈ {2, 4, 8, 16}, the
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
            (k, d) => Err(anyhow::anyhow!(
                "no benchmark build for K = {k}, D = {d}; built: {:?}",
                $crate::bench::points::SHAPES
            )),
        }
    };
}
pub(super) use with_shape;

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
    /// let p = hsmoe_host::bench::points::Point::new(1000, 10, 6);
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

    pub(super) fn config(&self) -> Config {
        Config {
            refresh_every: self.r,
            ..Config::default_for(self.d)
        }
    }

    /// The criterion benchmark label of the point, `N{n}_K{k}_D{d}_R{r}`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::bench::points::Point;
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

/// Particles of the benchmark grid.
pub const GRID_N: [usize; 3] = [64, 256, 1024];

/// Experts of the benchmark grid.
pub const GRID_K: [usize; 3] = [2, 4, 10];

/// Features of the benchmark grid.
pub const GRID_D: [usize; 4] = [2, 4, 8, 16];

/// The benchmark grid `N × K × D` at `R = D`.
///
/// # Examples
/// ```
/// assert_eq!(hsmoe_host::bench::points::grid_points().len(), 36);
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

/// The target point of the benchmarks (the paper design's size).
pub const TARGET: (usize, usize, usize) = (1000, 10, 6);

/// Particles and experts of the exponent series.
pub const EXPONENT_NK: (usize, usize) = (256, 4);

/// D series of the exponent fit (D from 4 to 16).
pub const EXPONENT_DS: [usize; 5] = [4, 6, 8, 12, 16];

/// The exponent series: D ∈ [`EXPONENT_DS`] at [`EXPONENT_NK`], `R = D`.
///
/// # Examples
/// ```
/// let ds: Vec<usize> = hsmoe_host::bench::points::exponent_points().iter().map(|p| p.d).collect();
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
/// assert_eq!(hsmoe_host::bench::points::update_points().len(), 39);
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
/// let [rd, r1] = hsmoe_host::bench::points::refresh_points();
/// assert_eq!((rd.r, r1.r, rd.d), (8, 1, 8));
/// ```
pub fn refresh_points() -> [Point; 2] {
    let rd = Point::new(256, 4, 8);
    [rd, Point { r: 1, ..rd }]
}

/// The single values of `c` at which PG draws are also timed.
pub const PG_CS: [f64; 5] = [0.0, 1.0, 5.0, 20.0, 50.0];

/// The criterion label of PG draws at one `c`, or over the whole grid
/// ([`pg_grid`](super::timing::pg_grid)) for `None`.
///
/// # Examples
/// ```
/// use hsmoe_host::bench::points::pg_label;
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
/// let rows = hsmoe_host::bench::points::rows(4, 10, 1);
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
