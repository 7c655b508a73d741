//! Dense Cholesky factors of small symmetric positive-definite matrices,
//! stored as `[[f32; D]; D]` lower triangles (row `i`, column `j ≤ i`).
//!
//! Every routine that can meet a non-positive pivot returns
//! [`Error::NotPositiveDefinite`] instead of writing NaN.

// Index loops mirror the textbook recurrences they implement.
#![allow(clippy::needless_range_loop)]

use crate::math::sqrt;
use crate::Error;

/// A lower-triangular Cholesky factor `L` with `A = L Lᵀ`.
pub type Factor<const D: usize> = [[f32; D]; D];

fn checked_pivot(value: f32) -> Result<f32, Error> {
    // Positive and finite ⇔ the bits lie in 1..=0x7F7F_FFFF (the largest
    // finite f32): one compare. The float tests became a dozen integer
    // instructions on the M4F, whose `VSQRT` operand passes through a core
    // register anyway (see `math::sqrt`).
    if value.to_bits().wrapping_sub(1) < f32::MAX.to_bits() {
        Ok(sqrt(value))
    } else {
        Err(Error::NotPositiveDefinite)
    }
}

/// Factors the symmetric matrix whose lower triangle is in `a` into `L`
/// (Cholesky–Banachiewicz, Golub & Van Loan 4.2.5), in place. The strict
/// upper triangle is zeroed.
///
/// # Errors
/// [`Error::NotPositiveDefinite`] at the first pivot that is not positive
/// and finite; `a` is then partly overwritten.
///
/// # Examples
/// ```
/// let mut a = [[4.0, 0.0], [2.0, 5.0]];
/// hsmoe_core::linalg::cholesky_in_place(&mut a).unwrap();
/// assert_eq!(a, [[2.0, 0.0], [1.0, 2.0]]);
/// let mut bad = [[1.0, 0.0], [2.0, 1.0]];
/// assert!(hsmoe_core::linalg::cholesky_in_place(&mut bad).is_err());
/// ```
pub fn cholesky_in_place<const D: usize>(a: &mut Factor<D>) -> Result<(), Error> {
    for i in 0..D {
        for j in 0..=i {
            let mut s = a[i][j];
            for k in 0..j {
                s -= a[i][k] * a[j][k];
            }
            a[i][j] = if i == j {
                checked_pivot(s)?
            } else {
                s / a[j][j]
            };
        }
        for j in i + 1..D {
            a[i][j] = 0.0;
        }
    }
    Ok(())
}

/// Replaces `L` by the factor of `L Lᵀ + x xᵀ` in O(D²) (the rank-1 update
/// by Givens-like rotations, Golub & Van Loan 6.5.4). `x` is used as
/// workspace and overwritten.
///
/// # Errors
/// [`Error::NotPositiveDefinite`] if a diagonal entry of `L` is not positive
/// or a new pivot is not finite; `l` may then be partly updated.
///
/// # Examples
/// ```
/// use hsmoe_core::linalg::{cholesky_in_place, cholesky_rank1_update};
/// let mut l = [[2.0, 0.0], [1.0, 2.0]]; // A = [[4, 2], [2, 5]]
/// let mut x = [1.0, 1.0];
/// cholesky_rank1_update(&mut l, &mut x).unwrap();
/// let mut fresh = [[5.0, 0.0], [3.0, 6.0]]; // A + x xᵀ
/// cholesky_in_place(&mut fresh).unwrap();
/// for i in 0..2 {
///     for j in 0..2 {
///         assert!((l[i][j] - fresh[i][j]).abs() < 1e-6);
///     }
/// }
/// ```
pub fn cholesky_rank1_update<const D: usize>(
    l: &mut Factor<D>,
    x: &mut [f32; D],
) -> Result<(), Error> {
    for k in 0..D {
        let lkk = l[k][k];
        if !(lkk > 0.0) {
            return Err(Error::NotPositiveDefinite);
        }
        let r = checked_pivot(lkk * lkk + x[k] * x[k])?;
        let c = r / lkk;
        let s = x[k] / lkk;
        l[k][k] = r;
        for i in k + 1..D {
            l[i][k] = (l[i][k] + s * x[i]) / c;
            x[i] = c * x[i] - s * l[i][k];
        }
    }
    Ok(())
}

/// Solves `L y = b` by forward substitution, overwriting `b` with `y`.
///
/// # Examples
/// ```
/// let l = [[2.0, 0.0], [1.0, 2.0]];
/// let mut b = [2.0, 5.0];
/// hsmoe_core::linalg::solve_lower(&l, &mut b);
/// assert_eq!(b, [1.0, 2.0]);
/// ```
pub fn solve_lower<const D: usize>(l: &Factor<D>, b: &mut [f32; D]) {
    for i in 0..D {
        let mut s = b[i];
        for j in 0..i {
            s -= l[i][j] * b[j];
        }
        b[i] = s / l[i][i];
    }
}

