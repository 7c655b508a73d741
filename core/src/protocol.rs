//! Wire messages between the host and the device (docs/protocol.md §2).
//!
//! Messages are serde types encoded with `postcard` and framed by
//! [`crate::frame`] (COBS + CRC-32C). Postcard encodes an enum variant by
//! its index, so **variants are append-only**: add new ones at the end of
//! an enum, never reorder or remove, or old peers will misread new frames.
//! The enums are deliberately not `#[non_exhaustive]`, so the device's
//! `match` breaks at compile time when a request is added.
//!
//! The sizes `D` (features, intercept included) and `K` (experts) are
//! generic. On the wire a vector is a postcard sequence (varint length,
//! then little-endian `f32`s), so a host built with `D, K = 32` talks to any
//! device with `D, K ≤ 32`.
//!
//! # Examples
//! ```
//! use hsmoe_core::protocol::{FeatureVec, ObserveMsg, Request};
//!
//! let request: Request<3> = Request::Observe(ObserveMsg {
//!     seq: 7,
//!     x: FeatureVec::from([1.0, -0.5, 2.0]),
//!     y: 0.25,
//! });
//! let mut buf = [0u8; Request::<3>::MAX_SIZE];
//! let bytes = postcard::to_slice(&request, &mut buf).unwrap();
//! let back: Request<3> = postcard::from_bytes(bytes).unwrap();
//! assert_eq!(back, request);
//! ```

use core::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::snapshot::{Pass, SnapshotError};
use crate::Error;

pub use crate::version::PROTOCOL_VERSION;

/// Largest postcard encoding of a varint `u16`, `u32` and `u64`.
const VARINT_U16: usize = 3;
const VARINT_U32: usize = 5;
const VARINT_U64: usize = 10;
/// Bytes of one `f32` (postcard: little-endian, fixed width).
const F32: usize = 4;
/// Bytes of an enum variant index while an enum has fewer than 128
/// variants, and of a `bool` or an `Option` tag.
const TAG: usize = 1;

/// Length of the postcard varint encoding of `n` (7 bits per byte).
const fn varint_len(n: usize) -> usize {
    let mut len = 1;
    let mut rest = n >> 7;
    while rest != 0 {
        len += 1;
        rest >>= 7;
    }
    len
}

/// Largest postcard encoding of a sequence of at most `n` `f32`s.
const fn f32_seq_len(n: usize) -> usize {
    varint_len(n) + n * F32
}

/// `Ord::max` for const contexts.
pub(crate) const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// A feature vector as it travels on the wire: up to `D` values plus the
/// length the sender actually sent.
///
/// Deserialization accepts a sequence of **any** length, consuming every
/// element so the rest of the message still decodes. It keeps the first
/// `D` values and remembers the true length, so a device can answer a
/// wrong-length observation with `Reject { seq: Some(seq), reason:
/// WrongLength }` instead of losing its `seq`. Serialization writes the
/// stored values ([`as_slice`](Self::as_slice)).
///
/// # Examples
/// ```
/// use hsmoe_core::{protocol::FeatureVec, Error};
///
/// // A host with room for 8 features sends 6 of them.
/// let sent = FeatureVec::<8>::from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// let mut buf = [0u8; 64];
/// let bytes = postcard::to_slice(&sent, &mut buf).unwrap();
///
/// // A device with D = 4 decodes it and sees the mismatch.
/// let got: FeatureVec<4> = postcard::from_bytes(bytes).unwrap();
/// assert_eq!(got.len_on_wire(), 6);
/// assert_eq!(got.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(got.as_array(), Err(Error::WrongLength));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureVec<const D: usize> {
    /// The first `min(len, D)` values; the rest stay 0.0 so that the
    /// derived `PartialEq` compares only what was sent.
    values: [f32; D],
    /// The number of values the sender sent (may exceed `D`).
    len: usize,
}

impl<const D: usize> FeatureVec<D> {
    /// Copies `values` into a feature vector, or `None` if there are more
    /// than `D`. Fewer than `D` is allowed (a host with a larger buffer
    /// talking to a smaller device).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::protocol::FeatureVec;
    /// assert!(FeatureVec::<2>::from_slice(&[1.0, 2.0]).is_some());
    /// assert!(FeatureVec::<2>::from_slice(&[1.0, 2.0, 3.0]).is_none());
    /// ```
    pub fn from_slice(values: &[f32]) -> Option<Self> {
        let mut stored = [0.0; D];
        stored.get_mut(..values.len())?.copy_from_slice(values);
        Some(FeatureVec {
            values: stored,
            len: values.len(),
        })
    }

