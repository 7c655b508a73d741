//! Islands: `M` independent particle filters of `N/M` particles each over
//! the same rows, combined by their evidence (docs/model.md §4,
//! "Islands").
//!
//! A mixture posterior has modes that no Gibbs sweep leaves in a
//! reasonable time. A filter whose particles all descend from one early
//! configuration stays in it, and its log marginal pays for the worse
//! mode at every later step: on the paper design a quarter of the seeds
//! end 10–80 nats low. Filters that never resample across each other fail
//! independently, so the chance that all of them are stuck is the
//! product of the chances. Each island's `Ẑ_i` is an unbiased estimate
//! of the evidence, so their mean is one too, and the island posteriors
//! weighted by `Ẑ_i` are a consistent estimate of the posterior (the
//! island particle model of Vergé, Dubarry, Del Moral and Moulines,
//! 2015). The cost is the same as one filter of `N` particles.
//!
//! Island `i` is exactly the single filter of `N_i` particles with seed
//! [`island_seed`]`(seed, i)`; island 0 has the fit's own seed, so one
//! island is the plain filter bit for bit.
//!
//! Label-free summaries (evidence, predictive moments and components,
//! ESS, sorted allocation frequencies) are the weighted mixture over the
//! islands. Expert labels are arbitrary and differ between islands, so
//! averaging "expert k" across them would mix different experts: the
//! label-dependent ones (gate and allocation probabilities, unsorted
//! allocation frequencies, router scores, gate coefficients, expert
//! coefficients) are those of the island with the largest weight.

use crate::engine::{
    resume_core, EngineError, EngineState, Horseshoe, IslandSummary, OnlineEngine,
    PredictiveMoments, Router, Step,
};
use crate::mixture::{ExpertCoefficients, TComponent, Unstandardize};
use crate::moves::{splitmix64, MoveReport};
use crate::reference::dist::log_sum_exp;
use hsmoe_core::snapshot::SnapshotShape;

/// `islands` islands sharing `n` particles, island `i` built by `build(N_i,
/// island_seed(seed, i))`; one island is exactly `build(n, seed)`.
///
/// # Errors
/// What `build` returns; [`EngineError::TooFewParticles`] for `n <
/// islands` (or no island).
///
/// # Examples
/// ```
/// use hsmoe_host::engine::{online_engine_with_moves, EngineKind};
/// use hsmoe_host::islands::islands_of;
/// use hsmoe_host::moves::MoveOptions;
/// let config = hsmoe_core::Config::default_for(2);
/// let build = |n, seed| {
///     online_engine_with_moves(EngineKind::Core, 2, 2, n, &config, seed, Some(MoveOptions::DEFAULT))
/// };
/// let mut four = islands_of(40, 3, 4, build).unwrap();
/// let step = four.observe(&[1.0, 0.5], 0.2).unwrap();
/// assert!(step.ess <= 40.0);
/// assert_eq!(four.islands().unwrap().len(), 4);
/// // One island is the plain engine.
/// let mut one = islands_of(40, 3, 1, build).unwrap();
/// assert_eq!(one.observe(&[1.0, 0.5], 0.2).unwrap(), build(40, 3).unwrap().observe(&[1.0, 0.5], 0.2).unwrap());
/// assert!(islands_of(3, 3, 4, build).is_err());
/// ```
pub fn islands_of(
    n: usize,
    seed: u64,
    islands: usize,
    build: impl Fn(usize, u64) -> Result<Box<dyn OnlineEngine>, EngineError>,
) -> Result<Box<dyn OnlineEngine>, EngineError> {
    if islands == 1 {
        return build(n, seed);
    }
    if islands == 0 || n < islands {
        return Err(EngineError::TooFewParticles {
            particles: n,
            islands,
        });
    }
    let sizes = island_sizes(n, islands);
    let seeds: Vec<u64> = (0..islands).map(|i| island_seed(seed, i)).collect();
    let engines = sizes
        .iter()
        .zip(&seeds)
        .map(|(&n, &seed)| build(n, seed))
        .collect::<Result<_, _>>()?;
    Ok(Box::new(IslandEngine::new(engines, seeds, sizes)))
}

