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
//! | 1 | [`FORMAT_VERSION`] (low half), [`PROTOCOL_VERSION`] (high half) |
//! | 3 | `N`, `K`, `D` |
//! | 4 | the caller's RNG state ([`RNG_STATE_LEN`] bytes, verbatim) |
//! | 11 + 2K | filter state: `Config` (`v0`, `a0`, `b0`, `s0`, `refresh_every`, `gate_intercept`), ready flag, step counter, log marginal, `K` allocation sums, repairs |
//! | N · (K(3D² + 5D + 3) + 2) | each particle: `K` experts (Cholesky factor row by row, mean, `a`, `b`, cached normalizer), `K` sticks (`S`, `r`, factor, `φ`, `λ²`, `ν`; the last stick is an unused all-zero slot), `τ²`, `ξ` |
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
//! staged [`FilterState`], a CRC register: at most `128 + 8K` bytes),
//! against `N · (K(3D² + 5D + 4) + 4) · 4` bytes for a scratch filter.
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
//! ([`Filter::write_checkpoint`], [`CheckpointRestorer`]); it is what the
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

use core::fmt;

use crc::Digest;
use rand_xorshift::XorShiftRng;
use serde::{Deserialize, Serialize};

use crate::filter::{Filter, FilterState, ParticleSet};
use crate::frame::CRC;
use crate::gate::Stick;
use crate::horseshoe::GlobalScale;
use crate::particle::Particle;
use crate::protocol::PROTOCOL_VERSION;
use crate::Config;

/// First word of every snapshot: the bytes `HSMS`.
pub const MAGIC: [u8; 4] = *b"HSMS";

/// Version of the snapshot layout. Bumped on any change to it (including
/// a field added to a particle); older snapshots are then refused.
pub const FORMAT_VERSION: u16 = 1;

/// Bytes of RNG state carried in the header (xorshift128's four words).
pub const RNG_STATE_LEN: usize = 16;

/// Words of the fixed header: magic, versions, `N`, `K`, `D`, RNG state.
const HEADER_WORDS: usize = 5 + RNG_STATE_LEN / 4;

/// Words of one particle: per expert `D² + D + 3`, per stick `2D² + 4D`,
/// and the two global scales.
const fn particle_words(k: usize, d: usize) -> usize {
    k * (3 * d * d + 5 * d + 3) + 2
}

/// Words of the [`FilterState`]: six of `Config`, ready, steps, an `f64`
/// log marginal, `K` `f64` allocation sums, repairs.
const fn state_words(k: usize) -> usize {
    11 + 2 * k
}

/// Length in bytes of the snapshot of a filter with `n` particles, `k`
/// experts and `d` features.
///
/// # Examples
/// ```
/// use hsmoe_core::{snapshot::snapshot_len, Filter};
/// assert_eq!(snapshot_len(128, 4, 4), Filter::<128, 4, 4>::SNAPSHOT_LEN);
/// assert_eq!(snapshot_len(128, 4, 4), 146_548);
/// assert_eq!(snapshot_len(1, 1, 1), 4 * (9 + 13 + 13 + 1));
/// ```
pub const fn snapshot_len(n: usize, k: usize, d: usize) -> usize {
    Layout::new(n, k, d).words() * 4
}

/// Where each part of the stream starts, in words.
#[derive(Clone, Copy)]
struct Layout {
    n: usize,
    particle: usize,
    particles_start: usize,
}

impl Layout {
    const fn new(n: usize, k: usize, d: usize) -> Self {
        Layout {
            n,
            particle: particle_words(k, d),
            particles_start: HEADER_WORDS + state_words(k),
        }
    }

    const fn crc_index(&self) -> usize {
        self.particles_start + self.n * self.particle
    }

    const fn words(&self) -> usize {
        self.crc_index() + 1
    }

    const fn bytes(&self) -> usize {
        self.words() * 4
    }
}

/// A value stored as a run of 32-bit words, visited in a fixed order:
/// `words` reads them (to write a snapshot), `words_mut` overwrites them
/// (to restore one). Implemented with [`impl_words!`] next to each type's
/// fields, so one field list serves both directions.
pub(crate) trait Words {
    /// Calls `f` with each word, in stream order.
    fn words(&self, f: &mut impl FnMut(u32));
    /// Calls `f` with each word, in stream order, storing what it leaves.
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32));
}

/// Implements [`Words`] for a struct as the concatenation of its fields'
/// words, in the order listed: `impl_words!([const D: usize] T<D> { a, b })`.
macro_rules! impl_words {
    ([$($generics:tt)*] $ty:ty { $($field:ident),+ $(,)? }) => {
        impl<$($generics)*> $crate::snapshot::Words for $ty {
            fn words(&self, f: &mut impl FnMut(u32)) {
                $($crate::snapshot::Words::words(&self.$field, f);)+
            }
            fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
                $($crate::snapshot::Words::words_mut(&mut self.$field, f);)+
            }
        }
    };
}
pub(crate) use impl_words;

impl Words for u32 {
    fn words(&self, f: &mut impl FnMut(u32)) {
        f(*self);
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        f(self);
    }
}

impl Words for f32 {
    fn words(&self, f: &mut impl FnMut(u32)) {
        f(self.to_bits());
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        let mut w = self.to_bits();
        f(&mut w);
        *self = f32::from_bits(w);
    }
}

impl Words for f64 {
    fn words(&self, f: &mut impl FnMut(u32)) {
        let bits = self.to_bits();
        f(bits as u32);
        f((bits >> 32) as u32);
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        let bits = self.to_bits();
        let (mut low, mut high) = (bits as u32, (bits >> 32) as u32);
        f(&mut low);
        f(&mut high);
        *self = f64::from_bits(u64::from(low) | u64::from(high) << 32);
    }
}

impl Words for bool {
    fn words(&self, f: &mut impl FnMut(u32)) {
        f(u32::from(*self));
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        let mut w = u32::from(*self);
        f(&mut w);
        *self = w != 0;
    }
}

impl<T: Words, const L: usize> Words for [T; L] {
    fn words(&self, f: &mut impl FnMut(u32)) {
        for item in self {
            item.words(f);
        }
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        for item in self {
            item.words_mut(f);
        }
    }
}

impl_words!([] Config { v0, a0, b0, s0, refresh_every, gate_intercept });
impl_words!([] GlobalScale { tau2, xi });
impl_words!([const D: usize] Stick<D> { s, r, chol, phi, lambda2, nu });
// `alloc_weights` is step scratch (see the module docs).
impl_words!([const K: usize, const D: usize] Particle<K, D> { experts, sticks, global });

/// The fixed header, as words.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Header {
    magic: u32,
    version: u32,
    n: u32,
    k: u32,
    d: u32,
    rng: [u32; RNG_STATE_LEN / 4],
}

impl_words!([] Header { magic, version, n, k, d, rng });

/// The version word: format in the low half, protocol in the high half.
const VERSION_WORD: u32 = FORMAT_VERSION as u32 | (PROTOCOL_VERSION as u32) << 16;

impl Header {
    const ZERO: Self = Header {
        magic: 0,
        version: 0,
        n: 0,
        k: 0,
        d: 0,
        rng: [0; RNG_STATE_LEN / 4],
    };

