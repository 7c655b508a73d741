//! `PG(1, c)` draws: the core's f32 approximation against the exact
//! (Devroye, f64) sampler of the reference engine, at the single values
//! [`PG_CS`] and cycling over c = 0, 0.5, …, 50.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hsmoe_host::bench::points::{pg_label, PG_CS};
use hsmoe_host::bench::timing::{core_pg_draws, exact_pg_draws, pg_grid};
use rand::SeedableRng;
use rand_xorshift::XorShiftRng;

/// Draws per measured iteration (ten passes over the 101-value grid).
const BATCH: usize = 1_010;

fn pg(c: &mut Criterion) {
    let mut group = c.benchmark_group("pg");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut cases: Vec<(String, Vec<f64>)> = PG_CS
        .iter()
        .map(|&c| (pg_label(Some(c)), vec![c]))
        .collect();
    cases.push((pg_label(None), pg_grid()));
    for (label, cs) in &cases {
        let mut rng = XorShiftRng::seed_from_u64(1);
        group.bench_function(BenchmarkId::new("core", label), |b| {
            b.iter(|| core_pg_draws(&mut rng, cs, BATCH));
        });
        let mut rng = XorShiftRng::seed_from_u64(2);
        group.bench_function(BenchmarkId::new("exact", label), |b| {
            b.iter(|| exact_pg_draws(&mut rng, cs, BATCH));
        });
    }
    group.finish();
}

criterion_group!(benches, pg);
criterion_main!(benches);
