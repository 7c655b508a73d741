//! Helpers of the `fit_*` statistical tests: running an engine over a
//! data set and Monte Carlo summaries of replicated runs.

use hsmoe_core::expert::Expert;
use hsmoe_core::rejuvenate::sweep;
use hsmoe_core::schedule::Scheduler;
use hsmoe_core::{Config, Const, Experts, Features, FilterState, Particle, ParticleSet};
use hsmoe_host::data::{load, Dataset, LoadOptions};
use hsmoe_host::engine::{
    online_engine, online_engine_with_moves, EngineChoice, EngineKind, OnlineEngine,
};
use hsmoe_host::fit::FitOptions;
use hsmoe_host::moves::{default_islands, sweep_all, MoveOptions, Moves};
use rand::SeedableRng;
use rand_xorshift::XorShiftRng;

use crate::mean_se;

/// The motorcycle data (`data/mcycle.csv`), standardized, intercept added,
/// rows in the file's time order.
pub fn mcycle() -> Dataset {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mcycle.csv");
    let opts = LoadOptions {
        standardize: true,
        ..LoadOptions::default()
    };
    load(path.as_ref(), &opts).unwrap()
}

/// The options `hsmoe fit` runs with by default on `data` (core engine,
/// the stream moves and final sweeps, one island per 250 particles).
pub fn default_host_fit(k: usize, n: usize, seed: u64, data: &Dataset) -> FitOptions {
    let mut opts = FitOptions::new(EngineKind::Core, k, n, seed, data);
    opts.moves = Moves::Stream(MoveOptions::DEFAULT);
    opts.islands = default_islands(n);
    opts
}

/// Feeds every row of `data` to a fresh `kind` engine built from `opts`
/// (its K, N, seed and prior) and returns the engine.
pub fn run_engine(kind: EngineKind, data: &Dataset, opts: &FitOptions) -> Box<dyn OnlineEngine> {
    let mut engine = online_engine(
        kind,
        opts.k,
        data.d(),
        opts.n_particles,
        &opts.config,
        opts.seed,
    )
    .unwrap();
    for (x, &y) in data.x.iter().zip(&data.y) {
        engine.observe(x, y).unwrap();
    }
    engine
}

/// The core filter with experts `E` over `stream` with the host's default
/// moves and final sweeps, at the default prior for `D` features: the
/// particles at the end (equally weighted), for tests that read them.
pub fn core_fit_with_moves<const K: usize, const D: usize, E: Expert<D>>(
    stream: &[([f32; D], f32)],
    n: usize,
    seed: u64,
) -> Vec<Particle<K, D, E>>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let config = Config::default_for(D);
    let mut particles = vec![Particle::<K, D, E>::ZERO; n];
    let (mut weights, mut counts) = (vec![0.0; n], vec![0; n]);
    let mut state = FilterState::new(config);
    let mut rng = XorShiftRng::seed_from_u64(seed);
    let options = MoveOptions::DEFAULT;
    let schedule = options.schedule(K, D);
    let mut scheduler = Scheduler::new(schedule);
    let (mut moves, mut work) = (0u64, 0.0);
    let mut sweep = |particles: &mut [Particle<K, D, E>], rows: &[([f32; D], f32)]| {
        work += rows.len() as f64;
        let plan = options.sweep_plan(&schedule, moves, work);
        assert_eq!(sweep_all(particles, rows, &config, seed, plan).failed, 0);
        moves += 1;
    };
    ParticleSet::new(&mut particles, &mut weights, &mut counts, &mut state)
        .unwrap()
        .reset(&config, &mut rng)
        .unwrap();
    for (t, (x, y)) in stream.iter().enumerate() {
        let mut set =
            ParticleSet::new(&mut particles, &mut weights, &mut counts, &mut state).unwrap();
        let update = set.observe(x, *y, &mut rng).unwrap();
        if scheduler.after_step(t as u32 + 1, update.ess, n).is_some() {
            sweep(&mut particles, &stream[..=t]);
        }
    }
    for _ in 0..options.final_sweeps {
        sweep(&mut particles, stream);
    }
    particles
}

/// A long Gibbs run of the core's rejuvenation sweep (a Gibbs scan of the
/// model's joint posterior, docs/model.md §4) over all of `stream`, one
/// chain from each of `starts` (particles whose statistics hold exactly
/// `stream`, e.g. of a filter run over it), chain `c` seeded `seed + c`:
/// `sweeps` sweeps, of which those after `burn_in`, every `thin`-th, are
/// kept. Returns the kept particles per chain, in order. For families the
/// host's f64 Gibbs sampler does not have; the sweep is the filter's own,
/// so this checks the particle approximation against MCMC of the same
/// model, not the sweep's math (the K = 1 oracles do that).
pub fn core_gibbs<const K: usize, const D: usize, E: Expert<D>>(
    stream: &[([f32; D], f32)],
    starts: &[Particle<K, D, E>],
    sweeps: usize,
    burn_in: usize,
    thin: usize,
    seed: u64,
) -> Vec<Vec<Particle<K, D, E>>>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let config = Config::default_for(D);
    crate::par_map(starts.len(), |c| {
        let mut rng = XorShiftRng::seed_from_u64(seed + c as u64);
        let mut particle = starts[c];
        let mut kept = Vec::with_capacity(sweeps.saturating_sub(burn_in) / thin.max(1) + 1);
        for s in 0..sweeps {
            sweep(&mut particle, stream, None, &config, &mut rng).unwrap();
            if s >= burn_in && (s - burn_in) % thin.max(1) == 0 {
                kept.push(particle);
            }
        }
        kept
    })
}

/// `ln p̂(y)` of `seeds` independent runs (seeds `1..=seeds`) of the
/// online engine `choice` with `k` experts and `n` particles over the
/// rows `(xs, ys)`, at the default prior and without moves: one value
/// per seed, for [`crate::assert_same_law`].
pub fn log_marginals(
    choice: EngineChoice,
    (k, n): (usize, usize),
    (xs, ys): (&[Vec<f64>], &[f64]),
    seeds: usize,
) -> Vec<f64> {
    let config = Config::default_for(xs[0].len());
    crate::par_map(seeds, |s| {
        let moves = Moves::None;
        let mut engine =
            online_engine_with_moves(choice, k, xs[0].len(), n, &config, 1 + s as u64, moves)
                .unwrap();
        for (x, &y) in xs.iter().zip(ys) {
            engine.observe(x, y).unwrap();
        }
        engine.log_marginal()
    })
}

/// Welch's two-sample statistic for independent replicates:
/// `(mean(a) − mean(b), SE of the difference)`.
pub fn welch(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (ma, sa) = mean_se(a);
    let (mb, sb) = mean_se(b);
    (ma - mb, (sa * sa + sb * sb).sqrt())
}

/// Sum of the `m` largest entries.
pub fn top_mass(freq: &[f64], m: usize) -> f64 {
    let mut sorted = freq.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    sorted.iter().take(m).sum()
}
