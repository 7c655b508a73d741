//! Input decoders and invariant checks shared by the fuzz targets in
//! `fuzz_targets/` and by the bounded, seeded runs of
//! `tests/tests/robustness.rs`, which includes this file by path so that
//! CI exercises the same checks in a few seconds.
//!
//! Every `run_*` function panics (via `assert!`) when an invariant fails;
//! otherwise it returns a [`Tally`] of what the input exercised.

use hsmoe_core::frame::{self, FrameAccumulator, FrameEvent, MAX_FRAME};
use hsmoe_core::protocol::{Request, Response};
use hsmoe_core::snapshot::{
    self, CheckpointProgress, CheckpointRestorer, LinkState, Pass, RestoreProgress, Restorer,
    SnapshotError,
};
use hsmoe_core::{Config, Const, Error, Experts, Features, Filter, MAX_ABS_INPUT};
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;
use std::sync::OnceLock;

/// Most operations one input may drive, so one input stays fast.
const MAX_OPS: usize = 32;

/// Values that sit on the edges of the input checks.
pub const EDGE_VALUES: [f32; 16] = [
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    1.0e-40, // subnormal
    -1.0e-45,
    1.0e30,
    -1.0e30,
    MAX_ABS_INPUT,
    -MAX_ABS_INPUT,
    1.000_000_1e9, // just past MAX_ABS_INPUT
    f32::MAX,
    0.0,
    -0.0,
    f32::MIN_POSITIVE,
    1.0e-30,
    -3.0e8,
];

/// Counts of what one or more runs exercised.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Frames that decoded to a message.
    pub frames: usize,
    /// Frames refused by the decoder.
    pub bad_frames: usize,
    /// Observations absorbed.
    pub observed: usize,
    /// Predictions made.
    pub predicted: usize,
    /// Rejections, indexed as [`error_index`].
    pub rejected: [usize; 7],
    /// Resets after every particle failed (`NotPositiveDefinite`).
    pub resets: usize,
    /// `Update`s whose predictive variance was `+∞`.
    pub infinite_var: usize,
    /// Snapshot chunks refused.
    pub snapshot_errors: usize,
    /// Checkpoints restored.
    pub restored: usize,
}

impl Tally {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Tally) {
        self.frames += other.frames;
        self.bad_frames += other.bad_frames;
        self.observed += other.observed;
        self.predicted += other.predicted;
        for (a, b) in self.rejected.iter_mut().zip(&other.rejected) {
            *a += b;
        }
        self.resets += other.resets;
        self.infinite_var += other.infinite_var;
        self.snapshot_errors += other.snapshot_errors;
        self.restored += other.restored;
    }
}

/// A slot per [`Error`] variant, for [`Tally::rejected`].
pub fn error_index(error: Error) -> usize {
    match error {
        Error::NonFinite => 0,
        Error::OutOfRange => 1,
        Error::WrongLength => 2,
        Error::Degenerate => 3,
        Error::NotPositiveDefinite => 4,
        Error::InvalidConfig => 5,
        _ => 6,
    }
}

/// Reads fuzz bytes as values.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads from the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next byte, or `None` at the end.
    pub fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(first)
    }

    fn array<const L: usize>(&mut self) -> Option<[u8; L]> {
        let head = self.data.get(..L)?.try_into().ok()?;
        self.data = &self.data[L..];
        Some(head)
    }

    /// An `f32` chosen by a mode byte: raw bits (any NaN, infinity,
    /// subnormal or huge value), a small multiple of 1/16, an edge value
    /// from [`EDGE_VALUES`], or a moderate multiple of 1/256.
    pub fn value(&mut self) -> Option<f32> {
        let mode = self.byte()?;
        Some(match mode % 4 {
            0 => f32::from_bits(u32::from_le_bytes(self.array()?)),
            1 => f32::from(self.byte()? as i8) / 16.0,
            2 => EDGE_VALUES[usize::from(mode / 4) % EDGE_VALUES.len()],
            _ => f32::from(i16::from_le_bytes(self.array()?)) / 256.0,
        })
    }
}

