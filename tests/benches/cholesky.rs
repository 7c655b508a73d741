//! Adding `x xᵀ` to a factored `D × D` precision: the core's O(D²) rank-1
//! update against refactoring from scratch in O(D³), as a refactorizing
//! engine does every observation.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hsmoe_core::linalg::{Factor, Triangle};
use hsmoe_core::{Const, Features};
use hsmoe_host::bench::timing::{rank1_update, refactor};
use std::hint::black_box;

/// `A = I + 0.1·𝟙𝟙ᵀ` (lower triangle), its factor, and `x = (1, ½, ⅓, …)`.
fn problem<const D: usize>() -> (Triangle<D>, Factor<D>, [f32; D])
where
    Const<D>: Features,
{
    let a = Triangle::from_fn(|i, j| if i == j { 1.1 } else { 0.1 });
    let mut l = a;
    hsmoe_core::linalg::cholesky_in_place(&mut l).expect("A is positive definite");
    let x = std::array::from_fn(|i| 1.0 / (i as f32 + 1.0));
    (a, l, x)
}

fn bench_dim<const D: usize>(c: &mut Criterion)
where
    Const<D>: Features,
{
    let (a, l, x) = problem::<D>();
    let mut group = c.benchmark_group("cholesky");
    group.bench_function(BenchmarkId::new("rank1_update", D), |b| {
        b.iter(|| rank1_update(black_box(&l), black_box(&x)).expect("update"));
    });
    group.bench_function(BenchmarkId::new("refactor", D), |b| {
        b.iter(|| refactor(black_box(&a), black_box(&x)).expect("refactor"));
    });
    group.finish();
}

/// The dimensions of `hsmoe_host::bench::points::CHOLESKY_DS`.
fn cholesky(c: &mut Criterion) {
    bench_dim::<2>(c);
    bench_dim::<4>(c);
    bench_dim::<8>(c);
    bench_dim::<16>(c);
}

criterion_group!(benches, cholesky);
criterion_main!(benches);