    /// The stored values: all of them if the sender sent at most `D`, the
    /// first `D` otherwise.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::protocol::FeatureVec;
    /// let x = FeatureVec::<4>::from_slice(&[1.0, 2.0]).unwrap();
    /// assert_eq!(x.as_slice(), &[1.0, 2.0]);
    /// ```
    pub fn as_slice(&self) -> &[f32] {
        &self.values[..self.len.min(D)]
    }

    /// The number of values the sender put on the wire, which may be
    /// smaller or larger than `D`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::protocol::FeatureVec;
    /// assert_eq!(FeatureVec::<4>::from_slice(&[1.0]).unwrap().len_on_wire(), 1);
    /// ```
    pub fn len_on_wire(&self) -> usize {
        self.len
    }

    /// The values as a `D`-array, for the filter.
    ///
    /// # Errors
    /// [`Error::WrongLength`] if the sender did not send exactly `D`
    /// values.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::{protocol::FeatureVec, Error};
    /// let x = FeatureVec::from([1.0, 2.0]);
    /// assert_eq!(x.as_array(), Ok(&[1.0, 2.0]));
    /// let short = FeatureVec::<2>::from_slice(&[1.0]).unwrap();
    /// assert_eq!(short.as_array(), Err(Error::WrongLength));
    /// ```
    pub fn as_array(&self) -> Result<&[f32; D], Error> {
        if self.len == D {
            Ok(&self.values)
        } else {
            Err(Error::WrongLength)
        }
    }
}

impl<const D: usize> From<[f32; D]> for FeatureVec<D> {
    /// A full-length vector.
    fn from(values: [f32; D]) -> Self {
        FeatureVec { values, len: D }
    }
}

impl<const D: usize> Serialize for FeatureVec<D> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}

impl<'de, const D: usize> Deserialize<'de> for FeatureVec<D> {
    fn deserialize<De: Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        deserializer.deserialize_seq(FeatureVecVisitor::<D>)
    }
}

/// Reads a sequence of any length into a [`FeatureVec`].
struct FeatureVecVisitor<const D: usize>;

impl<'de, const D: usize> Visitor<'de> for FeatureVecVisitor<D> {
    type Value = FeatureVec<D>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of f32")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = [0.0; D];
        let mut len = 0usize;
        // Bounded by the input: every element consumes 4 bytes or fails.
        while let Some(v) = seq.next_element::<f32>()? {
            if let Some(slot) = values.get_mut(len) {
                *slot = v;
            }
            len = len.saturating_add(1);
        }
        Ok(FeatureVec { values, len })
    }
}

#[cfg(feature = "defmt")]
impl<const D: usize> defmt::Format for FeatureVec<D> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[?]} (len {})", self.as_slice(), self.len);
    }
}

/// The mean gate probabilities of the `K` experts. The device always sends
/// exactly `K` values; a host built with a larger `K` decodes any device
/// with a smaller one.
pub type GateVec<const K: usize> = heapless::Vec<f32, K>;

/// Most bytes of a checkpoint stream in one `Restore` request or
/// `SnapshotChunk` answer. 128 keeps both messages (136 and 141 postcard
/// bytes) under the 157 of the largest `Update`, so
/// [`MAX_FRAME`](crate::frame::MAX_FRAME) did not have to grow.
pub const SNAPSHOT_CHUNK: usize = 128;

/// Up to [`SNAPSHOT_CHUNK`] bytes of a checkpoint stream (a postcard byte
/// sequence: varint length, then the bytes).
pub type SnapshotBytes = heapless::Vec<u8, SNAPSHOT_CHUNK>;

