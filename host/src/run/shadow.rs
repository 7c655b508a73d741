//! A copy of the device's filter on the host, so that a checkpoint does
//! not have to cross the link.
//!
//! The device runs the `hsmoe-core` filter in f32 with a seeded xorshift
//! stream; the host runs the same code on the same rows in the same order
//! and gets the same bits (`tests/tests/firmware_qemu.rs` checks the
//! telemetry bit for bit). So the host can write the checkpoint stream
//! itself (docs/protocol.md §5) and only ask the device for the stream's
//! last [`TAIL`] bytes: the snapshot's CRC-32C, which covers every byte
//! of the filter and RNG state, and the link trailer, whose CRC binds it
//! to that snapshot. Equal tails mean equal streams (up to a CRC-32C
//! collision); a different tail, a size the host was not compiled for or
//! any disagreement with the device's answers sends the whole stream
//! over the link instead, and re-seeds the copy from it.
//!
//! Why: under QEMU the emulated UART moves one byte per event-loop turn,
//! so a 146 kB stream took seconds, longer than 100 rows of streaming.

use crate::engine::OwnedSet;
use crate::family::{self, Family};
use crate::link::HostResponse;
use hsmoe_core::protocol::{ConfigMsg, RejectMsg, Response, UpdateMsg};
use hsmoe_core::snapshot::{
    xorshift_from_state, xorshift_state, CheckpointProgress, CheckpointRestorer, LinkState,
    LINK_STATE_LEN,
};
use hsmoe_core::{Config, Const, Error, Experts, Features, ParticleSet};
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;

/// Bytes at the end of a checkpoint stream that identify it: the
/// snapshot's CRC word and the link trailer.
pub(super) const TAIL: usize = 4 + LINK_STATE_LEN;

/// The device's filter and link state, mirrored on the host.
pub(super) trait Shadow {
    /// Absorbs row `seq` as the device did, given the device's final
    /// answer to it. If the two disagree the copy is no longer trusted
    /// until the next [`restore`](Shadow::restore).
    fn absorb(&mut self, seq: u32, x: &[f32], y: f32, answer: &HostResponse);

    /// The device checkpoint stream of the current state, unless the copy
    /// is not trusted.
    fn checkpoint(&mut self) -> Option<Vec<u8>>;

    /// Takes the state of a checkpoint stream read from the device;
    /// `false` if it does not restore (the copy is then not trusted).
    fn restore(&mut self, checkpoint: &[u8]) -> bool;

    /// As the device's answer to `Resampling { ess_fraction }`, which the
    /// device accepted (the copy is not trusted if this one refuses).
    fn set_resample_ess(&mut self, ess_fraction: f32);
}

/// The copy for one `(K, D)`, with `N` particles on the heap.
struct Mirror<const K: usize, const D: usize>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    storage: OwnedSet<K, D>,
    rng: XorShiftRng,
    link: LinkState,
    /// Whether the copy is known to equal the device.
    trusted: bool,
}

impl<const K: usize, const D: usize> Mirror<K, D>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    /// `n` particles, not yet reset.
    fn empty(n: usize, seed: u64) -> Self {
        Mirror {
            storage: OwnedSet::new(n, Config::default_for(D)),
            rng: XorShiftRng::seed_from_u64(seed),
            link: LinkState::new(seed),
            trusted: true,
        }
    }

    fn set(&mut self) -> Option<ParticleSet<'_, K, D>> {
        self.storage.as_set().ok()
    }

    /// As the firmware's `Reset { seed }`: the default prior for `D`.
    fn reset(n: usize, seed: u64) -> Option<Box<dyn Shadow>> {
        let mut copy = Self::empty(n, seed);
        let config = Config::default_for(D);
        let mut rng = XorShiftRng::seed_from_u64(seed);
        copy.set()?.reset(&config, &mut rng).ok()?;
        copy.rng = rng;
        Some(Box::new(copy))
    }

    /// From a checkpoint stream (a `--resume` file).
    fn resume(n: usize, checkpoint: &[u8]) -> Option<Box<dyn Shadow>> {
        let mut copy = Self::empty(n, 0);
        copy.restore(checkpoint)
            .then(|| Box::new(copy) as Box<dyn Shadow>)
    }
}

