//! Checkpoint and restore: the whole filter state as a versioned,
//! little-endian byte stream with a CRC-32C, written and read in chunks so
//! that a device never needs a second copy of its filter.
//!
//! # Format (version [`FORMAT_VERSION`])
//! The stream is a sequence of 32-bit words, each stored little-endian;
//! an `f32` is its bit pattern, an `f64` two words (low, then high), a
//! `bool` 0 or 1.
//!
//! | words | content |
//! |---|---|
//! | 1 | [`MAGIC`] |
//! | 1 | [`FORMAT_VERSION`] (low half), [`PROTOCOL_VERSION`](crate::version::PROTOCOL_VERSION) (high half) |
//! | 3 | `N`, `K`, `D` |
//! | 1 | the experts' family tag ([`Expert::TAG`](crate::expert::Expert::TAG)) |
//! | 4 | the caller's RNG state ([`RNG_STATE_LEN`] bytes, verbatim) |
//! | 12 + 2K | filter state: `Config` (`v0`, `a0`, `b0`, `s0`, `refresh_every`, `gate_intercept`, `resample_ess`), ready flag, step counter, log marginal, `K` allocation sums, repairs |
//! | N · (K·E + (K − 1)(T + 4D) + 3), `T = D(D+1)/2` | each particle: `K` experts of `E` words each ([`Family::expert_words`](crate::expert::Family::expert_words); Gaussian: Cholesky factor as a packed lower triangle, `T` words row by row, mean, `a`, `b`, cached normalizer), `K − 1` sticks (`S` packed the same way, `r`, `φ`, `λ²`, `ν`), `τ²`, `ξ`, the carried log weight |
//! | 1 | CRC-32C ([`CRC_ALGORITHM`](crate::frame::CRC_ALGORITHM)) of every byte before it |
//!
//! Everything the filter carries from one step to the next is there, bit
//! for bit, so a restored filter continues exactly as the original would
//! have. Step scratch is not: the per-particle weights, offspring counts
//! and allocation weights `π_k t_k`, which every step overwrites before
//! reading.
//! (The scratch also changes when a step is refused as
//! [`Degenerate`](crate::Error::Degenerate), so leaving it out makes
//! "nothing changed" checkable on snapshots.)
//!
//! # Restoring without a second copy
//! A [`Restorer`] reads the stream **twice**. The first pass
//! ([`Pass::Verify`]) only checks: header, sizes, settings and the CRC;
//! the live filter is not touched, so a corrupt, truncated or mismatched
//! snapshot is refused with the filter exactly as it was. The second pass
//! ([`Pass::Write`]) writes the particles straight into the live storage
//! and commits the state only if the bytes have the CRC verified in the
//! first pass. The extra RAM is the `Restorer` itself (the header, a
//! staged [`FilterState`](crate::FilterState), a CRC register: at most `128 + 8K` bytes),
//! against `N · (K(E + 1) + (K − 1)(T + 4D) + 5) · 4` bytes for a scratch filter.
//! The price is streaming the snapshot twice, and one window: between the
//! first particle write and the commit the filter reports
//! [`Error::Uninitialized`](crate::Error::Uninitialized). A write pass
//! whose bytes differ from the verified ones (a corruption the link's own
//! CRC missed, or a host that sends another file) is refused with
//! [`SnapshotError::CommitFailed`] and leaves it so, never running on a
//! mix of two states; a new restore or a reset recovers. A host with RAM
//! to spare can restore into a fresh filter instead, which is the
//! scratch-area design.
//!
//! # Device checkpoints
//! A device also carries link state across a checkpoint (the last `seq`
//! it answered, its rejected count, its seed). Its *checkpoint stream* is
//! the snapshot followed by a [`LinkState`] trailer
//! ([`Filter::write_checkpoint`](crate::Filter::write_checkpoint), [`CheckpointRestorer`]); it is what the
//! protocol's `Snapshot`/`Restore` requests move and what `hsmoe run
//! --checkpoint` saves.
//!
//! # Examples
//! ```
//! use hsmoe_core::snapshot::{xorshift_from_state, xorshift_state};
//! use hsmoe_core::{Config, Filter};
//! use rand_core::SeedableRng;
//!
//! let mut filter: Filter<8, 2, 2> = Filter::new();
//! let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(5);
//! filter.reset(&Config::default_for(2), &mut rng).unwrap();
//! filter.observe(&[1.0, 0.5], 0.3, &mut rng).unwrap();
//!
//! // Checkpoint, in chunks as a device would send it.
//! let mut bytes = vec![0u8; Filter::<8, 2, 2>::SNAPSHOT_LEN];
//! for (i, chunk) in bytes.chunks_mut(64).enumerate() {
//!     filter.write_snapshot(&xorshift_state(&rng), i * 64, chunk);
//! }
//!
//! // Restore into another filter and carry on identically.
//! let mut copy: Filter<8, 2, 2> = Filter::new();
//! let state = copy.restore_snapshot(&bytes).unwrap();
//! let mut copy_rng = xorshift_from_state(&state);
//! let a = filter.observe(&[1.0, -0.2], 0.1, &mut rng).unwrap();
//! let b = copy.observe(&[1.0, -0.2], 0.1, &mut copy_rng).unwrap();
//! assert_eq!(a, b);
//! ```

mod checkpoint;
mod layout;
mod restore;
mod rng;
mod wire;
mod write;

pub use crate::version::FORMAT_VERSION;
pub use checkpoint::{
    checkpoint_len, CheckpointProgress, CheckpointRestorer, LinkState, LINK_MAGIC, LINK_STATE_LEN,
};
pub use layout::{snapshot_len, SnapshotShape, MAGIC, RNG_STATE_LEN};
pub use restore::{RestoreProgress, Restorer};
pub use rng::{xorshift_from_state, xorshift_state};
pub use wire::{Pass, SnapshotError};
