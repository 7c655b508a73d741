//! One particle-learning step per expert family, on the same inputs: the
//! Gaussian experts against Bernoulli experts whose response is the sign
//! of the Gaussian one, and robust (Student-t, ν = 4) experts. N = 256 particles, K = 4 experts, D = 4 features,
//! the default firmware's shape.
//!
//! `cargo bench -p hsmoe-tests --bench family`

use criterion::{criterion_group, criterion_main, Criterion};
use hsmoe_core::expert::{Bernoulli, Expert, Gaussian, Student};
use hsmoe_core::{Config, Filter};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xorshift::XorShiftRng;
use std::hint::black_box;

const N: usize = 256;
const K: usize = 4;
const D: usize = 4;

/// 4 096 rows `x = (1, z)`, `z ~ N(0, I)`, `y = xᵀ(0.5, 1, −2, 0.5) + ε/2`.
fn rows() -> Vec<([f32; D], f32)> {
    let mut rng = XorShiftRng::seed_from_u64(1);
    (0..4096)
        .map(|_| {
            let mut x = [1.0f32; D];
            for v in &mut x[1..] {
                *v = rng.sample(StandardNormal);
            }
            let noise: f32 = rng.sample(StandardNormal);
            (x, 0.5 + x[1] - 2.0 * x[2] + 0.5 * x[3] + 0.5 * noise)
        })
        .collect()
}

/// Benchmarks one step of a filter with experts `E`, warmed up on 256 rows.
fn bench_family<E: Expert<D>>(c: &mut Criterion, rows: &[([f32; D], f32)]) {
    let mut filter: Box<Filter<N, K, D, E>> = Box::new(Filter::new());
    let mut rng = XorShiftRng::seed_from_u64(2);
    filter.reset(&Config::default_for(D), &mut rng).unwrap();
    let mut next = rows.iter().cycle();
    let mut step = move || {
        let (x, y) = next.next().expect("the rows cycle");
        black_box(filter.observe(x, *y, &mut rng).expect("the step succeeds"));
    };
    for _ in 0..256 {
        step();
    }
    c.bench_function(&format!("family/{}", E::FAMILY), |b| b.iter(&mut step));
}

fn families(c: &mut Criterion) {
    let rows = rows();
    let signs: Vec<_> = rows
        .iter()
        .map(|(x, y)| (*x, f32::from(u8::from(*y > 0.0))))
        .collect();
    bench_family::<Gaussian<D>>(c, &rows);
    bench_family::<Bernoulli<D>>(c, &signs);
    bench_family::<Student<D>>(c, &rows);
}

criterion_group!(benches, families);
criterion_main!(benches);