/// A message from the host to the device.
///
/// Variants are append-only (see the [module docs](self)).
///
/// # Checkpoints
/// `Snapshot` and `Restore` move the device's *checkpoint stream*
/// ([`LinkState`](crate::snapshot::LinkState), "Device checkpoints"): the
/// filter's snapshot followed by the link trailer (last `seq`, rejected
/// count, seed). A
/// checkpoint file is that stream, byte for byte. The host reads it with
/// `Snapshot { offset }` at offsets 0, 128, 256, … until it has `total`
/// bytes, and must not send observations meanwhile (the CRC would not
/// match). It restores it by sending it twice with `Restore`: a verify
/// pass that checks everything and changes nothing, then a write pass.
/// The device answers every `Restore` chunk with the offset it needs next
/// (so lost or repeated chunks are repaired by following it), a refusal,
/// or, at the end of the write pass, `Restored`.
///
/// # Examples
/// ```
/// use hsmoe_core::protocol::{FeatureVec, PredictMsg, Request};
/// let mut buf = [0u8; Request::<2>::MAX_SIZE];
/// let request = Request::Predict(PredictMsg { seq: 3, x: FeatureVec::from([1.0, 0.5]) });
/// let bytes = postcard::to_slice(&request, &mut buf).unwrap();
/// assert_eq!(postcard::from_bytes::<Request<2>>(bytes).unwrap(), request);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Request<const D: usize> {
    /// Asks for the device's configuration; answered with
    /// [`Response::Config`].
    Hello,
    /// Absorbs the observation `(x, y)`; answered with exactly one
    /// [`Response::Update`] or [`Response::Reject`] carrying `seq`.
    Observe(ObserveMsg<D>),
    /// Asks for the posterior predictive at `x` without changing the
    /// posterior; answered with [`Response::Prediction`] or
    /// [`Response::Reject`].
    Predict(PredictMsg<D>),
    /// Restarts the filter from the prior with a new seed; answered with
    /// [`Response::Config`].
    Reset {
        /// Seed of the device's random number generator.
        seed: u64,
    },
    /// Asks what the device has absorbed since the last `Reset`, without
    /// changing anything; answered with [`Response::Status`]. A host checks
    /// its own count against it (each `seq` absorbed exactly once).
    Status,
    /// Asks for the bytes of the device's checkpoint stream from `offset`
    /// on; answered with [`Response::SnapshotChunk`] (empty past the end).
    Snapshot {
        /// Offset of the first byte wanted.
        offset: u32,
    },
    /// Feeds bytes of a checkpoint stream, found at `offset` of the
    /// current pass, to the device's restorer; answered with
    /// [`Response::RestoreNext`], [`Response::Restored`] or
    /// [`Response::RestoreRefused`].
    Restore(RestoreMsg),
    /// Sets the resampling threshold of the running filter
    /// ([`Config::resample_ess`](crate::Config::resample_ess)) from the
    /// next observation on; answered with [`Response::Config`], or
    /// `Reject { seq: None, reason: Unsupported }` for a value outside
    /// `[0, 1]` (nothing changed). `Reset` and `Restore` replace it with
    /// the default and the checkpoint's.
    Resampling {
        /// Resample when a step's ESS is below this fraction of `N`.
        ess_fraction: f32,
    },
}

impl<const D: usize> Request<D> {
    /// Largest postcard encoding of any request with at most `D` features
    /// (worst-case varints), to size buffers at compile time.
    ///
    /// # Examples
    /// ```
    /// // Restore: tag 1, offset ≤ 5, bytes 2 + 128; Observe at D = 32: 139.
    /// assert_eq!(hsmoe_core::protocol::Request::<4>::MAX_SIZE, 136);
    /// assert_eq!(hsmoe_core::protocol::Request::<32>::MAX_SIZE, 139);
    /// ```
    pub const MAX_SIZE: usize = {
        let hello = TAG;
        let observe = TAG + VARINT_U32 + f32_seq_len(D) + F32;
        let predict = TAG + VARINT_U32 + f32_seq_len(D);
        let reset = TAG + VARINT_U64;
        let status = TAG;
        let snapshot = TAG + VARINT_U32;
        let restore = TAG + VARINT_U32 + varint_len(SNAPSHOT_CHUNK) + SNAPSHOT_CHUNK;
        let resampling = TAG + F32;
        let firsts = max(max(hello, observe), max(predict, reset));
        max(max(firsts, resampling), max(status, max(snapshot, restore)))
    };
}

