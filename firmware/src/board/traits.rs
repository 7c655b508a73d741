//! The [`Board`] trait: what the shared firmware needs from a board.

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
