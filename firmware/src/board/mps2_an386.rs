//! ARM MPS2 with the AN386 FPGA image (Cortex-M4F), as QEMU's
//! `mps2-an386` models it: CMSDK APB UART0 at `0x4000_4000` with an
//! interrupt-driven receive ring buffer, and SysTick as the tick counter.
//!
//! On silicon the same CMSDK UART sits behind the board's USB serial
//! bridge; QEMU connects it to `-serial`.

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{NVIC, SYST};
use cortex_m_rt::exception;
use heapless::spsc::{Consumer, Producer, Queue};
use static_cell::ConstStaticCell;

use crate::config::RX_BUFFER;
use crate::link::Serial;

/// The system clock, which drives SysTick and the UART baud generator:
/// 25 MHz on the FPGA and in QEMU (`SYSCLK_FRQ` in hw/arm/mps2.c).
pub const SYSCLK_HZ: u32 = 25_000_000;

/// Baud rate of UART0. QEMU ignores it; the board's USB bridge does not.
pub const BAUD: u32 = 115_200;

/// Base address of the CMSDK APB UART0.
const UART0_BASE: usize = 0x4000_4000;

/// UART0 receive interrupt: IRQ 0 (its transmit interrupt is IRQ 1, the
/// ORed overrun interrupts IRQ 12; QEMU hw/arm/mps2.c, `uartirq[]`).
const UART0_RX_IRQ: u16 = 0;

/// CMSDK APB UART registers, byte offsets from the base.
mod reg {
    /// Received / to-transmit byte.
    pub const DATA: usize = 0x00;
    /// Status: bit 0 TX full, bit 1 RX full, bit 2 TX overrun, bit 3 RX
    /// overrun (write 1 to clear an overrun).
    pub const STATE: usize = 0x04;
    /// Control: bit 0 TX enable, bit 1 RX enable, bit 2 TX interrupt
    /// enable, bit 3 RX interrupt enable.
    pub const CTRL: usize = 0x08;
    /// Interrupt status on read, interrupt clear on write (bit 1 RX).
    pub const INTCLEAR: usize = 0x0C;
    /// Baud divider: system clock / baud rate, at least 16.
    pub const BAUDDIV: usize = 0x10;

    pub const STATE_TX_FULL: u32 = 1 << 0;
    pub const STATE_RX_FULL: u32 = 1 << 1;
    pub const STATE_RX_OVERRUN: u32 = 1 << 3;
    pub const CTRL_TX_EN: u32 = 1 << 0;
    pub const CTRL_RX_EN: u32 = 1 << 1;
    pub const CTRL_RX_IRQ_EN: u32 = 1 << 3;
    pub const INT_RX: u32 = 1 << 1;
}

/// Reads the UART0 register at byte `offset`.
fn read(offset: usize) -> u32 {
    // SAFETY: UART0 is a memory-mapped peripheral at a fixed address;
    // every register is a readable, aligned 32-bit word.
    unsafe { core::ptr::read_volatile((UART0_BASE + offset) as *const u32) }
}