/// Solves `Lᵀ y = b` by back substitution, overwriting `b` with `y`.
///
/// # Examples
/// ```
/// let l = [[2.0, 0.0], [1.0, 2.0]];
/// let mut b = [4.0, 4.0];
/// hsmoe_core::linalg::solve_lower_transposed(&l, &mut b);
/// assert_eq!(b, [1.0, 2.0]);
/// ```
pub fn solve_lower_transposed<const D: usize>(l: &Factor<D>, b: &mut [f32; D]) {
    for i in (0..D).rev() {
        let mut s = b[i];
        for j in i + 1..D {
            s -= l[j][i] * b[j];
        }
        b[i] = s / l[i][i];
    }
}

/// `L = c·I`: the factor of `c²·I`.
///
/// # Examples
/// ```
/// assert_eq!(hsmoe_core::linalg::scaled_identity::<2>(3.0), [[3.0, 0.0], [0.0, 3.0]]);
/// ```
pub const fn scaled_identity<const D: usize>(c: f32) -> Factor<D> {
    let mut l = [[0.0; D]; D];
    let mut i = 0;
    while i < D {
        l[i][i] = c;
        i += 1;
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{RngCore, SeedableRng};
    use rand_xorshift::XorShiftRng;

    fn uniform(rng: &mut XorShiftRng) -> f32 {
        (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    }

    /// A random SPD matrix `G Gᵀ + I` (lower triangle) and a random vector.
    fn random_spd<const D: usize>(rng: &mut XorShiftRng) -> (Factor<D>, [f32; D]) {
        let mut g = [[0.0f32; D]; D];
        g.iter_mut().flatten().for_each(|v| *v = uniform(rng));
        let mut a = [[0.0f32; D]; D];
        for i in 0..D {
            for j in 0..=i {
                a[i][j] = (0..D).map(|k| g[i][k] * g[j][k]).sum::<f32>();
            }
            a[i][i] += 1.0;
        }
        let mut x = [0.0f32; D];
        x.iter_mut().for_each(|v| *v = 3.0 * uniform(rng));
        (a, x)
    }

    fn check_rank1_matches_refactorization<const D: usize>(rng: &mut XorShiftRng) {
        let (a, x) = random_spd::<D>(rng);
        let mut updated = a;
        cholesky_in_place(&mut updated).unwrap();
        let mut work = x;
        cholesky_rank1_update(&mut updated, &mut work).unwrap();
        let mut fresh = a;
        for i in 0..D {
            for j in 0..=i {
                fresh[i][j] += x[i] * x[j];
            }
        }
        cholesky_in_place(&mut fresh).unwrap();
        // f32 Cholesky is backward stable: entry errors are O(D·ε·‖L‖).
        let scale = fresh.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
        let tol = 8.0 * D as f32 * f32::EPSILON * scale;
        for i in 0..D {
            for j in 0..D {
                let diff = (updated[i][j] - fresh[i][j]).abs();
                assert!(diff <= tol, "D={D} ({i},{j}): {diff} > {tol}");
            }
        }
    }

    #[test]
    fn rank1_update_equals_refactorization() {
        let mut rng = XorShiftRng::seed_from_u64(7);
        for _ in 0..200 {
            check_rank1_matches_refactorization::<1>(&mut rng);
            check_rank1_matches_refactorization::<2>(&mut rng);
            check_rank1_matches_refactorization::<3>(&mut rng);
            check_rank1_matches_refactorization::<4>(&mut rng);
            check_rank1_matches_refactorization::<5>(&mut rng);
            check_rank1_matches_refactorization::<6>(&mut rng);
            check_rank1_matches_refactorization::<7>(&mut rng);
            check_rank1_matches_refactorization::<8>(&mut rng);
        }
    }

    #[test]
    fn solves_invert_the_factor() {
        let mut rng = XorShiftRng::seed_from_u64(3);
        let (mut a, b) = random_spd::<6>(&mut rng);
        let original = a;
        cholesky_in_place(&mut a).unwrap();
        let mut y = b;
        solve_lower(&a, &mut y);
        solve_lower_transposed(&a, &mut y);
        // A y should give b back.
        for i in 0..6 {
            let ay: f32 = (0..6)
                .map(|j| {
                    let aij = if j <= i {
                        original[i][j]
                    } else {
                        original[j][i]
                    };
                    aij * y[j]
                })
                .sum();
            assert!((ay - b[i]).abs() < 1e-4, "{ay} vs {}", b[i]);
        }
    }

    #[test]
    fn non_positive_or_nan_pivots_are_errors() {
        let mut zero = [[0.0f32; 3]; 3];
        assert_eq!(
            cholesky_in_place(&mut zero),
            Err(Error::NotPositiveDefinite)
        );
        let mut nan = scaled_identity::<2>(1.0);
        nan[1][1] = f32::NAN;
        assert_eq!(cholesky_in_place(&mut nan), Err(Error::NotPositiveDefinite));
        let mut l = scaled_identity::<2>(1.0);
        let mut x = [f32::INFINITY, 0.0];
        assert_eq!(
            cholesky_rank1_update(&mut l, &mut x),
            Err(Error::NotPositiveDefinite)
        );
        let mut singular = [[0.0f32; 2]; 2];
        let mut x = [1.0, 1.0];
        assert_eq!(
            cholesky_rank1_update(&mut singular, &mut x),
            Err(Error::NotPositiveDefinite)
        );
    }
}
