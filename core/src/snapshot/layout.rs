//! Where each part of the snapshot stream lies: the header, the word
//! counts of the state and of a particle, and the word visitors that
//! walk a range of the stream.

use crate::dims::{Const, Experts, Features};
use crate::expert::{Expert, Family};
#[cfg(test)]
use crate::filter::FilterState;
use crate::gate::Stick;
use crate::horseshoe::GlobalScale;
use crate::particle::Particle;
use crate::version::{FORMAT_VERSION, PROTOCOL_VERSION};
use crate::words::{impl_words, le_word, Words};
use crate::Config;

use super::wire::SnapshotError;

/// First word of every snapshot: the bytes `HSMS`.
pub const MAGIC: [u8; 4] = *b"HSMS";

/// Bytes of RNG state carried in the header (xorshift128's four words).
pub const RNG_STATE_LEN: usize = 16;

/// Words of the fixed header: magic, versions, `N`, `K`, `D`, the
/// experts' family tag, RNG state.
pub(super) const HEADER_WORDS: usize = 6 + RNG_STATE_LEN / 4;

/// Words of one particle: `K` experts ([`Family::expert_words`]), per
/// stick (`K − 1` of them) a packed triangle `T = D(D+1)/2` and `4D`, the
/// two global scales and the carried log weight.
const fn particle_words(k: usize, d: usize, family: Family) -> usize {
    let triangle = d * (d + 1) / 2;
    k * family.expert_words(d) + (k - 1) * (triangle + 4 * d) + 3
}

/// Words of the [`FilterState`]: seven of `Config`, ready, steps, an `f64`
/// log marginal, `K` `f64` allocation sums, repairs.
const fn state_words(k: usize) -> usize {
    12 + 2 * k
}

/// Length in bytes of the snapshot of a filter with `n` particles, `k`
/// experts of `family` and `d` features.
///
/// # Examples
/// ```
/// use hsmoe_core::expert::{Bernoulli, Family};
/// use hsmoe_core::{snapshot::snapshot_len, Filter};
/// assert_eq!(snapshot_len(128, 4, 4, Family::Gaussian), Filter::<128, 4, 4>::SNAPSHOT_LEN);
/// assert_eq!(snapshot_len(128, 4, 4, Family::Gaussian), 76_412);
/// assert_eq!(
///     snapshot_len(128, 4, 4, Family::Bernoulli),
///     Filter::<128, 4, 4, Bernoulli<4>>::SNAPSHOT_LEN
/// );
/// assert_eq!(snapshot_len(1, 1, 1, Family::Gaussian), 4 * (10 + 14 + 8 + 1));
/// ```
pub const fn snapshot_len(n: usize, k: usize, d: usize, family: Family) -> usize {
    Layout::new(n, k, d, family).words() * 4
}

/// Where each part of the stream starts, in words.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    pub(super) n: usize,
    pub(super) particle: usize,
    pub(super) particles_start: usize,
}

impl Layout {
    pub(super) const fn new(n: usize, k: usize, d: usize, family: Family) -> Self {
        Layout {
            n,
            particle: particle_words(k, d, family),
            particles_start: HEADER_WORDS + state_words(k),
        }
    }

    pub(super) const fn crc_index(&self) -> usize {
        self.particles_start + self.n * self.particle
    }

    pub(super) const fn words(&self) -> usize {
        self.crc_index() + 1
    }

    pub(super) const fn bytes(&self) -> usize {
        self.words() * 4
    }
}

impl_words!([] Config { v0, a0, b0, s0, refresh_every, gate_intercept, resample_ess });
impl_words!([] GlobalScale { tau2, xi });
impl_words!([const D: usize] Stick<D> where [Const<D>: Features] { logistic, lambda2, nu });

// By hand, since `sticks` is an array of derived length (seen as a slice);
// `alloc_weights` is step scratch (see the module docs).
impl<const K: usize, const D: usize, E: Expert<D>> Words for Particle<K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    fn words(&self, f: &mut impl FnMut(u32)) {
        self.experts.words(f);
        self.sticks().iter().for_each(|stick| stick.words(f));
        self.global.words(f);
        self.ln_weight.words(f);
    }
    fn words_mut(&mut self, f: &mut impl FnMut(&mut u32)) {
        self.experts.words_mut(f);
        self.sticks_mut()
            .iter_mut()
            .for_each(|stick| stick.words_mut(f));
        self.global.words_mut(f);
        self.ln_weight.words_mut(f);
    }
}

/// The fixed header, as words.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    magic: u32,
    version: u32,
    n: u32,
    k: u32,
    d: u32,
    family: u32,
    rng: [u32; RNG_STATE_LEN / 4],
}

impl_words!([] Header { magic, version, n, k, d, family, rng });

/// The version word: format in the low half, protocol in the high half.
const VERSION_WORD: u32 = FORMAT_VERSION as u32 | (PROTOCOL_VERSION as u32) << 16;

