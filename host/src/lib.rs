//! Host side of hsmoe.

pub mod bench;
pub mod cli;
pub mod data;
pub mod defmt_log;
pub mod engine;
pub mod faults;
pub mod fit;
pub mod gibbs;
pub mod moves;
pub mod plot;
pub mod progress;
pub mod reference;
pub mod run;
pub mod serial;
pub mod simulate;
pub mod telemetry;
pub mod validate;
