//! Cholesky factors of small symmetric positive-definite matrices, stored
//! as packed lower triangles ([`Triangle`]: row `i` holds columns
//! `0..=i`, rows one after another, `D(D+1)/2` words in all).
//!
//! Every routine that can meet a non-positive pivot returns
//! [`Error::NotPositiveDefinite`] instead of writing NaN.

// Index loops mirror the textbook recurrences they implement.
#![allow(clippy::needless_range_loop)]

use crate::dims::{Const, Features, Zeroed};
use crate::math::sqrt;
use crate::words::Words;
use crate::Error;
use core::ops::{Index, IndexMut};

/// A symmetric matrix or a lower-triangular factor, its lower triangle
/// packed row after row: entry `(i, j)`, `j ≤ i`, is word
/// `i(i+1)/2 + j`. `t[(i, j)]` reads it as in the math.
///
/// # Examples
/// ```
/// use hsmoe_core::linalg::Triangle;
/// let t = Triangle::<3>::from_fn(|i, j| (10 * i + j) as f32);
/// assert_eq!(t[(2, 1)], 21.0);
/// assert_eq!(t.row(1), &[10.0, 11.0]);
/// assert_eq!(core::mem::size_of::<Triangle<3>>(), 6 * 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Triangle<const D: usize>
where
    Const<D>: Features,
{
    packed: <Const<D> as Features>::Triangle,
}

/// A lower-triangular Cholesky factor `L` with `A = L Lᵀ`.
pub type Factor<const D: usize> = Triangle<D>;

/// Where row `i` starts in the packed words.
const fn row_start(i: usize) -> usize {
    i * (i + 1) / 2
}

impl<const D: usize> Zeroed for Triangle<D>
where
    Const<D>: Features,
{
    const ZERO: Self = Triangle {
        packed: <Const<D> as Features>::Triangle::ZERO,
    };
}

impl<const D: usize> Triangle<D>
where
    Const<D>: Features,
{
    /// The triangle with entry `(i, j)` = `f(i, j)` for `j ≤ i`.
    pub fn from_fn(mut f: impl FnMut(usize, usize) -> f32) -> Self {
        let mut t = Self::ZERO;
        for i in 0..D {
            for (j, v) in t.row_mut(i).iter_mut().enumerate() {
                *v = f(i, j);
            }
        }
        t
    }

    /// `c·I` (as a factor: the factor of `c²·I`).
    ///
    /// # Examples
    /// ```
    /// let l = hsmoe_core::linalg::Triangle::<2>::scaled_identity(3.0);
    /// assert_eq!((l[(0, 0)], l[(1, 0)], l[(1, 1)]), (3.0, 0.0, 3.0));
    /// ```
    pub fn scaled_identity(c: f32) -> Self {
        Self::from_fn(|i, j| if i == j { c } else { 0.0 })
    }

    /// Row `i`: columns `0..=i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.packed.as_ref()[row_start(i)..row_start(i + 1)]
    }

    /// Row `i`, mutable.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.packed.as_mut()[row_start(i)..row_start(i + 1)]
    }

    /// Every entry, row after row.
    pub fn entries(&self) -> &[f32] {
        self.packed.as_ref()
    }
}

impl<const D: usize> Index<(usize, usize)> for Triangle<D>
where
    Const<D>: Features,
{
    type Output = f32;

    /// Entry `(i, j)`, `j ≤ i` (an index above the diagonal is a bug and
    /// reads a wrong entry or panics).
    fn index(&self, (i, j): (usize, usize)) -> &f32 {
        debug_assert!(j <= i, "({i}, {j}) is above the diagonal");
        &self.packed.as_ref()[row_start(i) + j]
    }
}

impl<const D: usize> IndexMut<(usize, usize)> for Triangle<D>
where
    Const<D>: Features,
{
    fn index_mut(&mut self, (i, j): (usize, usize)) -> &mut f32 {
        debug_assert!(j <= i, "({i}, {j}) is above the diagonal");
        &mut self.packed.as_mut()[row_start(i) + j]
    }
}

// Snapshot layout: the packed words in order (see `crate::snapshot`).
impl<const D: usize> Words for Triangle<D>
where
    Const<D>: Features,
{
    fn words(&self, f: &mut impl FnMut(u32)) {
        self.packed.as_ref().iter().for_each(|v| v.words(f));
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        self.packed.as_mut().iter_mut().for_each(|v| v.words_mut(f));
    }
}

