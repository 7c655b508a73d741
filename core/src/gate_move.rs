//! The collapsed gate move: Metropolis–Hastings proposals of one stick's
//! coefficients `φ_j` with the allocations and `ω` summed out
//! (docs/model.md §4, "Gate move").
//!
//! A sweep moves `φ` only through `φ | ω, z`, which mixes slowly where a
//! stick nearly separates its rows: the allocations hold `φ` in place and
//! `φ` holds the allocations. Here, given each expert's parameter draw
//! (for a Gaussian expert `(β_k, σ²_k)`) and the other sticks, `φ_j` is
//! moved under its conditional with every movable allocation and its `ω`
//! integrated out:
//!
//! `p(φ_j | …) ∝ N(φ_j; 0, diag(prior_j)⁻¹) · exp(r_jᵀφ_j − ½ φ_jᵀ S_j φ_j)
//!     · Π_s Σ_k π_k(x_s; φ) f_k(y_s | x_s)`,
//!
//! where `S_j`, `r_j` are the Pólya-Gamma statistics of the trials that
//! stay fixed (none in a full sweep; those before the block in a block
//! sweep) and `s` runs over the movable rows. The sweep draws the
//! allocations and `ω` right after, from their conditional given the new
//! `φ`, so the pair is a blocked draw and the sweep stays a Gibbs scan of
//! the same posterior.
//!
//! The proposal is a random walk `φ_j' = φ_j + c·L⁻ᵀε`, `ε ~ N(0, I)`, with
//! `L Lᵀ = diag(prior_j) + S_j + ¼ Σ_s x_s x_sᵀ`: the stick's precision with
//! every movable trial at `ω`'s largest mean, `E[ω | ψ = 0] = ¼`. It must
//! not depend on the current `z`, `ω` or `φ_j` (a precision built from the
//! current `ω`, drawn given the current `φ_j`, is not symmetric in the
//! marginal targeted here, and was measured to bias the answer).
//!
//! Cost: one pass over the rows builds a cache of each row's expert
//! densities (shifted by the row's largest, which cancels in the ratio) and
//! stick probabilities; each proposal then costs one `exp` and O(K) products
//! per row, and no logarithm (the ratios are multiplied in f64).

use crate::dims::{Const, Experts, Features, Zeroed};
use crate::dist::{categorical, normal, uniform};
use crate::expert::Expert;
use crate::horseshoe;
use crate::linalg::{self, Triangle};
use crate::math::{dot, sigmoid};
use crate::particle::Particle;
use crate::Config;
use rand_core::RngCore;

/// Bounds of the running product of density ratios before it is folded
/// into the log ratio: a factor is within about 2^±150, so the product
/// stays far inside the f64 range.
const FOLD_ABOVE: f64 = 1.0e200;
const FOLD_BELOW: f64 = 1.0e-200;

/// One row's cached terms: each expert's density at the row, divided by
/// the largest; each stick's probabilities `σ(±ψ_j)`; the mixture density
/// `Σ_k π_k f_k` on the same scale; and those of the pending proposal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row<const K: usize> {
    density: [f32; K],
    p: [f32; K],
    q: [f32; K],
    mixture: f32,
    proposed: (f32, f32, f32),
}

impl<const K: usize> Zeroed for Row<K> {
    const ZERO: Self = Row {
        density: [0.0; K],
        p: [0.0; K],
        q: [0.0; K],
        mixture: 0.0,
        proposed: (0.0, 0.0, 0.0),
    };
}

impl<const K: usize> Row<K> {
    /// The allocation weights `w_k = π_k f_k` of the row at the cached
    /// `φ`, formed as the sweep forms them without a cache (`π` as
    /// [`stick_breaking_linear`](crate::gate::stick_breaking_linear), each
    /// weight `f_k · π_k`), and their total.
    pub(crate) fn allocation_weights(&self, w: &mut [f32; K]) -> f32 {
        let mut rest = 1.0f32;
        let mut total = 0.0f32;
        for (k, w_k) in w.iter_mut().enumerate() {
            let pi = if k + 1 < K { rest * self.p[k] } else { rest };
            rest *= self.q[k];
            *w_k = self.density[k] * pi;
            total += *w_k;
        }
        total
    }

