//! Board support, one file per board, chosen by Cargo feature. Each board
//! provides `init() -> Uart` (a [`Serial`](crate::link::Serial) receiving
//! by interrupt), `ticks() -> u64` and `rx_lost() -> u32`.
//!
//! To port to another Cortex-M4F board: add `boards/<name>/memory.x`, a
//! feature `<name>` (listed in `build.rs`), and a module here with the
//! same three functions for that board's UART and clock.

#[cfg(feature = "mps2-an386")]
mod mps2_an386;
#[cfg(feature = "mps2-an386")]
pub use mps2_an386::{init, rx_lost, ticks, Uart};