/// Writes the UART0 register at byte `offset`.
fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`; the registers written here have no memory
    // side effects beyond the UART.
    unsafe { core::ptr::write_volatile((UART0_BASE + offset) as *mut u32, value) }
}

/// The external interrupts this board enables.
#[derive(Debug, Clone, Copy)]
#[repr(u16)]
enum Irq {
    /// UART0 receive.
    Uart0Rx = UART0_RX_IRQ,
}

// SAFETY: the value is a valid IRQ number of this device (< 32).
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self as u16
    }
}

/// Storage of the receive ring buffer (holds `RX_BUFFER − 1` bytes).
static RX_QUEUE: ConstStaticCell<Queue<u8, RX_BUFFER>> = ConstStaticCell::new(Queue::new());

/// The interrupt handler's end of the ring buffer.
static RX_PRODUCER: Mutex<RefCell<Option<Producer<'static, u8, RX_BUFFER>>>> =
    Mutex::new(RefCell::new(None));

/// Bytes lost because the ring buffer was full or the UART overran.
static RX_LOST: AtomicU32 = AtomicU32::new(0);

/// SysTick wraps (2^24 ticks each) since boot.
static SYSTICK_WRAPS: AtomicU32 = AtomicU32::new(0);

/// SysTick's reload value: the full 24 bits.
const SYSTICK_RELOAD: u32 = 0x00FF_FFFF;

/// UART0, receiving through its interrupt into the ring buffer.
pub struct Uart {
    rx: Consumer<'static, u8, RX_BUFFER>,
}

/// Starts SysTick and UART0 with its receive interrupt.
///
/// # Panics
/// If called twice (the core peripherals or the ring buffer are already
/// taken): a programming error, not a data error.
pub fn init() -> Uart {
    let Some(mut core) = cortex_m::Peripherals::take() else {
        panic!("board::init called twice");
    };
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(SYSTICK_RELOAD);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();

    let (producer, consumer) = RX_QUEUE.take().split();
    interrupt::free(|cs| RX_PRODUCER.borrow(cs).replace(Some(producer)));
    write(reg::BAUDDIV, SYSCLK_HZ / BAUD);
    write(
        reg::CTRL,
        reg::CTRL_TX_EN | reg::CTRL_RX_EN | reg::CTRL_RX_IRQ_EN,
    );
    // SAFETY: the handler only touches the producer, behind a mutex.
    unsafe { NVIC::unmask(Irq::Uart0Rx) };
    Uart { rx: consumer }
}

/// Ticks of the system clock since boot (SysTick, extended to 64 bits by
/// counting its wraps). Under QEMU `-icount shift=0` one instruction takes
/// 1 ns, so a tick (40 ns) is 40 instructions.
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

/// Bytes received but lost (ring buffer full or UART overrun) since boot.
pub fn rx_lost() -> u32 {
    RX_LOST.load(Ordering::Relaxed)
}

impl Serial for Uart {
    fn read(&mut self) -> Option<u8> {
        self.rx.dequeue()
    }

    fn write_all(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            while read(reg::STATE) & reg::STATE_TX_FULL != 0 {}
            write(reg::DATA, u32::from(byte));
        }
    }

    fn wait(&mut self) {
        // Checked with interrupts masked: a byte arriving between the check
        // and WFI leaves its interrupt pending, which wakes WFI at once.
        interrupt::free(|_| {
            if !self.rx.ready() {
                cortex_m::asm::wfi();
            }
        });
    }
}

/// Moves every received byte into the ring buffer.
fn on_uart0_rx() {
    // Clear first: a byte that arrives while draining raises it again.
    write(reg::INTCLEAR, reg::INT_RX);
    let mut lost = 0;
    interrupt::free(|cs| {
        let mut producer = RX_PRODUCER.borrow(cs).borrow_mut();
        while read(reg::STATE) & reg::STATE_RX_FULL != 0 {
            let byte = read(reg::DATA) as u8;
            match producer.as_mut().map(|p| p.enqueue(byte)) {
                Some(Ok(())) => {}
                _ => lost += 1,
            }
        }
    });
    if read(reg::STATE) & reg::STATE_RX_OVERRUN != 0 {
        write(reg::STATE, reg::STATE_RX_OVERRUN);
        lost += 1;
    }
    if lost > 0 {
        // The frame these bytes belonged to fails its CRC and is rejected.
        let total = RX_LOST.fetch_add(lost, Ordering::Relaxed) + lost;
        defmt::warn!("UART0: {} received bytes lost ({} in total)", lost, total);
    }
}

#[exception]
fn SysTick() {
    SYSTICK_WRAPS.fetch_add(1, Ordering::Release);
}

/// Every interrupt without its own vector lands here (there is no PAC).
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == UART0_RX_IRQ as i16 {
        on_uart0_rx();
    } else {
        defmt::warn!("unexpected interrupt {}", irqn);
    }
}
