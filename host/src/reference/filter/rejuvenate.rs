//! The reference filter's rejuvenation move (docs/model.md §4): one Gibbs
//! sweep per particle over the stored stream, in f64, from the batch Gibbs
//! sampler's conditionals ([`super::super::conditionals`]).

use super::{Expert, Particle, ReferenceFilter, Stick};
use crate::family::Family;
use crate::reference::conditionals::{allocated, allocation_logs, stick_data};
use crate::reference::dist::categorical_from_logs;
use crate::reference::expert::{check_responses, gaussian_stats, Augmented};
use crate::reference::prior::{check_data, Prior};
use crate::reference::ReferenceError;
use rand::SeedableRng;
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

impl Particle {
    /// One sweep: `(β, σ²)` per expert from its posterior (Gaussian) or
    /// its current draw (augmented families), every `z_t` given them and
    /// `φ`, experts rebuilt, `ω` and the sticks rebuilt at the current
    /// `φ`, then `φ`, the horseshoe scales and `φ` again. Returns the new
    /// particle; `self` is untouched.
    fn swept(
        &self,
        rng: &mut XorShiftRng,
        family: Family,
        (xs, ys): (&[Vec<f64>], &[f64]),
        prior: &Prior,
    ) -> Result<Particle, ReferenceError> {
        let parameters = self
            .experts
            .iter()
            .map(|e| e.sweep_parameters(rng))
            .collect::<Result<Vec<_>, _>>()?;
        let (beta, sigma2): (Vec<_>, Vec<_>) = parameters.iter().cloned().unzip();
        let phi: Vec<Vec<f64>> = self.sticks.iter().map(|s| s.phi.clone()).collect();
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
        Ok(next)
    }
}

impl ReferenceFilter {
    /// Number of particles N.
    pub fn n_particles(&self) -> usize {
        self.particles.len()
    }

    /// One rejuvenation sweep of every particle over `(xs, ys)`, the rows
    /// observed so far, in parallel. Particle `i` draws from
    /// `XorShiftRng::seed_from_u64(seeds(i))`, so the result does not
    /// depend on the number of threads. A particle whose sweep fails
    /// numerically is kept as it was; returns how many failed.
    ///
    /// # Errors
    /// [`ReferenceError::WrongLength`] or [`ReferenceError::NonFinite`]
    /// for rows that do not fit the filter, [`ReferenceError::InvalidResponse`]
    /// for a response outside the family's support (nothing changed).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::reference::ReferenceFilter;
    /// let config = hsmoe_core::Config::default_for(2);
    /// let mut filter = ReferenceFilter::new(20, 2, 2, &config, 1).unwrap();
    /// let xs: Vec<Vec<f64>> = (0..10).map(|t| vec![1.0, t as f64 / 10.0]).collect();
    /// let ys = vec![0.5; 10];
    /// for (x, &y) in xs.iter().zip(&ys) {
    ///     filter.observe(x, y).unwrap();
    /// }
    /// let before = filter.log_marginal();
    /// assert_eq!(filter.rejuvenate(&xs, &ys, |i| i as u64).unwrap(), 0);
    /// assert_eq!(filter.log_marginal(), before); // moves never touch the evidence
    /// ```
    pub fn rejuvenate(
        &mut self,
        xs: &[Vec<f64>],
        ys: &[f64],
        seeds: impl Fn(usize) -> u64 + Sync,
    ) -> Result<usize, ReferenceError> {
        check_data(xs, ys, self.d)?;
        check_responses(self.family, ys)?;
        let (prior, family) = (&self.prior, self.family);
        Ok(self
            .particles
            .par_iter_mut()
            .enumerate()
            .map(|(i, particle)| {
                let mut rng = XorShiftRng::seed_from_u64(seeds(i));
                match particle.swept(&mut rng, family, (xs, ys), prior) {
                    Ok(next) => {
                        *particle = next;
                        0
                    }
                    Err(_) => 1,
                }
            })
            .sum())
    }
}
