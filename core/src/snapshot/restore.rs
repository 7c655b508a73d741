//! Restoring a snapshot streamed in chunks, in two passes: verify, then
//! write into the live filter.

use core::fmt;

use ::crc::Digest;

use crate::crc::CRC;
use crate::dims::{Const, Experts, Features};
use crate::expert::{Expert, Gaussian};
use crate::filter::{Filter, FilterState, ParticleSet};
use crate::words::le_word;
use crate::Config;
use core::marker::PhantomData;

use super::layout::{absorb_range, Header, Layout, HEADER_WORDS, RNG_STATE_LEN};
use super::wire::{Pass, SnapshotError};

/// What a [`Restorer`] needs next, after a chunk was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RestoreProgress {
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
    /// from `rng_state` (e.g. with [`xorshift_from_state`](super::xorshift_from_state)).
    Restored {
        /// The RNG state stored in the snapshot.
        rng_state: [u8; RNG_STATE_LEN],
    },
}

/// Restores a snapshot streamed in chunks, in two passes over the same
/// bytes (see the [module docs](crate::snapshot) for why, and the RAM it saves).
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
/// use hsmoe_core::snapshot::{Pass, RestoreProgress, Restorer, SnapshotError};
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
/// assert_eq!(first, RestoreProgress::Next { pass: Pass::Verify, offset: 10 });
/// // A gap is refused without consuming anything.
/// assert_eq!(
///     restorer.push(&mut target.as_set(), 20, &bytes[20..]),
///     Err(SnapshotError::OutOfOrder { expected: 10 })
/// );
/// assert_eq!(restorer.push(&mut target.as_set(), 10, &bytes[10..]), Ok(RestoreProgress::Verified));
/// let done = restorer.push(&mut target.as_set(), 0, &bytes).unwrap();
/// assert_eq!(done, RestoreProgress::Restored { rng_state: [7; 16] });
/// assert_eq!(format!("{:?}", target.particles()), format!("{:?}", source.particles()));
/// ```
pub struct Restorer<const K: usize, const D: usize, E = Gaussian<D>>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
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
    /// The family the stream must be of.
    family: PhantomData<E>,
}

impl<const K: usize, const D: usize, E: Expert<D>> fmt::Debug for Restorer<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Restorer")
            .field("pass", &self.pass)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl<const K: usize, const D: usize, E: Expert<D>> Default for Restorer<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize, const D: usize, E: Expert<D>> Restorer<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
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
            family: PhantomData,
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
        target: &mut ParticleSet<'_, K, D, E>,
        offset: usize,
        chunk: &[u8],
    ) -> Result<RestoreProgress, SnapshotError> {
        let layout = Layout::new(target.particles().len(), K, D, E::FAMILY);
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
                Ok(RestoreProgress::Next {
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
        target: &mut ParticleSet<'_, K, D, E>,
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
        target: &mut ParticleSet<'_, K, D, E>,
        layout: Layout,
        first: usize,
        bytes: &[u8],
    ) -> Result<(), SnapshotError> {
        let end = first + bytes.len() / 4;
        let covers = |index: usize| (first..end).contains(&index);
        if first < HEADER_WORDS {
            absorb_range(&mut self.header, 0, first, bytes);
            if covers(HEADER_WORDS - 1) {
                self.header.check::<K, D, E>(layout.n)?;
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
    fn finish(
        &mut self,
        target: &mut ParticleSet<'_, K, D, E>,
    ) -> Result<RestoreProgress, SnapshotError> {
        let computed = core::mem::replace(&mut self.digest, CRC.digest()).finalize();
        match self.pass {
            Pass::Verify if computed == self.stream_crc => {
                self.verified_crc = computed;
                self.pass = Pass::Write;
                self.pos = 0;
                Ok(RestoreProgress::Verified)
            }
            Pass::Verify => Err(SnapshotError::Crc),
            Pass::Write if computed == self.stream_crc && computed == self.verified_crc => {
                *target.storage_mut().1 = self.state;
                let rng_state = self.header.rng_state();
                *self = Self::new();
                Ok(RestoreProgress::Restored { rng_state })
            }
            Pass::Write => Err(SnapshotError::CommitFailed),
        }
    }
}

impl<const K: usize, const D: usize, E: Expert<D>> ParticleSet<'_, K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    /// Restores a whole snapshot held in memory: both passes of a
    /// [`Restorer`]. Returns the RNG state stored in it.
    ///
    /// # Errors
    /// As [`Restorer::push`], and [`SnapshotError::Truncated`] if `bytes`
    /// ends early; in every case the set is untouched.
    ///
    /// # Examples
    /// See the [module docs](crate::snapshot).
    pub fn restore_snapshot(&mut self, bytes: &[u8]) -> Result<[u8; RNG_STATE_LEN], SnapshotError> {
        let mut restorer = Restorer::<K, D, E>::new();
        if restorer.push(self, 0, bytes)? != RestoreProgress::Verified {
            return Err(SnapshotError::Truncated);
        }
        match restorer.push(self, 0, bytes)? {
            RestoreProgress::Restored { rng_state } => Ok(rng_state),
            // Unreachable: the same bytes just verified in full.
            _ => Err(SnapshotError::Truncated),
        }
    }
}

impl<const N: usize, const K: usize, const D: usize, E: Expert<D>> Filter<N, K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    /// See [`ParticleSet::restore_snapshot`].
    ///
    /// # Errors
    /// As [`ParticleSet::restore_snapshot`].
    ///
    /// # Examples
    /// See the [module docs](crate::snapshot).
    pub fn restore_snapshot(&mut self, bytes: &[u8]) -> Result<[u8; RNG_STATE_LEN], SnapshotError> {
        self.as_set().restore_snapshot(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RAM the module docs promise for the restorer.
    #[test]
    fn a_restorer_is_small() {
        let size = core::mem::size_of::<Restorer<4, 4>>();
        assert!(size <= 128 + 8 * 4, "{size} bytes");
    }
}
