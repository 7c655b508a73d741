//! nRF52840 (nRF52840-DK): the UARTE0 instance in its legacy UART mode
//! (`UART0`, byte-wise receive events, no EasyDMA buffers to manage) on
//! P0.06 (TX) / P0.08 (RX), the pins of the DK's J-Link virtual COM port,
//! at 115 200 baud, through the `nrf52840-pac`. The core runs at 64 MHz.
//!
//! Compile-checked only: no emulator models this chip (README, "Boards").

use core::cell::RefCell;

use cortex_m::interrupt::{free, CriticalSection, Mutex};
use cortex_m::peripheral::NVIC;
use nrf52840_pac::{interrupt, Interrupt, Peripherals, UART0};

use super::traits::Board;
use super::{rx, systick};

/// The board.
pub struct Nrf52840;

/// TX and RX pins on port 0.
const TX_PIN: u8 = 6;
const RX_PIN: u8 = 8;

/// Bounded wait for the crystal oscillator (it starts in well under 1 ms;
/// about 10 ms at 64 MHz): without it the UART stays on the less accurate
/// internal oscillator instead of hanging.
const HFXO_SPINS: u32 = 200_000;

/// UART0, shared by the transmitter and the receive interrupt.
static UART: Mutex<RefCell<Option<UART0>>> = Mutex::new(RefCell::new(None));

/// Runs `f` on UART0 (after [`Board::init`]; before, it does nothing).
fn with_uart<R>(cs: &CriticalSection, f: impl FnOnce(&UART0) -> R) -> Option<R> {
    UART.borrow(cs).borrow().as_ref().map(f)
}

/// UART0's transmitter.
pub struct Uart0Tx;

impl rx::Transmit for Uart0Tx {
    fn send(&mut self, byte: u8) {
        free(|cs| {
            with_uart(cs, |uart| {
                uart.events_txdrdy.reset();
                uart.txd.write(|w| w.txd().variant(byte));
            })
        });
        // TXDRDY: the byte has left TXD, which may take the next one.
        while free(|cs| with_uart(cs, |uart| uart.events_txdrdy.read().bits() == 0)) == Some(true) {
        }
    }
}

impl Board for Nrf52840 {
    type Uart = rx::Uart<Uart0Tx>;

    /// SysTick on the 64 MHz core clock.
    const TICK_HZ: u32 = 64_000_000;

    fn init() -> Self::Uart {
        let (Some(core), Some(device)) = (cortex_m::Peripherals::take(), Peripherals::take())
        else {
            panic!("board::init called twice");
        };
        systick::start(core.SYST);
        device
            .CLOCK
            .tasks_hfclkstart
            .write(|w| w.tasks_hfclkstart().set_bit());
        for _ in 0..HFXO_SPINS {
            if device.CLOCK.events_hfclkstarted.read().bits() != 0 {
                break;
            }
        }
        let uart = device.UART0;
        uart.psel.txd.write(|w| {
            w.pin()
                .variant(TX_PIN)
                .port()
                .clear_bit()
                .connect()
                .connected()
        });
        uart.psel.rxd.write(|w| {
            w.pin()
                .variant(RX_PIN)
                .port()
                .clear_bit()
                .connect()
                .connected()
        });
        uart.baudrate.write(|w| w.baudrate().baud115200());
        uart.enable.write(|w| w.enable().enabled());
        uart.intenset.write(|w| w.rxdrdy().set());
        uart.tasks_startrx.write(|w| w.tasks_startrx().set_bit());
        uart.tasks_starttx.write(|w| w.tasks_starttx().set_bit());
        let port = rx::Uart::new(Uart0Tx);
        free(|cs| UART.borrow(cs).replace(Some(uart)));
        // SAFETY: the handler only touches UART0 and the ring buffer's
        // producer, each behind a mutex.
        unsafe { NVIC::unmask(Interrupt::UARTE0_UART0) };
        port
    }

    fn ticks() -> u64 {
        systick::ticks()
    }
}

/// Moves every received byte into the ring buffer (RXD holds up to six,
/// one RXDRDY event each); an overrun shows in ERRORSRC.
#[interrupt]
fn UARTE0_UART0() {
    let overrun = free(|cs| {
        with_uart(cs, |uart| {
            rx::receive(|| {
                (uart.events_rxdrdy.read().bits() != 0).then(|| {
                    uart.events_rxdrdy.reset();
                    uart.rxd.read().rxd().bits()
                })
            });
            let overrun = uart.errorsrc.read().overrun().bit_is_set();
            if overrun {
                uart.errorsrc.write(|w| w.overrun().clear_bit_by_one());
            }
            overrun
        })
    });
    if overrun == Some(true) {
        rx::overrun(1);
    }
}
