//! ARM MPS2 with the AN386 FPGA image (Cortex-M4F), as QEMU's
//! `mps2-an386` models it: CMSDK APB UART0 at `0x4000_4000`, and SysTick
//! on the 25 MHz system clock. There is no PAC for this FPGA image, so the
//! UART's few registers are written here.
//!
//! On silicon the same CMSDK UART sits behind the board's USB serial
//! bridge; QEMU connects it to `-serial`.

use cortex_m::peripheral::NVIC;
use cortex_m_rt::exception;

use super::traits::Board;
use super::{rx, systick};

/// The board: the default, and the one the tests run on.
pub struct Mps2An386;

/// The system clock, which drives SysTick and the UART baud generator:
/// 25 MHz on the FPGA and in QEMU (`SYSCLK_FRQ` in hw/arm/mps2.c).
const SYSCLK_HZ: u32 = 25_000_000;

/// Baud rate of UART0. QEMU ignores it; the board's USB bridge does not.
const BAUD: u32 = 115_200;

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

/// UART0's transmitter.
pub struct Uart0Tx;

impl rx::Transmit for Uart0Tx {
    fn send(&mut self, byte: u8) {
        while read(reg::STATE) & reg::STATE_TX_FULL != 0 {}
        write(reg::DATA, u32::from(byte));
    }
}

impl Board for Mps2An386 {
    type Uart = rx::Uart<Uart0Tx>;

    /// Under QEMU `-icount shift=0` one instruction takes 1 ns, so a tick
    /// (40 ns) is 40 instructions.
    const TICK_HZ: u32 = SYSCLK_HZ;

    fn init() -> Self::Uart {
        let Some(core) = cortex_m::Peripherals::take() else {
            panic!("board::init called twice");
        };
        systick::start(core.SYST);
        let uart = rx::Uart::new(Uart0Tx);
        write(reg::BAUDDIV, SYSCLK_HZ / BAUD);
        write(
            reg::CTRL,
            reg::CTRL_TX_EN | reg::CTRL_RX_EN | reg::CTRL_RX_IRQ_EN,
        );
        // SAFETY: the handler only touches the ring buffer's producer,
        // behind a mutex.
        unsafe { NVIC::unmask(Irq::Uart0Rx) };
        uart
    }

    fn ticks() -> u64 {
        systick::ticks()
    }
}

/// Moves every received byte into the ring buffer.
fn on_uart0_rx() {
    // Clear first: a byte that arrives while draining raises it again.
    write(reg::INTCLEAR, reg::INT_RX);
    rx::receive(|| (read(reg::STATE) & reg::STATE_RX_FULL != 0).then(|| read(reg::DATA) as u8));
    if read(reg::STATE) & reg::STATE_RX_OVERRUN != 0 {
        write(reg::STATE, reg::STATE_RX_OVERRUN);
        rx::overrun(1);
    }
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
