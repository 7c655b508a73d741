//! The reference filter's rejuvenation move (docs/model.md §4): one Gibbs
//! sweep per particle over the stored stream, in f64, from the batch Gibbs
//! sampler's conditionals ([`super::super::conditionals`]), with the
//! collapsed gate move written from its formula (no cache: each proposal
//! sums every row's mixture again in log space).

use super::{Expert, Particle, ReferenceFilter, Stick};
use crate::family::Family;
use crate::reference::conditionals::{allocated, allocation_logs, stick_data};
use crate::reference::dist::{categorical_from_logs, log_sum_exp, standard_normal};
use crate::reference::expert::{check_responses, gaussian_stats, Augmented};
use crate::reference::gate::Horseshoe;
use crate::reference::linalg::{add_outer, Cholesky};
use crate::reference::prior::{check_data, Prior};
use crate::reference::ReferenceError;
use rand::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;
use rayon::prelude::*;

impl Expert {
    /// The `(β, σ²)` a sweep allocates with: a draw from a Gaussian
    /// expert's posterior, an augmented expert's current draw.
    fn sweep_parameters(&self, rng: &mut XorShiftRng) -> Result<(Vec<f64>, f64), ReferenceError> {
        match self {
            Expert::Gaussian { posterior, .. } => posterior.draw(rng),
            Expert::Augmented(expert) => {
                let (beta, sigma2) = expert.parameters();
                Ok((beta.to_vec(), sigma2))
            }
        }
    }

    /// The expert of `family` rebuilt from the rows allocated to it; an
    /// augmented one draws their augmentation at `parameters`, then its
    /// parameters afresh.
    fn rebuilt<'a>(
        rng: &mut XorShiftRng,
        family: Family,
        rows: impl Iterator<Item = (&'a [f64], f64)>,
        parameters: (Vec<f64>, f64),
        prior: &Prior,
    ) -> Result<Self, ReferenceError> {
        if family == Family::Gaussian {
            let stats = gaussian_stats(rows, parameters.0.len(), prior, 1.0)?;
            return Ok(Expert::gaussian(stats, prior));
        }
        let expert = Augmented::from_rows(rng, family, rows, parameters, prior, 1.0)?;
        Ok(Expert::Augmented(expert))
    }
}

/// The gate move's setting for one sweep: proposals, cycling over the
/// sticks from stick `first` (mod K − 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateProposals {
    /// Proposals per particle (0: none).
    pub proposals: u32,
    /// The stick of the first proposal.
    pub first: usize,
}

/// The random walk's step in units of the proposal's scale.
const GATE_STEP: f64 = 2.0;

/// `Σ_s ln Σ_k π_k(x_s; φ) p(y_s | β_k, σ²_k)`: the rows' likelihood with
/// their allocations summed out.
fn ln_collapsed(
    family: Family,
    phi: &[Vec<f64>],
    parameters: (&[Vec<f64>], &[f64]),
    (xs, ys): (&[Vec<f64>], &[f64]),
) -> f64 {
    xs.iter()
        .zip(ys)
        .map(|(x, &y)| log_sum_exp(&allocation_logs(family, phi, parameters, (x, y), 1.0)))
        .sum()
}

/// The collapsed gate move (docs/model.md §4): Metropolis–Hastings
/// proposals `φ_j + c·L⁻ᵀε` with `L Lᵀ = diag(prior_j) + ¼ Σ_s x_s x_sᵀ`,
/// accepted with the ratio of `N(φ_j; 0, diag(prior_j)⁻¹)` times
/// [`ln_collapsed`]. Returns how many were accepted.
fn gate_move(
    rng: &mut XorShiftRng,
    family: Family,
    (phi, horseshoe): (&mut [Vec<f64>], &Horseshoe),
    parameters: (&[Vec<f64>], &[f64]),
    (xs, ys): (&[Vec<f64>], &[f64]),
    gate: GateProposals,
) -> u32 {
    let (sticks, d) = (phi.len(), xs.first().map_or(0, Vec::len));
    if sticks == 0 || d == 0 {
        return 0;
    }
    let mut design = vec![0.0; d * d];
    for x in xs {
        add_outer(&mut design, x, 0.25);
    }
    let mut current = ln_collapsed(family, phi, parameters, (xs, ys));
    let mut accepted = 0;
    for i in 0..gate.proposals as usize {
        let j = (gate.first + i) % sticks;
        let prior = horseshoe.prior_precision(j);
        let mut precision = design.clone();
        for (l, p) in prior.iter().enumerate() {
            precision[l * d + l] += p;
        }
        let Ok(chol) = Cholesky::new(&precision, d) else {
            continue;
        };
        let noise: Vec<f64> = (0..d).map(|_| standard_normal(rng)).collect();
        let walk = chol.solve_upper(&noise);
        let old = phi[j].clone();
        let ln_prior = |v: &[f64]| -0.5 * v.iter().zip(&prior).map(|(a, p)| p * a * a).sum::<f64>();
        phi[j] = old
            .iter()
            .zip(&walk)
            .map(|(a, w)| a + GATE_STEP * w)
            .collect();
        let proposed = ln_collapsed(family, phi, parameters, (xs, ys));
        let ln_ratio = proposed + ln_prior(&phi[j]) - current - ln_prior(&old);
        if rng.random::<f64>().ln() < ln_ratio {
            current = proposed;
            accepted += 1;
        } else {
            phi[j] = old;
        }
    }
    accepted
}

