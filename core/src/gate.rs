//! The logistic stick-breaking gate and its Pólya-Gamma stick update
//! (docs/model.md §1 gate, §2, §3 step 6).

use crate::dims::{Const, Features, Zeroed};
use crate::dist::{normal, polya_gamma};
use crate::linalg::{self, Factor, Triangle};
use crate::math::{dot, sigmoid, sigmoid_pair};
use crate::Error;
use rand_core::RngCore;

/// `ln π_k(x)` of logistic stick-breaking from the stick logits `ψ_j`
/// (`j < K−1`; `psi[K−1]` is ignored): `π_k = σ(ψ_k) Π_{j<k}(1 − σ(ψ_j))`
/// for `k < K−1` and `π_{K−1} = Π_{j<K−1}(1 − σ(ψ_j))`. Computed in log
/// space (`ln(1 − σ(ψ)) = ln σ(−ψ)`), so huge `|ψ|` neither overflows nor
/// loses the sum-to-one property.
///
/// # Examples
/// ```
/// let mut ln_pi = [0.0f32; 3];
/// hsmoe_core::gate::stick_breaking_ln(&[0.0, 1.0e30, 0.0], &mut ln_pi);
/// let total: f32 = ln_pi.iter().map(|v| v.exp()).sum();
/// assert!((total - 1.0).abs() < 1e-6);
/// ```
pub fn stick_breaking_ln<const K: usize>(psi: &[f32; K], ln_pi: &mut [f32; K]) {
    stick_breaking(psi, ln_pi, &mut [0.0; K]);
}

/// [`stick_breaking_ln`] (bit for bit) and the probabilities `π_k`
/// themselves, multiplied out in linear space from the same `exp` per
/// stick, so no `exp(ln π_k)` is needed. Each `π_k` is a product of at most
/// `K` factors with a few ulps of error each; it underflows to 0 only where
/// `exp(ln π_k)` would.
///
/// # Examples
/// ```
/// use hsmoe_core::gate::stick_breaking;
/// let (mut ln_pi, mut pi) = ([0.0f32; 3], [0.0f32; 3]);
/// stick_breaking(&[0.4, -2.0, 0.0], &mut ln_pi, &mut pi);
/// for (p, l) in pi.iter().zip(&ln_pi) {
///     assert!((p - l.exp()).abs() < 1e-6);
/// }
/// ```
pub fn stick_breaking<const K: usize>(psi: &[f32; K], ln_pi: &mut [f32; K], pi: &mut [f32; K]) {
    let (mut ln_rest, mut rest) = (0.0f32, 1.0f32);
    for k in 0..K {
        if k + 1 < K {
            let sigma = sigmoid_pair(psi[k]);
            ln_pi[k] = ln_rest + sigma.ln_p;
            pi[k] = rest * sigma.p;
            ln_rest += sigma.ln_q;
            rest *= sigma.q;
        } else {
            ln_pi[k] = ln_rest;
            pi[k] = rest;
        }
    }
}

/// The probabilities `π_k` of [`stick_breaking`] alone, bit for bit, for
/// one `exp` per stick and no logarithm: for callers that weigh the
/// experts in linear space.
///
/// # Examples
/// ```
/// use hsmoe_core::gate::{stick_breaking, stick_breaking_linear};
/// let psi = [0.4, -2.0, 0.0];
/// let (mut ln_pi, mut pi, mut linear) = ([0.0f32; 3], [0.0f32; 3], [0.0f32; 3]);
/// stick_breaking(&psi, &mut ln_pi, &mut pi);
/// stick_breaking_linear(&psi, &mut linear);
/// assert_eq!(pi, linear);
/// ```
pub fn stick_breaking_linear<const K: usize>(psi: &[f32; K], pi: &mut [f32; K]) {
    let mut rest = 1.0f32;
    for k in 0..K {
        if k + 1 < K {
            let (p, q) = sigmoid(psi[k]);
            pi[k] = rest * p;
            rest *= q;
        } else {
            pi[k] = rest;
        }
    }
}

/// One stick's Pólya-Gamma statistics, its horseshoe local scales and its
/// current coefficients `φ_j`.
///
/// `Λ = diag(prior precision) + S` is factored afresh whenever `φ_j` is
/// drawn, from `S` (a packed lower triangle) and the prior precisions the
/// caller passes: a stored factor would cost `D(D+1)/2` words per stick,
/// and at D = 4 a fresh factor costs about what its rank-1 update did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stick<const D: usize>
where
    Const<D>: Features,
{
    /// `S = Σ ω x xᵀ` (lower triangle).
    pub(crate) s: Triangle<D>,
    /// `r = Σ κ x`.
    pub(crate) r: [f32; D],
    /// Current draw of the coefficients `φ_j`.
    pub(crate) phi: [f32; D],
    /// Horseshoe local scales `λ²_{j,l}` (unused for an unshrunk intercept).
    pub(crate) lambda2: [f32; D],
    /// Makalic–Schmidt auxiliaries `ν_{j,l}`.
    pub(crate) nu: [f32; D],
}

impl<const D: usize> Zeroed for Stick<D>
where
    Const<D>: Features,
{
    /// All-zero placeholder for `const` construction; not a valid state.
    const ZERO: Self = Stick {
        s: Triangle::ZERO,
        r: [0.0; D],
        phi: [0.0; D],
        lambda2: [0.0; D],
        nu: [0.0; D],
    };
}

