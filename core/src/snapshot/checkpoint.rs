//! Device checkpoints: the snapshot followed by the link's trailer.

use crate::crc::CRC;
use crate::dims::{Const, Experts, Features};
use crate::expert::{Expert, Family, Gaussian};
use crate::filter::{Filter, FilterState, ParticleSet};
use crate::particle::Particle;
use crate::words::le_word;

use super::layout::{snapshot_len, RNG_STATE_LEN};
use super::restore::{RestoreProgress, Restorer};
use super::wire::{Pass, SnapshotError};
use super::write::write_stream;

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
/// [module docs](crate::snapshot) followed by this trailer, seven little-endian
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
/// [`LinkState`]) of a filter with `n` particles, `k` experts of `family`
/// and `d` features.
///
/// # Examples
/// ```
/// use hsmoe_core::expert::Family::Gaussian;
/// use hsmoe_core::snapshot::{checkpoint_len, snapshot_len, LINK_STATE_LEN};
/// assert_eq!(checkpoint_len(128, 4, 4, Gaussian), snapshot_len(128, 4, 4, Gaussian) + LINK_STATE_LEN);
/// assert_eq!(checkpoint_len(128, 4, 4, Gaussian), 76_440);
/// ```
pub const fn checkpoint_len(n: usize, k: usize, d: usize, family: Family) -> usize {
    snapshot_len(n, k, d, family) + LINK_STATE_LEN
}

/// Writes bytes `offset..offset + out.len()` of a device checkpoint
/// (clipped to its end) into `out`; returns how many.
fn write_checkpoint_stream<const K: usize, const D: usize, E: Expert<D>>(
    particles: &[Particle<K, D, E>],
    state: &FilterState<K>,
    rng_state: &[u8; RNG_STATE_LEN],
    link: &LinkState,
    offset: usize,
    out: &mut [u8],
) -> usize
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let core_len = snapshot_len(particles.len(), K, D, E::FAMILY);
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

impl<const N: usize, const K: usize, const D: usize, E: Expert<D>> Filter<N, K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    /// Length in bytes of this filter's device checkpoint
    /// ([`checkpoint_len`]).
    pub const CHECKPOINT_LEN: usize = checkpoint_len(N, K, D, E::FAMILY);

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
#[derive(Debug)]
pub struct CheckpointRestorer<const K: usize, const D: usize, E = Gaussian<D>>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    inner: Restorer<K, D, E>,
    trailer: [u8; LINK_STATE_LEN],
    /// Trailer bytes received in the verify pass.
    trailer_pos: usize,
    /// The verified trailer, once the verify pass is complete.
    link: Option<LinkState>,
}

impl<const K: usize, const D: usize, E: Expert<D>> Default for CheckpointRestorer<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize, const D: usize, E: Expert<D>> CheckpointRestorer<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
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
        target: &mut ParticleSet<'_, K, D, E>,
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
        target: &mut ParticleSet<'_, K, D, E>,
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
                RestoreProgress::Next { pass, offset } => {
                    Ok(CheckpointProgress::Next { pass, offset })
                }
                RestoreProgress::Restored { rng_state } => {
                    *self = Self::new();
                    Ok(CheckpointProgress::Restored { rng_state, link })
                }
                // A write pass never ends in `Verified`.
                RestoreProgress::Verified => Err(SnapshotError::CommitFailed),
            };
        }
        if pos < core_len {
            if core.is_empty() {
                return Err(SnapshotError::OutOfOrder { expected: pos });
            }
            match self.inner.push(target, offset, core)? {
                RestoreProgress::Verified => {}
                progress @ (RestoreProgress::Next { .. } | RestoreProgress::Restored { .. }) => {
                    return match progress {
                        RestoreProgress::Next { pass, offset } => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{xorshift_state, SnapshotShape};
    use crate::Config;
    use rand_xorshift::XorShiftRng;

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
        let rng_state = bytes[SnapshotShape::LEN..SnapshotShape::LEN + RNG_STATE_LEN]
            .try_into()
            .unwrap();
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
}
