//! Board support: each board is one module implementing [`Board`]
//! (clock, UART, tick counter, exit), chosen by Cargo feature; the rest
//! of the firmware is shared and names the board only as [`Selected`].
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

/// What the shared firmware needs from a board.
pub trait Board {
    /// The serial port to the host.
    type Uart: embedded_io::Read + embedded_io::Write;

    /// Frequency of [`Board::ticks`], Hz (the core clock).
    const TICK_HZ: u32;

    /// Sets up the clock, the tick counter and the UART (receiving in the
    /// background, so requests queue while an update runs).
    ///
    /// # Panics
    /// If called twice: a programming error, not a data error.
    fn init() -> Self::Uart;

    /// Core clock ticks since [`Board::init`], never wrapping.
    fn ticks() -> u64;

    /// Ends the program with `code` (0 is success): through semihosting,
    /// which QEMU and `probe-rs run` turn into their exit code.
    fn exit(code: i32) -> ! {
        semihosting::process::exit(code)
    }
}

/// Microseconds since [`Board::init`] on the selected board, for log
/// timestamps.
pub fn micros() -> u64 {
    // u128: ticks × 10⁶ overflows u64 after ~5 hours at 168 MHz.
    (u128::from(Selected::ticks()) * 1_000_000 / u128::from(Selected::TICK_HZ)) as u64
}