    fn new<const K: usize, const D: usize>(n: usize, rng_state: &[u8; RNG_STATE_LEN]) -> Self {
        let mut rng = [0u32; RNG_STATE_LEN / 4];
        for (word, bytes) in rng.iter_mut().zip(rng_state.chunks_exact(4)) {
            *word = le_word(bytes);
        }
        Header {
            magic: u32::from_le_bytes(MAGIC),
            version: VERSION_WORD,
            // N ≤ u32::MAX is enforced by Filter and ParticleSet; K and D
            // are tiny.
            n: n as u32,
            k: K as u32,
            d: D as u32,
            rng,
        }
    }

    fn rng_state(&self) -> [u8; RNG_STATE_LEN] {
        let mut state = [0u8; RNG_STATE_LEN];
        for (bytes, word) in state.chunks_exact_mut(4).zip(&self.rng) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        state
    }

    /// Checks this header against the storage it is to be restored into.
    fn check<const K: usize, const D: usize>(&self, n: usize) -> Result<(), SnapshotError> {
        if self.magic != u32::from_le_bytes(MAGIC) {
            Err(SnapshotError::BadMagic)
        } else if self.version != VERSION_WORD {
            Err(SnapshotError::Version)
        } else if (self.n as usize, self.k as usize, self.d as usize) != (n, K, D) {
            Err(SnapshotError::Shape)
        } else {
            Ok(())
        }
    }
}

/// What a snapshot's header declares: its versions and the `N`, `K`, `D`
/// of the filter it was taken from. A host reads it to name a mismatch
/// before streaming a file to a device (which would refuse it with a bare
/// [`SnapshotError`]).
///
/// # Examples
/// ```
/// use hsmoe_core::snapshot::{xorshift_state, SnapshotShape, FORMAT_VERSION};
/// use hsmoe_core::{Config, Filter};
/// use rand_core::SeedableRng;
/// let mut filter: Filter<8, 2, 3> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
/// filter.reset(&Config::default_for(3), &mut rng).unwrap();
/// let mut head = [0u8; 20];
/// filter.write_snapshot(&xorshift_state(&rng), 0, &mut head);
/// let shape = SnapshotShape::read(&head).unwrap();
/// assert_eq!((shape.n, shape.k, shape.d), (8, 2, 3));
/// assert_eq!(shape.format_version, FORMAT_VERSION);
/// assert!(SnapshotShape::read(&head[..19]).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotShape {
    /// The snapshot's [`FORMAT_VERSION`].
    pub format_version: u16,
    /// The [`PROTOCOL_VERSION`] of the device that wrote it.
    pub protocol_version: u16,
    /// Particles.
    pub n: u32,
    /// Experts.
    pub k: u32,
    /// Features, intercept included.
    pub d: u32,
}

impl SnapshotShape {
    /// Bytes of the header it is read from: magic, versions, `N`, `K`, `D`.
    pub const LEN: usize = 20;

    /// Reads the shape from the first [`Self::LEN`] bytes of a snapshot
    /// (or of a device checkpoint, which starts with one).
    ///
    /// # Errors
    /// [`SnapshotError::Truncated`] if `bytes` is shorter than the header,
    /// [`SnapshotError::BadMagic`] if it does not start with [`MAGIC`].
    pub fn read(bytes: &[u8]) -> Result<Self, SnapshotError> {
        let head = bytes.get(..Self::LEN).ok_or(SnapshotError::Truncated)?;
        let mut words = head.chunks_exact(4).map(le_word);
        let mut next = || words.next().unwrap_or(0);
        if next() != u32::from_le_bytes(MAGIC) {
            return Err(SnapshotError::BadMagic);
        }
        // The version word: format in the low half, protocol in the high.
        let version = next();
        Ok(SnapshotShape {
            format_version: version as u16,
            protocol_version: (version >> 16) as u16,
            n: next(),
            k: next(),
            d: next(),
        })
    }
}

/// A little-endian word from the first four bytes of `bytes` (0 if fewer).
fn le_word(bytes: &[u8]) -> u32 {
    bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// Calls `f(index, word)` for the words of `item`, which starts at stream
/// word `base`, whose index lies in `range`.
fn emit_range<W: Words>(
    item: &W,
    base: usize,
    range: core::ops::Range<usize>,
    f: &mut impl FnMut(usize, u32),
) {
    let mut index = base;
    item.words(&mut |word| {
        if range.contains(&index) {
            f(index, word);
        }
        index += 1;
    });
}

/// Overwrites the words of `item` (starting at stream word `base`) that
/// `bytes` holds; `bytes` is whole words starting at stream word `first`.
fn absorb_range<W: Words>(item: &mut W, base: usize, first: usize, bytes: &[u8]) {
    let mut index = base;
    item.words_mut(&mut |word| {
        if let Some(offset) = index.checked_sub(first) {
            if let Some(b) = bytes.get(offset * 4..offset * 4 + 4) {
                *word = le_word(b);
            }
        }
        index += 1;
    });
}

/// Calls `f(index, word)` for every stream word with index in `range`,
/// which must end at or before the CRC word.
fn emit_words<const K: usize, const D: usize>(
    header: &Header,
    state: &FilterState<K>,
    particles: &[Particle<K, D>],
    range: core::ops::Range<usize>,
    f: &mut impl FnMut(usize, u32),
) {
    let layout = Layout::new(particles.len(), K, D);
    emit_range(header, 0, range.clone(), f);
    emit_range(state, HEADER_WORDS, range.clone(), f);
    let from = range.start.saturating_sub(layout.particles_start) / layout.particle;
    for (i, particle) in particles.iter().enumerate().skip(from) {
        let base = layout.particles_start + i * layout.particle;
        if base >= range.end {
            break;
        }
        emit_range(particle, base, range.clone(), f);
    }
}

/// Writes bytes `offset..offset + out.len()` of the snapshot (clipped to
/// its end) into `out`; returns how many.
fn write_stream<const K: usize, const D: usize>(
    particles: &[Particle<K, D>],
    state: &FilterState<K>,
    rng_state: &[u8; RNG_STATE_LEN],
    offset: usize,
    out: &mut [u8],
) -> usize {
    let layout = Layout::new(particles.len(), K, D);
    let end = layout.bytes().min(offset.saturating_add(out.len()));
    if offset >= end {
        return 0;
    }
    let header = Header::new::<K, D>(particles.len(), rng_state);
    let mut put = |index: usize, word: u32| {
        for (i, byte) in word.to_le_bytes().into_iter().enumerate() {
            let at = index * 4 + i;
            if let Some(slot) = at.checked_sub(offset).and_then(|o| out.get_mut(o)) {
                *slot = byte;
            }
        }
    };
    let words = offset / 4..end.div_ceil(4);
    let crc_index = layout.crc_index();
    emit_words(
        &header,
        state,
        particles,
        words.start..words.end.min(crc_index),
        &mut put,
    );
    if words.end > crc_index {
        // The CRC needs every byte before it: one more pass over the state.
        let mut digest = CRC.digest();
        emit_words(&header, state, particles, 0..crc_index, &mut |_, word| {
            digest.update(&word.to_le_bytes());
        });
        put(crc_index, digest.finalize());
    }
    end - offset
}

/// Why a snapshot was refused. Unless stated otherwise the filter being
/// restored is untouched.
///
/// # Examples
/// ```
/// use hsmoe_core::snapshot::SnapshotError;
/// assert_eq!(SnapshotError::Shape.to_string(), "snapshot has other N, K or D");
/// ```
///
/// It travels in [`Response::RestoreRefused`](crate::protocol::Response::RestoreRefused),
/// so its variants are append-only like the protocol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SnapshotError {
    /// The stream does not start with [`MAGIC`]: not a snapshot.
    BadMagic,
    /// Another [`FORMAT_VERSION`] or [`PROTOCOL_VERSION`].
    Version,
    /// The snapshot is of a filter with another `N`, `K` or `D`.
    Shape,
    /// The settings in the snapshot are invalid (see
    /// [`Config::validate`]).
    Invalid,
    /// The CRC does not match: the bytes were damaged.
    Crc,
    /// A chunk starts after the next byte expected, at `expected`. Nothing
    /// was consumed; send the chunk at `expected`.
    OutOfOrder {
        /// The offset of the next byte the restorer needs.
        expected: usize,
    },
    /// A chunk runs past the end of the snapshot: the stream is longer
    /// than this filter's snapshot.
    TooLong,
    /// The stream ended before the snapshot was complete.
    Truncated,
    /// The write pass's bytes differ from the verified ones. The particles
    /// were partly overwritten: the filter reports
    /// [`Error::Uninitialized`](crate::Error::Uninitialized) until a
    /// restore completes or it is reset.
    CommitFailed,
}