impl<const K: usize, const D: usize> Shadow for Mirror<K, D>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    fn absorb(&mut self, seq: u32, x: &[f32], y: f32, answer: &HostResponse) {
        let mut rng = self.rng.clone();
        let Some(mut set) = self.set() else {
            self.trusted = false;
            return;
        };
        let result = set.observe(x, y, &mut rng);
        // The device's generator, as it stands after the step.
        self.rng = rng;
        self.link.last_seq = Some(seq);
        let agrees = match (result, answer) {
            (Ok(update), Response::Update(UpdateMsg { log_pred, .. })) => {
                update.log_pred.to_bits() == log_pred.to_bits()
            }
            // The device answers this without counting or remembering it.
            (Err(Error::Uninitialized), _) => false,
            (Err(_), Response::Reject(RejectMsg { .. })) => {
                self.link.rejected = self.link.rejected.wrapping_add(1);
                true
            }
            _ => false,
        };
        self.trusted &= agrees;
    }

    fn checkpoint(&mut self) -> Option<Vec<u8>> {
        if !self.trusted {
            return None;
        }
        let rng_state = xorshift_state(&self.rng);
        let set = self.set()?;
        let mut bytes = vec![0u8; set.snapshot_len()];
        set.write_snapshot(&rng_state, 0, &mut bytes);
        let crc = bytes[bytes.len() - 4..].try_into().map(u32::from_le_bytes);
        bytes.extend_from_slice(&self.link.to_bytes(crc.unwrap_or_default()));
        Some(bytes)
    }

    fn restore(&mut self, checkpoint: &[u8]) -> bool {
        let mut restorer = CheckpointRestorer::<K, D>::new();
        self.trusted = false;
        let Some(mut set) = self.set() else {
            return false;
        };
        let verified = restorer.push(&mut set, 0, checkpoint);
        let restored = restorer.push(&mut set, 0, checkpoint);
        match (verified, restored) {
            (
                Ok(CheckpointProgress::Verified),
                Ok(CheckpointProgress::Restored { rng_state, link }),
            ) => {
                self.rng = xorshift_from_state(&rng_state);
                self.link = link;
                self.trusted = true;
                true
            }
            _ => false,
        }
    }

    fn set_resample_ess(&mut self, ess_fraction: f32) {
        let accepted = self
            .set()
            .is_some_and(|mut set| set.set_resample_ess(ess_fraction).is_ok());
        self.trusted &= accepted;
    }
}

/// `$f::<K, D>(args)` for the runtime `(k, d)`, or `None` if the host is
/// not compiled for it (the sizes of the core engine, `crate::engine`).
macro_rules! dispatch {
    ($f:ident, $k:expr, $d:expr, $args:tt, K: [$($kk:literal),*], D: $ds:tt) => {
        match $k {
            $($kk => dispatch!(@d $f, $kk, $d, $args, $ds),)*
            _ => None,
        }
    };
    (@d $f:ident, $kk:literal, $d:expr, $args:tt, [$($dd:literal),*]) => {
        match $d {
            $($dd => Mirror::<$kk, $dd>::$f $args,)*
            _ => None,
        }
    };
}

/// `device`'s `(N, K, D)` if its experts are Gaussian: the only family
/// mirrored (each family would multiply the sizes compiled; the others'
/// checkpoints cross the link whole).
fn gaussian_sizes(device: &ConfigMsg) -> Option<(usize, usize, usize)> {
    (device.family_tag == family::tag(Family::Gaussian)).then_some((
        device.n as usize,
        device.k as usize,
        device.d as usize,
    ))
}

/// Declares the sizes once: the two constructors and, for a test, the
/// lists.
macro_rules! shadow_sizes {
    (K: $ks:tt, D: $ds:tt) => {
        /// Expert counts the shadow is compiled for.
        #[cfg(test)]
        const SHADOW_K: &[usize] = &$ks;
        /// Feature counts the shadow is compiled for.
        #[cfg(test)]
        const SHADOW_D: &[usize] = &$ds;

        /// A copy of `device` just after `Reset { seed }`, if the host is
        /// compiled for its `(K, D)` and its experts are Gaussian.
        pub(super) fn after_reset(device: &ConfigMsg, seed: u64) -> Option<Box<dyn Shadow>> {
            let (n, k, d) = gaussian_sizes(device)?;
            dispatch!(reset, k, d, (n, seed), K: $ks, D: $ds)
        }

        /// A copy of `device` restored from `checkpoint`, if the host is
        /// compiled for its `(K, D)`, its experts are Gaussian and the
        /// stream restores.
        pub(super) fn from_checkpoint(
            device: &ConfigMsg,
            checkpoint: &[u8],
        ) -> Option<Box<dyn Shadow>> {
            let (n, k, d) = gaussian_sizes(device)?;
            dispatch!(resume, k, d, (n, checkpoint), K: $ks, D: $ds)
        }
    };
}