impl<const D: usize> Stick<D>
where
    Const<D>: Features,
{
    /// Current coefficients `φ_j`.
    pub fn phi(&self) -> &[f32; D] {
        &self.phi
    }

    /// Horseshoe local scales `λ²_{j,l}`.
    pub fn lambda2(&self) -> &[f32; D] {
        &self.lambda2
    }

    /// The stick's logit `ψ = xᵀφ`.
    pub fn logit(&self, x: &[f32; D]) -> f32 {
        dot(x, &self.phi)
    }

    /// One Bernoulli trial of this stick at `x` (docs/model.md §3 step 6):
    /// `ω ~ PG(1, xᵀφ)`, `S += ω x xᵀ`, `r += κ x` with `κ = ±½`, then a
    /// fresh `φ ~ N(Λ⁻¹r, Λ⁻¹)` with `Λ = diag(prior) + S`.
    ///
    /// # Errors
    /// [`Error::NotPositiveDefinite`] if `Λ` cannot be factored; the stick
    /// must then be discarded by the caller.
    pub fn observe_trial<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32; D],
        success: bool,
        prior: &[f32; D],
        rng: &mut R,
    ) -> Result<(), Error> {
        self.add_trial(x, success, rng);
        self.redraw_phi(prior, rng)
    }

    /// The statistics half of [`Stick::observe_trial`]: `ω ~ PG(1, xᵀφ)`,
    /// `S += ω x xᵀ`, `r += κ x`. `φ` is left alone (a rejuvenation sweep
    /// redraws it once after all its trials).
    pub(crate) fn add_trial<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32; D],
        success: bool,
        rng: &mut R,
    ) {
        let omega = polya_gamma::sample(rng, self.logit(x));
        let kappa = if success { 0.5 } else { -0.5 };
        for i in 0..D {
            for (j, s_ij) in self.s.row_mut(i).iter_mut().enumerate() {
                *s_ij += omega * x[i] * x[j];
            }
            self.r[i] += kappa * x[i];
        }
    }

    /// Forgets every trial: `S = 0`, `r = 0` (`φ` and the scales are kept
    /// until the caller redraws them).
    pub(crate) fn clear_trials(&mut self) {
        self.s = Triangle::ZERO;
        self.r = [0.0; D];
    }

    /// The Cholesky factor `L` of `Λ = diag(prior) + S`.
    ///
    /// # Errors
    /// [`Error::NotPositiveDefinite`] if `Λ` is not, even with jitter.
    pub(crate) fn precision_factor(&self, prior: &[f32; D]) -> Result<Factor<D>, Error> {
        let diagonal = core::array::from_fn(|l| self.s[(l, l)] + prior[l]);
        let mut chol = Factor::ZERO;
        linalg::cholesky_with_jitter(&self.s, &diagonal, &mut chol)?;
        Ok(chol)
    }

    /// `φ = Λ⁻¹r + L⁻ᵀε` with `ε ~ N(0, I)` and `Λ = diag(prior) + S`:
    /// one factorization, two triangular solves.
    ///
    /// # Errors
    /// As [`Stick::precision_factor`]; `φ` is then unchanged.
    pub(crate) fn redraw_phi<R: RngCore + ?Sized>(
        &mut self,
        prior: &[f32; D],
        rng: &mut R,
    ) -> Result<(), Error> {
        let chol = self.precision_factor(prior)?;
        let mut v = self.r;
        linalg::solve_lower(&chol, &mut v);
        for vi in v.iter_mut() {
            *vi += normal::standard_normal(rng);
        }
        linalg::solve_lower_transposed(&chol, &mut v);
        self.phi = v;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total<const K: usize>(psi: [f32; K]) -> f32 {
        let mut ln_pi = [0.0; K];
        stick_breaking_ln(&psi, &mut ln_pi);
        assert!(ln_pi.iter().all(|v| !v.is_nan() && *v <= 0.0), "{ln_pi:?}");
        ln_pi.iter().map(|v| libm::expf(*v)).sum()
    }

    #[test]
    fn stick_breaking_sums_to_one_for_any_logits() {
        let extremes = [
            0.0,
            1.0,
            -1.0,
            30.0,
            -30.0,
            1e4,
            -1e4,
            1e30,
            -1e30,
            f32::MAX,
            -f32::MAX,
        ];
        for &a in &extremes {
            assert!((total([a]) - 1.0).abs() < 1e-6);
            for &b in &extremes {
                for &c in &extremes {
                    // K = 4 uses three sticks; the last entry is ignored.
                    let s = total([a, b, c, 0.0]);
                    assert!(
                        (s - 1.0).abs() < 4.0 * f32::EPSILON * 4.0,
                        "{a} {b} {c}: {s}"
                    );
                }
            }
        }
    }

    #[test]
    fn stick_breaking_matches_the_product_form() {
        let psi = [0.3f32, -1.2, 2.0, 0.0];
        let sig = |v: f32| 1.0 / (1.0 + libm::expf(-v));
        let expected = [
            sig(0.3),
            (1.0 - sig(0.3)) * sig(-1.2),
            (1.0 - sig(0.3)) * (1.0 - sig(-1.2)) * sig(2.0),
            (1.0 - sig(0.3)) * (1.0 - sig(-1.2)) * (1.0 - sig(2.0)),
        ];
        let mut ln_pi = [0.0; 4];
        stick_breaking_ln(&psi, &mut ln_pi);
        for (l, e) in ln_pi.iter().zip(expected) {
            assert!((libm::expf(*l) - e).abs() < 1e-6);
        }
    }
}
