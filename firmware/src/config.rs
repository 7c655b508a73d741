//! The sizes of this firmware build, in one place.
//!
//! `N` (particles), `K` (experts) and `D` (features, the intercept
//! included) are chosen at build time by the environment variables
//! `HSMOE_N`, `HSMOE_K` and `HSMOE_D` (defaults per board in `build.rs`;
//! README, "Boards"), and the experts' family by `HSMOE_FAMILY`
//! (`gaussian`, `bernoulli` or `student`; the device reports it in
//! `Config`). A data set must have `D` features; `hsmoe run`
//! checks it against the device's `Config`. The build fails when the
//! filter, the buffers and the stack do not fit the board's RAM
//! (`build.rs`, and a `const` assertion in `main.rs`).

include!(concat!(env!("OUT_DIR"), "/sizes.rs"));

/// Seed of the random number generator at boot, until the host sends
/// `Reset`.
pub const BOOT_SEED: u64 = 0;

/// Capacity of the UART receive ring buffer, in bytes: several whole
/// requests (at most [`hsmoe_core::frame::MAX_FRAME`] bytes each), so a
/// host may keep a window of requests in flight while an update runs.
pub const RX_BUFFER: usize = 1024;

/// The filter of this build.
pub type Filter = hsmoe_core::Filter<N, K, D, Expert>;