impl SnapshotError {
    /// A short, static description, for logs and `Display`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(hsmoe_core::snapshot::SnapshotError::Crc.as_str(), "snapshot CRC mismatch");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            SnapshotError::BadMagic => "not a snapshot",
            SnapshotError::Version => "snapshot of another format or protocol version",
            SnapshotError::Shape => "snapshot has other N, K or D",
            SnapshotError::Invalid => "snapshot settings are invalid",
            SnapshotError::Crc => "snapshot CRC mismatch",
            SnapshotError::OutOfOrder { .. } => "snapshot chunk out of order",
            SnapshotError::TooLong => "snapshot chunk past the end",
            SnapshotError::Truncated => "snapshot incomplete",
            SnapshotError::CommitFailed => "snapshot changed between passes",
        }
    }
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for SnapshotError {}

/// Which reading of the stream a [`Restorer`] is in (also on the wire, in
/// [`Response::RestoreNext`](crate::protocol::Response::RestoreNext)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Pass {
    /// Checking only; the filter is not touched.
    Verify,
    /// Writing the verified bytes into the filter.
    Write,
}

/// What a [`Restorer`] needs next, after a chunk was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Progress {
    /// Send the chunk that starts at `offset` of this pass.
    Next {
        /// The pass in progress.
        pass: Pass,
        /// Offset of the next byte needed.
        offset: usize,
    },
    /// The whole stream checked out; send it again from offset 0 to
    /// write it.
    Verified,
    /// The filter holds the snapshot's state; restart the caller's RNG
    /// from `rng_state` (e.g. with [`xorshift_from_state`]).
    Restored {
        /// The RNG state stored in the snapshot.
        rng_state: [u8; RNG_STATE_LEN],
    },
}

/// Restores a snapshot streamed in chunks, in two passes over the same
/// bytes (see the [module docs](self) for why, and the RAM it saves).
///
/// Chunks may have any size and must come in order; a chunk that repeats
/// bytes already consumed is accepted and its new bytes used, so a
/// resent chunk is harmless. After any error but
/// [`SnapshotError::OutOfOrder`] the restorer starts over at pass 1,
/// offset 0; an error after the write pass has overwritten a particle is
/// always [`SnapshotError::CommitFailed`].
///
/// # Examples
/// ```
/// use hsmoe_core::snapshot::{Pass, Progress, Restorer, SnapshotError};
/// use hsmoe_core::{Config, Filter};
/// use rand_core::SeedableRng;
///
/// let mut source: Filter<4, 2, 1> = Filter::new();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(1);
/// source.reset(&Config::default_for(1), &mut rng).unwrap();
/// let mut bytes = vec![0u8; Filter::<4, 2, 1>::SNAPSHOT_LEN];
/// source.write_snapshot(&[7; 16], 0, &mut bytes);
///
/// let mut target: Filter<4, 2, 1> = Filter::new();
/// let mut restorer = Restorer::new();
/// let first = restorer.push(&mut target.as_set(), 0, &bytes[..10]).unwrap();
/// assert_eq!(first, Progress::Next { pass: Pass::Verify, offset: 10 });
/// // A gap is refused without consuming anything.
/// assert_eq!(
///     restorer.push(&mut target.as_set(), 20, &bytes[20..]),
///     Err(SnapshotError::OutOfOrder { expected: 10 })
/// );
/// assert_eq!(restorer.push(&mut target.as_set(), 10, &bytes[10..]), Ok(Progress::Verified));
/// let done = restorer.push(&mut target.as_set(), 0, &bytes).unwrap();
/// assert_eq!(done, Progress::Restored { rng_state: [7; 16] });
/// assert_eq!(format!("{:?}", target.particles()), format!("{:?}", source.particles()));
/// ```
pub struct Restorer<const K: usize, const D: usize> {
    pass: Pass,
    /// Bytes of the current pass consumed so far.
    pos: usize,
    /// The bytes of the word at `pos / 4` received so far.
    carry: [u8; 4],
    digest: Digest<'static, u32>,
    /// The CRC word read from the stream.
    stream_crc: u32,
    /// The CRC the verify pass computed and accepted.
    verified_crc: u32,
    /// Whether the write pass has overwritten any particle.
    dirty: bool,
    header: Header,
    state: FilterState<K>,
}

