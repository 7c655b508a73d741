//! The tick counter every board shares: SysTick on the core clock,
//! extended to 64 bits by counting its wraps in its exception.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;

/// SysTick wraps (2^24 ticks each) since [`start`].
static SYSTICK_WRAPS: AtomicU32 = AtomicU32::new(0);

/// SysTick's reload value: the full 24 bits.
const SYSTICK_RELOAD: u32 = 0x00FF_FFFF;

/// Starts SysTick on the core clock, counting from 0.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSTICK_RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Core clock ticks since [`start`].
///
/// Call it with interrupts enabled: a wrap whose exception is held off
/// (inside a critical section) reads as a jump back by 2^24 ticks.
pub fn ticks() -> u64 {
    // SysTick counts RELOAD, …, 1, 0 and raises its exception on reaching
    // 0, so 0 starts the next period; after `clear_current` it also reads
    // 0 until the first reload, which this maps to tick 0 too.
    const PERIOD: u32 = SYSTICK_RELOAD + 1;
    loop {
        let wraps = SYSTICK_WRAPS.load(Ordering::Acquire);
        let current = SYST::get_current();
        // A wrap between the two reads changes the count: read again.
        if SYSTICK_WRAPS.load(Ordering::Acquire) == wraps {
            let elapsed = PERIOD.wrapping_sub(current) & SYSTICK_RELOAD;
            return (u64::from(wraps) << 24) | u64::from(elapsed);
        }
    }
}

#[exception]
fn SysTick() {
    SYSTICK_WRAPS.fetch_add(1, Ordering::Release);
}
