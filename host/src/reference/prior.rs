//! The prior of docs/model.md §1 in f64, read from the shared
//! `hsmoe_core::Config`, and the input checks every reference engine applies.

use super::ReferenceError;
use hsmoe_core::Config;

/// Prior hyperparameters in f64 (docs/model.md §1) and the refresh period
/// (§6).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Prior {
    /// `V0 = v0·I`.
    pub(crate) v0: f64,
    /// `σ² ~ IG(a0, b0)`.
    pub(crate) a0: f64,
    /// `σ² ~ IG(a0, b0)`.
    pub(crate) b0: f64,
    /// Gate intercept prior standard deviation.
    pub(crate) s0: f64,
    /// Horseshoe refresh period `R`.
    pub(crate) refresh_every: usize,
    /// Index of the first horseshoe-shrunk gate feature (1 when feature 0
    /// is an unshrunk intercept, else 0).
    pub(crate) first_shrunk: usize,
}

impl Prior {
    /// Converts and validates `config` for `d` features.
    pub(crate) fn new(config: &Config, d: usize) -> Result<Self, ReferenceError> {
        config
            .validate(d)
            .map_err(|_| ReferenceError::InvalidConfig)?;
        Ok(Prior {
            v0: f64::from(config.v0),
            a0: f64::from(config.a0),
            b0: f64::from(config.b0),
            s0: f64::from(config.s0),
            refresh_every: config.refresh_every as usize,
            first_shrunk: usize::from(config.gate_intercept).min(d),
        })
    }
}

/// Rejects a feature vector of the wrong length or with a non-finite entry.
pub(crate) fn check_x(x: &[f64], d: usize) -> Result<(), ReferenceError> {
    if x.len() != d {
        return Err(ReferenceError::WrongLength);
    }
    check_finite(x)
}

/// Rejects any NaN or infinite value.
pub(crate) fn check_finite(values: &[f64]) -> Result<(), ReferenceError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(ReferenceError::NonFinite)
    }
}

/// Checks a whole data set: equal, nonzero lengths, rows of length `d`,
/// everything finite.
pub(crate) fn check_data(xs: &[Vec<f64>], ys: &[f64], d: usize) -> Result<(), ReferenceError> {
    if xs.is_empty() || xs.len() != ys.len() {
        return Err(ReferenceError::WrongLength);
    }
    xs.iter().try_for_each(|x| check_x(x, d))?;
    check_finite(ys)
}