/// A message from the device to the host.
///
/// Variants are append-only (see the [module docs](self)).
///
/// # Examples
/// ```
/// use hsmoe_core::protocol::{RejectMsg, RejectReason, Response};
/// let mut buf = [0u8; Response::<2>::MAX_SIZE];
/// let response: Response<2> = Response::Reject(RejectMsg { seq: Some(9), reason: RejectReason::NonFinite });
/// let bytes = postcard::to_slice(&response, &mut buf).unwrap();
/// assert_eq!(postcard::from_bytes::<Response<2>>(bytes).unwrap(), response);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Response<const K: usize> {
    /// The device's configuration, answering `Hello`, `Reset` and
    /// `Resampling`.
    Config(ConfigMsg),
    /// The result of absorbing one observation.
    Update(UpdateMsg<K>),
    /// The posterior predictive at `x`, answering `Predict`.
    Prediction(PredictionMsg<K>),
    /// A refused request; the posterior is unchanged.
    Reject(RejectMsg),
    /// What the device has absorbed since the last `Reset`, answering
    /// `Status`.
    Status(StatusMsg),
    /// Bytes of the checkpoint stream, answering `Snapshot`.
    SnapshotChunk(SnapshotChunkMsg),
    /// A `Restore` chunk was taken (or was a repeat, or came too early):
    /// send the chunk that starts at `offset` of `pass` next. After the
    /// last byte of the verify pass this is `{ pass: Write, offset: 0 }`.
    RestoreNext(RestoreNextMsg),
    /// The write pass is complete: the device runs on the checkpoint's
    /// state and link state, and absorbs `last_seq + 1` next (any `seq`
    /// if `None`, as after a `Reset`).
    Restored(RestoredMsg),
    /// A `Restore` chunk was refused. [`SnapshotError::OutOfOrder`] only
    /// means "nothing taken, send the chunk at `expected`"; after any
    /// other reason the restorer starts over at the verify pass. Unless
    /// `reason` is [`SnapshotError::CommitFailed`] the filter is exactly
    /// as before; after a failed commit it refuses observations
    /// (`Unsupported`) until a restore succeeds or a `Reset`.
    RestoreRefused {
        /// Why.
        reason: SnapshotError,
    },
}

impl<const K: usize> Response<K> {
    /// Largest postcard encoding of any response with at most `K` gate
    /// values (worst-case varints), to size buffers at compile time.
    ///
    /// # Examples
    /// ```
    /// // SnapshotChunk: tag 1, offset and total ≤ 5 each, bytes 2 + 128.
    /// assert_eq!(hsmoe_core::protocol::Response::<4>::MAX_SIZE, 141);
    /// // Update at K = 32: tag 1, seq ≤ 5, four f32 16, bool 1, gate 1 + 32·4, ticks ≤ 5.
    /// assert_eq!(hsmoe_core::protocol::Response::<32>::MAX_SIZE, 157);
    /// ```
    pub const MAX_SIZE: usize = {
        let config = TAG + VARINT_U16 + 3 * VARINT_U32 + VARINT_U64 + VARINT_U32 + F32;
        let update = TAG + VARINT_U32 + 4 * F32 + TAG + f32_seq_len(K) + VARINT_U32;
        let prediction = TAG + VARINT_U32 + 2 * F32 + f32_seq_len(K);
        let reject = TAG + TAG + VARINT_U32 + TAG;
        let status = TAG + VARINT_U32 + TAG + VARINT_U32 + VARINT_U32 + 2 * F32;
        let chunk = TAG + 2 * VARINT_U32 + varint_len(SNAPSHOT_CHUNK) + SNAPSHOT_CHUNK;
        let next = TAG + TAG + VARINT_U32;
        let restored = TAG + VARINT_U64 + VARINT_U32 + TAG + VARINT_U32 + VARINT_U32;
        // SnapshotError: tag, and `OutOfOrder`'s usize (≤ 10 bytes).
        let refused = TAG + TAG + VARINT_U64;
        let firsts = max(max(max(config, update), max(prediction, reject)), status);
        max(firsts, max(max(chunk, next), max(restored, refused)))
    };
}

/// The payload of [`Request::Observe`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ObserveMsg<const D: usize> {
    /// Sequence number, echoed in the answer.
    pub seq: u32,
    /// Features, intercept included.
    pub x: FeatureVec<D>,
    /// Response.
    pub y: f32,
}

/// The payload of [`Request::Predict`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PredictMsg<const D: usize> {
    /// Sequence number, echoed in the answer.
    pub seq: u32,
    /// Features, intercept included.
    pub x: FeatureVec<D>,
}

/// The payload of [`Request::Restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RestoreMsg {
    /// Offset of `bytes[0]` in the stream.
    pub offset: u32,
    /// At most [`SNAPSHOT_CHUNK`] bytes of the stream.
    pub bytes: SnapshotBytes,
}

