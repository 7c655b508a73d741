//! The sizes of this firmware build, in one place.
//!
//! `N` (particles) defaults to 128; the benchmark features `n32` and
//! `n256` change it. `K` and `D` are fixed here: a data set must have
//! `D` features, the intercept included (`hsmoe run` checks it against
//! the device's `Config`).

/// Number of particles.
#[cfg(not(any(feature = "n32", feature = "n256")))]
pub const N: usize = 128;
/// Number of particles (benchmark build `n32`).
#[cfg(all(feature = "n32", not(feature = "n256")))]
pub const N: usize = 32;
/// Number of particles (benchmark build `n256`).
#[cfg(all(feature = "n256", not(feature = "n32")))]
pub const N: usize = 256;
#[cfg(all(feature = "n32", feature = "n256"))]
compile_error!("choose at most one of the features `n32` and `n256`");

/// Number of experts.
pub const K: usize = 4;

/// Number of features, intercept included.
pub const D: usize = 4;

/// Seed of the random number generator at boot, until the host sends
/// `Reset`.
pub const BOOT_SEED: u64 = 0;

/// Capacity of the UART receive ring buffer, in bytes: several whole
/// requests (at most [`hsmoe_core::frame::MAX_FRAME`] bytes each), so a
/// host may keep a window of requests in flight while an update runs.
pub const RX_BUFFER: usize = 1024;

/// The filter of this build.
pub type Filter = hsmoe_core::Filter<N, K, D>;