/// The core engine continuing from `saved`, one state per island (see
/// [`OnlineEngine::save`]), of a fit with seed `seed`.
///
/// # Errors
/// As [`resume_core`]; [`EngineError::TooFewParticles`] for no state.
pub fn resume(
    k: usize,
    d: usize,
    saved: &[EngineState],
    seed: u64,
) -> Result<Box<dyn OnlineEngine>, EngineError> {
    match saved {
        [] => Err(EngineError::TooFewParticles {
            particles: 0,
            islands: 0,
        }),
        [one] => resume_core(k, d, one, seed),
        _ => {
            let seeds: Vec<u64> = (0..saved.len()).map(|i| island_seed(seed, i)).collect();
            let sizes = saved
                .iter()
                .map(|s| Ok(SnapshotShape::read(&s.snapshot)?.n as usize))
                .collect::<Result<_, EngineError>>()?;
            let engines = saved
                .iter()
                .zip(&seeds)
                .map(|(s, &seed)| resume_core(k, d, s, seed))
                .collect::<Result<_, _>>()?;
            Ok(Box::new(IslandEngine::new(engines, seeds, sizes)))
        }
    }
}

/// Seed of island `island` of a fit with seed `seed`: the seed itself
/// for island 0, a splitmix64 mix of the two for the others (so fits
/// with neighbouring seeds share no island).
///
/// # Examples
/// ```
/// use hsmoe_host::islands::island_seed;
/// assert_eq!(island_seed(7, 0), 7);
/// assert_ne!(island_seed(1, 1), island_seed(2, 1));
/// assert_ne!(island_seed(1, 1), 2);
/// ```
pub fn island_seed(seed: u64, island: usize) -> u64 {
    match island {
        0 => seed,
        i => splitmix64(splitmix64(seed) ^ i as u64),
    }
}

/// Particles of each of `islands` islands sharing `n` particles: `n /
/// islands`, the first `n % islands` islands one more.
///
/// # Examples
/// ```
/// use hsmoe_host::islands::island_sizes;
/// assert_eq!(island_sizes(10, 4), vec![3, 3, 2, 2]);
/// assert_eq!(island_sizes(1000, 1), vec![1000]);
/// ```
pub fn island_sizes(n: usize, islands: usize) -> Vec<usize> {
    (0..islands)
        .map(|i| n / islands + usize::from(i < n % islands))
        .collect()
}

/// `M ≥ 2` independent filters behind one [`OnlineEngine`].
struct IslandEngine {
    islands: Vec<Box<dyn OnlineEngine>>,
    /// Each island's seed and particles, for the report.
    seeds: Vec<u64>,
    sizes: Vec<usize>,
    /// The island that refused a row the ones before it had absorbed:
    /// the islands no longer describe the same rows.
    out_of_step: Option<usize>,
}

/// Normalized weights `w_i ∝ exp(ℓ_i)`.
fn normalized(log_weights: &[f64]) -> Vec<f64> {
    let total = log_sum_exp(log_weights);
    log_weights.iter().map(|l| (l - total).exp()).collect()
}

/// `Σ_i w_i v_i` for vectors `v_i`.
fn weighted_mean(weights: &[f64], values: &[&[f64]]) -> Vec<f64> {
    let width = values.first().map_or(0, |v| v.len());
    (0..width)
        .map(|j| weights.iter().zip(values).map(|(w, v)| w * v[j]).sum())
        .collect()
}

