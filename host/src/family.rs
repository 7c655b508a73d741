//! Which likelihood the experts have (docs/model.md §10): the core's
//! [`Family`], as a user picks it with `--family`, a fit report records
//! it, and `simulate` draws from it.

use clap::builder::{PossibleValuesParser, TypedValueParser};
pub use hsmoe_core::expert::Family;
use hsmoe_core::expert::{Bernoulli, Expert, Gaussian, Student};

/// The tag ([`Expert::TAG`]) of the host's experts of `family`: what a
/// device running them reports, and their snapshots carry. Student
/// experts have ν = 4.
///
/// # Examples
/// ```
/// use hsmoe_host::family::{tag, Family};
/// assert_eq!(Family::from_tag(tag(Family::Student)), Some(Family::Student));
/// ```
pub fn tag(family: Family) -> u32 {
    match family {
        Family::Gaussian => <Gaussian<1> as Expert<1>>::TAG,
        Family::Bernoulli => <Bernoulli<1> as Expert<1>>::TAG,
        Family::Student => <Student<1> as Expert<1>>::TAG,
    }
}

/// `ν` of the host's Student experts (the core's default, carried in
/// their [`tag`] above the family's number).
pub const STUDENT_DOF: u32 = <Student<1> as Expert<1>>::TAG >> 8;

/// `--family`'s parser: one of the families' names, listed in `--help`.
///
/// # Examples
/// ```
/// use clap::Parser;
/// use hsmoe_host::family::{self, Family};
/// #[derive(Parser)]
/// struct Args {
///     #[arg(long, default_value_t = Family::Gaussian, value_parser = family::parser())]
///     family: Family,
/// }
/// let args = Args::parse_from(["x", "--family", "bernoulli"]);
/// assert_eq!(args.family, Family::Bernoulli);
/// assert!(Args::try_parse_from(["x", "--family", "poisson"]).is_err());
/// ```
pub fn parser() -> impl TypedValueParser<Value = Family> {
    PossibleValuesParser::new(Family::ALL.map(Family::name)).try_map(|name| name.parse::<Family>())
}