/// Whether `value` can be a pivot: positive and finite.
fn is_pivot(value: f32) -> bool {
    // Positive and finite ⇔ the bits lie in 1..=0x7F7F_FFFF (the largest
    // finite f32): one compare. The float tests became a dozen integer
    // instructions on the M4F, whose `VSQRT` operand passes through a core
    // register anyway (see `math::sqrt`).
    value.to_bits().wrapping_sub(1) < f32::MAX.to_bits()
}

/// Factors the symmetric matrix `a` into `L` (Cholesky–Banachiewicz,
/// Golub & Van Loan 4.2.5), in place.
///
/// # Errors
/// [`Error::NotPositiveDefinite`] if a pivot is not positive and finite;
/// `a` then holds garbage.
///
/// # Examples
/// ```
/// use hsmoe_core::linalg::{cholesky_in_place, Triangle};
/// let mut a = Triangle::<2>::from_fn(|i, j| [[4.0, 0.0], [2.0, 5.0]][i][j]);
/// cholesky_in_place(&mut a).unwrap();
/// assert_eq!(a.entries(), &[2.0, 1.0, 2.0]);
/// let mut bad = Triangle::<2>::from_fn(|i, j| [[1.0, 0.0], [2.0, 1.0]][i][j]);
/// assert!(cholesky_in_place(&mut bad).is_err());
/// ```
pub fn cholesky_in_place<const D: usize>(a: &mut Triangle<D>) -> Result<(), Error>
where
    Const<D>: Features,
{
    // The pivots are checked as they come but the loops run to the end:
    // an early return kept LLVM from unrolling them, and at D = 4 the loop
    // overhead was most of a factorization. After a bad pivot the rest is
    // garbage (a NaN root, no trap), discarded with the error.
    let mut pivots_ok = true;
    for i in 0..D {
        for j in 0..i {
            let mut s = a[(i, j)];
            for k in 0..j {
                s -= a[(i, k)] * a[(j, k)];
            }
            a[(i, j)] = s / a[(j, j)];
        }
        let mut s = a[(i, i)];
        for k in 0..i {
            s -= a[(i, k)] * a[(i, k)];
        }
        pivots_ok &= is_pivot(s);
        a[(i, i)] = sqrt(s);
    }
    if pivots_ok {
        Ok(())
    } else {
        Err(Error::NotPositiveDefinite)
    }
}

/// Factors the matrix with strict lower triangle from `s` and diagonal
/// `diagonal` into `chol`, written in place (no whole-matrix temporaries:
/// their copies were a tenth of the firmware's step). If rounding made it
/// numerically indefinite, retries once with every diagonal entry raised
/// by the relative size of f32 rounding in a Cholesky of order D
/// (docs/model.md §7). Relative per entry, because Cholesky's rounding
/// error in entry `(i, j)` scales with `√(a_ii a_jj)`: a jitter scaled by
/// the largest entry could swamp a small one by many orders of magnitude.
///
/// # Errors
/// [`Error::NotPositiveDefinite`] if the jittered matrix fails too; `chol`
/// then holds garbage.
///
/// # Examples
/// ```
/// use hsmoe_core::dims::Zeroed;
/// use hsmoe_core::linalg::{cholesky_with_jitter, Triangle};
/// // Rank one up to rounding: plain Cholesky meets a zero pivot.
/// let s = Triangle::<2>::from_fn(|i, j| [[0.0, 0.0], [1.0, 0.0]][i][j]);
/// let mut l = Triangle::ZERO;
/// assert!(cholesky_with_jitter(&s, &[1.0, 1.0 - 1.0e-7], &mut l).is_ok());
/// assert!(cholesky_with_jitter(&s, &[1.0, 0.5], &mut l).is_err());
/// ```
pub fn cholesky_with_jitter<const D: usize>(
    s: &Triangle<D>,
    diagonal: &[f32; D],
    chol: &mut Triangle<D>,
) -> Result<(), Error>
where
    Const<D>: Features,
{
    let mut scale = 1.0;
    for _attempt in 0..2 {
        *chol = *s;
        for (i, d) in diagonal.iter().enumerate() {
            chol[(i, i)] = d * scale;
        }
        if cholesky_in_place(chol).is_ok() {
            return Ok(());
        }
        scale = 1.0 + 16.0 * f32::EPSILON * D as f32;
    }
    Err(Error::NotPositiveDefinite)
}