impl<const K: usize, const D: usize> fmt::Debug for Restorer<K, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Restorer")
            .field("pass", &self.pass)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl<const K: usize, const D: usize> Default for Restorer<K, D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize, const D: usize> Restorer<K, D> {
    /// A restorer waiting for byte 0 of the verify pass.
    pub const fn new() -> Self {
        Restorer {
            pass: Pass::Verify,
            pos: 0,
            carry: [0; 4],
            digest: CRC.digest(),
            stream_crc: 0,
            verified_crc: 0,
            dirty: false,
            header: Header::ZERO,
            state: FilterState::new(Config::default_for(D)),
        }
    }

    /// The pass in progress and the offset of the next byte it needs.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::snapshot::{Pass, Restorer};
    /// assert_eq!(Restorer::<2, 2>::new().position(), (Pass::Verify, 0));
    /// ```
    pub fn position(&self) -> (Pass, usize) {
        (self.pass, self.pos)
    }

    /// The CRC word of the stream the verify pass accepted, while the
    /// write pass is pending or in progress; `None` before.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::snapshot::Restorer;
    /// assert_eq!(Restorer::<2, 2>::new().verified_crc(), None);
    /// ```
    pub fn verified_crc(&self) -> Option<u32> {
        (self.pass == Pass::Write).then_some(self.verified_crc)
    }

    /// Feeds the bytes `chunk` found at `offset` of the stream into the
    /// current pass. `target` is only read during [`Pass::Verify`].
    ///
    /// # Errors
    /// The [`SnapshotError`] variants as documented on each; header, size
    /// and settings errors are reported as soon as their bytes arrive.
    pub fn push(
        &mut self,
        target: &mut ParticleSet<'_, K, D>,
        offset: usize,
        chunk: &[u8],
    ) -> Result<Progress, SnapshotError> {
        let layout = Layout::new(target.particles().len(), K, D);
        let skip = self
            .pos
            .checked_sub(offset)
            .ok_or(SnapshotError::OutOfOrder { expected: self.pos })?;
        let fresh = chunk.get(skip..).unwrap_or(&[]);
        let (fresh, excess) = fresh.split_at(fresh.len().min(layout.bytes() - self.pos));
        let result = self.consume(target, layout, fresh).and_then(|()| {
            if !excess.is_empty() {
                Err(SnapshotError::TooLong)
            } else if self.pos == layout.bytes() {
                self.finish(target)
            } else {
                Ok(Progress::Next {
                    pass: self.pass,
                    offset: self.pos,
                })
            }
        });
        result.map_err(|error| {
            // Once a particle is overwritten, any failure is a failed commit.
            let error = if self.dirty {
                SnapshotError::CommitFailed
            } else {
                error
            };
            *self = Self::new();
            error
        })
    }

    /// Consumes `fresh`, which starts at `self.pos` and fits in the stream.
    fn consume(
        &mut self,
        target: &mut ParticleSet<'_, K, D>,
        layout: Layout,
        mut fresh: &[u8],
    ) -> Result<(), SnapshotError> {
        let covered = (layout.crc_index() * 4).saturating_sub(self.pos);
        self.digest.update(fresh.get(..covered).unwrap_or(fresh));
        // Finish the word split over the previous chunk boundary.
        let partial = self.pos % 4;
        if partial != 0 {
            let take = (4 - partial).min(fresh.len());
            let (head, rest) = fresh.split_at(take);
            self.carry[partial..partial + take].copy_from_slice(head);
            self.pos += take;
            fresh = rest;
            if self.pos % 4 == 0 {
                let word = self.carry;
                self.apply(target, layout, self.pos / 4 - 1, &word)?;
            }
        }
        let whole = fresh.len() / 4 * 4;
        let (words, rest) = fresh.split_at(whole);
        if !words.is_empty() {
            self.apply(target, layout, self.pos / 4, words)?;
            self.pos += whole;
        }
        self.carry[..rest.len()].copy_from_slice(rest);
        self.pos += rest.len();
        Ok(())
    }

    /// Takes in whole words: `bytes` holds stream words from `first` on.
    fn apply(
        &mut self,
        target: &mut ParticleSet<'_, K, D>,
        layout: Layout,
        first: usize,
        bytes: &[u8],
    ) -> Result<(), SnapshotError> {
        let end = first + bytes.len() / 4;
        let covers = |index: usize| (first..end).contains(&index);
        if first < HEADER_WORDS {
            absorb_range(&mut self.header, 0, first, bytes);
            if covers(HEADER_WORDS - 1) {
                self.header.check::<K, D>(layout.n)?;
            }
        }
        if first < layout.particles_start && end > HEADER_WORDS {
            absorb_range(&mut self.state, HEADER_WORDS, first, bytes);
            if covers(layout.particles_start - 1) && self.state.config().validate(D).is_err() {
                return Err(SnapshotError::Invalid);
            }
        }
        if self.pass == Pass::Write && end > layout.particles_start {
            let (particles, state) = target.storage_mut();
            if !self.dirty {
                // From here until the commit the storage is a mix of two
                // states: make the filter refuse to run on it.
                *state = FilterState::new(*state.config());
                self.dirty = true;
            }
            let from = first.saturating_sub(layout.particles_start) / layout.particle;
            for (i, particle) in particles.iter_mut().enumerate().skip(from) {
                let base = layout.particles_start + i * layout.particle;
                if base >= end {
                    break;
                }
                absorb_range(particle, base, first, bytes);
            }
        }
        if covers(layout.crc_index()) {
            let at = (layout.crc_index() - first) * 4;
            self.stream_crc = le_word(bytes.get(at..).unwrap_or(&[]));
        }
        Ok(())
    }

    /// Ends a pass whose last byte has been consumed.
    fn finish(&mut self, target: &mut ParticleSet<'_, K, D>) -> Result<Progress, SnapshotError> {
        let computed = core::mem::replace(&mut self.digest, CRC.digest()).finalize();
        match self.pass {
            Pass::Verify if computed == self.stream_crc => {
                self.verified_crc = computed;
                self.pass = Pass::Write;
                self.pos = 0;
                Ok(Progress::Verified)
            }
            Pass::Verify => Err(SnapshotError::Crc),
            Pass::Write if computed == self.stream_crc && computed == self.verified_crc => {
                *target.storage_mut().1 = self.state;
                let rng_state = self.header.rng_state();
                *self = Self::new();
                Ok(Progress::Restored { rng_state })
            }
            Pass::Write => Err(SnapshotError::CommitFailed),
        }
    }
}

impl<const K: usize, const D: usize> ParticleSet<'_, K, D> {
    /// Length in bytes of this set's snapshot ([`snapshot_len`]).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::{Config, FilterState, Particle, ParticleSet};
    /// let mut particles = [Particle::<2, 3>::ZERO; 5];
    /// let (mut weights, mut counts) = ([0.0; 5], [0; 5]);
    /// let mut state = FilterState::new(Config::default_for(3));
    /// let set = ParticleSet::new(&mut particles, &mut weights, &mut counts, &mut state).unwrap();
    /// assert_eq!(set.snapshot_len(), hsmoe_core::snapshot::snapshot_len(5, 2, 3));
    /// ```
    pub fn snapshot_len(&self) -> usize {
        snapshot_len(self.particles().len(), K, D)
    }

    /// Writes bytes `offset..offset + out.len()` of the snapshot (clipped
    /// to its end) into `out` and returns how many; 0 past the end. The
    /// caller supplies its RNG state (e.g. [`xorshift_state`]).
    ///
    /// Each call re-derives its bytes from the live state, so chunks may
    /// be requested in any order or again; the CRC chunk walks the whole
    /// state once. The filter must not step between the chunks of one
    /// snapshot, or the CRC will not match and a restore will refuse it.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::{snapshot::MAGIC, Config, FilterState, Particle, ParticleSet};
    /// let mut particles = [Particle::<1, 1>::ZERO; 2];
    /// let (mut weights, mut counts) = ([0.0; 2], [0; 2]);
    /// let mut state = FilterState::new(Config::default_for(1));
    /// let set = ParticleSet::new(&mut particles, &mut weights, &mut counts, &mut state).unwrap();
    /// let mut head = [0u8; 6];
    /// assert_eq!(set.write_snapshot(&[0; 16], 0, &mut head), 6);
    /// assert_eq!(head[..4], MAGIC);
    /// assert_eq!(set.write_snapshot(&[0; 16], set.snapshot_len(), &mut head), 0);
    /// ```
    pub fn write_snapshot(
        &self,
        rng_state: &[u8; RNG_STATE_LEN],
        offset: usize,
        out: &mut [u8],
    ) -> usize {
        write_stream(self.particles(), self.state(), rng_state, offset, out)
    }

    /// Restores a whole snapshot held in memory: both passes of a
    /// [`Restorer`]. Returns the RNG state stored in it.
    ///
    /// # Errors
    /// As [`Restorer::push`], and [`SnapshotError::Truncated`] if `bytes`
    /// ends early; in every case the set is untouched.
    ///
    /// # Examples
    /// See the [module docs](self).
    pub fn restore_snapshot(&mut self, bytes: &[u8]) -> Result<[u8; RNG_STATE_LEN], SnapshotError> {
        let mut restorer = Restorer::<K, D>::new();
        if restorer.push(self, 0, bytes)? != Progress::Verified {
            return Err(SnapshotError::Truncated);
        }
        match restorer.push(self, 0, bytes)? {
            Progress::Restored { rng_state } => Ok(rng_state),
            // Unreachable: the same bytes just verified in full.
            _ => Err(SnapshotError::Truncated),
        }
    }
}

