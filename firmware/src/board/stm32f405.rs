//! STM32F405 (STM32F4-Discovery class boards; QEMU's `netduinoplus2`):
//! USART1 on PA9 (TX) / PA10 (RX), alternate function 7, at 115 200 baud,
//! through the `stm32f4` PAC.
//!
//! Clock: the core runs on the 16 MHz internal oscillator (HSI), the
//! reset default, so setup waits for no ready bit (QEMU does not model the
//! RCC: its ready bits never set). Switching to the PLL at 168 MHz is the
//! next step for speed on silicon (README, "Boards").
//!
//! QEMU connects USART1 to its first `-serial` and runs SysTick on its
//! fixed 168 MHz system clock whatever the RCC says.

use core::cell::RefCell;

use cortex_m::interrupt::{free, CriticalSection, Mutex};
use cortex_m::peripheral::NVIC;
use stm32f4::stm32f405::{interrupt, Interrupt, Peripherals, USART1};

use super::traits::Board;
use super::{rx, systick};

/// The board.
pub struct Stm32f405;

/// Clock of the APB2 bus, which drives USART1: HSI with no prescaler.
const PCLK2_HZ: u32 = 16_000_000;

/// Baud rate of USART1.
const BAUD: u32 = 115_200;

/// USART1, shared by the transmitter and the receive interrupt.
static USART: Mutex<RefCell<Option<USART1>>> = Mutex::new(RefCell::new(None));

/// Runs `f` on USART1 (after [`Board::init`]; before, it does nothing).
fn with_usart<R>(cs: &CriticalSection, f: impl FnOnce(&USART1) -> R) -> Option<R> {
    USART.borrow(cs).borrow().as_ref().map(f)
}

/// USART1's transmitter.
pub struct Usart1Tx;

impl rx::Transmit for Usart1Tx {
    fn send(&mut self, byte: u8) {
        // One short critical section per attempt, so the receive interrupt
        // is never held off for a whole byte time.
        while free(|cs| {
            with_usart(cs, |usart| {
                let empty = usart.sr().read().txe().bit_is_set();
                if empty {
                    usart.dr().write(|w| w.dr().set(u16::from(byte)));
                }
                empty
            })
        }) == Some(false)
        {}
    }
}

impl Board for Stm32f405 {
    type Uart = rx::Uart<Usart1Tx>;

    /// The SysTick clock: QEMU's fixed system clock, or the HSI on silicon.
    const TICK_HZ: u32 = if cfg!(feature = "qemu") {
        168_000_000
    } else {
        PCLK2_HZ
    };

    fn init() -> Self::Uart {
        let (Some(core), Some(device)) = (cortex_m::Peripherals::take(), Peripherals::take())
        else {
            panic!("board::init called twice");
        };
        systick::start(core.SYST);
        device.RCC.ahb1enr().modify(|_, w| w.gpioaen().enabled());
        device.RCC.apb2enr().modify(|_, w| w.usart1en().enabled());
        device
            .GPIOA
            .afrh()
            .modify(|_, w| w.afrh9().af7().afrh10().af7());
        device
            .GPIOA
            .moder()
            .modify(|_, w| w.moder9().alternate().moder10().alternate());
        let usart = device.USART1;
        // USARTDIV in 1/16ths (oversampling by 16), rounded.
        let div = (PCLK2_HZ + BAUD / 2) / BAUD;
        usart.brr().write(|w| {
            w.div_mantissa()
                .set((div >> 4) as u16)
                .div_fraction()
                .set((div & 0xF) as u8)
        });
        usart.cr1().write(|w| {
            w.ue()
                .enabled()
                .te()
                .enabled()
                .re()
                .enabled()
                .rxneie()
                .enabled()
        });
        let uart = rx::Uart::new(Usart1Tx);
        free(|cs| USART.borrow(cs).replace(Some(usart)));
        // SAFETY: the handler only touches USART1 and the ring buffer's
        // producer, each behind a mutex.
        unsafe { NVIC::unmask(Interrupt::USART1) };
        uart
    }

    fn ticks() -> u64 {
        systick::ticks()
    }
}

/// Moves every received byte into the ring buffer. Reading SR then DR
/// clears both RXNE and an overrun.
#[interrupt]
fn USART1() {
    let overrun = free(|cs| {
        with_usart(cs, |usart| {
            let overrun = usart.sr().read().ore().bit_is_set();
            rx::receive(|| {
                usart
                    .sr()
                    .read()
                    .rxne()
                    .bit_is_set()
                    .then(|| usart.dr().read().dr().bits() as u8)
            });
            overrun
        })
    });
    if overrun == Some(true) {
        rx::overrun(1);
    }
}