/// Replaces `L` by the factor of `L Lᵀ + x xᵀ` in O(D²) (the rank-1 update
/// by Givens-like rotations, Golub & Van Loan 6.5.4). `x` is used as
/// workspace and overwritten.
///
/// # Errors
/// [`Error::NotPositiveDefinite`] if a diagonal entry of `L` is not positive
/// or a new pivot is not finite; `l` then holds garbage.
///
/// # Examples
/// ```
/// use hsmoe_core::linalg::{cholesky_in_place, cholesky_rank1_update, Triangle};
/// let mut l = Triangle::<2>::from_fn(|i, j| [[2.0, 0.0], [1.0, 2.0]][i][j]); // A = [[4, 2], [2, 5]]
/// let mut x = [1.0, 1.0];
/// cholesky_rank1_update(&mut l, &mut x).unwrap();
/// let mut fresh = Triangle::<2>::from_fn(|i, j| [[5.0, 0.0], [3.0, 6.0]][i][j]); // A + x xᵀ
/// cholesky_in_place(&mut fresh).unwrap();
/// for (a, b) in l.entries().iter().zip(fresh.entries()) {
///     assert!((a - b).abs() < 1e-6);
/// }
/// ```
pub fn cholesky_rank1_update<const D: usize>(
    l: &mut Triangle<D>,
    x: &mut [f32; D],
) -> Result<(), Error>
where
    Const<D>: Features,
{
    // Checked as they come, returned at the end, as in `cholesky_in_place`.
    let mut pivots_ok = true;
    for k in 0..D {
        let lkk = l[(k, k)];
        let r2 = lkk * lkk + x[k] * x[k];
        pivots_ok &= (lkk > 0.0) & is_pivot(r2);
        let r = sqrt(r2);
        let c = r / lkk;
        let s = x[k] / lkk;
        l[(k, k)] = r;
        for i in k + 1..D {
            l[(i, k)] = (l[(i, k)] + s * x[i]) / c;
            x[i] = c * x[i] - s * l[(i, k)];
        }
    }
    if pivots_ok {
        Ok(())
    } else {
        Err(Error::NotPositiveDefinite)
    }
}

/// Solves `L y = b` by forward substitution, overwriting `b` with `y`.
///
/// # Examples
/// ```
/// use hsmoe_core::linalg::{solve_lower, Triangle};
/// let l = Triangle::<2>::from_fn(|i, j| [[2.0, 0.0], [1.0, 2.0]][i][j]);
/// let mut b = [2.0, 5.0];
/// solve_lower(&l, &mut b);
/// assert_eq!(b, [1.0, 2.0]);
/// ```
pub fn solve_lower<const D: usize>(l: &Triangle<D>, b: &mut [f32; D])
where
    Const<D>: Features,
{
    for i in 0..D {
        let mut s = b[i];
        for j in 0..i {
            s -= l[(i, j)] * b[j];
        }
        b[i] = s / l[(i, i)];
    }
}

