//! STM32F405 (STM32F4-Discovery class boards; QEMU's `netduinoplus2`):
//! USART1 on PA9 (TX) / PA10 (RX), alternate function 7, at 115 200 baud,
//! through the `stm32f4` PAC.
//!
//! Clock: on silicon the core runs at 168 MHz, the chip's maximum, from
//! the PLL fed by the 16 MHz internal oscillator (HSI / 16 · 336 / 2, and
//! / 7 = 48 MHz for USB), with 5 flash wait states, APB1 at 42 MHz and
//! APB2 at 84 MHz (RM0090 §3.5.1, §6.3.2). Under QEMU (feature `qemu`) the
//! clock tree stays at its reset state: QEMU does not model the RCC, so
//! its ready bits never set and waiting for them would hang. Silicon
//! setup is compile-checked only (README, "Boards").
//!
//! QEMU connects USART1 to its first `-serial` and runs SysTick on its
//! fixed 168 MHz system clock whatever the RCC says, so SysTick counts
//! 168 MHz on both.

use core::cell::RefCell;

use cortex_m::interrupt::{free, CriticalSection, Mutex};
use cortex_m::peripheral::NVIC;
use stm32f4::stm32f405::{interrupt, Interrupt, Peripherals, USART1};
#[cfg(not(feature = "qemu"))]
use stm32f4::stm32f405::{FLASH, RCC};

use super::traits::Board;
use super::{rx, systick};

/// The board.
pub struct Stm32f405;

/// The core clock on silicon, and QEMU's fixed system clock.
const SYSCLK_HZ: u32 = 168_000_000;

/// Clock of the APB2 bus, which drives USART1: SYSCLK / 2 on silicon, the
/// HSI at reset under QEMU (which ignores the baud-rate register).
const PCLK2_HZ: u32 = if cfg!(feature = "qemu") {
    16_000_000
} else {
    SYSCLK_HZ / 2
};

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

    const TICK_HZ: u32 = SYSCLK_HZ;

    fn init() -> Self::Uart {
        let (Some(core), Some(device)) = (cortex_m::Peripherals::take(), Peripherals::take())
        else {
            panic!("board::init called twice");
        };
        #[cfg(not(feature = "qemu"))]
        start_pll(&device.RCC, &device.FLASH);
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

/// Switches the core clock from the HSI to the PLL at [`SYSCLK_HZ`]. The
/// flash wait states and bus prescalers come first, so that no access
/// ever runs faster than they allow.
#[cfg(not(feature = "qemu"))]
fn start_pll(rcc: &RCC, flash: &FLASH) {
    flash.acr().modify(|_, w| {
        w.latency()
            .ws5()
            .prften()
            .enabled()
            .icen()
            .enabled()
            .dcen()
            .enabled()
    });
    rcc.cfgr()
        .modify(|_, w| w.hpre().div1().ppre1().div4().ppre2().div2());
    // SAFETY: M = 16, N = 336 and Q = 7 lie in the fields' valid ranges
    // (2..=63, 50..=432, 2..=15), with a 1 MHz PLL input and a 336 MHz VCO.
    rcc.pllcfgr().write(|w| unsafe {
        w.pllsrc()
            .hsi()
            .pllm()
            .bits(16)
            .plln()
            .bits(336)
            .pllp()
            .div2()
            .pllq()
            .bits(7)
    });
    rcc.cr().modify(|_, w| w.pllon().on());
    // The PLL locks within 200 µs (datasheet t_LOCK).
    while rcc.cr().read().pllrdy().is_not_ready() {}
    rcc.cfgr().modify(|_, w| w.sw().pll());
    while !rcc.cfgr().read().sws().is_pll() {}
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
