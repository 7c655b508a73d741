//! A fault-injecting proxy for the link to the device, to test the
//! protocol's recovery (docs/protocol.md §4; RELIABILITY.md, "Link faults").
//!
//! [`FaultProxy::insert`] sits between the host's [`Port`] and the device's
//! TCP socket (QEMU's UART) and forwards whole frames (bytes up to and
//! including each `0x00`) in both directions. Each frame, with the
//! probabilities of a [`FaultConfig`] and at most one fault per frame, is
//! dropped, sent twice, sent with one bit flipped, cut short (a prefix and its
//! `0x00`), or held back for a while (which also holds back every frame behind
//! it, as a stalled line would). The random choices are seeded, one stream per
//! direction. `hsmoe run --qemu --faults drop=…,seed=…` uses it (a hidden
//! option, for tests).
//!
//! # Examples
//! ```
//! use hsmoe_host::faults::FaultConfig;
//! let config: FaultConfig = "drop=0.01,corrupt=0.02,delay-ms=300,seed=7".parse().unwrap();
//! assert_eq!((config.drop, config.corrupt, config.seed), (0.01, 0.02, 7));
//! assert_eq!(config.delay_time.as_millis(), 300);
//! assert!("drop=2".parse::<FaultConfig>().is_err());
//! ```

use crate::serial::Port;
use anyhow::{bail, Context as _};
use hsmoe_core::frame::MAX_FRAME;
use rand::{Rng as _, SeedableRng as _};
use rand_xorshift::XorShiftRng;
use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The probability of each fault per frame, and the seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// A frame is lost.
    pub drop: f64,
    /// A frame arrives twice.
    pub duplicate: f64,
    /// One bit of a frame (its `0x00` included) is flipped.
    pub corrupt: f64,
    /// Only a prefix of a frame arrives, followed by its `0x00`.
    pub truncate: f64,
    /// A frame (and every frame behind it) is held back for `delay_time`.
    pub delay: f64,
    /// How long a delayed frame is held back.
    pub delay_time: Duration,
    /// Seed of the fault choices.
    pub seed: u64,
}

impl FaultConfig {
    /// Every fault at probability `rate` per frame, delays of
    /// `delay_time`, seeded with `seed`.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let config = hsmoe_host::faults::FaultConfig::uniform(0.01, Duration::from_millis(50), 3);
    /// assert_eq!((config.drop, config.delay), (0.01, 0.01));
    /// ```
    pub fn uniform(rate: f64, delay_time: Duration, seed: u64) -> FaultConfig {
        FaultConfig {
            drop: rate,
            duplicate: rate,
            corrupt: rate,
            truncate: rate,
            delay: rate,
            delay_time,
            seed,
        }
    }

    /// The rates in the order of [`Fault::ALL`].
    fn rates(&self) -> [f64; 5] {
        [
            self.drop,
            self.duplicate,
            self.corrupt,
            self.truncate,
            self.delay,
        ]
    }
}

impl FromStr for FaultConfig {
    type Err = anyhow::Error;

    /// `key=value` pairs separated by commas: `drop`, `duplicate`,
    /// `corrupt`, `truncate`, `delay` (probabilities per frame, summing to
    /// at most 1), `delay-ms` and `seed`; missing keys are 0 (`delay-ms`:
    /// 100).
    fn from_str(spec: &str) -> anyhow::Result<FaultConfig> {
        let mut config = FaultConfig::uniform(0.0, Duration::from_millis(100), 0);
        for pair in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("fault `{pair}` is not key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            let rate = || -> anyhow::Result<f64> {
                let p: f64 = value
                    .parse()
                    .with_context(|| format!("fault rate {key}={value} is not a number"))?;
                if !(0.0..=1.0).contains(&p) {
                    bail!("fault rate {key}={value} is not in [0, 1]");
                }
                Ok(p)
            };
            match key {
                "drop" => config.drop = rate()?,
                "duplicate" => config.duplicate = rate()?,
                "corrupt" => config.corrupt = rate()?,
                "truncate" => config.truncate = rate()?,
                "delay" => config.delay = rate()?,
                "delay-ms" => {
                    let ms = value
                        .parse()
                        .with_context(|| format!("delay-ms={value} is not a whole number"))?;
                    config.delay_time = Duration::from_millis(ms);
                }
                "seed" => {
                    config.seed = value
                        .parse()
                        .with_context(|| format!("seed={value} is not a whole number"))?;
                }
                _ => bail!("unknown fault `{key}` (drop, duplicate, corrupt, truncate, delay, delay-ms, seed)"),
            }
        }
        if config.rates().iter().sum::<f64>() > 1.0 {
            bail!("fault rates sum to more than 1");
        }
        Ok(config)
    }
}

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The frame was lost.
    Drop,
    /// The frame was sent twice.
    Duplicate,
    /// One bit was flipped.
    Corrupt,
    /// The frame was cut short.
    Truncate,
    /// The frame was held back.
    Delay,
}

