//! Stack high-water mark by stack painting.
//!
//! cortex-m-rt's `paint-stack` feature fills the whole stack region,
//! `_stack_end..._stack_start`, with [`cortex_m_rt::STACK_PAINT_VALUE`]
//! before `main`. The stack grows down from `_stack_start`, so the lowest
//! word that no longer holds the paint marks the deepest the stack has
//! ever been.

use cortex_m_rt::STACK_PAINT_VALUE;

extern "C" {
    /// Top of the stack (highest address, exclusive), from `link.x`.
    static _stack_start: u32;
    /// Bottom of the stack region (lowest address), from `link.x`.
    static _stack_end: u32;
}

/// Bytes of stack used so far at most, since reset.
///
/// Scans up from the bottom of the stack region, so it costs one read per
/// unused word; call it now and then, not per update. A frame that
/// happened to store the paint value itself at its deepest word would be
/// missed, which understates the mark by at most a few words.
pub fn high_water_mark() -> usize {
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let mut addr = bottom;
    while addr < top {
        // SAFETY: `addr` is word aligned (link.x asserts it for both
        // bounds) and inside the RAM region reserved for the stack.
        let word = unsafe { core::ptr::read_volatile(addr as *const u32) };
        if word != STACK_PAINT_VALUE {
            break;
        }
        addr += 4;
    }
    top - addr
}

/// Size of the stack region, bytes: the RAM that statics leave free.
pub fn size() -> usize {
    core::ptr::addr_of!(_stack_start) as usize - core::ptr::addr_of!(_stack_end) as usize
}
