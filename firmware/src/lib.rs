//! hsmoe on a Cortex-M4F: the particle filter of `hsmoe-core` in a
//! `static`, fed observations over a UART with the framed protocol of
//! `hsmoe_core::protocol`, answering with telemetry frames.
//!
//! `main.rs` only wires these modules together; the on-target self-test
//! (`tests/selftest.rs`) uses them too.
#![no_std]
#![deny(missing_docs)]

pub mod board;
pub mod config;
pub mod link;
pub mod runtime;
pub mod stack;