shadow_sizes!(K: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], D: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16]);

#[cfg(test)]
mod tests {
    use super::*;
    use hsmoe_core::protocol::{GateVec, RejectReason};
    use hsmoe_core::snapshot::checkpoint_len;
    use hsmoe_core::Filter;

    #[test]
    fn the_shadow_covers_the_core_engine_sizes() {
        assert_eq!(SHADOW_K, crate::engine::CORE_K);
        assert_eq!(SHADOW_D, crate::engine::CORE_D);
    }

    /// The shadow's stream equals the firmware's (a `Filter` driven as
    /// `firmware/src/link.rs` drives it), and restores to the same state,
    /// with the default resampling rule and with a threshold set after
    /// the reset.
    #[test]
    fn the_shadow_writes_the_devices_checkpoint() {
        for threshold in [None, Some(0.5)] {
            writes_the_devices_checkpoint(threshold);
        }
    }

    fn writes_the_devices_checkpoint(resample_ess: Option<f32>) {
        const N: usize = 6;
        let mut device: Filter<N, 2, 3> = Filter::new();
        let mut rng = XorShiftRng::seed_from_u64(11);
        device.reset(&Config::default_for(3), &mut rng).unwrap();
        let mut shadow = after_reset(&device_config(N, 2, 3, Family::Gaussian), 11).unwrap();
        if let Some(ess_fraction) = resample_ess {
            device.set_resample_ess(ess_fraction).unwrap();
            shadow.set_resample_ess(ess_fraction);
        }
        for t in 0..20u32 {
            let x = [1.0, t as f32 / 7.0, -0.5];
            let y = (t % 3) as f32;
            let update = device.observe(&x, y, &mut rng).unwrap();
            let answer = Response::Update(UpdateMsg {
                seq: t,
                pred_mean: update.pred_mean,
                pred_var: update.pred_var,
                log_pred: update.log_pred,
                ess: update.ess,
                resampled: update.resampled,
                gate: GateVec::from_slice(&update.gate).unwrap(),
                ticks: 0,
            });
            shadow.absorb(t, &x, y, &answer);
        }
        let link = LinkState {
            last_seq: Some(19),
            rejected: 0,
            seed: 11,
        };
        let mut stream = vec![0u8; checkpoint_len(N, 2, 3, Family::Gaussian)];
        device.write_checkpoint(&xorshift_state(&rng), &link, 0, &mut stream);
        assert_eq!(shadow.checkpoint(), Some(stream.clone()));

        let mut resumed =
            from_checkpoint(&device_config(N, 2, 3, Family::Gaussian), &stream).unwrap();
        assert_eq!(resumed.checkpoint(), Some(stream.clone()));
        let mut damaged = stream.clone();
        damaged[100] ^= 1;
        assert!(!resumed.restore(&damaged));
        assert_eq!(
            resumed.checkpoint(),
            None,
            "not trusted after a failed restore"
        );

        // An answer the copy cannot reproduce (the step succeeds on the
        // host): not trusted until a restore from the device's stream.
        let reject = Response::Reject(RejectMsg {
            seq: Some(20),
            reason: RejectReason::Degenerate,
        });
        shadow.absorb(20, &[1.0, 0.0, 0.0], 0.0, &reject);
        assert_eq!(shadow.checkpoint(), None);
        assert!(shadow.restore(&stream));
        assert_eq!(shadow.checkpoint(), Some(stream));
        assert!(
            after_reset(&device_config(N, 11, 3, Family::Gaussian), 1).is_none(),
            "K = 11 is not compiled"
        );
        assert!(
            after_reset(&device_config(N, 2, 3, Family::Bernoulli), 1).is_none(),
            "only Gaussian experts are mirrored"
        );
    }

    /// What a device of these sizes and experts says in `Config`.
    fn device_config(n: usize, k: usize, d: usize, family: Family) -> ConfigMsg {
        ConfigMsg {
            version: hsmoe_core::protocol::PROTOCOL_VERSION,
            n: n as u32,
            k: k as u32,
            d: d as u32,
            family_tag: family::tag(family),
            seed: 11,
            max_frame: 256,
            resample_ess: 1.0,
        }
    }
}
