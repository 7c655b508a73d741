//! Writing the snapshot stream in chunks, straight from the live filter.

use crate::crc::CRC;
use crate::dims::{Const, Experts, Features};
use crate::expert::Expert;
use crate::filter::{Filter, FilterState, ParticleSet};
use crate::particle::Particle;

use super::layout::{emit_range, snapshot_len, Header, Layout, HEADER_WORDS, RNG_STATE_LEN};

/// Calls `f(index, word)` for every stream word with index in `range`,
/// which must end at or before the CRC word.
fn emit_words<const K: usize, const D: usize, E: Expert<D>>(
    header: &Header,
    state: &FilterState<K>,
    particles: &[Particle<K, D, E>],
    range: core::ops::Range<usize>,
    f: &mut impl FnMut(usize, u32),
) where
    Const<K>: Experts,
    Const<D>: Features,
{
    let layout = Layout::new(particles.len(), K, D, E::FAMILY);
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
pub(super) fn write_stream<const K: usize, const D: usize, E: Expert<D>>(
    particles: &[Particle<K, D, E>],
    state: &FilterState<K>,
    rng_state: &[u8; RNG_STATE_LEN],
    offset: usize,
    out: &mut [u8],
) -> usize
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let layout = Layout::new(particles.len(), K, D, E::FAMILY);
    let end = layout.bytes().min(offset.saturating_add(out.len()));
    if offset >= end {
        return 0;
    }
    let header = Header::new::<K, D, E>(particles.len(), rng_state);
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

impl<const K: usize, const D: usize, E: Expert<D>> ParticleSet<'_, K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    /// Length in bytes of this set's snapshot ([`snapshot_len`]).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::{Config, FilterState, Particle, ParticleSet};
    /// let mut particles = [Particle::<2, 3>::ZERO; 5];
    /// let (mut weights, mut counts) = ([0.0; 5], [0; 5]);
    /// let mut state = FilterState::new(Config::default_for(3));
    /// let set = ParticleSet::new(&mut particles, &mut weights, &mut counts, &mut state).unwrap();
    /// let len = hsmoe_core::snapshot::snapshot_len(5, 2, 3, hsmoe_core::expert::Family::Gaussian);
    /// assert_eq!(set.snapshot_len(), len);
    /// ```
    pub fn snapshot_len(&self) -> usize {
        snapshot_len(self.particles().len(), K, D, E::FAMILY)
    }

    /// Writes bytes `offset..offset + out.len()` of the snapshot (clipped
    /// to its end) into `out` and returns how many; 0 past the end. The
    /// caller supplies its RNG state (e.g. [`xorshift_state`](super::xorshift_state)).
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
}

impl<const N: usize, const K: usize, const D: usize, E: Expert<D>> Filter<N, K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    /// Length in bytes of this filter's snapshot ([`snapshot_len`]), for
    /// sizing buffers at compile time.
    pub const SNAPSHOT_LEN: usize = snapshot_len(N, K, D, E::FAMILY);

    /// See [`ParticleSet::write_snapshot`].
    ///
    /// # Examples
    /// See the [module docs](crate::snapshot).
    pub fn write_snapshot(
        &self,
        rng_state: &[u8; RNG_STATE_LEN],
        offset: usize,
        out: &mut [u8],
    ) -> usize {
        write_stream(self.particles(), self.state(), rng_state, offset, out)
    }
}
