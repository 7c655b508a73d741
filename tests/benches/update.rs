//! One PL update: the core against the f64 reference engine at every point
//! of [`update_points`] (the benchmark grid N ∈ {64, 256, 1024},
//! K ∈ {2, 4, 10}, D ∈ {2, 4, 8, 16}, the target point N = 1000, K = 10,
//! D = 6 and the exponent series in D), and the horseshoe refresh every
//! observation (R = 1) against every D observations (R = D).
//!
//! `cargo bench -p hsmoe-tests --bench update -- 'update/core'` runs a
//! subset; engines are built (and warmed up) only for the benchmarks
//! selected. `scripts/bench-host.sh` runs them all and tabulates them.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hsmoe_host::bench::points::{refresh_points, update_points};
use hsmoe_host::bench::timing::{core_loop, reference_loop, UpdateLoop};

/// Benchmarks `update()` of the engine `make` builds, built on first use.
fn bench_engine(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    make: impl Fn() -> Box<dyn UpdateLoop>,
) {
    let mut engine: Option<Box<dyn UpdateLoop>> = None;
    group.bench_function(id, |b| {
        let engine = engine.get_or_insert_with(&make);
        b.iter(|| engine.update().expect("the update succeeds"));
    });
}

fn grid(c: &mut Criterion) {
    let mut group = c.benchmark_group("update");
    // Ten samples: the slowest reference points take milliseconds each.
    group.sample_size(10);
    for p in update_points() {
        bench_engine(&mut group, BenchmarkId::new("core", p.label()), || {
            core_loop(p, 1).expect("the core builds")
        });
        bench_engine(&mut group, BenchmarkId::new("reference", p.label()), || {
            reference_loop(p, 1).expect("the reference builds")
        });
    }
    group.finish();
}

fn refresh_period(c: &mut Criterion) {
    let mut group = c.benchmark_group("refresh");
    for p in refresh_points() {
        bench_engine(&mut group, BenchmarkId::new("core", p.label()), || {
            core_loop(p, 1).expect("the core builds")
        });
    }
    group.finish();
}

criterion_group!(benches, grid, refresh_period);
criterion_main!(benches);