impl Fault {
    /// Every fault, in the order of the counts of [`FaultCounts`].
    pub const ALL: [Fault; 5] = [
        Fault::Drop,
        Fault::Duplicate,
        Fault::Corrupt,
        Fault::Truncate,
        Fault::Delay,
    ];

    /// The fault's name, as in a [`FaultConfig`] spec.
    pub const fn name(self) -> &'static str {
        match self {
            Fault::Drop => "drop",
            Fault::Duplicate => "duplicate",
            Fault::Corrupt => "corrupt",
            Fault::Truncate => "truncate",
            Fault::Delay => "delay",
        }
    }
}

/// What the proxy did in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Frames that came in.
    pub frames: u64,
    /// Faults injected, indexed like [`Fault::ALL`].
    pub injected: [u64; 5],
}

impl FaultCounts {
    /// How many frames got `fault`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::faults::{Fault, FaultCounts};
    /// let counts = FaultCounts { frames: 10, injected: [1, 0, 2, 0, 0] };
    /// assert_eq!(counts.of(Fault::Corrupt), 2);
    /// ```
    pub fn of(&self, fault: Fault) -> u64 {
        Fault::ALL
            .iter()
            .position(|&f| f == fault)
            .map_or(0, |i| self.injected[i])
    }
}

/// What the proxy did in both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultReport {
    /// Host → device (requests).
    pub to_device: FaultCounts,
    /// Device → host (answers).
    pub to_host: FaultCounts,
}

impl fmt::Display for FaultReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, counts) in [("to device", self.to_device), ("to host", self.to_host)] {
            let faults: Vec<String> = Fault::ALL
                .iter()
                .map(|&fault| format!("{} {}", fault.name(), counts.of(fault)))
                .collect();
            writeln!(
                f,
                "faults {name}: {} frames; {}",
                counts.frames,
                faults.join(", ")
            )?;
        }
        Ok(())
    }
}