impl<const N: usize, const K: usize, const D: usize> Filter<N, K, D> {
    /// Length in bytes of this filter's snapshot ([`snapshot_len`]), for
    /// sizing buffers at compile time.
    pub const SNAPSHOT_LEN: usize = snapshot_len(N, K, D);

    /// See [`ParticleSet::write_snapshot`].
    ///
    /// # Examples
    /// See the [module docs](self).
    pub fn write_snapshot(
        &self,
        rng_state: &[u8; RNG_STATE_LEN],
        offset: usize,
        out: &mut [u8],
    ) -> usize {
        write_stream(self.particles(), self.state(), rng_state, offset, out)
    }

    /// See [`ParticleSet::restore_snapshot`].
    ///
    /// # Errors
    /// As [`ParticleSet::restore_snapshot`].
    ///
    /// # Examples
    /// See the [module docs](self).
    pub fn restore_snapshot(&mut self, bytes: &[u8]) -> Result<[u8; RNG_STATE_LEN], SnapshotError> {
        self.as_set().restore_snapshot(bytes)
    }
}

/// First word of the link trailer of a checkpoint: the bytes `HSML`.
pub const LINK_MAGIC: [u8; 4] = *b"HSML";

/// Bytes of the link trailer: magic, `last_seq` flag and value,
/// rejected count, seed (two words), CRC.
pub const LINK_STATE_LEN: usize = 28;

/// What a device's link must carry over a checkpoint besides the filter,
/// so that a restored device resumes exactly where the original stopped:
/// it absorbs `last_seq + 1` next, answers `Status` with the original
/// run's totals and `Config` with its seed.
///
/// # Device checkpoints
/// A device checkpoint (the stream of `Request::Snapshot`, and the
/// checkpoint file of `hsmoe run --checkpoint`) is the snapshot of the
/// [module docs](self) followed by this trailer, seven little-endian
/// words ([`LINK_STATE_LEN`] bytes): [`LINK_MAGIC`], `last_seq` present
/// (0 or 1), `last_seq` (0 if absent), `rejected`, `seed` (low, high),
/// and a CRC-32C of the snapshot's CRC word followed by the six words
/// before it. The snapshot's CRC word binds the trailer to its snapshot:
/// a trailer pasted after another snapshot is refused
/// ([`SnapshotError::Crc`]). [`checkpoint_len`] gives the length;
/// [`Filter::write_checkpoint`] writes it, a [`CheckpointRestorer`]
/// restores it.
///
/// # Examples
/// ```
/// use hsmoe_core::snapshot::{LinkState, SnapshotError};
/// let link = LinkState { last_seq: Some(41), rejected: 2, seed: 7 };
/// let bytes = link.to_bytes(0xDEAD_BEEF);
/// assert_eq!(LinkState::from_bytes(&bytes, 0xDEAD_BEEF), Ok(link));
/// assert_eq!(LinkState::from_bytes(&bytes, 0xDEAD_BEEE), Err(SnapshotError::Crc));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LinkState {
    /// The last `seq` answered with an `Update` or a final `Reject`.
    pub last_seq: Option<u32>,
    /// Observations refused with a final `Reject`.
    pub rejected: u32,
    /// Seed of the run (its `Reset`).
    pub seed: u64,
}

impl LinkState {
    /// The state of a link that has not seen an observation since a
    /// `Reset { seed }`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::snapshot::LinkState;
    /// assert_eq!(LinkState::new(3), LinkState { last_seq: None, rejected: 0, seed: 3 });
    /// ```
    pub const fn new(seed: u64) -> Self {
        LinkState {
            last_seq: None,
            rejected: 0,
            seed,
        }
    }

    /// The six words before the CRC.
    fn words(&self) -> [u32; 6] {
        [
            u32::from_le_bytes(LINK_MAGIC),
            u32::from(self.last_seq.is_some()),
            self.last_seq.unwrap_or(0),
            self.rejected,
            self.seed as u32,
            (self.seed >> 32) as u32,
        ]
    }

    /// The CRC of the trailer: over `snapshot_crc`, then `words`.
    fn crc(snapshot_crc: u32, words: &[u32; 6]) -> u32 {
        let mut digest = CRC.digest();
        digest.update(&snapshot_crc.to_le_bytes());
        for word in words {
            digest.update(&word.to_le_bytes());
        }
        digest.finalize()
    }