/// (a) Bytes off the wire through a [`FrameAccumulator`] and the decoder,
/// as both a device (`Request`) and a host (`Response`) would see them.
/// Whatever decodes must re-encode, and re-decoding that frame must give
/// the same bytes again (the encoding is canonical).
pub fn run_frames(data: &[u8]) -> Tally {
    let mut tally = Tally::default();
    let mut rx: FrameAccumulator<MAX_FRAME> = FrameAccumulator::new();
    for &byte in data {
        if let Some(FrameEvent::Frame(body)) = rx.push(byte) {
            let mut copy = [0u8; MAX_FRAME];
            copy[..body.len()].copy_from_slice(body);
            let len = body.len();
            check_frame::<Request<4>>(body, &mut tally);
            check_frame::<Request<32>>(&mut copy[..len], &mut tally);
        }
    }
    // The whole input as one frame body, without the accumulator.
    let mut whole = data.to_vec();
    check_frame::<Response<3>>(&mut whole, &mut tally);
    tally
}

fn check_frame<T>(body: &mut [u8], tally: &mut Tally)
where
    T: serde::Serialize + for<'de> serde::Deserialize<'de>,
{
    let Ok(message) = frame::decode::<T>(body) else {
        tally.bad_frames += 1;
        return;
    };
    tally.frames += 1;
    let mut first = [0u8; MAX_FRAME];
    let encoded = frame::encode(&message, &mut first).expect("a decoded message re-encodes");
    let len = encoded.len();
    let mut again = first;
    let back: T = frame::decode(&mut again[..len]).expect("a re-encoded message decodes");
    let mut second = [0u8; MAX_FRAME];
    let encoded_again = frame::encode(&back, &mut second).expect("re-encodes again");
    assert_eq!(encoded_again, &first[..len], "encoding is not canonical");
}

/// The snapshot of `filter` with `rng`'s state, less its CRC (which would
/// cost a second pass): every bit the filter carries between steps.
pub fn image<const N: usize, const K: usize, const D: usize>(
    filter: &Filter<N, K, D>,
    rng: &XorShiftRng,
) -> Vec<u8>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let mut bytes = vec![0u8; Filter::<N, K, D>::SNAPSHOT_LEN - 4];
    filter.write_snapshot(&snapshot::xorshift_state(rng), 0, &mut bytes);
    bytes
}

/// Every expert's Cholesky factor in a snapshot image has positive, finite
/// diagonal entries, every stick's `S` a non-negative one (its `Λ` is then
/// positive definite with any prior), and every `f32` of the posterior
/// that must be finite is. Read through the documented layout.
pub fn factors_are_positive_definite(image: &[u8], n: usize, k: usize, d: usize) -> bool {
    let word = |i: usize| f32::from_le_bytes(image[4 * i..4 * i + 4].try_into().unwrap());
    // The header (magic to family tag, then the RNG state) and the state.
    let header_and_state =
        (snapshot::SnapshotShape::LEN + snapshot::RNG_STATE_LEN) / 4 + 12 + 2 * k;
    // Packed lower triangles: entry (i, i) is word i(i+1)/2 + i.
    let triangle = d * (d + 1) / 2;
    let expert_words = triangle + d + 3;
    let stick_words = triangle + 4 * d;
    // ... then τ², ξ and the carried log weight (−∞ for a dead particle).
    let particle_words = k * expert_words + (k - 1) * stick_words + 3;
    let diagonal_ok = |start: usize| (0..d).all(|i| word(start + i * (i + 1) / 2 + i) > 0.0);
    let finite = |start: usize, len: usize| (start..start + len).all(|i| word(i).is_finite());
    (0..n).all(|p| {
        let base = header_and_state + p * particle_words;
        let experts_ok = (0..k).all(|e| {
            let at = base + e * expert_words;
            diagonal_ok(at) && finite(at, expert_words)
        });
        let sticks = base + k * expert_words;
        // A stick stores `S = Σ ω x xᵀ` (its factor of `Λ = prior + S` is
        // recomputed): positive semi-definite, so a non-negative diagonal.
        let sticks_ok = (0..k - 1).all(|j| {
            let at = sticks + j * stick_words;
            (0..d).all(|i| word(at + i * (i + 1) / 2 + i) >= 0.0) && finite(at, stick_words)
        });
        experts_ok && sticks_ok && finite(sticks + (k - 1) * stick_words, 2)
    })
}

/// The input errors that `(x, y)` deserves, as documented on
/// `ParticleSet::observe`; empty for a valid observation.
pub fn expected_errors<const D: usize>(x: &[f32], y: f32) -> Vec<Error> {
    let mut errors = Vec::new();
    if x.len() != D {
        errors.push(Error::WrongLength);
        return errors;
    }
    let all = x.iter().chain([&y]);
    if all.clone().any(|v| !v.is_finite()) {
        errors.push(Error::NonFinite);
    }
    if all
        .filter(|v| v.is_finite())
        .any(|v| v.abs() > MAX_ABS_INPUT)
    {
        errors.push(Error::OutOfRange);
    }
    errors
}