/// A running proxy; its threads end when either side closes.
#[derive(Debug)]
pub struct FaultProxy {
    report: Arc<Mutex<FaultReport>>,
    threads: Vec<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `device` and returns the port the host should
    /// use instead.
    ///
    /// # Errors
    /// If a local socket cannot be opened.
    pub fn insert(device: TcpStream, config: &FaultConfig) -> anyhow::Result<(Port, FaultProxy)> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot open a local socket")?;
        let host = TcpStream::connect(listener.local_addr()?)?;
        let (inner, _) = listener.accept()?;
        for stream in [&host, &inner, &device] {
            stream.set_nodelay(true)?;
        }
        let report = Arc::new(Mutex::new(FaultReport::default()));
        let directions = [
            (inner.try_clone()?, device.try_clone()?, 0x7D),
            (device, inner, 0xA5),
        ];
        let threads = directions
            .into_iter()
            .map(|(from, to, stream_id)| {
                let forwarder = Forwarder {
                    config: *config,
                    rng: XorShiftRng::seed_from_u64(config.seed ^ stream_id),
                    report: Arc::clone(&report),
                    to_device: stream_id == 0x7D,
                };
                std::thread::spawn(move || forwarder.run(from, to))
            })
            .collect();
        Ok((Port::Tcp(host), FaultProxy { report, threads }))
    }

    /// The faults injected so far.
    pub fn report(&self) -> FaultReport {
        *self.report.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for both directions to end (after either side closed) and
    /// returns the final report.
    pub fn finish(self) -> FaultReport {
        for thread in self.threads {
            let _ = thread.join();
        }
        *self.report.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One direction of the proxy.
struct Forwarder {
    config: FaultConfig,
    rng: XorShiftRng,
    report: Arc<Mutex<FaultReport>>,
    to_device: bool,
}

impl Forwarder {
    /// Forwards frames from `from` to `to` until either closes, then shuts
    /// both down so the other direction ends too.
    fn run(mut self, mut from: TcpStream, mut to: TcpStream) {
        let _ = self.pump(&mut from, &mut to);
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    }

    fn pump(&mut self, from: &mut TcpStream, to: &mut TcpStream) -> io::Result<()> {
        let mut frame = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            let n = from.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            for &byte in &buf[..n] {
                frame.push(byte);
                // A run without a delimiter is forwarded in pieces, so
                // over-long garbage still reaches the other side.
                if byte == 0 || frame.len() >= 4 * MAX_FRAME {
                    self.forward(&frame, to)?;
                    frame.clear();
                }
            }
        }
    }

    /// Sends one frame, with at most one fault.
    fn forward(&mut self, frame: &[u8], to: &mut TcpStream) -> io::Result<()> {
        let fault = self.choose();
        {
            let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
            let counts = if self.to_device {
                &mut report.to_device
            } else {
                &mut report.to_host
            };
            counts.frames += 1;
            if let Some(i) = fault.and_then(|f| Fault::ALL.iter().position(|&g| g == f)) {
                counts.injected[i] += 1;
            }
        }
        match fault {
            None => to.write_all(frame),
            Some(Fault::Drop) => Ok(()),
            Some(Fault::Duplicate) => {
                to.write_all(frame)?;
                to.write_all(frame)
            }
            Some(Fault::Corrupt) => {
                let mut damaged = frame.to_vec();
                let at = self.rng.random_range(0..damaged.len());
                damaged[at] ^= 1 << self.rng.random_range(0..8u32);
                to.write_all(&damaged)
            }
            Some(Fault::Truncate) => {
                // Keep a strict prefix of the body, then the delimiter.
                let body = frame.len().saturating_sub(1).max(1);
                let keep = self.rng.random_range(0..body);
                to.write_all(&frame[..keep])?;
                to.write_all(&[0])
            }
            Some(Fault::Delay) => {
                std::thread::sleep(self.config.delay_time);
                to.write_all(frame)
            }
        }
    }

    /// One uniform draw against the cumulative rates: at most one fault.
    fn choose(&mut self) -> Option<Fault> {
        let u: f64 = self.rng.random();
        let mut cumulative = 0.0;
        for (fault, rate) in Fault::ALL.into_iter().zip(self.config.rates()) {
            cumulative += rate;
            if u < cumulative {
                return Some(fault);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hsmoe_core::frame::{self, FrameAccumulator, FrameEvent};
    use hsmoe_core::protocol::Request;

    /// Echo server standing in for a device: returns every byte.
    fn echo() -> (TcpStream, JoinHandle<()>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let thread = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        (client, thread)
    }

    /// Frames sent through the proxy and echoed back through it again: at
    /// 5% per fault and direction, some arrive intact, some damaged, and
    /// the proxy counts what it did.
    #[test]
    fn faults_are_injected_at_about_their_rates_and_counted() {
        let (device, echo_thread) = echo();
        let config = FaultConfig::uniform(0.05, Duration::from_millis(1), 11);
        let (mut port, proxy) = FaultProxy::insert(device, &config).unwrap();
        let frames = 400u64;
        let mut buf = [0u8; MAX_FRAME];
        for seed in 0..frames {
            let bytes = frame::encode(&Request::<4>::Reset { seed }, &mut buf).unwrap();
            port.write_all(bytes).unwrap();
        }
        port.set_read_timeout(Duration::from_millis(500)).unwrap();
        let mut rx = FrameAccumulator::<MAX_FRAME>::new();
        let (mut good, mut bad) = (0u64, 0u64);
        let mut chunk = [0u8; 512];
        while let Ok(n) = port.read(&mut chunk) {
            if n == 0 {
                break;
            }
            for &byte in &chunk[..n] {
                if let Some(FrameEvent::Frame(body)) = rx.push(byte) {
                    match frame::decode::<Request<4>>(body) {
                        Ok(_) => good += 1,
                        Err(_) => bad += 1,
                    }
                }
            }
        }
        drop(port);
        let report = proxy.finish();
        echo_thread.join().unwrap();
        assert_eq!(report.to_device.frames, frames);
        for fault in Fault::ALL {
            // Binomial(400, 0.05): mean 20, sd 4.4; 0 is 4.5 sd away.
            assert!(report.to_device.of(fault) > 0, "{fault:?} never injected");
        }
        // Two passes at 75% clean each: about 56% intact; every frame
        // that was not dropped arrives intact or damaged (a flipped
        // delimiter merges two frames into one).
        assert!(
            good > frames / 3 && good < frames,
            "{good} intact of {frames}"
        );
        assert!(bad > 0, "no damaged frame arrived");
    }

    #[test]
    fn specs_are_checked() {
        assert!("drop=0.6,delay=0.6".parse::<FaultConfig>().is_err());
        assert!("jitter=0.1".parse::<FaultConfig>().is_err());
        assert!("drop".parse::<FaultConfig>().is_err());
        let config: FaultConfig = "".parse().unwrap();
        assert_eq!(config.rates(), [0.0; 5]);
    }
}