    /// The trailer that follows a snapshot whose CRC word is
    /// `snapshot_crc`.
    ///
    /// # Examples
    /// See [`LinkState`].
    pub fn to_bytes(&self, snapshot_crc: u32) -> [u8; LINK_STATE_LEN] {
        let words = self.words();
        let mut bytes = [0u8; LINK_STATE_LEN];
        let crc = Self::crc(snapshot_crc, &words);
        for (out, word) in bytes.chunks_exact_mut(4).zip(words.iter().chain([&crc])) {
            out.copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// Reads a trailer that follows a snapshot whose CRC word is
    /// `snapshot_crc`.
    ///
    /// # Errors
    /// [`SnapshotError::BadMagic`] without [`LINK_MAGIC`],
    /// [`SnapshotError::Crc`] if the CRC does not match (damage, or a
    /// trailer of another snapshot), [`SnapshotError::Invalid`] if the
    /// `last_seq` flag is neither 0 nor 1.
    ///
    /// # Examples
    /// See [`LinkState`].
    pub fn from_bytes(
        bytes: &[u8; LINK_STATE_LEN],
        snapshot_crc: u32,
    ) -> Result<LinkState, SnapshotError> {
        let mut words = [0u32; 7];
        for (word, b) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = le_word(b);
        }
        let [magic, has_last, last, rejected, seed_low, seed_high, crc] = words;
        let body = [magic, has_last, last, rejected, seed_low, seed_high];
        if magic != u32::from_le_bytes(LINK_MAGIC) {
            return Err(SnapshotError::BadMagic);
        }
        if crc != Self::crc(snapshot_crc, &body) {
            return Err(SnapshotError::Crc);
        }
        let last_seq = match has_last {
            0 => None,
            1 => Some(last),
            _ => return Err(SnapshotError::Invalid),
        };
        Ok(LinkState {
            last_seq,
            rejected,
            seed: u64::from(seed_low) | u64::from(seed_high) << 32,
        })
    }
}

/// Length in bytes of a device checkpoint (snapshot and link trailer, see
/// [`LinkState`]) of a filter with `n` particles, `k` experts and `d`
/// features.
///
/// # Examples
/// ```
/// use hsmoe_core::snapshot::{checkpoint_len, snapshot_len, LINK_STATE_LEN};
/// assert_eq!(checkpoint_len(128, 4, 4), snapshot_len(128, 4, 4) + LINK_STATE_LEN);
/// assert_eq!(checkpoint_len(128, 4, 4), 146_576);
/// ```
pub const fn checkpoint_len(n: usize, k: usize, d: usize) -> usize {
    snapshot_len(n, k, d) + LINK_STATE_LEN
}

/// Writes bytes `offset..offset + out.len()` of a device checkpoint
/// (clipped to its end) into `out`; returns how many.
fn write_checkpoint_stream<const K: usize, const D: usize>(
    particles: &[Particle<K, D>],
    state: &FilterState<K>,
    rng_state: &[u8; RNG_STATE_LEN],
    link: &LinkState,
    offset: usize,
    out: &mut [u8],
) -> usize {
    let core_len = snapshot_len(particles.len(), K, D);
    let end = (core_len + LINK_STATE_LEN).min(offset.saturating_add(out.len()));
    if offset >= end {
        return 0;
    }
    write_stream(particles, state, rng_state, offset, out);
    if end > core_len {
        let mut crc = [0u8; 4];
        write_stream(particles, state, rng_state, core_len - 4, &mut crc);
        let trailer = link.to_bytes(u32::from_le_bytes(crc));
        let from = offset.max(core_len);
        if let (Some(dst), Some(src)) = (
            out.get_mut(from - offset..end - offset),
            trailer.get(from - core_len..end - core_len),
        ) {
            dst.copy_from_slice(src);
        }
    }
    end - offset
}

impl<const N: usize, const K: usize, const D: usize> Filter<N, K, D> {
    /// Length in bytes of this filter's device checkpoint
    /// ([`checkpoint_len`]).
    pub const CHECKPOINT_LEN: usize = checkpoint_len(N, K, D);

    /// Writes bytes `offset..offset + out.len()` of the device checkpoint
    /// (the snapshot, then `link`'s trailer; clipped to its end) into
    /// `out` and returns how many; 0 past the end. As
    /// [`write_snapshot`](Self::write_snapshot), chunks may come in any
    /// order, and the filter must not step between them.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::snapshot::{CheckpointProgress, CheckpointRestorer, LinkState};
    /// use hsmoe_core::{Config, Filter};
    /// use rand_core::SeedableRng;
    ///
    /// let mut filter: Filter<4, 2, 2> = Filter::new();
    /// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(9);
    /// filter.reset(&Config::default_for(2), &mut rng).unwrap();
    /// let link = LinkState { last_seq: Some(0), rejected: 0, seed: 9 };
    /// let mut bytes = vec![0u8; Filter::<4, 2, 2>::CHECKPOINT_LEN];
    /// for (i, chunk) in bytes.chunks_mut(128).enumerate() {
    ///     filter.write_checkpoint(&[1; 16], &link, i * 128, chunk);
    /// }
    ///
    /// let mut target: Filter<4, 2, 2> = Filter::new();
    /// let mut restorer = CheckpointRestorer::new();
    /// let pass1 = restorer.push(&mut target.as_set(), 0, &bytes).unwrap();
    /// assert_eq!(pass1, CheckpointProgress::Verified);
    /// let pass2 = restorer.push(&mut target.as_set(), 0, &bytes).unwrap();
    /// assert_eq!(pass2, CheckpointProgress::Restored { rng_state: [1; 16], link });
    /// ```
    pub fn write_checkpoint(
        &self,
        rng_state: &[u8; RNG_STATE_LEN],
        link: &LinkState,
        offset: usize,
        out: &mut [u8],
    ) -> usize {
        write_checkpoint_stream(self.particles(), self.state(), rng_state, link, offset, out)
    }
}

/// What a [`CheckpointRestorer`] needs next, after a chunk was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CheckpointProgress {
    /// Send the chunk that starts at `offset` of this pass.
    Next {
        /// The pass in progress.
        pass: Pass,
        /// Offset of the next byte needed.
        offset: usize,
    },
    /// The whole checkpoint (snapshot and trailer) checked out; send it
    /// again from offset 0 to write it.
    Verified,
    /// The filter holds the checkpoint's state; restart the caller's RNG
    /// from `rng_state` and its link from `link`.
    Restored {
        /// The RNG state stored in the snapshot.
        rng_state: [u8; RNG_STATE_LEN],
        /// The link state stored in the trailer.
        link: LinkState,
    },
}

/// Restores a device checkpoint (snapshot and link trailer, see
/// [`LinkState`]) streamed in chunks: a [`Restorer`] for the snapshot
/// plus the trailer, which is read and checked in the verify pass only
/// (the write pass ends with the snapshot; trailer bytes sent in it are
/// ignored). The same rules as [`Restorer`]: chunks of any size, in
/// order, repeats harmless; after any error but
/// [`SnapshotError::OutOfOrder`] it starts over.
///
/// # Examples
/// See [`Filter::write_checkpoint`].
#[derive(Debug, Default)]
pub struct CheckpointRestorer<const K: usize, const D: usize> {
    inner: Restorer<K, D>,
    trailer: [u8; LINK_STATE_LEN],
    /// Trailer bytes received in the verify pass.
    trailer_pos: usize,
    /// The verified trailer, once the verify pass is complete.
    link: Option<LinkState>,
}

impl<const K: usize, const D: usize> CheckpointRestorer<K, D> {
    /// A restorer waiting for byte 0 of the verify pass.
    pub const fn new() -> Self {
        CheckpointRestorer {
            inner: Restorer::new(),
            trailer: [0; LINK_STATE_LEN],
            trailer_pos: 0,
            link: None,
        }
    }

    /// The pass in progress and the offset of the next byte it needs, for
    /// a snapshot of `snapshot_len` bytes.
    fn position(&self, snapshot_len: usize) -> (Pass, usize) {
        match (self.inner.position(), self.link) {
            ((Pass::Write, pos), Some(_)) => (Pass::Write, pos),
            ((Pass::Write, _), None) => (Pass::Verify, snapshot_len + self.trailer_pos),
            (verify, _) => verify,
        }
    }

