//! The one error type of the core, with a documented recovery per variant.

use core::fmt;

/// Why the filter refused an input or could not complete a step.
///
/// Every variant states what happened to the filter state, so a caller
/// knows whether anything must be done. Input errors are detected before
/// any state changes: the filter is left bit-for-bit as it was.
///
/// # Examples
/// ```
/// use hsmoe_core::{Error, Filter};
/// use rand_xorshift::XorShiftRng;
/// use rand_core::SeedableRng;
///
/// let mut filter: Filter<8, 2, 2> = Filter::new();
/// let mut rng = XorShiftRng::seed_from_u64(1);
/// filter.reset(&hsmoe_core::Config::default_for(2), &mut rng).unwrap();
/// let err = filter.observe(&[1.0, f32::NAN], 0.5, &mut rng).unwrap_err();
/// assert_eq!(err, Error::NonFinite);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// An input value is NaN or infinite. The observation is rejected and
    /// the filter state is unchanged.
    NonFinite,
    /// An input value is finite but larger in magnitude than
    /// [`MAX_ABS_INPUT`](crate::MAX_ABS_INPUT), where f32 sufficient
    /// statistics would overflow. Rejected, state unchanged; standardize
    /// the data.
    OutOfRange,
    /// A feature vector or output buffer does not have the filter's length.
    /// Rejected, state unchanged.
    WrongLength,
    /// Every particle weight is zero or not finite (e.g. an outlier so far
    /// out that every predictive density underflows). The observation is
    /// rejected, the state is unchanged, and the next observation is
    /// processed normally.
    Degenerate,
    /// A Cholesky factorization or update met a non-positive pivot. The
    /// numerical routine reports it instead of producing NaN; the filter
    /// recovers as documented at each call site (see `Filter::observe`).
    NotPositiveDefinite,
    /// A prior hyperparameter or setting is out of its valid range (see
    /// [`Config::validate`](crate::Config::validate)). Nothing was changed.
    InvalidConfig,
    /// The filter was used before [`Filter::reset`](crate::Filter::reset)
    /// drew its initial particles. Nothing was changed; call `reset`.
    Uninitialized,
    /// The response is not one the expert family can explain: a
    /// [`Bernoulli`](crate::expert::Bernoulli) expert takes 0 or 1.
    /// Rejected, state unchanged.
    InvalidResponse,
}

impl Error {
    /// A short, static description, for logs and `Display`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(hsmoe_core::Error::Degenerate.as_str(), "all particle weights are zero");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::NonFinite => "input is NaN or infinite",
            Error::OutOfRange => "input magnitude exceeds MAX_ABS_INPUT",
            Error::WrongLength => "vector length does not match the filter",
            Error::Degenerate => "all particle weights are zero",
            Error::NotPositiveDefinite => "matrix is not positive definite",
            Error::InvalidConfig => "prior or setting out of range",
            Error::Uninitialized => "filter used before reset",
            Error::InvalidResponse => "response not in the expert family's support",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for Error {}