fn assert_probabilities(p: &[f32], what: &str) {
    assert!(
        p.iter().all(|v| (0.0..=1.0 + 1e-5).contains(v)),
        "{what}: {p:?}"
    );
    let sum: f32 = p.iter().sum();
    assert!((sum - 1.0).abs() < 1e-3, "{what} sums to {sum}: {p:?}");
}

/// (b) A reset with a fuzzed configuration, then up to [`MAX_OPS`]
/// observations and predictions with fuzzed values. Checks: input errors
/// are exactly the documented ones and change no bit (particles, state,
/// RNG); `Degenerate` changes no bit either; every output is free of NaN
/// (`pred_var` may be `+∞`), probabilities are probabilities, `1 ≤ ESS ≤ N`; after each
/// absorbed observation every factor stays positive definite.
pub fn run_filter<const N: usize, const K: usize, const D: usize>(data: &[u8]) -> Tally
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let mut tally = Tally::default();
    let mut input = Input::new(data);
    let mut filter: Box<Filter<N, K, D>> = Box::new(Filter::new());
    let Some(seed) = input.byte() else {
        return tally;
    };
    let mut rng = XorShiftRng::seed_from_u64(u64::from(seed));
    let mut config = Config::default_for(D);
    let tweak = input.byte().unwrap_or(0);
    if tweak & 1 != 0 {
        config.refresh_every = 1;
    }
    if tweak & 2 != 0 {
        config.gate_intercept = false;
    }
    if tweak & 4 != 0 {
        // Fuzzed priors: reset must refuse invalid ones and accept the rest.
        let (Some(v0), Some(a0), Some(b0), Some(s0)) =
            (input.value(), input.value(), input.value(), input.value())
        else {
            return tally;
        };
        config = Config {
            v0,
            a0,
            b0,
            s0,
            ..config
        };
    }
    match filter.reset(&config, &mut rng) {
        Ok(()) => {}
        Err(Error::InvalidConfig) => {
            assert!(config.validate(D).is_err());
            tally.rejected[error_index(Error::InvalidConfig)] += 1;
            return tally;
        }
        Err(Error::NotPositiveDefinite) => {
            // Documented: a valid but extreme prior (e.g. s0 = 1e-30, whose
            // precision 1/s0² overflows) cannot be factored; the filter
            // then refuses to run until a successful reset.
            tally.resets += 1;
            let refused = filter.observe(&[0.0; D], 0.0, &mut rng);
            assert_eq!(refused.unwrap_err(), Error::Uninitialized);
            return tally;
        }
        Err(e) => panic!("reset with {config:?}: {e:?}"),
    }
    // The filter's image before each operation.
    let mut before = image(&filter, &rng);
    for _ in 0..MAX_OPS {
        let Some(op) = input.byte() else { break };
        let len = match op % 8 {
            6 => usize::from(op / 8) % (D + 3),
            _ => D,
        };
        let mut x = Vec::with_capacity(len);
        for _ in 0..len {
            let Some(v) = input.value() else {
                return tally;
            };
            x.push(v);
        }
        if op % 8 == 7 {
            check_predict(&filter, &x, &mut tally);
            continue;
        }
        let Some(y) = input.value() else { break };
        let expected = expected_errors::<D>(&x, y);
        match filter.observe(&x, y, &mut rng) {
            Ok(update) => {
                assert!(
                    expected.is_empty(),
                    "accepted {x:?} {y}, expected {expected:?}"
                );
                tally.observed += 1;
                assert!(update.pred_mean.is_finite(), "{update:?}");
                assert!(
                    !update.pred_var.is_nan() && update.pred_var >= 0.0,
                    "{update:?}"
                );
                // +∞ when an expert has 2a ≤ 2, or when the second moment
                // overflows f32 at extreme (valid) inputs and priors.
                tally.infinite_var += usize::from(update.pred_var.is_infinite());
                assert!(update.log_pred.is_finite(), "{update:?}");
                let ess_max = N as f32 * (1.0 + 1e-4);
                assert!((1.0 - 1e-4..=ess_max).contains(&update.ess), "{update:?}");
                assert_probabilities(&update.gate, "gate");
                assert_probabilities(&update.alloc, "alloc");
                assert!(filter.state().log_marginal().is_finite());
                before = image(&filter, &rng);
                assert!(
                    factors_are_positive_definite(&before, N, K, D),
                    "a factor lost positive definiteness after {x:?} {y}"
                );
            }
            Err(Error::NotPositiveDefinite) => {
                assert!(expected.is_empty());
                tally.resets += 1;
                filter
                    .reset(&config, &mut rng)
                    .expect("reset after a failure");
                before = image(&filter, &rng);
            }
            Err(error) => {
                let input_error = expected.contains(&error);
                assert!(
                    input_error || (expected.is_empty() && error == Error::Degenerate),
                    "{error:?} for {x:?} {y}, expected {expected:?}"
                );
                tally.rejected[error_index(error)] += 1;
                assert!(
                    image(&filter, &rng) == before,
                    "{error:?} changed the filter ({x:?} {y})"
                );
            }
        }
    }
    tally
}