    /// Feeds the bytes `chunk` found at `offset` of the checkpoint into
    /// the current pass. `target` is only read during [`Pass::Verify`].
    ///
    /// # Errors
    /// As [`Restorer::push`]; a bad trailer is [`SnapshotError::BadMagic`],
    /// [`SnapshotError::Crc`] or [`SnapshotError::Invalid`] (see
    /// [`LinkState::from_bytes`]), with the filter untouched.
    pub fn push(
        &mut self,
        target: &mut ParticleSet<'_, K, D>,
        offset: usize,
        chunk: &[u8],
    ) -> Result<CheckpointProgress, SnapshotError> {
        let result = self.consume(target, offset, chunk);
        if matches!(result, Err(error) if !matches!(error, SnapshotError::OutOfOrder { .. })) {
            *self = Self::new();
        }
        result
    }

    fn consume(
        &mut self,
        target: &mut ParticleSet<'_, K, D>,
        offset: usize,
        chunk: &[u8],
    ) -> Result<CheckpointProgress, SnapshotError> {
        let core_len = target.snapshot_len();
        let (core, tail) = chunk.split_at(core_len.saturating_sub(offset).min(chunk.len()));
        let (pass, pos) = self.position(core_len);
        if let Some(link) = self.link {
            // Write pass: the snapshot only.
            if core.is_empty() {
                return Ok(CheckpointProgress::Next { pass, offset: pos });
            }
            return match self.inner.push(target, offset, core)? {
                Progress::Next { pass, offset } => Ok(CheckpointProgress::Next { pass, offset }),
                Progress::Restored { rng_state } => {
                    *self = Self::new();
                    Ok(CheckpointProgress::Restored { rng_state, link })
                }
                // A write pass never ends in `Verified`.
                Progress::Verified => Err(SnapshotError::CommitFailed),
            };
        }
        if pos < core_len {
            if core.is_empty() {
                return Err(SnapshotError::OutOfOrder { expected: pos });
            }
            match self.inner.push(target, offset, core)? {
                Progress::Verified => {}
                progress @ (Progress::Next { .. } | Progress::Restored { .. }) => {
                    return match progress {
                        Progress::Next { pass, offset } => {
                            Ok(CheckpointProgress::Next { pass, offset })
                        }
                        // A verify pass never restores.
                        _ => Err(SnapshotError::CommitFailed),
                    };
                }
            }
        }
        // The trailer, in the verify pass; snapshot bytes repeated in the
        // chunk were verified already.
        let start = offset.max(core_len);
        let expected = core_len + self.trailer_pos;
        let skip = expected
            .checked_sub(start)
            .ok_or(SnapshotError::OutOfOrder { expected })?;
        let fresh = tail.get(skip..).unwrap_or(&[]);
        let slot = self
            .trailer
            .get_mut(self.trailer_pos..self.trailer_pos + fresh.len())
            .ok_or(SnapshotError::TooLong)?;
        slot.copy_from_slice(fresh);
        self.trailer_pos += fresh.len();
        if self.trailer_pos < LINK_STATE_LEN {
            return Ok(CheckpointProgress::Next {
                pass: Pass::Verify,
                offset: core_len + self.trailer_pos,
            });
        }
        let snapshot_crc = self.inner.verified_crc().ok_or(SnapshotError::Truncated)?;
        self.link = Some(LinkState::from_bytes(&self.trailer, snapshot_crc)?);
        Ok(CheckpointProgress::Verified)
    }
}

/// The 16-byte state of an [`XorShiftRng`]: its words `x, y, z, w`,
/// little-endian, read through its `serde` implementation (the crate has
/// no accessor). [`xorshift_from_state`] is the inverse.
///
/// # Examples
/// ```
/// use hsmoe_core::snapshot::xorshift_state;
/// use rand_core::SeedableRng;
/// let seed = [3u8; 16];
/// let rng = rand_xorshift::XorShiftRng::from_seed(seed);
/// assert_eq!(xorshift_state(&rng), seed); // from_seed stores the seed as the state
/// ```
pub fn xorshift_state(rng: &XorShiftRng) -> [u8; RNG_STATE_LEN] {
    // postcard writes the four u32 fields as varints (≤ 5 bytes each) and
    // reads them back as a [u32; 4]; neither step can fail here.
    let mut buf = [0u8; 20];
    let words: [u32; 4] = postcard::to_slice(rng, &mut buf)
        .ok()
        .and_then(|bytes| postcard::from_bytes(bytes).ok())
        .unwrap_or_default();
    let mut state = [0u8; RNG_STATE_LEN];
    for (bytes, word) in state.chunks_exact_mut(4).zip(words) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    state
}