    /// The mixture density with stick `j`'s probabilities replaced by
    /// `(p, q)`: `Σ_{k<j} π_k f_k + P_j (p f_j + q R_j)`, where `P_j` is the
    /// probability of reaching stick `j` and `R_j` the mixture of the
    /// experts after it given that it is passed.
    fn mixture_with(&self, j: usize, p: f32, q: f32) -> f32 {
        let mut before = 0.0f32;
        let mut reach = 1.0f32;
        for k in 0..j {
            before += reach * self.p[k] * self.density[k];
            reach *= self.q[k];
        }
        let mut after = 0.0f32;
        let mut pass = 1.0f32;
        for k in j + 1..K {
            if k + 1 < K {
                after += pass * self.p[k] * self.density[k];
                pass *= self.q[k];
            } else {
                after += pass * self.density[k];
            }
        }
        before + reach * (p * self.density[j] + q * after)
    }
}

/// The gate move's settings, its scratch space and its record.
///
/// # Examples
/// ```
/// use hsmoe_core::dims::Zeroed;
/// use hsmoe_core::gate_move::{GateMove, Row};
/// let mut rows = vec![Row::<3>::ZERO; 100];
/// let mv = GateMove::new(4, 0, &mut rows);
/// assert_eq!((mv.proposals, mv.accepted), (4, 0));
/// ```
#[derive(Debug)]
pub struct GateMove<'s, const K: usize> {
    /// Proposals per sweep; they cycle over the sticks.
    pub proposals: u32,
    /// The stick of the first proposal.
    pub first: usize,
    /// `c`, the random walk's step in units of the proposal's scale.
    pub step: f32,
    /// Proposals accepted so far.
    pub accepted: u32,
    /// One entry per movable row; at least as many as the rows swept.
    pub rows: &'s mut [Row<K>],
}

impl<'s, const K: usize> GateMove<'s, K> {
    /// The step measured on mcycle (K = 3): `c = 2` accepted about two
    /// proposals in three and mixed best among 1.5, 2 and 4.
    pub const STEP: f32 = 2.0;

    /// `proposals` per sweep starting at stick `first` (mod `K − 1`), the
    /// default step, nothing accepted yet.
    pub fn new(proposals: u32, first: usize, rows: &'s mut [Row<K>]) -> Self {
        GateMove {
            proposals,
            first,
            step: Self::STEP,
            accepted: 0,
            rows,
        }
    }
}

/// The gate move on `next` (whose sticks hold the fixed trials' `S_j`,
/// `r_j` and the current `φ`), over the movable rows `block`, with the
/// experts' parameter draws `draws`. Returns the rows' cache at the `φ` it
/// leaves. Makes no proposal, and returns `None`, when a row's mixture
/// density is zero or not finite (an f32 underflow, or a row the sweep
/// will reject anyway) or `mv.rows` is shorter than `block`: a numeric
/// guard, decided before any proposal.
pub(crate) fn propose<'a, 'm, R, I, const K: usize, const D: usize, E>(
    next: &mut Particle<K, D, E>,
    draws: &[E::Draw; K],
    block: I,
    mv: &'m mut GateMove<'_, K>,
    config: &Config,
    rng: &mut R,
) -> Option<&'m [Row<K>]>
where
    R: RngCore + ?Sized,
    I: IntoIterator<Item = &'a ([f32; D], f32)> + Clone,
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    let (design, used) = fill(next, draws, block.clone(), mv.rows)?;
    let rows = &mut mv.rows[..used];
    for i in 0..mv.proposals as usize {
        let Some(j) = (mv.first + i).checked_rem(K - 1) else {
            break; // one expert: no stick
        };
        let stick = Proposal {
            j,
            design: &design,
            step: mv.step,
        };
        if stick.run(next, block.clone(), rows, config, rng) {
            mv.accepted += 1;
        }
    }
    Some(rows)
}

