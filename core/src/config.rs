//! Prior hyperparameters and run-time settings (docs/model.md §1 defaults, §6
//! refresh).

use crate::Error;

/// Smallest accepted prior hyperparameter (`v0`, `a0`, `b0`, `s0`).
///
/// The f32 statistics need the priors within a few orders of magnitude of
/// standardized data: with `v0 = 1e30` (found by fuzzing) the prior
/// precision is effectively singular and repeated large `x` drive an
/// expert's mean to NaN; with `s0 = 1e-30` the intercept precision
/// `1/s0²` overflows and no prior can be factored.
pub const PRIOR_MIN: f32 = 1.0e-6;
/// Largest accepted prior hyperparameter; see [`PRIOR_MIN`].
pub const PRIOR_MAX: f32 = 1.0e6;

/// Prior hyperparameters, the horseshoe refresh period and the resampling
/// threshold.
///
/// Defaults are chosen for standardized data (docs/model.md §1): `m0 = 0`,
/// `V0 = v0·I` with `v0 = 10`, `σ² ~ IG(a0 = 2, b0 = 1)`, unshrunk gate
/// intercepts `φ_{j,0} ~ N(0, s0²)` with `s0 = 2`, and a horseshoe refresh
/// every `R = D` observations, and resampling at every step.
///
/// # Examples
/// ```
/// use hsmoe_core::Config;
/// let mut config = Config::default_for(4);
/// assert_eq!(config.refresh_every, 4);
/// config.v0 = 100.0;
/// assert!(config.validate(4).is_ok());
/// config.a0 = -1.0;
/// assert!(config.validate(4).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// Prior covariance scale of every expert's coefficients: `V0 = v0·I`.
    pub v0: f32,
    /// Inverse-gamma shape of every expert's noise variance.
    pub a0: f32,
    /// Inverse-gamma scale of every expert's noise variance.
    pub b0: f32,
    /// Prior standard deviation of the (unshrunk) gate intercepts.
    pub s0: f32,
    /// Refresh each particle's horseshoe scales every `refresh_every`
    /// observations, staggered across particles (docs/model.md §6).
    pub refresh_every: u32,
    /// Whether feature 0 is an intercept (a column of ones). Its gate
    /// coefficients get the `N(0, s0²)` prior instead of the horseshoe.
    pub gate_intercept: bool,
    /// Resample when a step's effective sample size is below
    /// `resample_ess · N`, in `[0, 1]`; otherwise the particles keep their
    /// weights into the next step (docs/model.md §3, step 3). `1` (the
    /// default) resamples at every step, `0` never.
    pub resample_ess: f32,
}

impl Config {
    /// The default prior (docs/model.md §1) for `d` features (intercept
    /// included), `R = d`.
    ///
    /// # Examples
    /// ```
    /// let config = hsmoe_core::Config::default_for(6);
    /// assert_eq!((config.v0, config.a0, config.b0, config.s0), (10.0, 2.0, 1.0, 2.0));
    /// assert_eq!(config.refresh_every, 6);
    /// ```
    pub const fn default_for(d: usize) -> Self {
        Config {
            v0: 10.0,
            a0: 2.0,
            b0: 1.0,
            s0: 2.0,
            refresh_every: if d == 0 { 1 } else { d as u32 },
            gate_intercept: true,
            resample_ess: 1.0,
        }
    }

    /// Checks every field: `v0`, `a0`, `b0`, `s0` within
    /// [[`PRIOR_MIN`], [`PRIOR_MAX`]], `refresh_every ≥ 1` and
    /// `resample_ess` in `[0, 1]`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming no field; the caller's value is kept.
    ///
    /// # Examples
    /// ```
    /// let mut config = hsmoe_core::Config::default_for(3);
    /// config.refresh_every = 0;
    /// assert_eq!(config.validate(3), Err(hsmoe_core::Error::InvalidConfig));
    /// config.refresh_every = 3;
    /// config.v0 = 1.0e30; // f32 statistics would break down
    /// assert_eq!(config.validate(3), Err(hsmoe_core::Error::InvalidConfig));
    /// config.v0 = 10.0;
    /// config.resample_ess = 1.5;
    /// assert_eq!(config.validate(3), Err(hsmoe_core::Error::InvalidConfig));
    /// ```
    pub fn validate(&self, d: usize) -> Result<(), Error> {
        let positive = |v: f32| (PRIOR_MIN..=PRIOR_MAX).contains(&v);
        let ok = positive(self.v0)
            && positive(self.a0)
            && positive(self.b0)
            && positive(self.s0)
            && self.refresh_every >= 1
            && (0.0..=1.0).contains(&self.resample_ess)
            && d >= 1;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidConfig)
        }
    }
}
