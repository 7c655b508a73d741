//! The full conditionals of the mixture shared by the batch Gibbs sampler
//! ([`crate::gibbs`]) and the reference filter's rejuvenation move
//! (docs/model.md §4): allocations given the parameters, and each expert's
//! and stick's statistics given the allocations.

use super::dist::normal_log_pdf;
use super::gate::{log_stick_breaking, logits, StickData};
use super::linalg::dot;
use super::nig::NigStats;
use super::polya_gamma;
use super::prior::Prior;
use super::ReferenceError;
use rand::Rng;

/// `ln π_k(x; φ) + β ln N(y; xᵀβ_k, σ²_k)` for each expert `k`: the log
/// full conditional of an allocation `z` at `(x, y)`, up to a constant,
/// with the experts' likelihood at inverse temperature `β` (1 but in the
/// hotter rungs of a tempered Gibbs chain, [`crate::gibbs::Ladder`]).
pub(crate) fn allocation_logs(
    phi: &[Vec<f64>],
    beta: &[Vec<f64>],
    sigma2: &[f64],
    x: &[f64],
    y: f64,
    inverse_temperature: f64,
) -> Vec<f64> {
    log_stick_breaking(&logits(phi, x))
        .iter()
        .zip(beta)
        .zip(sigma2)
        .map(|((lp, b), &s2)| lp + inverse_temperature * normal_log_pdf(y, dot(b, x), s2))
        .collect()
}

/// NIG statistics of the rows allocated to expert `k`, each of weight
/// `inverse_temperature` (see [`allocation_logs`]).
pub(crate) fn expert_stats(
    xs: &[Vec<f64>],
    ys: &[f64],
    z: &[usize],
    k: usize,
    prior: &Prior,
    inverse_temperature: f64,
) -> Result<NigStats, ReferenceError> {
    let mut stats = NigStats::prior(xs[0].len(), prior);
    for ((x, &y), _) in xs.iter().zip(ys).zip(z).filter(|(_, &zt)| zt == k) {
        stats.absorb_weighted(x, y, inverse_temperature)?;
    }
    Ok(stats)
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
