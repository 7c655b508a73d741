//! Board support: each board is one module implementing [`Board`]
//! (clock, UART, tick counter, exit; in `traits.rs`), chosen by Cargo
//! feature; the rest of the firmware is shared and names the board only
//! as [`Selected`]. This file only declares and re-exports.
//!
//! A board's UART is any [`embedded_io::Read`] + [`embedded_io::Write`],
//! so a HAL's serial port plugs in as it is. The boards here use the
//! shared interrupt-driven receiver ([`rx::Uart`]), which needs only a
//! way to send a byte and an interrupt handler that feeds [`rx::receive`],
//! and the shared SysTick tick counter ([`systick`]).
//!
//! To port to another Cortex-M4F board: add `boards/<name>/memory.x`, a
//! feature `<name>` (listed with its default N in `build.rs`), and a
//! module here implementing [`Board`] for its UART and clock.

pub mod rx;
pub mod systick;
mod traits;

pub use traits::Board;

#[cfg(feature = "mps2-an386")]
mod mps2_an386;
#[cfg(feature = "mps2-an386")]
pub use mps2_an386::Mps2An386 as Selected;

#[cfg(feature = "stm32f405")]
mod stm32f405;
#[cfg(feature = "stm32f405")]
pub use stm32f405::Stm32f405 as Selected;

#[cfg(feature = "nrf52840")]
mod nrf52840;
#[cfg(feature = "nrf52840")]
pub use nrf52840::Nrf52840 as Selected;