/// The mixture of predictive moments `p_i` with weights `w_i`, by the law
/// of total variance.
fn mixture_moments(weights: &[f64], p: &[PredictiveMoments<f64>]) -> PredictiveMoments<f64> {
    let mean: f64 = weights.iter().zip(p).map(|(w, p)| w * p.mean).sum();
    let second: f64 = weights
        .iter()
        .zip(p)
        .map(|(w, p)| w * (p.var + p.mean * p.mean))
        .sum();
    PredictiveMoments {
        mean,
        var: (second - mean * mean).max(0.0),
    }
}

/// The index of the largest weight.
fn largest(weights: &[f64]) -> usize {
    (0..weights.len())
        .max_by(|&a, &b| weights[a].total_cmp(&weights[b]))
        .unwrap_or(0)
}

impl IslandEngine {
    /// Islands `islands`, island `i` seeded `seeds[i]` with `sizes[i]`
    /// particles (three slices of one length).
    fn new(islands: Vec<Box<dyn OnlineEngine>>, seeds: Vec<u64>, sizes: Vec<usize>) -> Self {
        debug_assert!(islands.len() == seeds.len() && islands.len() == sizes.len());
        IslandEngine {
            islands,
            seeds,
            sizes,
            out_of_step: None,
        }
    }

    /// Each island's weight in the posterior: `Ẑ_i / Σ_j Ẑ_j`.
    fn weights(&self) -> Vec<f64> {
        let lm: Vec<f64> = self.islands.iter().map(|e| e.log_marginal()).collect();
        normalized(&lm)
    }

    /// `v` as the islands' float type holds it: a combination of f32
    /// islands is rounded to f32, so that, like a core run's, every
    /// number the engine reports is an exact f32 value.
    fn narrow(&self, v: f64) -> f64 {
        if self.single_precision() {
            f64::from(v as f32)
        } else {
            v
        }
    }

    fn narrow_all(&self, v: Vec<f64>) -> Vec<f64> {
        v.into_iter().map(|v| self.narrow(v)).collect()
    }

    /// The island with the largest weight: the one whose expert labels
    /// the label-dependent summaries use.
    fn leader(&self) -> &dyn OnlineEngine {
        self.islands[largest(&self.weights())].as_ref()
    }

    fn check(&self) -> Result<(), EngineError> {
        match self.out_of_step {
            Some(island) => Err(EngineError::IslandsOutOfStep { island }),
            None => Ok(()),
        }
    }
}

impl OnlineEngine for IslandEngine {
    fn observe(&mut self, x: &[f64], y: f64) -> Result<Step<f64>, EngineError> {
        self.check()?;
        let before = self.weights();
        let mut steps = Vec::with_capacity(self.islands.len());
        for (i, island) in self.islands.iter_mut().enumerate() {
            match island.observe(x, y) {
                Ok(step) => steps.push(step),
                Err(e) => {
                    // A refusal of the row itself comes from island 0,
                    // before any island changed; a later one is a
                    // collapse of that island alone.
                    if i > 0 {
                        self.out_of_step = Some(i);
                    }
                    return Err(e);
                }
            }
        }
        let after = self.weights();
        let means: Vec<PredictiveMoments<f64>> = steps
            .iter()
            .map(|s| PredictiveMoments {
                mean: s.mean,
                var: s.var,
            })
            .collect();
        let moments = mixture_moments(&before, &means);
        let ln_terms: Vec<f64> = before
            .iter()
            .zip(&steps)
            .map(|(w, s)| w.ln() + s.log_pred)
            .collect();
        // The combined set's ESS: island i's particles carry weight
        // w_i/ESS_i-concentrated, so Σ (w_i W_ij)² = Σ w_i² / ESS_i.
        let concentration: f64 = after.iter().zip(&steps).map(|(w, s)| w * w / s.ess).sum();
        // The gate is part of the prediction made before y_t (as `predict`
        // gives it), so it comes from the island leading before the step;
        // the allocation probabilities weigh y_t, so from the one leading
        // after it.
        let step = Step {
            mean: moments.mean,
            var: moments.var,
            log_pred: log_sum_exp(&ln_terms),
            ess: 1.0 / concentration,
            gate: steps[largest(&before)].gate.clone(),
            alloc: steps[largest(&after)].alloc.clone(),
        };
        Ok(step.map(&|v| self.narrow(v)))
    }