impl Particle {
    /// One sweep: `(β, σ²)` per expert from its posterior (Gaussian) or
    /// its current draw (augmented families), every `z_t` given them and
    /// `φ`, experts rebuilt, `ω` and the sticks rebuilt at the current
    /// `φ`, then `φ`, the horseshoe scales and `φ` again; the gate move
    /// between the first two stages. Returns the new particle and the
    /// gate proposals accepted; `self` is untouched.
    fn swept(
        &self,
        rng: &mut XorShiftRng,
        family: Family,
        (xs, ys): (&[Vec<f64>], &[f64]),
        prior: &Prior,
        gate: GateProposals,
    ) -> Result<(Particle, u32), ReferenceError> {
        let parameters = self
            .experts
            .iter()
            .map(|e| e.sweep_parameters(rng))
            .collect::<Result<Vec<_>, _>>()?;
        let (beta, sigma2): (Vec<_>, Vec<_>) = parameters.iter().cloned().unzip();
        let mut phi: Vec<Vec<f64>> = self.sticks.iter().map(|s| s.phi.clone()).collect();
        let parameters_of = (beta.as_slice(), sigma2.as_slice());
        let accepted = gate_move(
            rng,
            family,
            (&mut phi, &self.horseshoe),
            parameters_of,
            (xs, ys),
            gate,
        );
        let z: Vec<usize> = xs
            .iter()
            .zip(ys)
            .map(|(x, &y)| {
                let logs = allocation_logs(family, &phi, (&beta, &sigma2), (x, y), 1.0);
                categorical_from_logs(rng, &logs)
            })
            .collect();
        let experts = parameters
            .into_iter()
            .enumerate()
            .map(|(k, p)| Expert::rebuilt(rng, family, allocated(xs, ys, &z, k), p, prior))
            .collect::<Result<_, ReferenceError>>()?;
        let mut next = Particle {
            experts,
            sticks: Vec::with_capacity(phi.len()),
            horseshoe: self.horseshoe.clone(),
        };
        for (j, phi_j) in phi.iter().enumerate() {
            let data = stick_data(rng, xs, &z, j, phi_j);
            let phi = data.draw_phi(rng, &next.horseshoe.prior_precision(j))?;
            next.sticks.push(Stick { data, phi });
        }
        if !next.sticks.is_empty() {
            next.refresh(rng)?;
        }
        Ok((next, accepted))
    }
}

impl ReferenceFilter {
    /// Number of particles N.
    pub fn n_particles(&self) -> usize {
        self.particles.len()
    }

    /// One rejuvenation sweep of every particle over `(xs, ys)`, the rows
    /// observed so far, in parallel, with `gate`'s proposals. Particle `i`
    /// draws from `XorShiftRng::seed_from_u64(seeds(i))`, so the result
    /// does not depend on the number of threads. A particle whose sweep
    /// fails numerically is kept as it was; returns how many failed and
    /// how many gate proposals were accepted.
    ///
    /// # Errors
    /// [`ReferenceError::WrongLength`] or [`ReferenceError::NonFinite`]
    /// for rows that do not fit the filter, [`ReferenceError::InvalidResponse`]
    /// for a response outside the family's support (nothing changed).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::{GateProposals, ReferenceFilter};
    /// let config = hsmoe_core::Config::default_for(2);
    /// let mut filter = ReferenceFilter::new(20, 2, 2, &config, 1).unwrap();
    /// let xs: Vec<Vec<f64>> = (0..10).map(|t| vec![1.0, t as f64 / 10.0]).collect();
    /// let ys = vec![0.5; 10];
    /// for (x, &y) in xs.iter().zip(&ys) {
    ///     filter.observe(x, y).unwrap();
    /// }
    /// let before = filter.log_marginal();
    /// let gate = GateProposals { proposals: 0, first: 0 };
    /// assert_eq!(filter.rejuvenate((&xs, &ys), gate, |i| i as u64).unwrap(), (0, 0));
    /// assert_eq!(filter.log_marginal(), before); // moves never touch the evidence
    /// ```
    pub fn rejuvenate(
        &mut self,
        (xs, ys): (&[Vec<f64>], &[f64]),
        gate: GateProposals,
        seeds: impl Fn(usize) -> u64 + Sync,
    ) -> Result<(usize, u64), ReferenceError> {
        check_data(xs, ys, self.d)?;
        check_responses(self.family, ys)?;
        let (prior, family) = (&self.prior, self.family);
        Ok(self
            .particles
            .par_iter_mut()
            .enumerate()
            .map(|(i, particle)| {
                let mut rng = XorShiftRng::seed_from_u64(seeds(i));
                match particle.swept(&mut rng, family, (xs, ys), prior, gate) {
                    Ok((next, accepted)) => {
                        *particle = next;
                        (0, u64::from(accepted))
                    }
                    Err(_) => (1, 0),
                }
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1)))
    }
}