/// Fills `rows` from `block`; returns `¼ Σ_s x_s x_sᵀ` and the number of
/// rows, or `None` if a row's mixture density is unusable or `rows` is too
/// short.
fn fill<'a, I, const K: usize, const D: usize, E>(
    next: &Particle<K, D, E>,
    draws: &[E::Draw; K],
    block: I,
    rows: &mut [Row<K>],
) -> Option<(Triangle<D>, usize)>
where
    I: IntoIterator<Item = &'a ([f32; D], f32)>,
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    let mut design = Triangle::ZERO;
    let (mut ln_f, mut weights) = ([0.0f32; K], [0.0f32; K]);
    let mut used = 0;
    for (x, y) in block {
        let row = rows.get_mut(used)?;
        used += 1;
        for (l, draw) in ln_f.iter_mut().zip(draws) {
            *l = E::ln_likelihood(draw, x, *y);
        }
        categorical::exp_shifted(&ln_f, &mut row.density)?;
        for (j, stick) in next.sticks().iter().enumerate() {
            (row.p[j], row.q[j]) = sigmoid(stick.logit(x));
        }
        row.mixture = row.allocation_weights(&mut weights);
        if !(row.mixture > 0.0 && row.mixture.is_finite()) {
            return None;
        }
        for i in 0..D {
            for (l, g) in design.row_mut(i).iter_mut().enumerate() {
                *g += 0.25 * x[i] * x[l];
            }
        }
    }
    Some((design, used))
}

/// One proposal for stick `j`.
struct Proposal<'d, const D: usize>
where
    Const<D>: Features,
{
    j: usize,
    design: &'d Triangle<D>,
    step: f32,
}

impl<const D: usize> Proposal<'_, D>
where
    Const<D>: Features,
{
    /// Proposes and accepts or rejects; whether it was accepted (then `φ_j`
    /// and the rows' cache hold the new value).
    fn run<'a, R, I, const K: usize, E>(
        &self,
        next: &mut Particle<K, D, E>,
        block: I,
        rows: &mut [Row<K>],
        config: &Config,
        rng: &mut R,
    ) -> bool
    where
        R: RngCore + ?Sized,
        I: IntoIterator<Item = &'a ([f32; D], f32)>,
        Const<K>: Experts,
        E: Expert<D>,
    {
        let j = self.j;
        let global = next.global;
        let stick = &mut next.sticks_mut()[j];
        let prior = horseshoe::prior_precisions(config, stick, &global);
        let fixed = &stick.logistic;
        // L Lᵀ = diag(prior) + S + ¼ Σ x xᵀ.
        let precision = Triangle::from_fn(|a, b| fixed.s[(a, b)] + self.design[(a, b)]);
        let diagonal = core::array::from_fn(|l| precision[(l, l)] + prior[l]);
        let mut chol = Triangle::ZERO;
        if linalg::cholesky_with_jitter(&precision, &diagonal, &mut chol).is_err() {
            return false;
        }
        let mut walk: [f32; D] = core::array::from_fn(|_| normal::standard_normal(rng));
        linalg::solve_lower_transposed(&chol, &mut walk);
        let current = fixed.coef;
        let proposed: [f32; D] = core::array::from_fn(|l| current[l] + self.step * walk[l]);
        if !proposed.iter().all(|v| v.is_finite()) {
            return false;
        }
        let ln_prior = ln_gaussian_factor(&proposed, &prior, fixed)
            - ln_gaussian_factor(&current, &prior, fixed);
        // ln u < ln_prior + Σ_s ln(m'_s / m_s), the sum taken as a product
        // of ratios in f64, folded into a logarithm only near the range's
        // ends.
        let mut ln_ratio = f64::from(ln_prior);
        let mut product = 1.0f64;
        for ((x, _), row) in block.into_iter().zip(rows.iter_mut()) {
            let (p, q) = sigmoid(dot(x, &proposed));
            let mixture = row.mixture_with(j, p, q);
            if !(mixture > 0.0 && mixture.is_finite()) {
                return false;
            }
            row.proposed = (p, q, mixture);
            product *= f64::from(mixture) / f64::from(row.mixture);
            if !(FOLD_BELOW..=FOLD_ABOVE).contains(&product) {
                ln_ratio += libm::log(product);
                product = 1.0;
            }
        }
        ln_ratio += libm::log(product);
        let ln_u = f64::from(libm::logf(uniform::open01(rng)));
        if ln_u >= ln_ratio {
            return false;
        }
        stick.logistic.coef = proposed;
        for row in rows.iter_mut() {
            let (p, q, mixture) = row.proposed;
            (row.p[j], row.q[j], row.mixture) = (p, q, mixture);
        }
        true
    }
}

