//! The UART driver every board here shares: received bytes go from the
//! board's interrupt handler ([`receive`]) into a ring buffer that
//! [`Uart`] reads, so requests queue while an update runs; sending is
//! blocking, one byte at a time through the board's [`Transmit`].

use core::cell::RefCell;
use core::convert::Infallible;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::interrupt::{self, Mutex};
use heapless::spsc::{Consumer, Producer, Queue};
use static_cell::ConstStaticCell;

use crate::config::RX_BUFFER;

/// Storage of the receive ring buffer (holds `RX_BUFFER − 1` bytes).
static RX_QUEUE: ConstStaticCell<Queue<u8, RX_BUFFER>> = ConstStaticCell::new(Queue::new());

/// The interrupt handler's end of the ring buffer.
static RX_PRODUCER: Mutex<RefCell<Option<Producer<'static, u8, RX_BUFFER>>>> =
    Mutex::new(RefCell::new(None));

/// Bytes lost because the ring buffer was full or the UART overran.
static RX_LOST: AtomicU32 = AtomicU32::new(0);

/// A board's UART transmitter.
pub trait Transmit {
    /// Sends one byte, waiting while the transmitter is full.
    fn send(&mut self, byte: u8);
}

/// A UART: interrupt-driven receive into the ring buffer, blocking
/// transmit through `T`.
pub struct Uart<T> {
    rx: Consumer<'static, u8, RX_BUFFER>,
    tx: T,
}

impl<T: Transmit> Uart<T> {
    /// Takes the ring buffer for `tx`'s UART. Call it before unmasking the
    /// UART's receive interrupt.
    ///
    /// # Panics
    /// If called twice (the ring buffer is already taken).
    pub fn new(tx: T) -> Self {
        let (producer, rx) = RX_QUEUE.take().split();
        interrupt::free(|cs| RX_PRODUCER.borrow(cs).replace(Some(producer)));
        Uart { rx, tx }
    }
}

/// Moves the bytes `next` yields into the ring buffer; the board's receive
/// interrupt handler calls it with a reader of its data register.
pub fn receive(mut next: impl FnMut() -> Option<u8>) {
    let mut lost = 0;
    interrupt::free(|cs| {
        let mut producer = RX_PRODUCER.borrow(cs).borrow_mut();
        while let Some(byte) = next() {
            match producer.as_mut().map(|p| p.enqueue(byte)) {
                Some(Ok(())) => {}
                _ => lost += 1,
            }
        }
    });
    if lost > 0 {
        overrun(lost);
    }
}

/// Counts `lost` received bytes the hardware or the buffer dropped.
pub fn overrun(lost: u32) {
    // The frame these bytes belonged to fails its CRC and is rejected.
    let total = RX_LOST.fetch_add(lost, Ordering::Relaxed) + lost;
    defmt::warn!("UART: {} received bytes lost ({} in total)", lost, total);
}

impl<T> embedded_io::ErrorType for Uart<T> {
    type Error = Infallible;
}

impl<T> embedded_io::Read for Uart<T> {
    /// Waits (sleeping) until a byte has arrived, then takes as many as
    /// are waiting and fit `buf`.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let mut n = 0;
            while n < buf.len() {
                match self.rx.dequeue() {
                    Some(byte) => buf[n] = byte,
                    None => break,
                }
                n += 1;
            }
            if n > 0 {
                return Ok(n);
            }
            // Checked with interrupts masked: a byte arriving between the
            // check and WFI leaves its interrupt pending, which wakes WFI
            // at once.
            interrupt::free(|_| {
                if !self.rx.ready() {
                    cortex_m::asm::wfi();
                }
            });
        }
    }
}

impl<T> embedded_io::ReadReady for Uart<T> {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.rx.ready())
    }
}

impl<T: Transmit> embedded_io::Write for Uart<T> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        buf.iter().for_each(|&byte| self.tx.send(byte));
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