/// The payload of [`Response::Config`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConfigMsg {
    /// [`PROTOCOL_VERSION`] of the device.
    pub version: u16,
    /// Number of particles.
    pub n: u32,
    /// Number of experts.
    pub k: u32,
    /// Number of features, intercept included.
    pub d: u32,
    /// The experts' family and its fixed parameters
    /// ([`Expert::TAG`](crate::expert::Expert::TAG); decode with
    /// [`Family::from_tag`](crate::expert::Family::from_tag)).
    pub family_tag: u32,
    /// Seed of the current run.
    pub seed: u64,
    /// Longest frame the device accepts, delimiter included
    /// ([`crate::frame::MAX_FRAME`]).
    pub max_frame: u32,
    /// The filter's resampling threshold
    /// ([`Config::resample_ess`](crate::Config::resample_ess)).
    pub resample_ess: f32,
}

/// The payload of [`Response::Update`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UpdateMsg<const K: usize> {
    /// Sequence number of the observation.
    pub seq: u32,
    /// Mean of the one-step-ahead predictive of `y_t`, before `y_t`
    /// was absorbed.
    pub pred_mean: f32,
    /// Variance of that predictive.
    pub pred_var: f32,
    /// Log predictive density at the observed `y_t`.
    pub log_pred: f32,
    /// Effective sample size before resampling.
    pub ess: f32,
    /// Whether the particles were resampled at this step.
    pub resampled: bool,
    /// Mean gate probabilities at `x_t`.
    pub gate: GateVec<K>,
    /// SysTick/cycle cost of the update.
    pub ticks: u32,
}

/// The payload of [`Response::Prediction`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PredictionMsg<const K: usize> {
    /// Sequence number of the request.
    pub seq: u32,
    /// Predictive mean.
    pub mean: f32,
    /// Predictive variance.
    pub var: f32,
    /// Mean gate probabilities at `x`.
    pub gate: GateVec<K>,
}

/// The payload of [`Response::Reject`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RejectMsg {
    /// Sequence number of the request, or `None` if it could not be
    /// decoded.
    pub seq: Option<u32>,
    /// Why it was refused.
    pub reason: RejectReason,
}

/// The payload of [`Response::Status`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StatusMsg {
    /// Observations absorbed (answered with `Update`, each `seq` once).
    pub steps: u32,
    /// The `seq` of the last observation answered with `Update` or a
    /// final `Reject`, if any.
    pub last_seq: Option<u32>,
    /// Observations refused with a final `Reject` (bad values, not
    /// `OutOfOrder` or damaged frames).
    pub rejected: u32,
    /// `Σ_t ln p̂(y_t | past)` over the absorbed observations, in the
    /// filter's own f64.
    pub log_marginal: f64,
}

/// The payload of [`Response::SnapshotChunk`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SnapshotChunkMsg {
    /// Offset of `bytes[0]`, as requested.
    pub offset: u32,
    /// Length of the whole stream
    /// ([`checkpoint_len`](crate::snapshot::checkpoint_len)).
    pub total: u32,
    /// Up to [`SNAPSHOT_CHUNK`] bytes; empty when `offset ≥ total`.
    pub bytes: SnapshotBytes,
}

/// The payload of [`Response::RestoreNext`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RestoreNextMsg {
    /// The pass in progress.
    pub pass: Pass,
    /// The next byte the device needs.
    pub offset: u32,
}

/// The payload of [`Response::Restored`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RestoredMsg {
    /// Seed of the run the checkpoint was taken from.
    pub seed: u64,
    /// Observations absorbed by that run, up to the checkpoint.
    pub steps: u32,
    /// The last `seq` it answered with `Update` or a final `Reject`.
    pub last_seq: Option<u32>,
    /// Observations it refused with a final `Reject`.
    pub rejected: u32,
}

/// Why the device refused a request. Append-only, like the messages.
///
/// # Examples
/// ```
/// use hsmoe_core::{protocol::RejectReason, Error};
/// assert_eq!(RejectReason::from(Error::NotPositiveDefinite), RejectReason::Numerical);
/// assert_eq!(RejectReason::WrongLength.as_str(), "feature vector length is not D");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RejectReason {
    /// The frame failed COBS, CRC or message decoding (sent with
    /// `seq: None`).
    Corrupt,
    /// An input value is NaN or infinite.
    NonFinite,
    /// An input value exceeds [`MAX_ABS_INPUT`](crate::MAX_ABS_INPUT).
    OutOfRange,
    /// The feature vector does not have the device's `D` values.
    WrongLength,
    /// The sequence number is out of order; nothing was absorbed.
    OutOfOrder,
    /// Every particle weight vanished; the observation was skipped.
    Degenerate,
    /// A numerical routine failed (e.g. a lost positive definiteness).
    Numerical,
    /// The frame was longer than [`MAX_FRAME`](crate::frame::MAX_FRAME)
    /// and was discarded up to the next `0x00` (sent with `seq: None`).
    TooLong,
    /// The request or setting is not supported by this device, or not in
    /// its current state (e.g. an observation before the first `Reset`).
    Unsupported,
}