fn check_predict<const N: usize, const K: usize, const D: usize>(
    filter: &Filter<N, K, D>,
    x: &[f32],
    tally: &mut Tally,
) where
    Const<K>: Experts,
    Const<D>: Features,
{
    let expected = expected_errors::<D>(x, 0.0);
    match filter.predict(x) {
        Ok(p) => {
            assert!(expected.is_empty(), "predicted at {x:?}");
            assert!(p.mean.is_finite(), "{p:?} at {x:?}");
            assert!(!p.var.is_nan() && p.var >= 0.0, "{p:?} at {x:?}");
            assert_probabilities(&p.gate, "predict gate");
            tally.predicted += 1;
        }
        Err(error) => {
            assert!(expected.contains(&error), "{error:?} at {x:?}");
            tally.rejected[error_index(error)] += 1;
        }
    }
}

/// [`run_filter`] for the shape picked by the first byte: three particles
/// of three experts, one particle of two, or two of one expert.
pub fn run_filter_any_shape(data: &[u8]) -> Tally {
    match data.split_first() {
        Some((shape, rest)) => match shape % 3 {
            0 => run_filter::<4, 3, 3>(rest),
            1 => run_filter::<1, 2, 2>(rest),
            _ => run_filter::<2, 1, 1>(rest),
        },
        None => Tally::default(),
    }
}

/// (c) A live filter fed fuzzed snapshot chunks: unless a restore
/// completes, a refused stream leaves it bit for bit as it was, and once
/// the write pass has touched it the filter refuses to run.
///
/// The input is a list of chunks (`offset` byte, length byte, bytes); a
/// leading byte picks whether the chunks overwrite a valid snapshot
/// (so the restorer gets past the header) or are the whole stream.
pub fn run_snapshot(data: &[u8]) -> Tally {
    static WARM: OnceLock<(Live, XorShiftRng)> = OnceLock::new();
    let (warm, warm_rng) = WARM.get_or_init(|| warmed(1, 5));
    let (mut live, mut rng) = (Box::new(warm.clone()), warm_rng.clone());
    let mut tally = Tally::default();
    let mut input = Input::new(data);
    let before = image(&live, &rng);
    let mut stream = {
        let mut bytes = vec![0u8; Live::SNAPSHOT_LEN];
        live.write_snapshot(&snapshot::xorshift_state(&rng), 0, &mut bytes);
        bytes
    };
    let edit = input.byte().unwrap_or(0) & 1 == 1;
    let mut restorer: Restorer<2, 2> = Restorer::new();
    let mut touched = false;
    for _ in 0..MAX_OPS {
        let (Some(at), Some(len)) = (input.byte(), input.byte()) else {
            break;
        };
        let offset = usize::from(at) * stream.len() / 256;
        let len = usize::from(len);
        if edit {
            // Corrupt `len % 8` bytes at `offset`, then send the chunk.
            for i in 0..len % 8 {
                if let (Some(slot), Some(b)) = (stream.get_mut(offset + i), input.byte()) {
                    *slot = b;
                }
            }
        }
        let end = (offset + len).min(stream.len());
        let chunk = if edit {
            stream[offset..end].to_vec()
        } else {
            (0..len).map_while(|_| input.byte()).collect()
        };
        match restorer.push(&mut live.as_set(), offset, &chunk) {
            Ok(RestoreProgress::Restored { .. }) => return tally,
            Ok(RestoreProgress::Verified) => touched = true,
            Ok(RestoreProgress::Next { .. }) => {}
            Err(error) => {
                tally.snapshot_errors += 1;
                if error == SnapshotError::CommitFailed {
                    let refused = live.observe(&[1.0, 0.0], 0.0, &mut rng);
                    assert_eq!(refused.unwrap_err(), Error::Uninitialized);
                    return tally;
                }
            }
        }
    }
    if !touched {
        assert!(
            image(&live, &rng) == before,
            "a verify pass changed the filter"
        );
    }
    tally
}

