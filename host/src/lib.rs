//! Host side of hsmoe: the `hsmoe` command line (simulate, fit, choose-k, run,
//! decode, validate, plot, bench), the f64 reference engine and the batch
//! Gibbs gold standard, and the host end of the device link.
#![deny(missing_docs)]

pub mod args;
pub mod bench;
pub mod choose;
pub mod cli;
pub mod compare;
pub mod data;
pub mod defmt_log;
pub mod engine;
pub mod family;
pub mod faults;
pub mod fit;
pub mod gibbs;
pub mod islands;
pub mod link;
pub mod mixture;
pub mod model;
pub mod moves;
pub mod output;
pub mod plot;
pub mod predict;
pub mod progress;
pub mod reference;
pub mod run;
pub mod serial;
pub mod simulate;
pub mod telemetry;
pub mod trace;
pub mod validate;
