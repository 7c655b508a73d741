//! Plots, SVG or PNG by file extension (one writer for both):
//! - `hsmoe fit --plot` ([`plot()`]): the data with the one-step-ahead and
//!   final predictive mean ± 2 sd, points coloured by their most likely
//!   expert, and a panel of allocation frequencies;
//! - `hsmoe plot` ([`plot_trace`]): a run over t (a fit report or device
//!   telemetry) — the one-step-ahead predictive mean ± 2 sd against y (for
//!   Bernoulli experts instead the calibration diagram of the one-step
//!   `P(y = 1)`, [`calibration_bins`]), the ESS, and the mean gate
//!   probabilities.
//!
//! Text is drawn with DejaVu Sans shipped in `host/assets/` (Bitstream
//! Vera licence, beside it), so no system font library is needed.
//! - `hsmoe bench --plot` ([`bench::plot`]): update
//!   time against D and N.

pub mod bench;
mod calibration;
mod fit;
mod font;
mod style;

pub use calibration::{calibration_bins, CalibrationBin};
pub use fit::{plot, plot_trace, PlotArgs};