    fn log_marginal(&self) -> f64 {
        let lm: Vec<f64> = self.islands.iter().map(|e| e.log_marginal()).collect();
        log_sum_exp(&lm) - (lm.len() as f64).ln()
    }

    fn allocation_freq(&self) -> Vec<f64> {
        self.leader().allocation_freq()
    }

    fn allocation_freq_sorted(&self) -> Vec<f64> {
        let freq: Vec<Vec<f64>> = self
            .islands
            .iter()
            .map(|e| e.allocation_freq_sorted())
            .collect();
        let freq: Vec<&[f64]> = freq.iter().map(Vec::as_slice).collect();
        self.narrow_all(weighted_mean(&self.weights(), &freq))
    }

    fn predict(&self, x: &[f64]) -> Result<(PredictiveMoments<f64>, Vec<f64>), EngineError> {
        let each = self
            .islands
            .iter()
            .map(|e| e.predict(x))
            .collect::<Result<Vec<_>, _>>()?;
        let weights = self.weights();
        let moments: Vec<PredictiveMoments<f64>> = each.iter().map(|(p, _)| *p).collect();
        let gate = each[largest(&weights)].1.clone();
        Ok((
            mixture_moments(&weights, &moments).map(&|v| self.narrow(v)),
            gate,
        ))
    }

    fn allocation(&self, x: &[f64], y: f64) -> Result<Vec<f64>, EngineError> {
        self.leader().allocation(x, y)
    }

    fn router(&self, x: &[f64]) -> Result<Router<f64>, EngineError> {
        self.leader().router(x)
    }

    fn horseshoe(&self) -> Horseshoe<f64> {
        self.leader().horseshoe()
    }

    fn single_precision(&self) -> bool {
        self.islands.iter().all(|e| e.single_precision())
    }

    fn finish(&mut self) -> Result<(), EngineError> {
        self.check()?;
        self.islands.iter_mut().try_for_each(|e| e.finish())
    }

    /// The islands' moves together: counts and seconds summed, the work
    /// ratio of all of them, every event in order of time.
    fn moves(&self) -> Option<MoveReport> {
        let reports = self
            .islands
            .iter()
            .map(|e| e.moves())
            .collect::<Option<Vec<_>>>()?;
        let first = reports.first()?.clone();
        let total: usize = self.sizes.iter().sum();
        let mut events: Vec<_> = reports.iter().flat_map(|r| r.events.clone()).collect();
        events.sort_by_key(|e| e.t);
        Some(MoveReport {
            moves: reports.iter().map(|r| r.moves).sum(),
            sweeps: reports.iter().map(|r| r.sweeps).sum(),
            work_ratio: reports
                .iter()
                .zip(&self.sizes)
                .map(|(r, &n)| r.work_ratio * n as f64 / total as f64)
                .sum(),
            seconds: reports.iter().map(|r| r.seconds).sum(),
            events,
            ..first
        })
    }

    fn islands(&self) -> Option<Vec<IslandSummary>> {
        let weights = self.weights();
        Some(
            self.islands
                .iter()
                .zip(&self.seeds)
                .zip(&self.sizes)
                .zip(weights)
                .map(|(((e, &seed), &particles), weight)| IslandSummary {
                    seed,
                    particles,
                    log_marginal: e.log_marginal(),
                    weight,
                })
                .collect(),
        )
    }

    fn save(&mut self) -> Result<Vec<EngineState>, EngineError> {
        self.check()?;
        let mut states = Vec::with_capacity(self.islands.len());
        for island in &mut self.islands {
            states.extend(island.save()?);
        }
        Ok(states)
    }

