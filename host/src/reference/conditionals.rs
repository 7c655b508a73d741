//! The full conditionals of the mixture shared by the batch Gibbs sampler
//! ([`crate::gibbs`]) and the reference filter's rejuvenation move
//! (docs/model.md §4): allocations given the parameters, and each expert's
//! and stick's statistics given the allocations.

use super::expert;
use super::gate::{log_stick_breaking, logits, StickData};
use super::linalg::dot;
use super::polya_gamma;
use crate::family::Family;
use rand::Rng;

/// `ln π_k(x; φ) + ln p_β(y | β_k, σ²_k)` for each expert `k`: the log
/// full conditional of an allocation `z` at `(x, y)`, up to a constant,
/// with the experts' likelihood at inverse temperature `β`
/// ([`expert::tempered_log_likelihood`]; `β` is 1 but in the hotter rungs
/// of a tempered Gibbs chain, [`crate::gibbs::Ladder`]).
pub(crate) fn allocation_logs(
    family: Family,
    phi: &[Vec<f64>],
    (beta, sigma2): (&[Vec<f64>], &[f64]),
    (x, y): (&[f64], f64),
    inverse_temperature: f64,
) -> Vec<f64> {
    log_stick_breaking(&logits(phi, x))
        .iter()
        .zip(beta)
        .zip(sigma2)
        .map(|((lp, b), &s2)| {
            lp + expert::tempered_log_likelihood(family, y, dot(b, x), s2, inverse_temperature)
        })
        .collect()
}

/// The rows `(x_t, y_t)` allocated to expert `k` (`z_t = k`).
pub(crate) fn allocated<'a>(
    xs: &'a [Vec<f64>],
    ys: &'a [f64],
    z: &'a [usize],
    k: usize,
) -> impl Iterator<Item = (&'a [f64], f64)> + 'a {
    xs.iter()
        .zip(ys)
        .zip(z)
        .filter(move |(_, &zt)| zt == k)
        .map(|((x, &y), _)| (x.as_slice(), y))
}

/// Pólya-Gamma statistics of stick `j` (0-based) under allocations `z`:
/// a trial at every row with `z_t ≥ j`, `ω_t ~ PG(1, x_tᵀφ_j)` at the
/// current `φ_j`, `κ_t = +½` if `z_t = j` else `−½` (Polson, Scott &
/// Windle 2013).
pub(crate) fn stick_data<R: Rng + ?Sized>(
    rng: &mut R,
    xs: &[Vec<f64>],
    z: &[usize],
    j: usize,
    phi: &[f64],
) -> StickData {
    let mut data = StickData::empty(phi.len());
    for (x, &zt) in xs.iter().zip(z).filter(|(_, &zt)| zt >= j) {
        let omega = polya_gamma::sample(rng, dot(x, phi));
        let kappa = if zt == j { 0.5 } else { -0.5 };
        data.absorb(x, omega, kappa);
    }
    data
}