impl RejectReason {
    /// A short, static description, for logs and `Display`.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::protocol::RejectReason;
    /// assert_eq!(RejectReason::Corrupt.as_str(), "frame failed COBS, CRC or decoding");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::Corrupt => "frame failed COBS, CRC or decoding",
            RejectReason::NonFinite => "input is NaN or infinite",
            RejectReason::OutOfRange => "input magnitude exceeds MAX_ABS_INPUT",
            RejectReason::WrongLength => "feature vector length is not D",
            RejectReason::OutOfOrder => "sequence number out of order",
            RejectReason::Degenerate => "all particle weights are zero",
            RejectReason::Numerical => "numerical failure",
            RejectReason::TooLong => "frame longer than MAX_FRAME",
            RejectReason::Unsupported => "request not supported",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Error> for RejectReason {
    fn from(error: Error) -> Self {
        match error {
            Error::NonFinite => RejectReason::NonFinite,
            Error::OutOfRange => RejectReason::OutOfRange,
            Error::WrongLength => RejectReason::WrongLength,
            Error::Degenerate => RejectReason::Degenerate,
            Error::NotPositiveDefinite => RejectReason::Numerical,
            // A response outside the family's support (a Bernoulli y of
            // 0.5) is out of the range the filter accepts.
            Error::InvalidResponse => RejectReason::OutOfRange,
            Error::InvalidConfig | Error::Uninitialized => RejectReason::Unsupported,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    extern crate alloc;

    use super::*;
    use alloc::vec::Vec;

    fn gate<const K: usize>(values: &[f32]) -> GateVec<K> {
        GateVec::from_slice(values).unwrap()
    }

    fn round_trip<T>(msg: &T) -> T
    where
        T: Serialize + for<'de> Deserialize<'de>,
    {
        let bytes = postcard::to_allocvec(msg).unwrap();
        postcard::from_bytes(&bytes).unwrap()
    }

    /// One of every request, at D = 4.
    pub(crate) fn all_requests() -> Vec<Request<4>> {
        let x = FeatureVec::from([1.0, -2.5, 0.0, 3.25e-7]);
        Vec::from([
            Request::Hello,
            Request::Observe(ObserveMsg { seq: 0, x, y: -1.5 }),
            Request::Observe(ObserveMsg {
                seq: u32::MAX,
                x,
                y: f32::MAX,
            }),
            Request::Predict(PredictMsg { seq: 12345, x }),
            Request::Reset { seed: u64::MAX },
            Request::Status,
            Request::Snapshot { offset: 146_432 },
            Request::Restore(RestoreMsg {
                offset: 128,
                bytes: SnapshotBytes::from_slice(&[0, 1, 0xFF, 0]).unwrap(),
            }),
            Request::Resampling { ess_fraction: 0.5 },
        ])
    }

    /// One of every response, at K = 4.
    pub(crate) fn all_responses() -> Vec<Response<4>> {
        let g = gate(&[0.1, 0.2, 0.3, 0.4]);
        Vec::from([
            Response::Config(ConfigMsg {
                version: PROTOCOL_VERSION,
                n: 256,
                k: 4,
                d: 4,
                family_tag: 1,
                seed: 0xDEAD_BEEF_0123_4567,
                max_frame: 163,
                resample_ess: 0.5,
            }),
            Response::Update(UpdateMsg {
                seq: 77,
                pred_mean: 0.5,
                pred_var: 1.25,
                log_pred: -3.0,
                ess: 120.5,
                resampled: true,
                gate: g.clone(),
                ticks: 1_000_000,
            }),
            Response::Prediction(PredictionMsg {
                seq: 78,
                mean: -0.5,
                var: 2.0,
                gate: g,
            }),
            Response::Reject(RejectMsg {
                seq: None,
                reason: RejectReason::Corrupt,
            }),
            Response::Reject(RejectMsg {
                seq: Some(5),
                reason: RejectReason::Unsupported,
            }),
            Response::Status(StatusMsg {
                steps: 1_000,
                last_seq: Some(999),
                rejected: 2,
                log_marginal: -1234.5,
            }),
            Response::SnapshotChunk(SnapshotChunkMsg {
                offset: 0,
                total: 146_576,
                bytes: SnapshotBytes::from_slice(b"HSMS").unwrap(),
            }),
            Response::RestoreNext(RestoreNextMsg {
                pass: Pass::Write,
                offset: 0,
            }),
            Response::Restored(RestoredMsg {
                seed: 3,
                steps: 500,
                last_seq: Some(499),
                rejected: 0,
            }),
            Response::RestoreRefused {
                reason: SnapshotError::OutOfOrder { expected: 12 },
            },
            Response::RestoreRefused {
                reason: SnapshotError::Shape,
            },
        ])
    }

    /// Append-only: the existing variants keep their wire tags, the
    /// checkpoint messages come after `Status`, `Resampling` last.
    #[test]
    fn variant_tags_are_append_only() {
        let tags: Vec<u8> = all_requests()
            .iter()
            .map(|r| postcard::to_allocvec(r).unwrap()[0])
            .collect();
        assert_eq!(tags, [0, 1, 1, 2, 3, 4, 5, 6, 7]);
        let tags: Vec<u8> = all_responses()
            .iter()
            .map(|r| postcard::to_allocvec(r).unwrap()[0])
            .collect();
        assert_eq!(tags, [0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 8]);
    }

    #[test]
    fn every_variant_round_trips() {
        for request in all_requests() {
            assert_eq!(round_trip(&request), request);
        }
        for response in all_responses() {
            assert_eq!(round_trip(&response), response);
        }
    }

    #[test]
    fn every_reject_reason_round_trips_with_a_distinct_text() {
        let reasons = [
            RejectReason::Corrupt,
            RejectReason::NonFinite,
            RejectReason::OutOfRange,
            RejectReason::WrongLength,
            RejectReason::OutOfOrder,
            RejectReason::Degenerate,
            RejectReason::Numerical,
            RejectReason::TooLong,
            RejectReason::Unsupported,
        ];
        for (i, reason) in reasons.iter().enumerate() {
            // Append-only: the wire index is the declaration order.
            assert_eq!(postcard::to_allocvec(reason).unwrap(), [i as u8]);
            assert_eq!(round_trip(reason), *reason);
            assert!(reasons[..i].iter().all(|r| r.as_str() != reason.as_str()));
        }
    }

    #[test]
    fn wrong_length_features_keep_seq_and_the_rest_of_the_message() {
        for values in [&[1.0, 2.0, 3.0][..], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]] {
            let sent: Request<8> = Request::Observe(ObserveMsg {
                seq: 4242,
                x: FeatureVec::from_slice(values).unwrap(),
                y: 9.5,
            });
            let Request::Observe(ObserveMsg { seq, x, y }) = as_device_with_d4(&sent) else {
                panic!("decoded as another variant");
            };
            assert_eq!((seq, y), (4242, 9.5));
            assert_eq!(x.len_on_wire(), values.len());
            assert_eq!(x.as_slice(), &values[..values.len().min(4)]);
            assert_eq!(x.as_array(), Err(Error::WrongLength));
        }
    }

    /// Re-reads the encoding of a `Request<8>` as a `Request<4>`, as a
    /// device with D = 4 would.
    fn as_device_with_d4(msg: &Request<8>) -> Request<4> {
        let bytes = postcard::to_allocvec(msg).unwrap();
        postcard::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn empty_and_exact_feature_vectors() {
        let empty = FeatureVec::<4>::from_slice(&[]).unwrap();
        assert_eq!(round_trip(&empty).len_on_wire(), 0);
        assert_eq!(empty.as_array(), Err(Error::WrongLength));
        let full = FeatureVec::from([1.0, 2.0, 3.0, 4.0]);
        assert_eq!(round_trip(&full).as_array(), Ok(&[1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn a_feature_vector_longer_than_its_bytes_is_an_error_not_a_hang() {
        // Claims 2^32 − 1 elements but holds one.
        let bytes = [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0, 0, 0x80, 0x3F];
        assert!(postcard::from_bytes::<FeatureVec<4>>(&bytes).is_err());
    }

    /// The worst case (largest varints, full vectors) of every variant at
    /// D = K = 32; `MAX_SIZE` must be its exact maximum.
    #[test]
    fn max_size_is_the_exact_worst_case() {
        let x = FeatureVec::from([f32::MAX; 32]);
        let full = SnapshotBytes::from_slice(&[0xAB; SNAPSHOT_CHUNK]).unwrap();
        let requests: [Request<32>; 8] = [
            Request::Hello,
            Request::Observe(ObserveMsg {
                seq: u32::MAX,
                x,
                y: 1.0,
            }),
            Request::Predict(PredictMsg { seq: u32::MAX, x }),
            Request::Reset { seed: u64::MAX },
            Request::Status,
            Request::Snapshot { offset: u32::MAX },
            Request::Restore(RestoreMsg {
                offset: u32::MAX,
                bytes: full.clone(),
            }),
            Request::Resampling { ess_fraction: 1.0 },
        ];
        let g: GateVec<32> = gate(&[0.5; 32]);
        let responses: [Response<32>; 9] = [
            Response::Config(ConfigMsg {
                version: u16::MAX,
                n: u32::MAX,
                k: u32::MAX,
                d: u32::MAX,
                family_tag: u32::MAX,
                seed: u64::MAX,
                max_frame: u32::MAX,
                resample_ess: 1.0,
            }),
            Response::Update(UpdateMsg {
                seq: u32::MAX,
                pred_mean: 0.0,
                pred_var: 0.0,
                log_pred: 0.0,
                ess: 0.0,
                resampled: false,
                gate: g.clone(),
                ticks: u32::MAX,
            }),
            Response::Prediction(PredictionMsg {
                seq: u32::MAX,
                mean: 0.0,
                var: 0.0,
                gate: g,
            }),
            Response::Reject(RejectMsg {
                seq: Some(u32::MAX),
                reason: RejectReason::Unsupported,
            }),
            Response::Status(StatusMsg {
                steps: u32::MAX,
                last_seq: Some(u32::MAX),
                rejected: u32::MAX,
                log_marginal: f64::MIN,
            }),
            Response::SnapshotChunk(SnapshotChunkMsg {
                offset: u32::MAX,
                total: u32::MAX,
                bytes: full,
            }),
            Response::RestoreNext(RestoreNextMsg {
                pass: Pass::Verify,
                offset: u32::MAX,
            }),
            Response::Restored(RestoredMsg {
                seed: u64::MAX,
                steps: u32::MAX,
                last_seq: Some(u32::MAX),
                rejected: u32::MAX,
            }),
            Response::RestoreRefused {
                reason: SnapshotError::OutOfOrder {
                    expected: usize::MAX,
                },
            },
        ];
        let size = |bytes: Vec<u8>| bytes.len();
        let request_max = requests
            .iter()
            .map(|r| size(postcard::to_allocvec(r).unwrap()));
        let response_max = responses
            .iter()
            .map(|r| size(postcard::to_allocvec(r).unwrap()));
        assert_eq!(request_max.max(), Some(Request::<32>::MAX_SIZE));
        assert_eq!(response_max.max(), Some(Response::<32>::MAX_SIZE));
        assert_eq!(
            (Request::<32>::MAX_SIZE, Response::<32>::MAX_SIZE),
            (139, 157)
        );
        // The checkpoint messages alone, at the smallest D and K.
        assert_eq!(
            (Request::<1>::MAX_SIZE, Response::<1>::MAX_SIZE),
            (136, 141)
        );
    }

    #[test]
    fn varint_len_matches_postcard() {
        for n in [0usize, 1, 127, 128, 16_383, 16_384, usize::MAX] {
            assert_eq!(varint_len(n), postcard::to_allocvec(&n).unwrap().len());
        }
    }

    #[test]
    fn every_error_maps_to_a_reason() {
        let pairs = [
            (Error::NonFinite, RejectReason::NonFinite),
            (Error::OutOfRange, RejectReason::OutOfRange),
            (Error::WrongLength, RejectReason::WrongLength),
            (Error::Degenerate, RejectReason::Degenerate),
            (Error::NotPositiveDefinite, RejectReason::Numerical),
            (Error::InvalidConfig, RejectReason::Unsupported),
            (Error::Uninitialized, RejectReason::Unsupported),
            (Error::InvalidResponse, RejectReason::OutOfRange),
        ];
        for (error, reason) in pairs {
            assert_eq!(RejectReason::from(error), reason);
        }
    }
}