/// `ln` of the stick's Gaussian factor at `φ`, up to a constant:
/// `−½ φᵀ(diag(prior) + S)φ + rᵀφ`.
fn ln_gaussian_factor<const D: usize>(
    phi: &[f32; D],
    prior: &[f32; D],
    fixed: &crate::logistic::Logistic<D>,
) -> f32
where
    Const<D>: Features,
{
    let mut quadratic = 0.0f32;
    for a in 0..D {
        quadratic += (prior[a] + fixed.s[(a, a)]) * phi[a] * phi[a];
        for b in 0..a {
            quadratic += 2.0 * fixed.s[(a, b)] * phi[a] * phi[b];
        }
    }
    dot(&fixed.r, phi) - 0.5 * quadratic
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::normal::standard_normal;
    use crate::expert::Gaussian;
    use rand_core::SeedableRng;
    use rand_xorshift::XorShiftRng;

    type Small = Particle<3, 2, Gaussian<2>>;
    type Draws = [<Gaussian<2> as Expert<2>>::Draw; 3];

    /// A particle whose experts have absorbed lines of slope −2, 0 and 2,
    /// whose stick `j` has some fixed trials, the experts' parameter
    /// draws, and 40 rows from that mixture.
    fn setup(j: usize) -> (Small, Draws, Vec<([f32; 2], f32)>) {
        let config = Config::default_for(2);
        let mut rng = XorShiftRng::seed_from_u64(3);
        let mut particle = Small::ZERO;
        particle.draw_prior(&config, &mut rng).unwrap();
        let line = |k: usize, x: &[f32; 2], e: f32| (k as f32 - 1.0) * 2.0 * x[1] + 0.3 * e;
        for i in 0..60 {
            let x = [1.0, standard_normal(&mut rng)];
            let y = line(i % 3, &x, standard_normal(&mut rng));
            particle.experts[i % 3].update(&x, y).unwrap();
        }
        for _ in 0..5 {
            let x = [1.0, standard_normal(&mut rng)];
            particle.sticks_mut()[j].add_trial(&x, x[1] > 0.0, &mut rng);
        }
        let draws = core::array::from_fn(|k| particle.experts[k].draw(&mut rng).unwrap());
        let rows = (0..40)
            .map(|i| {
                let x = [1.0, 1.5 * standard_normal(&mut rng)];
                // The gate of the data: expert 0 left, 2 right, 1 between.
                let k = if x[1] < -0.7 {
                    0
                } else if x[1] > 0.7 {
                    2
                } else {
                    1
                };
                let _ = i;
                (x, line(k, &x, standard_normal(&mut rng)))
            })
            .collect();
        (particle, draws, rows)
    }

    /// `ln p(φ_j | …)` up to a constant, in f64 and written from the
    /// formula, not from the move's cache: the stick's prior and fixed
    /// trials, times each row's mixture `Σ_k π_k f_k`.
    fn ln_target(
        particle: &Small,
        draws: &Draws,
        rows: &[([f32; 2], f32)],
        j: usize,
        phi: [f64; 2],
    ) -> f64 {
        let config = Config::default_for(2);
        let stick = &particle.sticks()[j];
        let prior = horseshoe::prior_precisions(&config, stick, particle.global_scale());
        let s = &stick.logistic.s;
        let (s00, s10, s11) = (
            f64::from(s[(0, 0)]),
            f64::from(s[(1, 0)]),
            f64::from(s[(1, 1)]),
        );
        let r = stick.logistic.r.map(f64::from);
        let quadratic = (f64::from(prior[0]) + s00) * phi[0] * phi[0]
            + 2.0 * s10 * phi[0] * phi[1]
            + (f64::from(prior[1]) + s11) * phi[1] * phi[1];
        let mut ln = r[0] * phi[0] + r[1] * phi[1] - 0.5 * quadratic;
        for (x, y) in rows {
            let psi: [f64; 2] = core::array::from_fn(|i| {
                let coef = if i == j {
                    phi
                } else {
                    particle.sticks()[i].phi().map(f64::from)
                };
                f64::from(x[0]) * coef[0] + f64::from(x[1]) * coef[1]
            });
            let v = psi.map(|p| 1.0 / (1.0 + (-p).exp()));
            let pi = [v[0], (1.0 - v[0]) * v[1], (1.0 - v[0]) * (1.0 - v[1])];
            let mixture: f64 = (0..3)
                .map(|k| pi[k] * f64::from(Gaussian::<2>::ln_likelihood(&draws[k], x, *y)).exp())
                .sum();
            ln += mixture.ln();
        }
        ln
    }

    /// The move alone, repeated on one stick with everything else fixed, is
    /// a Metropolis–Hastings chain for `p(φ_j | …)`: its long-run mean of
    /// `φ_j` must match the mean of that density computed by quadrature
    /// (a 401 × 401 grid over ±10 sd of the chain, whose error is far
    /// below the chain's). 40 000 proposals; the chain's standard error
    /// from 100 batch means of 400 (batches far longer than its
    /// autocorrelation at ≈ 60 % acceptance), and 4.5 of them bound a
    /// correct chain's deviation with probability > 0.9999 per coordinate.
    /// Both sticks, so the cache's `π` before and after stick `j` is
    /// checked; stick `j` has fixed trials, so their factor is too.
    #[test]
    fn the_chain_targets_the_collapsed_conditional() {
        let config = Config::default_for(2);
        for j in 0..2 {
            let (mut particle, draws, rows) = setup(j);
            let mut cache = [Row::ZERO; 40];
            let mut rng = XorShiftRng::seed_from_u64(17 + j as u64);
            let (batches, per_batch) = (100, 400);
            let mut batch_means = [[0.0f64; 2]; 100];
            let mut accepted = 0;
            for mean in batch_means.iter_mut().take(batches) {
                for _ in 0..per_batch {
                    let mut mv = GateMove::new(1, j, &mut cache);
                    propose(&mut particle, &draws, &rows, &mut mv, &config, &mut rng);
                    accepted += mv.accepted;
                    let phi = particle.sticks()[j].phi();
                    for (m, v) in mean.iter_mut().zip(phi) {
                        *m += f64::from(*v) / per_batch as f64;
                    }
                }
            }
            let chain: [f64; 2] = core::array::from_fn(|i| {
                batch_means.iter().map(|m| m[i]).sum::<f64>() / batches as f64
            });
            let se: [f64; 2] = core::array::from_fn(|i| {
                let var = batch_means
                    .iter()
                    .map(|m| (m[i] - chain[i]).powi(2))
                    .sum::<f64>()
                    / (batches - 1) as f64;
                (var / batches as f64).sqrt()
            });
            let spread: [f64; 2] = core::array::from_fn(|i| se[i] * (batches as f64).sqrt() * 10.0);
            let n = 401;
            let grid =
                |i: usize, a: usize| chain[i] + spread[i] * (2.0 * a as f64 / (n - 1) as f64 - 1.0);
            let mut ln = [0.0f64; 401 * 401];
            for a in 0..n {
                for b in 0..n {
                    ln[a * n + b] =
                        ln_target(&particle, &draws, &rows, j, [grid(0, a), grid(1, b)]);
                }
            }
            let top = ln.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (mut total, mut moment) = (0.0f64, [0.0f64; 2]);
            for a in 0..n {
                for b in 0..n {
                    let w = (ln[a * n + b] - top).exp();
                    total += w;
                    moment[0] += w * grid(0, a);
                    moment[1] += w * grid(1, b);
                }
            }
            let rate = f64::from(accepted) / (batches * per_batch) as f64;
            for i in 0..2 {
                let exact = moment[i] / total;
                let z = (chain[i] - exact) / se[i];
                assert!(
                    z.abs() < 4.5,
                    "stick {j}, φ[{i}]: chain {} ± {} vs {exact} (acceptance {rate})",
                    chain[i],
                    se[i]
                );
            }
            assert!(rate > 0.1 && rate < 0.95, "stick {j}: acceptance {rate}");
        }
    }
}