    /// Every island's components, each scaled by the island's weight.
    fn mixture(&self, x: &[f64]) -> Result<Vec<TComponent>, EngineError> {
        let mut components = Vec::new();
        for (island, w) in self.islands.iter().zip(self.weights()) {
            components.extend(island.mixture(x)?.into_iter().map(|c| TComponent {
                weight: w * c.weight,
                ..c
            }));
        }
        Ok(components)
    }

    fn coefficients(&self, map: &Unstandardize) -> Option<Vec<ExpertCoefficients>> {
        self.leader().coefficients(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{online_engine_with_moves, EngineKind};
    use crate::moves::MoveOptions;
    use crate::simulate::{simulate, Design};
    use hsmoe_core::Config;

    fn run(engine: &mut dyn OnlineEngine, data: &crate::data::Dataset) -> Vec<Step<f64>> {
        let steps = data
            .x
            .iter()
            .zip(&data.y)
            .map(|(x, &y)| engine.observe(x, y).unwrap())
            .collect();
        engine.finish().unwrap();
        steps
    }

    #[test]
    fn each_island_is_the_single_filter_of_its_seed_and_the_steps_add_up() {
        let data = simulate(Design::Piecewise, 80, 3).dataset(true);
        let config = Config::default_for(data.d());
        for kind in [EngineKind::Core, EngineKind::Reference] {
            let build = |n, seed| {
                let moves = Some(MoveOptions::DEFAULT);
                online_engine_with_moves(kind, 3, data.d(), n, &config, seed, moves)
            };
            let mut islands = islands_of(70, 5, 3, build).unwrap();
            let steps = run(islands.as_mut(), &data);
            let summary = islands.islands().unwrap();
            assert_eq!(summary.iter().map(|s| s.particles).sum::<usize>(), 70);
            for (i, s) in summary.iter().enumerate() {
                assert_eq!(s.seed, island_seed(5, i));
                let mut single = build(s.particles, s.seed).unwrap();
                run(single.as_mut(), &data);
                assert_eq!(single.log_marginal(), s.log_marginal, "{kind} island {i}");
            }
            let weights: f64 = summary.iter().map(|s| s.weight).sum();
            assert!((weights - 1.0).abs() < 1e-12);
            // The step predictives telescope to the combined evidence; a
            // core run's terms are rounded to f32 (80 terms of |ln p| ≈ 1,
            // each within 6e-8 relative), the reference's are f64.
            let sum: f64 = steps.iter().map(|s| s.log_pred).sum();
            let tolerance = if kind == EngineKind::Core { 1e-4 } else { 1e-9 };
            assert!(
                (sum - islands.log_marginal()).abs() < tolerance,
                "{kind}: {sum} vs {}",
                islands.log_marginal()
            );
            let alloc: f64 = islands.allocation_freq().iter().sum();
            assert!((alloc - 1.0).abs() < 1e-5, "{kind}: {alloc}");
        }
    }

    #[test]
    fn mixture_moments_follow_the_law_of_total_variance() {
        let p = [
            PredictiveMoments {
                mean: 0.0,
                var: 1.0,
            },
            PredictiveMoments {
                mean: 2.0,
                var: 3.0,
            },
        ];
        let m = mixture_moments(&[0.25, 0.75], &p);
        // E = 1.5; E[Y²] = 0.25·1 + 0.75·(3 + 4) = 5.5; Var = 5.5 − 2.25.
        assert!((m.mean - 1.5).abs() < 1e-12);
        assert!((m.var - 3.25).abs() < 1e-12);
    }

    #[test]
    fn a_refused_row_leaves_the_islands_usable() {
        let config = Config::default_for(2);
        let build =
            |n, seed| online_engine_with_moves(EngineKind::Core, 2, 2, n, &config, seed, None);
        let mut islands = islands_of(8, 1, 2, build).unwrap();
        // A bad row is refused by island 0 before any island changes.
        assert!(islands.observe(&[1.0, f64::NAN], 0.0).is_err());
        assert!(islands.observe(&[1.0, 0.5], 0.2).is_ok());
    }
}
