//! The frame I/O loop: received bytes become frames, frames become
//! requests, requests drive the filter, and every answer goes back as one
//! frame (docs/protocol.md §1, §2, §4).
//!
//! Everything here is independent of the board: bytes come from any
//! [`embedded_io`] serial port and time from a tick function, so the
//! on-target self-test drives a [`Link`] byte by byte without a UART.
//!
//! Sequence numbers of `Observe`: after a `Reset` (or boot) the first
//! `seq` is accepted whatever it is; afterwards the device absorbs only
//! `last + 1`, answers a repeat of any of the last [`MAX_WINDOW`]
//! answered `seq`s again from an [`AnswerCache`] without absorbing it
//! twice, and rejects anything else with `OutOfOrder`. A host can
//! therefore keep up to [`MAX_WINDOW`] observations in flight and, when
//! a request or an answer is lost, go back to the first unanswered one and
//! resend the rest (go-back-N): the posterior always sees the observations
//! in order, each once, and every lost answer can be had again.
//!
//! Checkpoints (`Snapshot`, `Restore`): the device's checkpoint stream is
//! the filter's snapshot followed by the link trailer
//! ([`hsmoe_core::snapshot::LinkState`]: last `seq`, rejected count, seed),
//! so a restored device continues the original run exactly: it absorbs
//! `last + 1` next, counts on from the original totals in `Status`, and
//! draws the same random numbers. A restore is the core's two-pass
//! [`CheckpointRestorer`] (verify, then write in place: no second filter);
//! while its write pass has the filter half-written the filter refuses to
//! run, and such refused observations are answered `Unsupported` without
//! being counted or remembered. A successful restore empties the answer
//! cache: the host resumes after `last`.

use defmt::Debug2Format;
use embedded_io::{Error as _, Read, Write};
use hsmoe_core::expert::{Expert, Gaussian};
use hsmoe_core::frame::{self, FrameAccumulator, FrameError, FrameEvent, MAX_FRAME};
use hsmoe_core::protocol::{
    ConfigMsg, FeatureVec, GateVec, ObserveMsg, PredictMsg, PredictionMsg, RejectMsg, RejectReason,
    Request, Response, RestoreMsg, RestoreNextMsg, RestoredMsg, SnapshotBytes, SnapshotChunkMsg,
    StatusMsg, UpdateMsg, PROTOCOL_VERSION, SNAPSHOT_CHUNK,
};
use hsmoe_core::snapshot::{
    xorshift_from_state, xorshift_state, CheckpointProgress, CheckpointRestorer, LinkState, Pass,
};
use hsmoe_core::window::MAX_WINDOW;
use hsmoe_core::{Config, Const, Error, Experts, Features, Filter};
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;

/// The answers to the last [`MAX_WINDOW`] observations, by `seq`: a ring
/// indexed by `seq mod MAX_WINDOW`, since answered `seq`s are
/// consecutive. Lives in a `static` (≈ 4 KiB at K = 4), not on the
/// stack.
pub struct AnswerCache<const K: usize> {
    slots: [Option<(u32, Answer<K>)>; MAX_WINDOW],
}

/// An observation's answer as cached: an `Update` (its `seq` is
/// rewritten when it is sent again) or a `Reject` without its `seq` (the
/// slot's key). A `Response` would take room for a checkpoint chunk in
/// every slot (≈ 10 KiB in all).
#[derive(Clone)]
enum Answer<const K: usize> {
    Update(UpdateMsg<K>),
    Reject(RejectReason),
}

impl<const K: usize> Answer<K> {
    /// The cacheable part of an answer to an observation (`None` for any
    /// other response, which `observe` never gives).
    fn of(response: &Response<K>) -> Option<Self> {
        match response {
            Response::Update(update) => Some(Answer::Update(update.clone())),
            Response::Reject(RejectMsg { reason, .. }) => Some(Answer::Reject(*reason)),
            _ => None,
        }
    }

    /// The response to `seq`.
    fn to_response(&self, seq: u32) -> Response<K> {
        match self.clone() {
            Answer::Update(update) => Response::Update(UpdateMsg { seq, ..update }),
            Answer::Reject(reason) => Response::Reject(RejectMsg {
                seq: Some(seq),
                reason,
            }),
        }
    }
}

impl<const K: usize> AnswerCache<K> {
    /// An empty cache, built at compile time.
    pub const fn new() -> Self {
        AnswerCache {
            slots: [const { None }; MAX_WINDOW],
        }
    }

