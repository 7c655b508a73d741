//! The firmware: boots, resets the filter, answers the host forever.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use hsmoe_firmware::board::{Board, Selected};
use hsmoe_firmware::link::{AnswerCache, Link};
use hsmoe_firmware::{config, stack};
use static_cell::ConstStaticCell;

/// The particle filter, in a static: built at compile time, so it never
/// passes through the stack. (Its initial image sits in `.data`; see
/// BENCHMARKS.md.)
static FILTER: ConstStaticCell<config::Filter> = ConstStaticCell::new(config::Filter::new());

/// Answers to the last observations, for repeated `seq`s; a static too.
static ANSWERS: ConstStaticCell<AnswerCache<{ config::K }>> =
    ConstStaticCell::new(AnswerCache::new());

// The compiler's own sizes against the board's RAM: the filter, the
// answer cache, the receive ring buffer and the stack reserve. `build.rs`
// checks the same with the README's formula first, naming the bytes.
const _: () = assert!(
    core::mem::size_of::<config::Filter>()
        + core::mem::size_of::<AnswerCache<{ config::K }>>()
        + config::RX_BUFFER
        + config::STACK_RESERVE
        <= config::RAM_BYTES,
    "{}",
    config::RAM_MESSAGE
);

#[entry]
fn main() -> ! {
    let mut uart = Selected::init();
    defmt::info!(
        "hsmoe-firmware on {=str}: N = {}, K = {}, D = {}; filter {} B, stack region {} B",
        config::BOARD,
        config::N,
        config::K,
        config::D,
        core::mem::size_of::<config::Filter>(),
        stack::size()
    );
    let mut link = Link::new(
        FILTER.take(),
        ANSWERS.take(),
        config::BOOT_SEED,
        Selected::ticks,
    );
    link.serve(&mut uart)
}
