//! The reference filter's rejuvenation move (docs/model.md §4): one Gibbs
//! sweep per particle over the stored stream, in f64, from the batch Gibbs
//! sampler's conditionals ([`super::super::conditionals`]).

use super::{Expert, Particle, ReferenceFilter, Stick};
use crate::family::Family;
use crate::reference::conditionals::{allocated, allocation_logs, stick_data};
use crate::reference::dist::categorical_from_logs;
use crate::reference::expert::gaussian_stats;
use crate::reference::prior::{check_data, Prior};
use crate::reference::ReferenceError;
use rand::SeedableRng;
use rand_xorshift::XorShiftRng;
use rayon::prelude::*;

impl Particle {
    /// One sweep: `(β, σ²)` per expert from its posterior, every `z_t`
    /// given them and `φ`, experts rebuilt, `ω` and the sticks rebuilt at
    /// the current `φ`, then `φ`, the horseshoe scales and `φ` again.
    /// Returns the new particle; `self` is untouched.
    fn swept(
        &self,
        rng: &mut XorShiftRng,
        xs: &[Vec<f64>],
        ys: &[f64],
        prior: &Prior,
    ) -> Result<Particle, ReferenceError> {
        let (beta, sigma2): (Vec<_>, Vec<_>) = self
            .experts
            .iter()
            .map(|e| e.posterior.draw(rng))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip();
        let phi: Vec<Vec<f64>> = self.sticks.iter().map(|s| s.phi.clone()).collect();
        let z: Vec<usize> = xs
            .iter()
            .zip(ys)
            .map(|(x, &y)| {
                let logs = allocation_logs(Family::Gaussian, &phi, (&beta, &sigma2), (x, y), 1.0);
                categorical_from_logs(rng, &logs)
            })
            .collect();
        let experts = (0..self.experts.len())
            .map(|k| {
                let stats = gaussian_stats(allocated(xs, ys, &z, k), xs[0].len(), prior, 1.0)?;
                let posterior = stats.posterior(prior);
                Ok(Expert { stats, posterior })
            })
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
    /// for rows that do not fit the filter (nothing changed).
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
        let prior = &self.prior;
        Ok(self
            .particles
            .par_iter_mut()
            .enumerate()
            .map(|(i, particle)| {
                let mut rng = XorShiftRng::seed_from_u64(seeds(i));
                match particle.swept(&mut rng, xs, ys, prior) {
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
