//! The README's memory formula, checked against the compiler's layout.

use core::mem::size_of;
use hsmoe_core::expert::{Bernoulli, Expert, Family, Gaussian, Student};
use hsmoe_core::{Const, Experts, Features};
use hsmoe_core::{Filter, Particle};

/// Bytes per particle from the README: with `T = D(D+1)/2` words per
/// packed triangle and `E` per expert,
/// `4 · (K · (E + 1) + (K − 1) · (T + 4D) + 5)`, including the carried
/// log weight and the filter's per-particle weight and offspring count.
const fn readme_bytes_per_particle_of(k: usize, d: usize, family: Family) -> usize {
    let t = d * (d + 1) / 2;
    let e = match family {
        Family::Gaussian => t + d + 3,
        Family::Bernoulli => t + 2 * d + 1,
        Family::Student => t + 2 * d + 6,
    };
    4 * (k * (e + 1) + (k - 1) * (t + 4 * d) + 5)
}

/// The same for Gaussian experts.
const fn readme_bytes_per_particle(k: usize, d: usize) -> usize {
    readme_bytes_per_particle_of(k, d, Family::Gaussian)
}

fn measured<const N: usize, const K: usize, const D: usize>() -> (usize, usize)
where
    Const<K>: Experts,
    Const<D>: Features,
{
    measured_of::<N, K, D, Gaussian<D>>()
}

fn measured_of<const N: usize, const K: usize, const D: usize, E: Expert<D>>() -> (usize, usize)
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let per_particle = size_of::<Particle<K, D, E>>() + size_of::<f32>() + size_of::<u32>();
    (per_particle, size_of::<Filter<N, K, D, E>>())
}

/// `E`'s bytes per particle at `K`, `D`: the compiler's, the README
/// formula's and the README table's `readme` agree.
fn check_family<const K: usize, const D: usize, E: Expert<D>>(readme: usize)
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let (per_particle, _) = measured_of::<8, K, D, E>();
    let family = E::FAMILY;
    assert_eq!(
        per_particle,
        readme_bytes_per_particle_of(K, D, family),
        "{family} K={K} D={D}"
    );
    assert_eq!(per_particle, readme, "{family} K={K} D={D}");
}

#[test]
fn every_family_has_the_readme_bytes_per_particle() {
    check_family::<4, 4, Bernoulli<4>>(652);
    check_family::<4, 6, Bernoulli<6>>(1_120);
    check_family::<10, 6, Bernoulli<6>>(3_040);
    check_family::<4, 4, Student<4>>(732);
    check_family::<4, 6, Student<6>>(1_200);
    check_family::<10, 6, Student<6>>(3_240);
}

#[test]
fn bytes_per_particle_match_the_readme() {
    let cases = [
        (measured::<128, 4, 4>(), 4, 4, 128),
        (measured::<64, 10, 6>(), 10, 6, 64),
        (measured::<8, 1, 1>(), 1, 1, 8),
        (measured::<16, 3, 16>(), 3, 16, 16),
    ];
    for ((per_particle, filter), k, d, n) in cases {
        assert_eq!(per_particle, readme_bytes_per_particle(k, d), "K={k} D={d}");
        // The rest of the filter is its settings and running summaries.
        let overhead = filter - n * per_particle;
        assert!(
            overhead <= 64 + 8 * k,
            "K={k} D={d}: {overhead} bytes of state"
        );
    }
    assert_eq!(readme_bytes_per_particle(4, 4), 620);
    assert_eq!(readme_bytes_per_particle(10, 6), 2_880);
    // The bounds: at most 700 B at (4, 4) and 3 800 B at (10, 6).
    assert!(measured::<128, 4, 4>().0 <= 700);
    assert!(measured::<64, 10, 6>().0 <= 3_800);
}

#[test]
fn a_new_filter_is_all_zero_so_a_static_one_lands_in_bss() {
    // Every number in the Debug rendering (which shows every field) is 0
    // and every flag false; field names like `tau2` do not parse as numbers.
    let filter = Filter::<3, 2, 2>::new();
    let text = format!("{filter:?}");
    for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-')) {
        if let Ok(value) = token.parse::<f64>() {
            assert_eq!(value, 0.0, "non-zero initializer {token} in {text}");
        }
        assert_ne!(token, "true", "{text}");
    }
}