/// The [`XorShiftRng`] whose state is `state` (as from [`xorshift_state`]).
///
/// # Examples
/// ```
/// use hsmoe_core::snapshot::{xorshift_from_state, xorshift_state};
/// use rand_core::{RngCore, SeedableRng};
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(11);
/// rng.next_u32();
/// let mut copy = xorshift_from_state(&xorshift_state(&rng));
/// assert_eq!(copy.next_u64(), rng.next_u64());
/// ```
pub fn xorshift_from_state(state: &[u8; RNG_STATE_LEN]) -> XorShiftRng {
    // from_seed stores the seed as the state (an all-zero one, which
    // xorshift never reaches, would be replaced by a fixed constant).
    rand_core::SeedableRng::from_seed(*state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count<W: Words>(item: &W) -> usize {
        let mut n = 0;
        item.words(&mut |_| n += 1);
        n
    }

    /// The layout constants agree with the field lists.
    #[test]
    fn word_counts_match_the_layout() {
        assert_eq!(count(&Particle::<3, 4>::ZERO), particle_words(3, 4));
        assert_eq!(count(&Particle::<1, 1>::ZERO), particle_words(1, 1));
        assert_eq!(
            count(&FilterState::<5>::new(Config::default_for(2))),
            state_words(5)
        );
        assert_eq!(count(&Header::ZERO), HEADER_WORDS);
        // A particle is all f32: its snapshot is its memory image less
        // the K scratch terms.
        assert_eq!(
            (particle_words(3, 4) + 3) * 4,
            core::mem::size_of::<Particle<3, 4>>()
        );
    }

    fn to_words<W: Words>(item: &W) -> Vec<u32> {
        let mut words = Vec::new();
        item.words(&mut |w| words.push(w));
        words
    }

    fn from_words<W: Words>(item: &mut W, words: &[u32]) {
        let mut source = words.iter();
        item.words_mut(&mut |w| *w = *source.next().unwrap());
        assert!(source.next().is_none());
    }

    /// The RAM the module docs promise for the restorer.
    #[test]
    fn a_restorer_is_small() {
        let size = core::mem::size_of::<Restorer<4, 4>>();
        assert!(size <= 128 + 8 * 4, "{size} bytes");
    }

    /// A filter with some history, and its checkpoint with `link`.
    fn checkpointed(link: &LinkState) -> (Box<Filter<4, 2, 2>>, Vec<u8>) {
        use rand_core::SeedableRng;
        let mut filter: Box<Filter<4, 2, 2>> = Box::default();
        let mut rng = XorShiftRng::seed_from_u64(21);
        filter.reset(&Config::default_for(2), &mut rng).unwrap();
        for t in 0..20 {
            let x = t as f32 / 10.0 - 1.0;
            filter.observe(&[1.0, x], 2.0 * x, &mut rng).unwrap();
        }
        let mut bytes = vec![0u8; Filter::<4, 2, 2>::CHECKPOINT_LEN];
        filter.write_checkpoint(&xorshift_state(&rng), link, 0, &mut bytes);
        (filter, bytes)
    }

    /// Every bit a filter carries between steps (its snapshot).
    fn image(filter: &Filter<4, 2, 2>) -> Vec<u8> {
        let mut bytes = vec![0u8; Filter::<4, 2, 2>::SNAPSHOT_LEN];
        filter.write_snapshot(&[0; 16], 0, &mut bytes);
        bytes
    }

    const LINK: LinkState = LinkState {
        last_seq: Some(19),
        rejected: 1,
        seed: 0x0123_4567_89AB_CDEF,
    };

    /// Streams `bytes` twice in chunks of `size`, following the
    /// restorer's requests; returns the result of the last chunk.
    fn restore_in_chunks(
        target: &mut Filter<4, 2, 2>,
        bytes: &[u8],
        size: usize,
    ) -> Result<CheckpointProgress, SnapshotError> {
        let mut restorer = CheckpointRestorer::<2, 2>::new();
        let mut offset = 0;
        for _ in 0..2 * bytes.len() + 2 {
            let chunk = &bytes[offset..(offset + size).min(bytes.len())];
            match restorer.push(&mut target.as_set(), offset, chunk)? {
                CheckpointProgress::Next { offset: next, .. } => offset = next,
                CheckpointProgress::Verified => offset = 0,
                done @ CheckpointProgress::Restored { .. } => return Ok(done),
            }
        }
        Err(SnapshotError::Truncated)
    }

    #[test]
    fn a_checkpoint_round_trips_in_any_chunk_size() {
        let (source, bytes) = checkpointed(&LINK);
        // Chunked writing gives the same bytes as one call.
        let mut chunked = vec![0u8; bytes.len()];
        for (i, chunk) in chunked.chunks_mut(128).enumerate() {
            source.write_checkpoint(&[0; 16], &LINK, i * 128, chunk);
        }
        let rng_state = bytes[20..36].try_into().unwrap();
        let mut expected = chunked.clone();
        source.write_checkpoint(&rng_state, &LINK, 0, &mut expected);
        assert_eq!(expected, bytes);
        for size in [1, 3, 128, bytes.len()] {
            let mut target: Filter<4, 2, 2> = Filter::new();
            let done = restore_in_chunks(&mut target, &bytes, size).unwrap();
            assert_eq!(
                done,
                CheckpointProgress::Restored {
                    rng_state,
                    link: LINK
                },
                "chunks of {size}"
            );
            assert_eq!(image(&target), image(&source), "chunks of {size}");
        }
    }

    #[test]
    fn a_damaged_or_foreign_trailer_is_refused_with_the_filter_untouched() {
        let (_, bytes) = checkpointed(&LINK);
        let (_, other) = checkpointed(&LinkState::new(5));
        let trailer = bytes.len() - LINK_STATE_LEN;
        let mut flipped = bytes.clone();
        flipped[trailer + 9] ^= 0x01;
        let mut magic = bytes.clone();
        magic[trailer] ^= 0x80;
        // A valid trailer of another checkpoint of the same filter state
        // but another link state: its CRC is bound to the same snapshot,
        // so it is accepted; one of another snapshot is not.
        let (mut stepped, _) = checkpointed(&LINK);
        let mut rng = XorShiftRng::from_seed([3; 16]);
        stepped.observe(&[1.0, 0.5], 1.0, &mut rng).unwrap();
        let mut foreign_bytes = vec![0u8; bytes.len()];
        stepped.write_checkpoint(&[3; 16], &LINK, 0, &mut foreign_bytes);
        let mut foreign = bytes.clone();
        foreign[trailer..].copy_from_slice(&foreign_bytes[trailer..]);
        use rand_core::SeedableRng as _;
        for (bad, error) in [
            (&flipped, SnapshotError::Crc),
            (&magic, SnapshotError::BadMagic),
            (&foreign, SnapshotError::Crc),
        ] {
            let (mut target, _) = checkpointed(&LINK);
            let before = format!("{:?}", target.particles());
            assert_eq!(restore_in_chunks(&mut target, bad, 128), Err(error));
            assert_eq!(format!("{:?}", target.particles()), before);
        }
        let mut target: Filter<4, 2, 2> = Filter::new();
        assert!(matches!(
            restore_in_chunks(&mut target, &other, 100),
            Ok(CheckpointProgress::Restored { link, .. }) if link == LinkState::new(5)
        ));
        // Truncated: the restorer keeps asking for the rest of the trailer.
        let mut restorer = CheckpointRestorer::<2, 2>::new();
        let short = &bytes[..bytes.len() - 1];
        assert_eq!(
            restorer.push(&mut target.as_set(), 0, short),
            Ok(CheckpointProgress::Next {
                pass: Pass::Verify,
                offset: bytes.len() - 1
            })
        );
        // Too long.
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            CheckpointRestorer::<2, 2>::new().push(&mut target.as_set(), 0, &long),
            Err(SnapshotError::TooLong)
        );
    }

    #[test]
    fn lost_and_repeated_checkpoint_chunks_are_repaired() {
        let (source, bytes) = checkpointed(&LINK);
        let mut target: Filter<4, 2, 2> = Filter::new();
        let mut restorer = CheckpointRestorer::<2, 2>::new();
        let set = &mut target.as_set();
        let len = bytes.len();
        let core = len - LINK_STATE_LEN;
        // A gap in the trailer.
        assert!(restorer.push(set, 0, &bytes[..core + 4]).is_ok());
        assert_eq!(
            restorer.push(set, core + 8, &bytes[core + 8..]),
            Err(SnapshotError::OutOfOrder { expected: core + 4 })
        );
        // A repeat across the snapshot's end, then the rest.
        assert_eq!(
            restorer.push(set, core - 8, &bytes[core - 8..]),
            Ok(CheckpointProgress::Verified)
        );
        // Write pass: a stray trailer chunk asks for the right offset.
        assert_eq!(
            restorer.push(set, core, &bytes[core..]),
            Ok(CheckpointProgress::Next {
                pass: Pass::Write,
                offset: 0
            })
        );
        assert!(matches!(
            restorer.push(set, 0, &bytes),
            Ok(CheckpointProgress::Restored { link: LINK, .. })
        ));
        assert_eq!(image(&target), image(&source));
    }

    /// NaN payloads, signed zeros and subnormals survive the round trip.
    #[test]
    fn scalars_round_trip_bit_for_bit() {
        for bits in [0x7fc0_1234u32, 0x8000_0000, 1, f32::INFINITY.to_bits()] {
            let mut back = 0.0f32;
            from_words(&mut back, &to_words(&f32::from_bits(bits)));
            assert_eq!(back.to_bits(), bits);
        }
        let value = -1.234_567_890_123e-300f64;
        assert_eq!(to_words(&value).len(), 2);
        let mut back = 0.0f64;
        from_words(&mut back, &to_words(&value));
        assert_eq!(back.to_bits(), value.to_bits());
        let mut flag = false;
        from_words(&mut flag, &to_words(&true));
        assert!(flag);
    }
}
