//! Which likelihood the experts have (docs/model.md §10): the name a user
//! picks with `--family`, a fit report records, and `simulate` draws from.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The experts' likelihood family.
///
/// # Examples
/// ```
/// use hsmoe_host::family::Family;
/// assert_eq!(Family::default(), Family::Gaussian);
/// assert_eq!(Family::Bernoulli.to_string(), "bernoulli");
/// assert!(Family::Bernoulli.binary_response());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Linear-Gaussian experts, `y ~ N(xᵀβ, σ²)`.
    #[default]
    Gaussian,
    /// Logistic experts for a 0/1 response, `P(y = 1) = σ(xᵀβ)`.
    Bernoulli,
    /// Robust linear experts: Student-t noise with 4 degrees of freedom,
    /// so that outliers barely move them.
    Student,
}

impl Family {
    /// Whether the response must be 0 or 1 (and is never standardized).
    pub fn binary_response(self) -> bool {
        self == Family::Bernoulli
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Gaussian => "gaussian",
            Family::Bernoulli => "bernoulli",
            Family::Student => "student",
        })
    }
}
