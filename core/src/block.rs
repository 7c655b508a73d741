//! The block window move: rejuvenation in bounded memory, for a device
//! that keeps no stream (docs/model.md §4, "Window move").
//!
//! The stream is cut into blocks of `W` observations. Each particle keeps
//! a *frozen* copy of itself as it stood before the current block (a
//! companion that follows it through resampling and repairs,
//! [`ParticleSet::observe_with`]), and the block's rows are kept once for
//! all particles. When a block is full, every particle makes `S` Gibbs
//! sweeps over it from its frozen statistics
//! ([`rejuvenate::sweep_block`]), which redraw the block's allocations
//! and `ω` with everything before the block held fixed; then the frozen
//! copies catch up and the next block starts.
//!
//! Memory: one particle per particle more, plus `W·(D + 1)` words. Work:
//! `S` particle-observations of sweep per particle per step, amortized.

use crate::dims::{Const, Experts, Features};
use crate::expert::{Expert, Gaussian};
use crate::filter::{ParticleSet, Update};
use crate::particle::Particle;
use crate::posterior::checked_features;
use crate::rejuvenate;
use crate::Error;
use rand_core::RngCore;

/// One observation `(x, y)` of the current block.
pub type Row<const D: usize> = ([f32; D], f32);

/// Where the current block stands and what the moves did.
///
/// # Examples
/// ```
/// let state = hsmoe_core::block::BlockState::new(2);
/// assert_eq!((state.sweeps(), state.filled(), state.moves(), state.failed()), (2, 0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockState {
    sweeps: u32,
    filled: u32,
    started: bool,
    moves: u32,
    failed: u32,
}

impl BlockState {
    /// `sweeps` sweeps per particle at the end of every block; not started.
    pub const fn new(sweeps: u32) -> Self {
        BlockState {
            sweeps,
            filled: 0,
            started: false,
            moves: 0,
            failed: 0,
        }
    }

    /// Sweeps per particle per block.
    pub fn sweeps(&self) -> u32 {
        self.sweeps
    }

    /// Rows of the current block so far.
    pub fn filled(&self) -> u32 {
        self.filled
    }

    /// Blocks moved so far.
    pub fn moves(&self) -> u32 {
        self.moves
    }

    /// Particle sweeps that failed (each left its particle as it was and
    /// ended that particle's sweeps of the block).
    pub fn failed(&self) -> u32 {
        self.failed
    }
}

/// The window move over borrowed storage: one frozen particle per
/// particle, the rows of the current block (`W = rows.len()`), the state.
///
/// # Examples
/// ```
/// use hsmoe_core::block::{BlockMove, BlockState, Row};
/// use hsmoe_core::{Config, FilterState, Particle, ParticleSet};
/// use rand_core::SeedableRng;
/// let config = Config::default_for(2);
/// let mut particles = [Particle::<2, 2>::ZERO; 10];
/// let (mut weights, mut counts) = ([0.0; 10], [0; 10]);
/// let mut state = FilterState::new(config);
/// let mut set = ParticleSet::new(&mut particles, &mut weights, &mut counts, &mut state).unwrap();
/// let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(3);
/// set.reset(&config, &mut rng).unwrap();
///
/// let mut frozen = [Particle::<2, 2>::ZERO; 10];
/// let mut rows: [Row<2>; 4] = [([0.0; 2], 0.0); 4];
/// let mut block = BlockState::new(1);
/// let mut moves = BlockMove::new(&mut frozen, &mut rows, &mut block).unwrap();
/// moves.start(&set).unwrap();
/// for t in 0..10 {
///     let x = [1.0, t as f32 / 10.0];
///     moves.observe(&mut set, &x, 0.5 * x[1], &mut rng).unwrap();
/// }
/// assert_eq!((block.moves(), block.filled()), (2, 2)); // after rows 4 and 8
/// ```
pub struct BlockMove<'a, const K: usize, const D: usize, E = Gaussian<D>>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    frozen: &'a mut [Particle<K, D, E>],
    rows: &'a mut [Row<D>],
    state: &'a mut BlockState,
}

