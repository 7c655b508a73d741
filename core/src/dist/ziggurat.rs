//! The step shared by the ziggurat samplers of [`super::normal`] and
//! [`super::gamma::exponential`] (Marsaglia & Tsang 2000, "The Ziggurat
//! Method for Generating Random Variables", J. Stat. Softw. 5(8)).
//!
//! A decreasing density `f` on `[0, ∞)` with `f(0) = 1` is covered by
//! layers of equal area: layer `i` is the box `[0, X[i]) × [f(X[i]),
//! f(X[i+1])]` for edges `X[0] > X[1] = r > … > X[L] = 0`, where the base
//! layer's `X[0] = v/f(r)` is the width that gives the box `[0, r) ×
//! [0, f(r)]` plus the tail `x > r` the same area `v`. A point uniform in
//! a random layer is under the curve, and its `x` a draw, whenever
//! `x < X[i+1]`; only the rest needs a test.

use super::uniform::open01;
use crate::math::at_least;
use rand_core::RngCore;

/// What one ziggurat proposal gave.
pub(crate) enum Proposal {
    /// A draw from the density.
    Accept(f32),
    /// The base layer's tail `x > r`: draw it with the density's own
    /// tail method.
    Tail,
    /// A point above the curve: propose again.
    Reject,
}

/// `u ∈ (0, 1)` from the top 24 bits of `bits` (exact in f32); the low 8
/// bits are left for the layer (and a sign). The bottom cell (all 24 bits
/// zero, probability 2⁻²⁴) gives its midpoint `2⁻²⁵`, not 0: an `Exp(1)`
/// draw of exactly 0 would make an inverse-gamma draw infinite
/// (docs/model.md §7). Every other word keeps its value.
pub(crate) fn position(bits: u32) -> f32 {
    at_least((bits >> 8) as f32, 0.5) * (1.0 / 16_777_216.0)
}

/// One proposal in layer `layer` at relative position `u ∈ (0, 1)`, for
/// the edges `edges` of `density` (see the module docs). An out-of-range
/// layer is a [`Proposal::Reject`]. Inlined: the common case is a multiply
/// and a compare; everything else is out of line.
#[inline]
pub(crate) fn propose<R: RngCore + ?Sized, const E: usize>(
    rng: &mut R,
    edges: &[f32; E],
    layer: usize,
    u: f32,
    density: fn(f32) -> f32,
) -> Proposal {
    let (Some(&outer), Some(&inner)) = (edges.get(layer), edges.get(layer + 1)) else {
        return Proposal::Reject;
    };
    let x = u * outer;
    if x < inner {
        Proposal::Accept(x)
    } else if layer == 0 {
        Proposal::Tail
    } else {
        wedge(rng, outer, inner, x, density)
    }
}

/// The wedge between heights `f(outer)` and `f(inner)` over
/// `[inner, outer)`: accept `x` if a uniform height falls under `f(x)`.
/// Rare (2–3% of proposals), so kept out of the callers' fast path.
#[cold]
#[inline(never)]
fn wedge<R: RngCore + ?Sized>(
    rng: &mut R,
    outer: f32,
    inner: f32,
    x: f32,
    density: fn(f32) -> f32,
) -> Proposal {
    let (low, high) = (density(outer), density(inner));
    if low + open01(rng) * (high - low) < density(x) {
        Proposal::Accept(x)
    } else {
        Proposal::Reject
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// Edges `X[0..E]` of the `E − 1`-layer ziggurat for `f` with base
    /// edge `r` and layer area `v`, by the f64 recurrence
    /// `X[i+1] = f⁻¹(v/X[i] + f(X[i]))`; checks that it closes at the top,
    /// `v/X[E−2] + f(X[E−2]) = f(0) = 1`.
    pub(crate) fn edges<const E: usize>(
        r: f64,
        v: f64,
        f: impl Fn(f64) -> f64,
        f_inv: impl Fn(f64) -> f64,
    ) -> [f64; E] {
        let mut x = [0.0; E];
        x[0] = v / f(r);
        x[1] = r;
        for i in 1..E - 2 {
            x[i + 1] = f_inv(v / x[i] + f(x[i]));
        }
        let top = v / x[E - 2] + f(x[E - 2]);
        assert!((top - 1.0).abs() < 1e-9, "does not close: {top}");
        x
    }

    /// Kolmogorov–Smirnov distance of the draws to `cdf`.
    pub(crate) fn ks_distance(draws: impl Iterator<Item = f64>, cdf: impl Fn(f64) -> f64) -> f64 {
        let mut z: std::vec::Vec<f64> = draws.collect();
        z.sort_by(f64::total_cmp);
        let n = z.len() as f64;
        z.iter().enumerate().fold(0.0f64, |d, (i, &v)| {
            let c = cdf(v);
            d.max(c - i as f64 / n).max((i + 1) as f64 / n - c)
        })
    }
}
