//! Logging, panics and exit: defmt over semihosting under QEMU (feature
//! `qemu`), or defmt-rtt and panic-probe through a debug probe (feature
//! `probe`).

#[cfg(all(feature = "qemu", feature = "probe"))]
compile_error!("choose one of the features `qemu` and `probe`");
#[cfg(not(any(feature = "qemu", feature = "probe")))]
compile_error!("choose one of the features `qemu` (default) and `probe`");

use crate::board::{Board, Selected};
#[cfg(feature = "qemu")]
use defmt_semihosting as _;
#[cfg(feature = "probe")]
use {defmt_rtt as _, panic_probe as _};

defmt::timestamp!("{=u64:us}", micros());

/// Microseconds since [`Board::init`] on the selected board, for the
/// log's timestamps.
fn micros() -> u64 {
    // u128: ticks × 10⁶ overflows u64 after about 30 hours at 168 MHz.
    (u128::from(Selected::ticks()) * 1_000_000 / u128::from(Selected::TICK_HZ)) as u64
}

/// Ends the program with an exit code (0 is success), the board's way.
pub fn exit(code: i32) -> ! {
    Selected::exit(code)
}

/// Logs the panic and exits with code 101, so a test run under QEMU fails.
/// A panic is a bug: the firmware never panics on input.
#[cfg(feature = "qemu")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    use core::sync::atomic::{AtomicBool, Ordering};
    static PANICKED: AtomicBool = AtomicBool::new(false);
    // A panic inside the logger must not recurse into it.
    if !PANICKED.swap(true, Ordering::Relaxed) {
        defmt::error!("{}", defmt::Display2Format(info));
    }
    exit(101)
}

/// A fault is a bug too: log where and exit with code 102.
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    defmt::error!("hard fault at pc {=u32:#x}", frame.pc());
    exit(102)
}