impl Header {
    pub(super) const ZERO: Self = Header {
        magic: 0,
        version: 0,
        n: 0,
        k: 0,
        d: 0,
        family: 0,
        rng: [0; RNG_STATE_LEN / 4],
    };

    pub(super) fn new<const K: usize, const D: usize, E: Expert<D>>(
        n: usize,
        rng_state: &[u8; RNG_STATE_LEN],
    ) -> Self
    where
        Const<D>: Features,
    {
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
            family: E::TAG,
            rng,
        }
    }

    pub(super) fn rng_state(&self) -> [u8; RNG_STATE_LEN] {
        let mut state = [0u8; RNG_STATE_LEN];
        for (bytes, word) in state.chunks_exact_mut(4).zip(&self.rng) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        state
    }

    /// Checks this header against the storage it is to be restored into.
    pub(super) fn check<const K: usize, const D: usize, E: Expert<D>>(
        &self,
        n: usize,
    ) -> Result<(), SnapshotError>
    where
        Const<D>: Features,
    {
        if self.magic != u32::from_le_bytes(MAGIC) {
            Err(SnapshotError::BadMagic)
        } else if self.version != VERSION_WORD {
            Err(SnapshotError::Version)
        } else if (self.n as usize, self.k as usize, self.d as usize) != (n, K, D) {
            Err(SnapshotError::Shape)
        } else if self.family != E::TAG {
            Err(SnapshotError::Family)
        } else {
            Ok(())
        }
    }
}

/// What a snapshot's header declares: its versions and the `N`, `K`, `D`
/// and expert family of the filter it was taken from. A host reads it to name a mismatch
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
/// let mut head = [0u8; SnapshotShape::LEN];
/// filter.write_snapshot(&xorshift_state(&rng), 0, &mut head);
/// let shape = SnapshotShape::read(&head).unwrap();
/// assert_eq!((shape.n, shape.k, shape.d), (8, 2, 3));
/// assert_eq!(shape.family(), Some(hsmoe_core::expert::Family::Gaussian));
/// assert_eq!(shape.format_version, FORMAT_VERSION);
/// assert!(SnapshotShape::read(&head[..SnapshotShape::LEN - 1]).is_err());
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
    /// The experts' [`Expert::TAG`]: family and fixed parameters.
    pub family_tag: u32,
}

impl SnapshotShape {
    /// Bytes of the header it is read from: magic, versions, `N`, `K`,
    /// `D`, family tag.
    pub const LEN: usize = 24;

    /// The experts' family, if the tag names one.
    pub fn family(&self) -> Option<Family> {
        Family::from_tag(self.family_tag)
    }

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
            family_tag: next(),
        })
    }
}

/// Calls `f(index, word)` for the words of `item`, which starts at stream
/// word `base`, whose index lies in `range`.
pub(super) fn emit_range<W: Words>(
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
pub(super) fn absorb_range<W: Words>(item: &mut W, base: usize, first: usize, bytes: &[u8]) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expert::{Bernoulli, Gaussian, Student};

    fn count<W: Words>(item: &W) -> usize {
        let mut n = 0;
        item.words(&mut |_| n += 1);
        n
    }

    /// The layout constants agree with the field lists.
    #[test]
    fn word_counts_match_the_layout() {
        assert_eq!(
            count(&Particle::<3, 4>::ZERO),
            particle_words(3, 4, Family::Gaussian)
        );
        assert_eq!(
            count(&Particle::<1, 1>::ZERO),
            particle_words(1, 1, Family::Gaussian)
        );
        assert_eq!(
            count(&FilterState::<5>::new(Config::default_for(2))),
            state_words(5)
        );
        assert_eq!(count(&Header::ZERO), HEADER_WORDS);
        // A particle is all f32: its snapshot is its memory image less
        // the K scratch terms.
        assert_eq!(
            (particle_words(3, 4, Family::Gaussian) + 3) * 4,
            core::mem::size_of::<Particle<3, 4>>()
        );
    }

    /// Each family's word list, its memory image and
    /// [`Family::expert_words`] agree.
    #[test]
    fn every_family_is_its_expert_words() {
        fn check<const D: usize, E: Expert<D>>()
        where
            Const<D>: Features,
        {
            let words = E::FAMILY.expert_words(D);
            assert_eq!(count(&E::ZERO), words, "{}", E::FAMILY);
            assert_eq!(core::mem::size_of::<E>(), 4 * words, "{}", E::FAMILY);
            assert_eq!(
                count(&Particle::<3, D, E>::ZERO),
                particle_words(3, D, E::FAMILY)
            );
        }
        check::<1, Gaussian<1>>();
        check::<4, Gaussian<4>>();
        check::<1, Bernoulli<1>>();
        check::<5, Bernoulli<5>>();
        check::<1, Student<1>>();
        check::<6, Student<6, 2>>();
    }
}