/// The filter of the checkpoint tests: three particles, two experts, two
/// features.
type Live = Filter<3, 2, 2>;

/// A `Live` filter after `steps` observations from `seed`, and its RNG.
fn warmed(seed: u64, steps: usize) -> (Live, XorShiftRng) {
    let mut live = Live::new();
    let mut rng = XorShiftRng::seed_from_u64(seed);
    live.reset(&Config::default_for(2), &mut rng)
        .expect("reset");
    for t in 0..steps {
        let x = [1.0, t as f32 / 5.0];
        live.observe(&x, x[1], &mut rng).expect("warm-up");
    }
    (live, rng)
}

/// The device checkpoint of `filter` with `rng`'s state and `link`.
pub fn checkpoint_bytes<const N: usize, const K: usize, const D: usize>(
    filter: &Filter<N, K, D>,
    rng: &[u8; snapshot::RNG_STATE_LEN],
    link: &LinkState,
) -> Vec<u8>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    let mut bytes = vec![0u8; Filter::<N, K, D>::CHECKPOINT_LEN];
    filter.write_checkpoint(rng, link, 0, &mut bytes);
    bytes
}

/// (d) A live device's filter and link state fed fuzzed checkpoint chunks
/// (snapshot and link trailer) through a [`CheckpointRestorer`], as
/// `Request::Restore` does on the firmware. Checks: no panic; the
/// restorer's position is the one the accepted chunks imply; a refused
/// chunk that restarts the restorer, and a verify pass (checked where it
/// ends), leave filter, RNG and link bit for bit as they were; a failed commit
/// leaves the filter refusing to run; a completed restore gives exactly
/// the checkpoint that was verified and written (the bytes re-encode to
/// the bytes sent), and restoring the unedited stream gives the source.
///
/// The input is a list of chunks (`offset` byte, length byte, bytes); an
/// `offset` of 255 means "where the restorer asked". A leading byte picks
/// whether the chunks overwrite another filter's valid checkpoint (so the
/// restorer gets past the header and into the trailer) or are the whole
/// stream.
pub fn run_checkpoint(data: &[u8]) -> Tally {
    // The device (filter, RNG state, link) and another one's checkpoint.
    type Device = (Live, [u8; snapshot::RNG_STATE_LEN], LinkState);
    static WARM: OnceLock<(Device, Vec<u8>)> = OnceLock::new();
    let ((warm, warm_rng, warm_link), original) = WARM.get_or_init(|| {
        let (live, rng) = warmed(1, 5);
        let (source, source_rng) = warmed(2, 7);
        let link = LinkState {
            last_seq: Some(4),
            rejected: 1,
            seed: 1,
        };
        let source_link = LinkState {
            last_seq: Some(6),
            rejected: 0,
            seed: 2,
        };
        let source_rng = snapshot::xorshift_state(&source_rng);
        let original = checkpoint_bytes(&source, &source_rng, &source_link);
        ((live, snapshot::xorshift_state(&rng), link), original)
    });
    let (mut live, mut rng_state, mut link) = (Box::new(warm.clone()), *warm_rng, *warm_link);
    let mut tally = Tally::default();
    let mut input = Input::new(data);
    let mut stream = original.clone();
    let core_len = Live::SNAPSHOT_LEN;
    let edit = input.byte().unwrap_or(0) & 1 == 1;
    let mut restorer: CheckpointRestorer<2, 2> = CheckpointRestorer::new();
    // Every bit the device holds, without the CRCs (which cost a pass
    // each): compared after every refusal and every verify pass.
    let device = |live: &Live, rng_state: &[u8; snapshot::RNG_STATE_LEN], link: LinkState| {
        let mut bytes = vec![0u8; Live::SNAPSHOT_LEN - 4];
        live.write_snapshot(rng_state, 0, &mut bytes);
        (bytes, link)
    };
    let verify_left_all = |live: &Live,
                           rng_state: &[u8; snapshot::RNG_STATE_LEN],
                           link: LinkState,
                           before: &(Vec<u8>, LinkState)| {
        assert!(
            device(live, rng_state, link) == *before,
            "a verify pass changed the filter or link"
        );
    };
    let mut before = device(&live, &rng_state, link);
    // The position the accepted chunks imply, and the fresh bytes each
    // pass has taken so far (the restorer ignores repeated ones).
    let (mut pass, mut pos) = (Pass::Verify, 0);
    let mut taken = [vec![0u8; stream.len()], vec![0u8; stream.len()]];
    for _ in 0..MAX_OPS {
        let (Some(at), Some(len)) = (input.byte(), input.byte()) else {
            break;
        };
        let offset = match at {
            255 => pos,
            _ => usize::from(at) * stream.len() / 255,
        };
        let len = usize::from(len);
        if edit {
            // Corrupt `len % 8` bytes at `offset`, then send the chunk.
            for i in 0..len % 8 {
                if let (Some(slot), Some(b)) = (stream.get_mut(offset + i), input.byte()) {
                    *slot = b;
                }
            }
        }
        let chunk = if edit {
            let end = (offset + len).min(stream.len());
            stream.get(offset..end).unwrap_or(&[]).to_vec()
        } else {
            (0..len).map_while(|_| input.byte()).collect()
        };
        let verifying = pass == Pass::Verify;
        let result = restorer.push(&mut live.as_set(), offset, &chunk);
        if result.is_ok() {
            let record = &mut taken[usize::from(pass == Pass::Write)];
            for (i, &b) in chunk.iter().enumerate() {
                if let Some(slot) = record.get_mut(offset + i).filter(|_| offset + i >= pos) {
                    *slot = b;
                }
            }
        }
        match result {
            Ok(CheckpointProgress::Next { pass: p, offset }) => {
                assert!(
                    p == pass && offset >= pos,
                    "the restorer went from {pass:?} {pos} to {p:?} {offset}"
                );
                pos = offset;
            }
            Ok(CheckpointProgress::Verified) => {
                assert_eq!(pass, Pass::Verify, "verified in the write pass");
                (pass, pos) = (Pass::Write, 0);
            }
            Ok(CheckpointProgress::Restored {
                rng_state: restored_rng,
                link: restored_link,
            }) => {
                assert_eq!(pass, Pass::Write, "restored in the verify pass");
                tally.restored += 1;
                (rng_state, link) = (restored_rng, restored_link);
                let now = checkpoint_bytes(&live, &rng_state, &link);
                let [verified, written] = &taken;
                assert!(
                    now == *verified,
                    "the restore differs from the verified checkpoint"
                );
                assert!(
                    now[..core_len] == written[..core_len],
                    "the restore differs from the written snapshot"
                );
                before = device(&live, &rng_state, link);
                (pass, pos) = (Pass::Verify, 0);
            }
            Err(SnapshotError::OutOfOrder { expected }) => {
                tally.snapshot_errors += 1;
                assert_eq!(expected, pos, "OutOfOrder names another offset");
            }
            Err(SnapshotError::CommitFailed) => {
                tally.snapshot_errors += 1;
                assert_eq!(pass, Pass::Write, "a commit failed in the verify pass");
                let mut probe = snapshot::xorshift_from_state(&rng_state);
                let refused = live.observe(&[1.0, 0.0], 0.0, &mut probe);
                assert_eq!(refused.unwrap_err(), Error::Uninitialized);
                before = device(&live, &rng_state, link);
                (pass, pos) = (Pass::Verify, 0);
            }
            Err(_) => {
                tally.snapshot_errors += 1;
                assert!(
                    device(&live, &rng_state, link) == before,
                    "a refused checkpoint changed the filter or link"
                );
                (pass, pos) = (Pass::Verify, 0);
            }
        }
        // Checked where the verify pass ends (or at the end of the input):
        // once per pass, not per chunk, to keep executions fast.
        if verifying && (pass == Pass::Write || pos == 0) {
            verify_left_all(&live, &rng_state, link, &before);
        }
        if pass == Pass::Verify && pos == 0 {
            taken.iter_mut().for_each(|t| t.fill(0));
        }
    }
    if pass == Pass::Verify {
        verify_left_all(&live, &rng_state, link, &before);
    }
    tally
}