impl<'a, const K: usize, const D: usize, E> BlockMove<'a, K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    /// Borrows the storage: `frozen` needs one slot per particle of the
    /// set it will follow, `rows` at least one (its length is `W`).
    ///
    /// # Errors
    /// [`Error::WrongLength`] for no rows or more than `u32::MAX`.
    pub fn new(
        frozen: &'a mut [Particle<K, D, E>],
        rows: &'a mut [Row<D>],
        state: &'a mut BlockState,
    ) -> Result<Self, Error> {
        if rows.is_empty() || u32::try_from(rows.len()).is_err() {
            return Err(Error::WrongLength);
        }
        Ok(BlockMove {
            frozen,
            rows,
            state,
        })
    }

    /// Starts an empty block at the particles of `set` as they stand
    /// (after a reset or a restore); the counters are kept.
    ///
    /// # Errors
    /// [`Error::WrongLength`] unless there is one frozen slot per
    /// particle (nothing changed).
    pub fn start(&mut self, set: &ParticleSet<'_, K, D, E>) -> Result<(), Error> {
        let particles = set.particles();
        if particles.len() != self.frozen.len() {
            return Err(Error::WrongLength);
        }
        self.frozen.copy_from_slice(particles);
        self.state.filled = 0;
        self.state.started = true;
        Ok(())
    }

    /// One particle-learning step ([`ParticleSet::observe`]) with the
    /// frozen copies following their particles; if the row completes the
    /// block, every particle of positive weight makes the block's sweeps
    /// and the next block starts.
    ///
    /// # Errors
    /// As [`ParticleSet::observe_with`] (the row is then not kept), and
    /// [`Error::Uninitialized`] before [`BlockMove::start`].
    pub fn observe<R: RngCore + ?Sized>(
        &mut self,
        set: &mut ParticleSet<'_, K, D, E>,
        x: &[f32],
        y: f32,
        rng: &mut R,
    ) -> Result<Update<K>, Error> {
        if !self.state.started {
            return Err(Error::Uninitialized);
        }
        let update = set.observe_with(x, y, self.frozen, rng)?;
        let filled = self.state.filled as usize;
        // `observe_with` accepted x, so it has D finite entries.
        self.rows[filled] = (checked_features(x)?, y);
        self.state.filled += 1;
        if filled + 1 == self.rows.len() {
            self.move_block(set, rng);
        }
        Ok(update)
    }

    fn move_block<R: RngCore + ?Sized>(&mut self, set: &mut ParticleSet<'_, K, D, E>, rng: &mut R) {
        let (particles, state) = set.storage_mut();
        let config = *state.config();
        for (particle, frozen) in particles.iter_mut().zip(self.frozen.iter_mut()) {
            // A particle of weight 0 (only when steps may skip resampling)
            // has no say in any posterior summary: moving it is wasted work.
            if particle.weight() > 0.0 {
                for _ in 0..self.state.sweeps {
                    let swept =
                        rejuvenate::sweep_block(particle, frozen, &*self.rows, None, &config, rng);
                    if swept.is_err() {
                        self.state.failed += 1;
                        break;
                    }
                }
            }
            *frozen = *particle;
        }
        self.state.filled = 0;
        self.state.moves += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Filter};
    use rand_core::SeedableRng;
    use rand_xorshift::XorShiftRng;

    /// Observations allocated to each expert: `2(a_k − a0)`.
    fn counts<const K: usize>(particle: &Particle<K, 2>, a0: f32) -> [f32; K]
    where
        Const<K>: Experts,
    {
        particle.experts().map(|e| 2.0 * (e.shape() - a0))
    }

    #[test]
    fn frozen_copies_follow_their_particles() {
        // A particle is its frozen copy plus the rows of the current
        // block, so no expert can hold fewer observations than in the
        // frozen copy, and the difference adds up to the block's rows; a
        // copy left behind by resampling (with or without weights carried
        // over steps) or by a sweep breaks that.
        for resample_ess in [1.0, 0.5] {
            let config = Config {
                resample_ess,
                ..Config::default_for(2)
            };
            let mut filter: Filter<40, 3, 2> = Filter::new();
            let mut rng = XorShiftRng::seed_from_u64(9);
            let mut set = filter.as_set();
            set.reset(&config, &mut rng).unwrap();
            let mut frozen = [Particle::ZERO; 40];
            let mut rows = [([0.0; 2], 0.0); 5];
            let mut state = BlockState::new(2);
            let mut moves = BlockMove::new(&mut frozen, &mut rows, &mut state).unwrap();
            moves.start(&set).unwrap();
            for t in 0..60 {
                let x = [1.0, libm::sinf(t as f32)];
                let y = if x[1] > 0.0 { 2.0 * x[1] } else { -1.0 };
                moves.observe(&mut set, &x, y, &mut rng).unwrap();
                let filled = moves.state.filled() as f32;
                for (particle, base) in set.particles().iter().zip(moves.frozen.iter()) {
                    let (now, then) = (counts(particle, config.a0), counts(base, config.a0));
                    let added: f32 = now.iter().zip(&then).map(|(a, b)| a - b).sum();
                    assert!(now.iter().zip(&then).all(|(a, b)| a >= b), "t = {t}");
                    assert!(
                        (added - filled).abs() < 1e-3,
                        "t = {t}: {added} vs {filled}"
                    );
                }
            }
            assert_eq!((state.moves(), state.failed()), (12, 0));
        }
    }

    #[test]
    fn a_block_move_needs_a_start_and_matching_sizes() {
        let config = Config::default_for(2);
        let mut filter: Filter<4, 2, 2> = Filter::new();
        let mut rng = XorShiftRng::seed_from_u64(1);
        let mut set = filter.as_set();
        set.reset(&config, &mut rng).unwrap();
        let (mut frozen, mut rows) = ([Particle::ZERO; 3], [([0.0; 2], 0.0); 2]);
        let mut state = BlockState::new(1);
        let mut moves = BlockMove::new(&mut frozen, &mut rows, &mut state).unwrap();
        let before = *set.state();
        assert_eq!(
            moves.observe(&mut set, &[1.0, 0.0], 0.0, &mut rng).err(),
            Some(Error::Uninitialized)
        );
        assert_eq!(moves.start(&set), Err(Error::WrongLength));
        assert_eq!(*set.state(), before);
        assert!(BlockMove::<2, 2>::new(&mut [], &mut [], &mut state).is_err());
    }
}