    /// Forgets every answer (after a `Reset` or a restore).
    fn clear(&mut self) {
        self.slots.iter_mut().for_each(|slot| *slot = None);
    }

    /// The slot of `seq`.
    fn slot(&mut self, seq: u32) -> &mut Option<(u32, Answer<K>)> {
        // `seq mod MAX_WINDOW` is in bounds; `MAX_WINDOW` fits a u32.
        &mut self.slots[(seq % MAX_WINDOW as u32) as usize]
    }

    /// The answer to `seq`, if it is still cached.
    fn get(&mut self, seq: u32) -> Option<Response<K>> {
        match self.slot(seq) {
            Some((cached, answer)) if *cached == seq => Some(answer.to_response(seq)),
            _ => None,
        }
    }

    /// Remembers `answer` as the answer to `seq`.
    fn put(&mut self, seq: u32, answer: &Response<K>) {
        *self.slot(seq) = Answer::of(answer).map(|answer| (seq, answer));
    }
}

impl<const K: usize> Default for AnswerCache<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// What the link has done since boot, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub struct Stats {
    /// Frames received (each delimited by `0x00`), good or bad.
    pub frames: u32,
    /// Observations absorbed.
    pub updates: u32,
    /// Requests answered with `Reject`.
    pub rejects: u32,
    /// Repeated observations answered from the cache.
    pub repeats: u32,
}

/// The device side of the protocol around one filter.
///
/// Holds the filter and the answer cache (borrowed, they live in
/// `static`s), its random number generator, the receive accumulator, a
/// transmit buffer and a checkpoint restorer: well under 1 KiB besides
/// the filter.
pub struct Link<'f, const N: usize, const K: usize, const D: usize, E = Gaussian<D>>
where
    Const<K>: Experts,
    Const<D>: Features,
    E: Expert<D>,
{
    filter: &'f mut Filter<N, K, D, E>,
    rng: XorShiftRng,
    seed: u64,
    /// The `seq` of the last observation answered since the `Reset`.
    last: Option<u32>,
    /// Answers to the last observations, for repeats.
    answers: &'f mut AnswerCache<K>,
    /// Observations refused with a final `Reject` since the `Reset`.
    rejected: u32,
    /// The restore in progress, if any (see the module docs).
    restorer: CheckpointRestorer<K, D, E>,
    rx: FrameAccumulator<MAX_FRAME>,
    tx: [u8; MAX_FRAME],
    now: fn() -> u64,
    stats: Stats,
}

