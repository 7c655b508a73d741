//! Dense symmetric positive-definite algebra by the plain Cholesky
//! factorization (Golub & Van Loan, Matrix Computations, Alg. 4.2.1),
//! recomputed from scratch whenever a matrix changes.
//!
//! Matrices are row-major `Vec<f64>` of length `n·n`.

use super::ReferenceError;

/// Inner product `aᵀb`.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(u, v)| u * v).sum()
}

/// `A += w·x xᵀ` for a row-major `n×n` matrix, `n = x.len()`.
pub(crate) fn add_outer(a: &mut [f64], x: &[f64], w: f64) {
    let n = x.len();
    for (i, xi) in x.iter().enumerate() {
        for (j, xj) in x.iter().enumerate() {
            a[i * n + j] += w * xi * xj;
        }
    }
}

/// `v += w·x`.
pub(crate) fn add_scaled(v: &mut [f64], x: &[f64], w: f64) {
    for (vi, xi) in v.iter_mut().zip(x) {
        *vi += w * xi;
    }
}

/// The lower-triangular factor `L` of `A = L Lᵀ`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cholesky {
    n: usize,
    l: Vec<f64>,
}

impl Cholesky {
    /// Factors the symmetric `n×n` matrix `a`; only its lower triangle is
    /// read. Fails when a pivot is not positive and finite.
    pub(crate) fn new(a: &[f64], n: usize) -> Result<Self, ReferenceError> {
        assert_eq!(a.len(), n * n, "Cholesky::new: matrix is not n×n");
        let mut l = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let partial: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
                let v = a[i * n + j] - partial;
                if i == j {
                    if !(v.is_finite() && v > 0.0) {
                        return Err(ReferenceError::NotPositiveDefinite);
                    }
                    l[i * n + i] = v.sqrt();
                } else {
                    l[i * n + j] = v / l[j * n + j];
                }
            }
        }
        Ok(Cholesky { n, l })
    }

    /// The factor of the diagonal matrix `diag(d)`, `d > 0`.
    pub(crate) fn diagonal(d: &[f64]) -> Self {
        let n = d.len();
        let mut l = vec![0.0; n * n];
        for (i, v) in d.iter().enumerate() {
            l[i * n + i] = v.sqrt();
        }
        Cholesky { n, l }
    }

    /// Solves `L u = b` by forward substitution.
    pub(crate) fn solve_lower(&self, b: &[f64]) -> Vec<f64> {
        let n = self.n;
        let mut u = vec![0.0; n];
        for i in 0..n {
            let partial: f64 = (0..i).map(|k| self.l[i * n + k] * u[k]).sum();
            u[i] = (b[i] - partial) / self.l[i * n + i];
        }
        u
    }

    /// Solves `Lᵀ v = u` by back substitution.
    pub(crate) fn solve_upper(&self, u: &[f64]) -> Vec<f64> {
        let n = self.n;
        let mut v = vec![0.0; n];
        for i in (0..n).rev() {
            let partial: f64 = (i + 1..n).map(|k| self.l[k * n + i] * v[k]).sum();
            v[i] = (u[i] - partial) / self.l[i * n + i];
        }
        v
    }

    /// Solves `A v = b`.
    pub(crate) fn solve(&self, b: &[f64]) -> Vec<f64> {
        self.solve_upper(&self.solve_lower(b))
    }

    /// `log |A| = 2 Σ log L_ii`.
    pub(crate) fn log_det(&self) -> f64 {
        2.0 * (0..self.n)
            .map(|i| self.l[i * self.n + i].ln())
            .sum::<f64>()
    }

    /// `xᵀ A⁻¹ x = |L⁻¹ x|²`.
    pub(crate) fn inv_quad(&self, x: &[f64]) -> f64 {
        let u = self.solve_lower(x);
        dot(&u, &u)
    }

    /// `A⁻¹`, column by column.
    pub(crate) fn inverse(&self) -> Vec<Vec<f64>> {
        let n = self.n;
        let unit = |j: usize| {
            let mut e = vec![0.0; n];
            e[j] = 1.0;
            e
        };
        // A⁻¹ is symmetric, so its columns are its rows.
        (0..n).map(|j| self.solve(&unit(j))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A = [[4, 2, 0.4], [2, 5, 1], [0.4, 1, 3]] is SPD.
    const A: [f64; 9] = [4.0, 2.0, 0.4, 2.0, 5.0, 1.0, 0.4, 1.0, 3.0];

    #[test]
    fn factor_reproduces_matrix_and_solves() {
        let c = Cholesky::new(&A, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let llt: f64 = (0..3).map(|k| c.l[i * 3 + k] * c.l[j * 3 + k]).sum();
                assert!((llt - A[i * 3 + j]).abs() < 1e-14);
            }
        }
        let b = [1.0, -2.0, 0.5];
        let v = c.solve(&b);
        for i in 0..3 {
            assert!((dot(&A[i * 3..i * 3 + 3], &v) - b[i]).abs() < 1e-14);
        }
        assert!((c.inv_quad(&b) - dot(&b, &v)).abs() < 1e-14);
        let inv = c.inverse();
        for (i, row) in inv.iter().enumerate() {
            for j in 0..3 {
                let e: f64 = (0..3).map(|k| row[k] * A[k * 3 + j]).sum();
                assert!((e - f64::from(u8::from(i == j))).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn log_det_matches_cofactor_expansion() {
        let det = 4.0 * (5.0 * 3.0 - 1.0) - 2.0 * (2.0 * 3.0 - 0.4) + 0.4 * (2.0 - 5.0 * 0.4);
        let c = Cholesky::new(&A, 3).unwrap();
        assert!((c.log_det() - f64::ln(det)).abs() < 1e-14);
    }

    #[test]
    fn rejects_indefinite_and_nan() {
        assert_eq!(
            Cholesky::new(&[1.0, 2.0, 2.0, 1.0], 2),
            Err(ReferenceError::NotPositiveDefinite)
        );
        assert_eq!(
            Cholesky::new(&[f64::NAN], 1),
            Err(ReferenceError::NotPositiveDefinite)
        );
    }

    #[test]
    fn outer_and_scaled_updates() {
        let mut a = vec![0.0; 4];
        add_outer(&mut a, &[1.0, 2.0], 0.5);
        assert_eq!(a, [0.5, 1.0, 1.0, 2.0]);
        let mut v = vec![1.0, 1.0];
        add_scaled(&mut v, &[1.0, 2.0], -0.5);
        assert_eq!(v, [0.5, 0.0]);
    }
}
