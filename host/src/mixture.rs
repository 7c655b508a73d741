//! Posterior summaries a saved model answers with, in f64: quantiles of
//! the predictive mixture of Student-t components (docs/model.md §8), and
//! expert coefficients in the data's original units.

use crate::data::Scaling;
use serde::{Deserialize, Serialize};

/// One component of the posterior predictive at an `x`: particle `i`'s
/// expert `k`, weighted by `π_k(x)/N`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TComponent {
    /// Mixture weight.
    pub weight: f64,
    /// Location.
    pub loc: f64,
    /// Squared scale.
    pub scale2: f64,
    /// Degrees of freedom.
    pub df: f64,
}

impl TComponent {
    /// `P(Y ≤ y)` for this Student-t.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::mixture::TComponent;
    /// let t = TComponent { weight: 1.0, loc: 2.0, scale2: 4.0, df: 1.0 };
    /// assert!((t.cdf(2.0) - 0.5).abs() < 1e-12);
    /// assert!((t.cdf(4.0) - 0.75).abs() < 1e-9); // Cauchy: ½ + atan(1)/π
    /// ```
    pub fn cdf(&self, y: f64) -> f64 {
        self.cdf_with(y, ln_beta(0.5 * self.df, 0.5))
    }

    /// [`TComponent::cdf`] with `ln B(df/2, 1/2)` computed once.
    fn cdf_with(&self, y: f64, ln_b: f64) -> f64 {
        let z = (y - self.loc) / self.scale2.sqrt();
        let tail = 0.5 * regularized_beta(self.df / (self.df + z * z), 0.5 * self.df, 0.5, ln_b);
        if z > 0.0 {
            1.0 - tail
        } else {
            tail
        }
    }
}

/// `ln B(a, b)`.
fn ln_beta(a: f64, b: f64) -> f64 {
    libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b)
}

/// `P(Y ≤ y)` under the mixture, each component's `ln B` given.
fn mixture_cdf(components: &[TComponent], ln_b: &[f64], y: f64) -> f64 {
    components
        .iter()
        .zip(ln_b)
        .map(|(c, &l)| c.weight * c.cdf_with(y, l))
        .sum()
}