impl<'f, const N: usize, const K: usize, const D: usize, E: Expert<D>> Link<'f, N, K, D, E>
where
    Const<K>: Experts,
    Const<D>: Features,
{
    /// Every answer of this device fits one frame.
    const FITS: () = assert!(
        frame::max_frame_len(Response::<K>::MAX_SIZE) <= MAX_FRAME,
        "K too large for the protocol's MAX_FRAME"
    );

    /// Takes the filter and an answer cache and resets them with `seed` (at
    /// the default prior for `D` features, docs/model.md §1). `now` reads a
    /// free-running tick counter; its differences are reported as the cost of
    /// each update.
    pub fn new(
        filter: &'f mut Filter<N, K, D, E>,
        answers: &'f mut AnswerCache<K>,
        seed: u64,
        now: fn() -> u64,
    ) -> Self {
        let () = Self::FITS;
        let mut link = Link {
            filter,
            rng: XorShiftRng::seed_from_u64(seed),
            seed,
            last: None,
            answers,
            rejected: 0,
            restorer: CheckpointRestorer::new(),
            rx: FrameAccumulator::new(),
            tx: [0; MAX_FRAME],
            now,
            stats: Stats::default(),
        };
        if let Response::Reject(RejectMsg { reason, .. }) = link.reset(seed) {
            defmt::error!("reset at boot failed: {}", reason);
        }
        link
    }

    /// What the link has done since boot.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Answers requests forever: reads bytes (the serial port's `read`
    /// waits for them), answers each frame as it ends.
    pub fn serve<S: Read + Write>(&mut self, serial: &mut S) -> ! {
        let mut bytes = [0u8; 64];
        loop {
            let received = match serial.read(&mut bytes) {
                Ok(received) => received,
                Err(error) => {
                    defmt::warn!("serial read: {}", Debug2Format(&error.kind()));
                    continue;
                }
            };
            for &byte in &bytes[..received] {
                if let Some(answer) = self.receive(byte) {
                    self.send(serial, &answer);
                }
            }
        }
    }

    /// Frames `answer` and sends it.
    pub fn send<S: Write>(&mut self, serial: &mut S, answer: &Response<K>) {
        match frame::encode(answer, &mut self.tx) {
            Ok(bytes) => {
                if let Err(error) = serial.write_all(bytes) {
                    defmt::error!("answer not sent: {}", Debug2Format(&error.kind()));
                }
            }
            // Unreachable: `FITS` bounds every answer by MAX_FRAME.
            Err(error) => defmt::error!("answer not sent: {}", error),
        }
    }

    /// Feeds one received byte; returns the answer when the byte ends a
    /// frame (a `0x00` after at least one other byte).
    ///
    /// A frame that fails COBS, CRC or decoding is answered with
    /// `Reject { seq: None, reason: Corrupt }`, one longer than
    /// [`MAX_FRAME`] with `TooLong`; neither touches the filter.
    pub fn receive(&mut self, byte: u8) -> Option<Response<K>> {
        let request = match self.rx.push(byte)? {
            FrameEvent::Frame(body) => frame::decode::<Request<D>>(body),
            FrameEvent::Overflow => Err(FrameError::TooLong),
        };
        self.stats.frames = self.stats.frames.wrapping_add(1);
        Some(match request {
            Ok(request) => self.handle(request),
            Err(error) => {
                defmt::warn!("bad frame: {}", error);
                let reason = match error {
                    FrameError::TooLong => RejectReason::TooLong,
                    _ => RejectReason::Corrupt,
                };
                self.reject(None, reason)
            }
        })
    }

    /// Answers one decoded request.
    pub fn handle(&mut self, request: Request<D>) -> Response<K> {
        match request {
            Request::Hello => {
                defmt::info!(
                    "hello: {}; stack high-water mark {=usize} B",
                    self.stats,
                    crate::stack::high_water_mark()
                );
                self.config()
            }
            Request::Reset { seed } => self.reset(seed),
            Request::Resampling { ess_fraction } => {
                match self.filter.set_resample_ess(ess_fraction) {
                    Ok(()) => self.config(),
                    Err(error) => self.reject(None, error.into()),
                }
            }
            Request::Status => Response::Status(StatusMsg {
                steps: self.filter.state().steps(),
                last_seq: self.last,
                rejected: self.rejected,
                log_marginal: self.filter.state().log_marginal(),
            }),
            Request::Observe(ObserveMsg { seq, x, y }) => self.observe(seq, &x, y),
            Request::Snapshot { offset } => self.snapshot(offset),
            Request::Restore(RestoreMsg { offset, bytes }) => self.restore(offset, &bytes),
            Request::Predict(PredictMsg { seq, x }) => {
                match x.as_array().and_then(|x| self.filter.predict(x)) {
                    Ok(p) => Response::Prediction(PredictionMsg {
                        seq,
                        mean: p.mean,
                        var: p.var,
                        gate: gate_vec(&p.gate),
                    }),
                    Err(error) => self.reject(Some(seq), error.into()),
                }
            }
        }
    }

    /// Restarts the filter from the prior with a new seed.
    fn reset(&mut self, seed: u64) -> Response<K> {
        self.seed = seed;
        self.rng = XorShiftRng::seed_from_u64(seed);
        self.last = None;
        self.answers.clear();
        self.rejected = 0;
        self.restorer = CheckpointRestorer::new();
        match self.filter.reset(&Config::default_for(D), &mut self.rng) {
            Ok(()) => {
                defmt::info!("reset: N = {}, K = {}, D = {}, seed {}", N, K, D, seed);
                self.config()
            }
            Err(error) => self.reject(None, error.into()),
        }
    }

    /// Absorbs one observation, in `seq` order (see the module docs).
    fn observe(&mut self, seq: u32, x: &FeatureVec<D>, y: f32) -> Response<K> {
        if let Some(last) = self.last {
            if let Some(answer) = self.answers.get(seq) {
                self.stats.repeats = self.stats.repeats.wrapping_add(1);
                return answer;
            }
            if seq != last.wrapping_add(1) {
                defmt::warn!("seq {} out of order after {}", seq, last);
                return self.reject(Some(seq), RejectReason::OutOfOrder);
            }
        }
        let result = x.as_array().and_then(|x| {
            let start = (self.now)();
            let update = self.filter.observe(x, y, &mut self.rng)?;
            Ok((update, (self.now)().wrapping_sub(start)))
        });
        let answer = match result {
            Ok((update, ticks)) => {
                self.stats.updates = self.stats.updates.wrapping_add(1);
                defmt::debug!("seq {}: {} ticks, ess {}", seq, ticks, update.ess);
                Response::Update(UpdateMsg {
                    seq,
                    pred_mean: update.pred_mean,
                    pred_var: update.pred_var,
                    log_pred: update.log_pred,
                    ess: update.ess,
                    resampled: update.resampled,
                    gate: gate_vec(&update.gate),
                    ticks: u32::try_from(ticks).unwrap_or(u32::MAX),
                })
            }
            // The filter is not running (a restore is writing it, or one
            // failed): nothing happened to count or repeat.
            Err(Error::Uninitialized) => {
                return self.reject(Some(seq), RejectReason::Unsupported);
            }
            Err(error) => {
                self.rejected = self.rejected.wrapping_add(1);
                self.reject(Some(seq), error.into())
            }
        };
        self.last = Some(seq);
        self.answers.put(seq, &answer);
        answer
    }

    /// Bytes `offset..` of the checkpoint stream, as many as fit a chunk.
    fn snapshot(&mut self, offset: u32) -> Response<K> {
        let link = LinkState {
            last_seq: self.last,
            rejected: self.rejected,
            seed: self.seed,
        };
        let mut chunk = [0u8; SNAPSHOT_CHUNK];
        let len = self.filter.write_checkpoint(
            &xorshift_state(&self.rng),
            &link,
            offset as usize,
            &mut chunk,
        );
        Response::SnapshotChunk(SnapshotChunkMsg {
            offset,
            // A filter that fits this device's RAM has a far shorter stream.
            total: Filter::<N, K, D, E>::CHECKPOINT_LEN as u32,
            // Cannot fail: `len ≤ SNAPSHOT_CHUNK`.
            bytes: SnapshotBytes::from_slice(chunk.get(..len).unwrap_or_default())
                .unwrap_or_default(),
        })
    }

    /// Feeds a chunk of a checkpoint stream to the restorer.
    fn restore(&mut self, offset: u32, bytes: &[u8]) -> Response<K> {
        let progress = self
            .restorer
            .push(&mut self.filter.as_set(), offset as usize, bytes);
        let next = |pass, offset: usize| {
            Response::RestoreNext(RestoreNextMsg {
                pass,
                offset: offset as u32,
            })
        };
        match progress {
            Ok(CheckpointProgress::Next { pass, offset }) => next(pass, offset),
            Ok(CheckpointProgress::Verified) => {
                defmt::info!("restore: checkpoint verified");
                next(Pass::Write, 0)
            }
            Ok(CheckpointProgress::Restored { rng_state, link }) => {
                self.rng = xorshift_from_state(&rng_state);
                self.seed = link.seed;
                self.last = link.last_seq;
                self.rejected = link.rejected;
                self.answers.clear();
                let steps = self.filter.state().steps();
                defmt::info!("restored: {} steps, last seq {}", steps, link.last_seq);
                Response::Restored(RestoredMsg {
                    seed: link.seed,
                    steps,
                    last_seq: link.last_seq,
                    rejected: link.rejected,
                })
            }
            Err(reason) => {
                self.stats.rejects = self.stats.rejects.wrapping_add(1);
                defmt::warn!("restore refused at {}: {}", offset, reason);
                Response::RestoreRefused { reason }
            }
        }
    }

    /// `Config` for `Hello`, `Reset` and `Resampling`.
    fn config(&self) -> Response<K> {
        Response::Config(ConfigMsg {
            version: PROTOCOL_VERSION,
            n: N as u32,
            k: K as u32,
            d: D as u32,
            family_tag: E::TAG,
            seed: self.seed,
            max_frame: MAX_FRAME as u32,
            resample_ess: self.filter.state().config().resample_ess,
        })
    }

    /// A `Reject`, counted and logged.
    fn reject(&mut self, seq: Option<u32>, reason: RejectReason) -> Response<K> {
        self.stats.rejects = self.stats.rejects.wrapping_add(1);
        defmt::warn!("reject {}: {}", seq, reason);
        Response::Reject(RejectMsg { seq, reason })
    }
}

/// The wire form of `K` gate probabilities.
fn gate_vec<const K: usize>(gate: &[f32; K]) -> GateVec<K> {
    // Cannot fail: the vector's capacity is K.
    GateVec::from_slice(gate).unwrap_or_default()
}