/// Solves `Lᵀ y = b` by back substitution, overwriting `b` with `y`.
///
/// # Examples
/// ```
/// use hsmoe_core::linalg::{solve_lower_transposed, Triangle};
/// let l = Triangle::<2>::from_fn(|i, j| [[2.0, 0.0], [1.0, 2.0]][i][j]);
/// let mut b = [4.0, 4.0];
/// solve_lower_transposed(&l, &mut b);
/// assert_eq!(b, [1.0, 2.0]);
/// ```
pub fn solve_lower_transposed<const D: usize>(l: &Triangle<D>, b: &mut [f32; D])
where
    Const<D>: Features,
{
    for i in (0..D).rev() {
        let mut s = b[i];
        for j in i + 1..D {
            s -= l[(j, i)] * b[j];
        }
        b[i] = s / l[(i, i)];
    }
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
    fn random_spd<const D: usize>(rng: &mut XorShiftRng) -> (Triangle<D>, [f32; D])
    where
        Const<D>: Features,
    {
        let mut g = [[0.0f32; D]; D];
        g.iter_mut().flatten().for_each(|v| *v = uniform(rng));
        let a = Triangle::from_fn(|i, j| {
            (0..D).map(|k| g[i][k] * g[j][k]).sum::<f32>() + if i == j { 1.0 } else { 0.0 }
        });
        let mut x = [0.0f32; D];
        x.iter_mut().for_each(|v| *v = 3.0 * uniform(rng));
        (a, x)
    }

    fn check_rank1_matches_refactorization<const D: usize>(rng: &mut XorShiftRng)
    where
        Const<D>: Features,
    {
        let (a, x) = random_spd::<D>(rng);
        let mut updated = a;
        cholesky_in_place(&mut updated).unwrap();
        let mut work = x;
        cholesky_rank1_update(&mut updated, &mut work).unwrap();
        let mut fresh = Triangle::from_fn(|i, j| a[(i, j)] + x[i] * x[j]);
        cholesky_in_place(&mut fresh).unwrap();
        // f32 Cholesky is backward stable: entry errors are O(D·ε·‖L‖).
        let scale = fresh.entries().iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let tol = 8.0 * D as f32 * f32::EPSILON * scale;
        for i in 0..D {
            for j in 0..=i {
                let diff = (updated[(i, j)] - fresh[(i, j)]).abs();
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
            let ay: f32 = (0..6).map(|j| original[(i.max(j), i.min(j))] * y[j]).sum();
            assert!((ay - b[i]).abs() < 1e-4, "{ay} vs {}", b[i]);
        }
    }

    #[test]
    fn non_positive_or_nan_pivots_are_errors() {
        let mut zero = Triangle::<3>::ZERO;
        assert_eq!(
            cholesky_in_place(&mut zero),
            Err(Error::NotPositiveDefinite)
        );
        let mut nan = Triangle::<2>::scaled_identity(1.0);
        nan[(1, 1)] = f32::NAN;
        assert_eq!(cholesky_in_place(&mut nan), Err(Error::NotPositiveDefinite));
        let mut l = Triangle::<2>::scaled_identity(1.0);
        let mut x = [f32::INFINITY, 0.0];
        assert_eq!(
            cholesky_rank1_update(&mut l, &mut x),
            Err(Error::NotPositiveDefinite)
        );
        let mut singular = Triangle::<2>::ZERO;
        let mut x = [1.0, 1.0];
        assert_eq!(
            cholesky_rank1_update(&mut singular, &mut x),
            Err(Error::NotPositiveDefinite)
        );
    }

    /// A badly scaled `Λ`: a block at 10⁶ that f32 rounding makes
    /// singular (so the jitter is needed) next to an uncoupled entry of
    /// 10⁻⁴. The jitter must protect that entry at its own scale: the
    /// solve of `Λ v = e₂` must give the exact `v₂ = 10⁴` within 10⁻⁵
    /// relative (the jitter's relative size, 16·ε·D = 5.7·10⁻⁶, plus
    /// rounding).
    #[test]
    fn jitter_keeps_a_badly_scaled_entry_at_its_own_scale() {
        let s = Triangle::<3>::from_fn(|i, j| if (i, j) == (1, 0) { 1.0e6 } else { 0.0 });
        let diagonal = [1.0e6, 1.0e6 * (1.0 - 1.0e-8), 1.0e-4];
        let mut plain = s;
        for (i, d) in diagonal.iter().enumerate() {
            plain[(i, i)] = *d;
        }
        assert!(cholesky_in_place(&mut plain).is_err());
        let mut chol = Triangle::ZERO;
        cholesky_with_jitter(&s, &diagonal, &mut chol).unwrap();
        let mut v = [0.0, 0.0, 1.0];
        solve_lower(&chol, &mut v);
        solve_lower_transposed(&chol, &mut v);
        let exact = 1.0e4;
        let relative = (f64::from(v[2]) - exact).abs() / exact;
        assert!(
            relative < 1.0e-5,
            "v₂ = {} (relative error {relative})",
            v[2]
        );
    }

    #[test]
    fn jitter_rescues_a_numerically_indefinite_matrix() {
        // Rank-one S with a rounding-size negative eigenvalue and no prior.
        let s = Triangle::<2>::from_fn(|i, j| [[1.0, 0.0], [1.0, 1.0 - 1.0e-7]][i][j]);
        let mut chol = Triangle::ZERO;
        let mut plain = s;
        assert!(cholesky_in_place(&mut plain).is_err());
        assert!(cholesky_with_jitter(&s, &[1.0, 1.0 - 1.0e-7], &mut chol).is_ok());
        let clearly_indefinite = Triangle::from_fn(|i, j| [[1.0, 0.0], [2.0, 1.0]][i][j]);
        assert_eq!(
            cholesky_with_jitter(&clearly_indefinite, &[1.0, 1.0], &mut chol),
            Err(Error::NotPositiveDefinite)
        );
    }
}