/// The `p`-quantile of the mixture (`0 < p < 1`), by bracketing and
/// bisection to f64 resolution; NaN for an empty mixture or a `p` outside
/// (0, 1).
///
/// # Examples
/// ```
/// use hsmoe_host::mixture::{mixture_quantile, TComponent};
/// let t = |loc| TComponent { weight: 0.5, loc, scale2: 1.0, df: 1e6 };
/// let mix = [t(-1.0), t(1.0)];
/// assert!(mixture_quantile(&mix, 0.5).abs() < 1e-9); // symmetric
/// let q = mixture_quantile(&[TComponent { weight: 1.0, ..t(0.0) }], 0.975);
/// assert!((q - 1.959964).abs() < 1e-4); // a normal's
/// ```
pub fn mixture_quantile(components: &[TComponent], p: f64) -> f64 {
    if components.is_empty() || !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    let ln_b: Vec<f64> = components
        .iter()
        .map(|c| ln_beta(0.5 * c.df, 0.5))
        .collect();
    let cdf = |y: f64| mixture_cdf(components, &ln_b, y);
    let spread = components
        .iter()
        .map(|c| c.scale2.sqrt())
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let locs = components.iter().map(|c| c.loc);
    let (mut lo, mut hi) = (
        locs.clone().fold(f64::INFINITY, f64::min) - spread,
        locs.fold(f64::NEG_INFINITY, f64::max) + spread,
    );
    // Heavy tails (few degrees of freedom) may put the quantile far out.
    let mut width = spread;
    while cdf(lo) > p && lo.is_finite() {
        width *= 2.0;
        lo -= width;
    }
    width = spread;
    while cdf(hi) < p && hi.is_finite() {
        width *= 2.0;
        hi += width;
    }
    // Bisection to a relative width of 1e-12 of the bracket's scale.
    let tolerance = 1e-12 * spread.max(lo.abs()).max(hi.abs());
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if hi - lo <= tolerance || mid <= lo || mid >= hi {
            break;
        }
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The regularized incomplete beta function `I_x(a, b)` by its continued
/// fraction (modified Lentz), on the side where it converges fast;
/// `ln_b` is `ln B(a, b)`.
fn regularized_beta(x: f64, a: f64, b: f64, ln_b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = a * x.ln() + b * (1.0 - x).ln() - ln_b;
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of `I_x(a, b)` (Numerical Recipes' `betacf`).
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let clamp = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / clamp(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / clamp(1.0 + even * d);
        c = clamp(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / clamp(1.0 + odd * d);
        c = clamp(1.0 + odd / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The affine map from the model's coefficients β (standardized units,
/// intercept first if there is one) to the original units' γ = `offset`
/// + `rows`·β: with `y = s_y·y' + μ_y` and `x'_l = (x_l − μ_l)/s_l`,
///   `γ_l = s_y β_l / s_l` and the intercept `γ_0 = μ_y + s_y(β_0 − Σ_l β_l μ_l/s_l)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unstandardize {
    /// One row per coefficient (length d each).
    pub rows: Vec<Vec<f64>>,
    /// Added to each coefficient.
    pub offset: Vec<f64>,
}

impl Unstandardize {
    /// The map for `d` coefficients, the first the intercept when
    /// `intercept`; the identity without `scaling`. Without an intercept
    /// the shift `μ_y − s_y Σ_l β_l μ_l/s_l` has no coefficient to go to
    /// and is left out.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::{data::Scaling, mixture::Unstandardize};
    /// let s = Scaling { x_mean: vec![10.0], x_sd: vec![2.0], y_mean: 5.0, y_sd: 3.0 };
    /// let map = Unstandardize::new(2, true, Some(&s));
    /// // y' = 1 + 0.5 x'  is  y = 3(1 + 0.5 (x − 10)/2) + 5 = 0.5 + 0.75 x
    /// assert_eq!(map.apply(&[1.0, 0.5]), [0.5, 0.75]);
    /// assert_eq!(Unstandardize::new(2, true, None).apply(&[1.0, 0.5]), [1.0, 0.5]);
    /// ```
    pub fn new(d: usize, intercept: bool, scaling: Option<&Scaling>) -> Self {
        let mut rows = vec![vec![0.0; d]; d];
        let mut offset = vec![0.0; d];
        for (j, row) in rows.iter_mut().enumerate() {
            row[j] = 1.0;
        }
        if let Some(s) = scaling {
            let first = usize::from(intercept);
            let moments = s.x_mean.iter().zip(&s.x_sd);
            for (l, (mean, sd)) in (first..d).zip(moments) {
                rows[l][l] = s.y_sd / sd;
                if intercept {
                    rows[0][l] = -s.y_sd * mean / sd;
                }
            }
            if intercept {
                rows[0][0] = s.y_sd;
                offset[0] = s.y_mean;
            }
        }
        Unstandardize { rows, offset }
    }

    /// γ for one β.
    pub fn apply(&self, beta: &[f64]) -> Vec<f64> {
        self.rows
            .iter()
            .zip(&self.offset)
            .map(|(row, o)| o + row.iter().zip(beta).map(|(r, b)| r * b).sum::<f64>())
            .collect()
    }
}

/// One expert's posterior coefficients in original units, and its share
/// of the observations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpertCoefficients {
    /// The expert's allocation share (docs/model.md §8).
    pub share: f64,
    /// Posterior mean of each coefficient, in the order of the feature
    /// names.
    pub mean: Vec<f64>,
    /// Posterior standard deviation of each coefficient (`null` where the
    /// posterior has no variance yet: shape `a ≤ 1`).
    pub sd: Vec<Option<f64>>,
}

/// Running sums over particles for one expert's coefficients: each
/// particle contributes its posterior mean and variance of every γ.
#[derive(Debug, Clone, PartialEq)]
pub struct CoefficientMoments {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    n: usize,
    finite: bool,
}

impl CoefficientMoments {
    /// Nothing added, `d` coefficients.
    pub fn new(d: usize) -> Self {
        CoefficientMoments {
            sum: vec![0.0; d],
            sum_sq: vec![0.0; d],
            n: 0,
            finite: true,
        }
    }

    /// Adds one particle: its means of γ and variances (`None` if it has
    /// none).
    pub fn add(&mut self, mean: &[f64], var: Option<&[f64]>) {
        self.n += 1;
        self.finite &= var.is_some();
        for (j, m) in mean.iter().enumerate() {
            self.sum[j] += m;
            self.sum_sq[j] += m * m + var.map_or(0.0, |v| v[j]);
        }
    }

    /// The mixture's mean and standard deviation (law of total variance).
    pub fn finish(&self, share: f64) -> ExpertCoefficients {
        let n = self.n.max(1) as f64;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let sd = self
            .sum_sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| self.finite.then(|| (s / n - m * m).max(0.0).sqrt()))
            .collect();
        ExpertCoefficients { share, mean, sd }
    }
}
