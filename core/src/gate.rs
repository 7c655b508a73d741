//! The logistic stick-breaking gate and its Pólya-Gamma stick update
//! (docs/model.md §1 gate, §2, §3 step 6).

use crate::dims::{Const, Features, Zeroed};
use crate::logistic::Logistic;
use crate::math::{sigmoid, sigmoid_pair};
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

/// One stick: its Pólya-Gamma statistics and current coefficients `φ_j`
/// ([`Logistic`]) and its horseshoe local scales.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stick<const D: usize>
where
    Const<D>: Features,
{
    /// `S`, `r` of the stick's trials and `φ_j`.
    pub(crate) logistic: Logistic<D>,
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
        logistic: Logistic::ZERO,
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
        self.logistic.coef()
    }

    /// Horseshoe local scales `λ²_{j,l}`.
    pub fn lambda2(&self) -> &[f32; D] {
        &self.lambda2
    }

    /// The stick's logit `ψ = xᵀφ`.
    pub fn logit(&self, x: &[f32; D]) -> f32 {
        self.logistic.logit(x)
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
        self.logistic.redraw(prior, rng)
    }

    /// The statistics half of [`Stick::observe_trial`], at the current `φ`
    /// (a rejuvenation sweep redraws `φ` once after all its trials).
    pub(crate) fn add_trial<R: RngCore + ?Sized>(
        &mut self,
        x: &[f32; D],
        success: bool,
        rng: &mut R,
    ) {
        let logit = self.logit(x);
        self.logistic.add_trial(x, logit, success, rng);
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
