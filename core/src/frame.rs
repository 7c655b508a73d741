//! The frame codec: `COBS(postcard(message) ++ crc32) ++ 0x00`.
//!
//! [`encode`] writes a whole frame. On the receiving side a
//! [`FrameAccumulator`] collects bytes up to each `0x00` and [`decode`]
//! turns the frame body back into a message. The CRC is [`CRC_ALGORITHM`]
//! (CRC-32C), appended little-endian to the postcard bytes before COBS
//! stuffing, so it also covers the message length. Nothing here panics on
//! any byte sequence.
//!
//! # Examples
//! ```
//! use hsmoe_core::frame::{self, FrameAccumulator, FrameEvent, MAX_FRAME};
//! use hsmoe_core::protocol::Request;
//!
//! let mut wire = [0u8; MAX_FRAME];
//! let sent = frame::encode(&Request::<4>::Reset { seed: 42 }, &mut wire).unwrap();
//! assert_eq!(sent.last(), Some(&0x00));
//!
//! let mut rx: FrameAccumulator<MAX_FRAME> = FrameAccumulator::new();
//! let mut got = None;
//! for &byte in sent.iter() {
//!     if let Some(FrameEvent::Frame(body)) = rx.push(byte) {
//!         got = Some(frame::decode::<Request<4>>(body).unwrap());
//!     }
//! }
//! assert_eq!(got, Some(Request::Reset { seed: 42 }));
//! ```

use core::fmt;

use postcard::ser_flavors::{crc::CrcModifier, Cobs, Slice};
use serde::{Deserialize, Serialize};

pub use crate::crc::CRC_ALGORITHM;

use crate::crc::CRC;
use crate::protocol::{max, Request, Response};

/// Bytes of the CRC that follows the message.
const CRC_LEN: usize = 4;

/// Longest frame, delimiter included, that a message of `message_len`
/// postcard bytes can encode to.
///
/// COBS adds one code byte per started run of 254 bytes, plus one more
/// when the data ends exactly on a run boundary (postcard's encoder then
/// emits a trailing `0x01`), hence `n / 254 + 1` rather than
/// `⌈n / 254⌉`; the `0x00` delimiter adds one.
///
/// # Examples
/// ```
/// use hsmoe_core::{frame::max_frame_len, protocol::Request};
/// // Firmware with D = 4 could size its receive buffer exactly (the
/// // largest request is a 136-byte `Restore`):
/// assert_eq!(max_frame_len(Request::<4>::MAX_SIZE), 136 + 4 + 1 + 1);
/// ```
pub const fn max_frame_len(message_len: usize) -> usize {
    let stuffed = message_len + CRC_LEN;
    stuffed + stuffed / 254 + 1 + 1
}

/// Longest frame of the protocol, delimiter included: the worst-case
/// [`Request`] or [`Response`] with `D, K ≤ 32` (157 postcard bytes for a
/// `Response::Update`, + 4 CRC + 1 COBS code + 1 delimiter = 163).
///
/// Both [`encode`] and [`decode`] refuse longer frames with
/// [`FrameError::TooLong`], and `FrameAccumulator<MAX_FRAME>` discards
/// them, so every frame one side can send the other can receive.
///
/// # Examples
/// ```
/// assert_eq!(hsmoe_core::frame::MAX_FRAME, 163);
/// ```
pub const MAX_FRAME: usize = max_frame_len(max(Request::<32>::MAX_SIZE, Response::<32>::MAX_SIZE));

/// Why a frame could not be encoded or decoded.
///
/// # Examples
/// ```
/// use hsmoe_core::frame::{decode, FrameError};
/// let mut garbage = [0x03, 0x11, 0x22, 0x02, 0x33];
/// assert_eq!(decode::<u32>(&mut garbage), Err(FrameError::Crc));
/// assert_eq!(FrameError::Crc.to_string(), "CRC missing or mismatched");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// The frame is empty, holds a `0x00` inside, or is not valid COBS.
    Cobs,
    /// The frame is too short to hold a CRC, or the CRC does not match:
    /// the bytes were damaged in transit.
    Crc,
    /// The CRC matches but the bytes are not a message of the expected
    /// type (e.g. a peer speaking another protocol version), or bytes are
    /// left over after it.
    Decode,
    /// The output buffer of [`encode`] is too small for this frame.
    BufferFull,
    /// The frame is longer than [`MAX_FRAME`].
    TooLong,
    /// The message cannot be serialized by postcard (e.g. a sequence of
    /// unknown length); never happens for the protocol's messages.
    Encode,
}

impl FrameError {
    /// A short, static description, for logs and `Display`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(hsmoe_core::frame::FrameError::TooLong.as_str(), "frame longer than MAX_FRAME");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            FrameError::Cobs => "invalid COBS encoding",
            FrameError::Crc => "CRC missing or mismatched",
            FrameError::Decode => "CRC-valid frame is not a known message",
            FrameError::BufferFull => "output buffer too small for the frame",
            FrameError::TooLong => "frame longer than MAX_FRAME",
            FrameError::Encode => "message cannot be serialized",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for FrameError {}

/// Writes `msg` as one whole frame, trailing `0x00` included, at the start
/// of `buf` and returns that part of `buf`.
///
/// # Errors
/// [`FrameError::TooLong`] if the frame would exceed [`MAX_FRAME`] (only
/// reported when `buf` holds at least `MAX_FRAME` bytes);
/// [`FrameError::BufferFull`] if `buf` is too small; [`FrameError::Encode`]
/// if postcard cannot serialize `msg`. The content of `buf` is then
/// unspecified.
///
/// # Examples
/// ```
/// use hsmoe_core::frame::{encode, FrameError, MAX_FRAME};
/// use hsmoe_core::protocol::Request;
/// let mut buf = [0u8; MAX_FRAME];
/// let frame = encode(&Request::<4>::Hello, &mut buf).unwrap();
/// assert_eq!(frame.len(), 1 + 4 + 1 + 1); // tag, CRC, COBS code, 0x00
/// assert_eq!(encode(&Request::<4>::Hello, &mut buf[..3]), Err(FrameError::BufferFull));
/// ```
pub fn encode<'b, T: Serialize + ?Sized>(
    msg: &T,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], FrameError> {
    let limit = buf.len().min(MAX_FRAME);
    encode_unbounded(msg, &mut buf[..limit]).map_err(|error| match error {
        FrameError::BufferFull if limit == MAX_FRAME => FrameError::TooLong,
        other => other,
    })
}

/// [`encode`] without the [`MAX_FRAME`] limit.
fn encode_unbounded<'b, T: Serialize + ?Sized>(
    msg: &T,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], FrameError> {
    // The CRC flavor sees the postcard bytes first, then feeds them and the
    // CRC through COBS, which appends the 0x00.
    let cobs = Cobs::try_new(Slice::new(buf)).map_err(|_| FrameError::BufferFull)?;
    postcard::serialize_with_flavor(msg, CrcModifier::new(cobs, CRC.digest())).map_err(|error| {
        match error {
            postcard::Error::SerializeBufferFull => FrameError::BufferFull,
            _ => FrameError::Encode,
        }
    })
}

/// Decodes one frame body (the bytes before its `0x00`; one trailing
/// `0x00` is tolerated) into a message. COBS is undone in place, so
/// `frame` is overwritten, and `T` may borrow from it.
///
/// The CRC is checked before the message is parsed, so
/// [`FrameError::Crc`] means damage in transit and [`FrameError::Decode`]
/// means an intact frame that is not a `T`.
///
/// # Errors
/// [`FrameError::TooLong`] if the frame exceeds [`MAX_FRAME`],
/// [`FrameError::Cobs`], [`FrameError::Crc`] or [`FrameError::Decode`]
/// as documented on each.
///
/// # Examples
/// ```
/// use hsmoe_core::frame::{decode, encode, FrameError};
/// use hsmoe_core::protocol::{RejectReason, Response, RejectMsg};
/// let msg: Response<4> = Response::Reject(RejectMsg { seq: Some(1), reason: RejectReason::OutOfOrder });
/// let mut buf = [0u8; 32];
/// let frame = encode(&msg, &mut buf).unwrap();
/// let len = frame.len();
/// assert_eq!(decode::<Response<4>>(&mut buf[..len - 1]), Ok(msg.clone()));
///
/// // One flipped bit is caught.
/// let frame = encode(&msg, &mut buf).unwrap();
/// frame[2] ^= 0x10;
/// assert!(decode::<Response<4>>(frame).is_err());
/// ```
pub fn decode<'a, T: Deserialize<'a>>(frame: &'a mut [u8]) -> Result<T, FrameError> {
    let body_len = match frame.last() {
        Some(0) => frame.len() - 1,
        _ => frame.len(),
    };
    let body = &mut frame[..body_len];
    if body.len() >= MAX_FRAME {
        return Err(FrameError::TooLong);
    }
    // `cobs` would silently stop at an inner 0x00 and decode a prefix.
    if body.contains(&0) {
        return Err(FrameError::Cobs);
    }
    let decoded_len = cobs::decode_in_place(body).map_err(|_| FrameError::Cobs)?;
    let body: &'a [u8] = body;
    let decoded = body.get(..decoded_len).ok_or(FrameError::Cobs)?;
    let payload_len = decoded.len().checked_sub(CRC_LEN).ok_or(FrameError::Crc)?;
    let (payload, crc) = decoded.split_at(payload_len);
    let crc: [u8; CRC_LEN] = crc.try_into().map_err(|_| FrameError::Crc)?;
    if CRC.checksum(payload) != u32::from_le_bytes(crc) {
        return Err(FrameError::Crc);
    }
    match postcard::take_from_bytes(payload) {
        Ok((msg, [])) => Ok(msg),
        _ => Err(FrameError::Decode),
    }
}

/// What [`FrameAccumulator::push`] reports when a `0x00` ends a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameEvent<'a> {
    /// A complete frame body, without its `0x00`, to pass to [`decode`].
    Frame(&'a mut [u8]),
    /// The frame was longer than the accumulator's capacity; its bytes
    /// were discarded. Reported once per overlong frame.
    Overflow,
}

/// Collects received bytes, one at a time, into frames.
///
/// `CAP` is the longest frame accepted, delimiter included (use
/// [`MAX_FRAME`]); the buffer holds `CAP` bytes. Each `0x00` that ends a
/// non-empty frame yields exactly one [`FrameEvent`]: the frame, or
/// `Overflow` if it was longer than `CAP`, in which case every byte up to
/// that `0x00` was dropped. Empty frames (`0x00 0x00`) are ignored, so a
/// sender may start with a `0x00` to flush line noise.
///
/// # Examples
/// ```
/// use hsmoe_core::frame::{FrameAccumulator, FrameEvent};
/// // `new` is a const fn, so an accumulator can live in a static.
/// const _: FrameAccumulator<8> = FrameAccumulator::new();
///
/// let mut rx = FrameAccumulator::<4>::new(); // bodies up to 3 bytes
/// let events: Vec<_> = [0x00, 0x01, 0x02, 0x00, 0x11, 0x12, 0x13, 0x14, 0x15, 0x00]
///     .into_iter()
///     .filter_map(|b| rx.push(b).map(|e| matches!(e, FrameEvent::Overflow)))
///     .collect();
/// assert_eq!(events, [false, true]); // one frame, then one overflow
/// ```
#[derive(Debug)]
pub struct FrameAccumulator<const CAP: usize> {
    buf: [u8; CAP],
    /// Bytes of the current frame body in `buf`.
    len: usize,
    /// Whether the current frame has outgrown `CAP`.
    overflowed: bool,
}

impl<const CAP: usize> FrameAccumulator<CAP> {
    /// An empty accumulator. `CAP < 2` (no room for a body) fails to
    /// compile.
    ///
    /// # Examples
    /// ```
    /// let rx = hsmoe_core::frame::FrameAccumulator::<{ hsmoe_core::frame::MAX_FRAME }>::new();
    /// # let _ = rx;
    /// ```
    pub const fn new() -> Self {
        const { assert!(CAP >= 2, "a frame needs a body byte and its 0x00") };
        FrameAccumulator {
            buf: [0; CAP],
            len: 0,
            overflowed: false,
        }
    }

    /// Feeds one received byte; returns an event when `byte` is a `0x00`
    /// ending a non-empty frame, `None` otherwise.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::frame::{FrameAccumulator, FrameEvent};
    /// let mut rx = FrameAccumulator::<8>::new();
    /// assert_eq!(rx.push(0x05), None);
    /// assert_eq!(rx.push(0x00), Some(FrameEvent::Frame(&mut [0x05])));
    /// assert_eq!(rx.push(0x00), None); // empty frame
    /// ```
    pub fn push(&mut self, byte: u8) -> Option<FrameEvent<'_>> {
        if byte == 0 {
            let len = core::mem::take(&mut self.len);
            if core::mem::take(&mut self.overflowed) {
                return Some(FrameEvent::Overflow);
            }
            return match self.buf.get_mut(..len) {
                Some(body) if !body.is_empty() => Some(FrameEvent::Frame(body)),
                _ => None,
            };
        }
        if self.overflowed {
            return None;
        }
        // The delimiter counts toward CAP, so a body holds at most CAP − 1.
        match self.buf.get_mut(self.len) {
            Some(slot) if self.len < CAP - 1 => {
                *slot = byte;
                self.len += 1;
            }
            _ => {
                self.overflowed = true;
                self.len = 0;
            }
        }
        None
    }
}

impl<const CAP: usize> Default for FrameAccumulator<CAP> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    extern crate alloc;

    use super::*;
    use crate::protocol::tests::{all_requests, all_responses};
    use crate::protocol::{FeatureVec, GateVec, ObserveMsg, RejectMsg, RejectReason, UpdateMsg};
    use alloc::vec::Vec;

    /// Encodes `msg` into a fresh `MAX_FRAME` buffer.
    fn frame_of<T: Serialize>(msg: &T) -> Vec<u8> {
        let mut buf = [0u8; MAX_FRAME];
        encode(msg, &mut buf).unwrap().to_vec()
    }

    /// Feeds `bytes` through an accumulator and decodes every frame.
    fn receive<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Vec<Result<T, FrameError>> {
        let mut rx = FrameAccumulator::<MAX_FRAME>::new();
        let mut out = Vec::new();
        for &byte in bytes {
            match rx.push(byte) {
                Some(FrameEvent::Frame(body)) => out.push(decode(body)),
                Some(FrameEvent::Overflow) => out.push(Err(FrameError::TooLong)),
                None => {}
            }
        }
        out
    }

    #[test]
    fn every_variant_round_trips_through_frames() {
        for request in all_requests() {
            let mut frame = frame_of(&request);
            assert_eq!(frame.iter().position(|&b| b == 0), Some(frame.len() - 1));
            assert_eq!(decode::<Request<4>>(&mut frame), Ok(request.clone()));
            assert_eq!(receive(&frame_of(&request)), [Ok(request)]);
        }
        for response in all_responses() {
            assert_eq!(receive(&frame_of(&response)), [Ok(response)]);
        }
    }

    /// Every single-bit flip of a frame, delimiter included, followed by a
    /// clean frame: no damaged byte ever decodes, and if the delimiter
    /// survived, the clean frame after it still does.
    #[test]
    fn a_flipped_bit_is_never_a_wrong_message() {
        let good: Request<4> = Request::Hello;
        let good_frame = frame_of(&good);
        let mut checked = 0;
        for msg in all_requests() {
            let frame = frame_of(&msg);
            for bit in 0..frame.len() * 8 {
                let mut stream = frame.clone();
                stream[bit / 8] ^= 1 << (bit % 8);
                stream.extend_from_slice(&good_frame);
                let results = receive::<Request<4>>(&stream);
                let (last, damaged) = results.split_last().unwrap();
                assert!(damaged.iter().all(Result::is_err), "bit {bit} of {msg:?}");
                let delimiter_hit = bit / 8 == frame.len() - 1;
                if delimiter_hit {
                    // The damaged frame swallowed the clean one.
                    assert!(last.is_err());
                } else {
                    assert!(!damaged.is_empty());
                    assert_eq!(*last, Ok(good.clone()));
                }
                checked += 1;
            }
        }
        assert!(checked > 500);
    }

    #[test]
    fn flipped_bits_report_crc_or_cobs() {
        let requests = all_requests().iter().map(frame_of).collect::<Vec<_>>();
        let responses = all_responses().iter().map(frame_of).collect::<Vec<_>>();
        for frame in requests.iter().chain(&responses) {
            let body = &frame[..frame.len() - 1];
            for bit in 0..body.len() * 8 {
                let mut damaged = body.to_vec();
                damaged[bit / 8] ^= 1 << (bit % 8);
                // Decoded as both message types: neither may succeed.
                let mut copy = damaged.clone();
                let as_request = decode::<Request<4>>(&mut damaged).map(|_| ());
                let as_response = decode::<Response<4>>(&mut copy).map(|_| ());
                for error in [as_request, as_response] {
                    assert!(
                        matches!(error, Err(FrameError::Crc | FrameError::Cobs)),
                        "{error:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn truncated_frames_are_errors() {
        for msg in all_responses() {
            let frame = frame_of(&msg);
            let body = &frame[..frame.len() - 1];
            for len in 0..body.len() {
                let mut cut = body[..len].to_vec();
                assert!(decode::<Response<4>>(&mut cut).is_err(), "len {len}");
            }
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let mut short = [0x01, 0x01];
        assert_eq!(decode::<Request<4>>(&mut short), Err(FrameError::Crc));
        let mut empty: [u8; 0] = [];
        assert_eq!(decode::<Request<4>>(&mut empty), Err(FrameError::Cobs));
        let mut inner_zero = [0x02, 0x11, 0x00, 0x02, 0x22];
        assert_eq!(decode::<Request<4>>(&mut inner_zero), Err(FrameError::Cobs));
        let mut bad_code = [0x09, 0x11, 0x22];
        assert_eq!(decode::<Request<4>>(&mut bad_code), Err(FrameError::Cobs));
        let mut too_long = [0x01; MAX_FRAME];
        assert_eq!(
            decode::<Request<4>>(&mut too_long),
            Err(FrameError::TooLong)
        );
    }

    #[test]
    fn a_valid_crc_around_a_foreign_message_is_a_decode_error() {
        // Variant index 200 is no Request; a u32 then leaves bytes over.
        let mut unknown = frame_of(&(200u8, 1u8));
        assert_eq!(decode::<Request<4>>(&mut unknown), Err(FrameError::Decode));
        let mut trailing = frame_of(&(7u32, 1u8));
        assert_eq!(decode::<u32>(&mut trailing), Err(FrameError::Decode));
    }

    #[test]
    fn wrong_length_observation_keeps_its_seq() {
        for values in [&[1.0, 2.0, 3.0][..], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]] {
            let sent: Request<8> = Request::Observe(ObserveMsg {
                seq: 31337,
                x: FeatureVec::from_slice(values).unwrap(),
                y: -2.0,
            });
            let mut frame = frame_of(&sent);
            let Ok(Request::<4>::Observe(ObserveMsg { seq, x, y })) = decode(&mut frame) else {
                panic!("not decoded as an observation");
            };
            assert_eq!((seq, y, x.len_on_wire()), (31337, -2.0, values.len()));
            assert_eq!(x.as_array(), Err(crate::Error::WrongLength));
        }
    }

    #[test]
    fn overlong_input_gives_one_overflow_then_recovers() {
        let good: Response<4> = Response::Reject(RejectMsg {
            seq: Some(3),
            reason: RejectReason::TooLong,
        });
        let mut stream = Vec::from([0x55; 3 * MAX_FRAME]);
        stream.push(0);
        stream.extend(frame_of(&good));
        assert_eq!(
            receive(&stream),
            [Err(FrameError::TooLong), Ok(good.clone())]
        );

        // Exactly at the limit: a body of MAX_FRAME − 1 bytes is accepted
        // (and fails its CRC), one more byte overflows.
        for (body_len, overflow) in [(MAX_FRAME - 1, false), (MAX_FRAME, true)] {
            let mut rx = FrameAccumulator::<MAX_FRAME>::new();
            assert!((0..body_len).all(|_| rx.push(0x01).is_none()));
            let event = rx.push(0);
            assert_eq!(matches!(event, Some(FrameEvent::Overflow)), overflow);
            assert_eq!(rx.push(0), None);
        }
    }

    #[test]
    fn largest_messages_fit_max_frame_exactly() {
        let gate: GateVec<32> = GateVec::from_slice(&[0.5; 32]).unwrap();
        let update: Response<32> = Response::Update(UpdateMsg {
            seq: u32::MAX,
            pred_mean: 1.0,
            pred_var: 1.0,
            log_pred: 1.0,
            ess: 1.0,
            resampled: true,
            gate,
            ticks: u32::MAX,
        });
        assert_eq!(frame_of(&update).len(), MAX_FRAME);
        let observe: Request<32> = Request::Observe(ObserveMsg {
            seq: u32::MAX,
            x: FeatureVec::from([1.0; 32]),
            y: 1.0,
        });
        assert!(frame_of(&observe).len() <= MAX_FRAME);

        // The Update bound leaves room for an Observe of up to 36 features
        // (11 + 4·36 + 4 CRC + 2 = 161 bytes); 37 no longer fit.
        let mut buf = [0u8; 2 * MAX_FRAME];
        let observe_36 = Request::Observe(ObserveMsg {
            seq: u32::MAX,
            x: FeatureVec::from([1.0; 36]),
            y: 1.0,
        });
        assert_eq!(encode(&observe_36, &mut buf).map(|f| f.len()), Ok(161));
        let observe_37 = Request::Observe(ObserveMsg {
            seq: u32::MAX,
            x: FeatureVec::from([1.0; 37]),
            y: 1.0,
        });
        assert_eq!(encode(&observe_37, &mut buf), Err(FrameError::TooLong));
        assert_eq!(
            encode(&observe_37, &mut buf[..100]),
            Err(FrameError::BufferFull)
        );
    }

    /// `max_frame_len` bounds postcard's COBS output across run
    /// boundaries, and is attained by zero-free data.
    #[test]
    fn max_frame_len_bounds_cobs_stuffing() {
        let mut buf = [0u8; 1200];
        for n in 0..1000usize {
            let data: Vec<u8> = (0..n).map(|i| 1 + (i % 255) as u8).collect();
            // Serialize the raw bytes as a tuple-free slice: varint length + data.
            let len = encode_unbounded(&data[..], &mut buf).unwrap().len();
            let message_len = postcard::to_allocvec(&data[..]).unwrap().len();
            assert!(len <= max_frame_len(message_len), "n {n}");
        }
        // 248 zero-free data bytes + 2 varint + 4 CRC end exactly on a
        // 254-byte run: the worst case, one byte above `cobs`'s own bound.
        let message = |fill: u8| postcard::to_allocvec(&[fill; 248][..]).unwrap();
        let fill = (1..=255u8)
            .find(|&fill| !CRC.checksum(&message(fill)).to_le_bytes().contains(&0))
            .unwrap();
        let len = encode_unbounded(&[fill; 248][..], &mut buf).unwrap().len();
        assert_eq!(message(fill).len(), 250);
        assert_eq!(len, max_frame_len(250));
        assert_eq!(len, cobs::max_encoding_length(254) + 2);
    }

    /// xorshift64 (Marsaglia 2003), for the deterministic fuzz tests.
    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// Deterministic fuzz: 100k xorshift byte strings, biased toward 0x00
    /// so that frames of every length occur, through accumulator + decode.
    #[test]
    fn random_bytes_never_panic() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let mut rx = FrameAccumulator::<MAX_FRAME>::new();
        let (mut frames, mut overflows, mut decoded) = (0, 0, 0);
        for _ in 0..100_000 {
            let len = next() % 200;
            for _ in 0..len {
                let b = next();
                let byte = if b % 64 == 0 { 0 } else { (b >> 8) as u8 };
                match rx.push(byte) {
                    Some(FrameEvent::Frame(body)) => {
                        frames += 1;
                        let mut copy = body.to_vec();
                        decoded += u32::from(decode::<Request<4>>(body).is_ok());
                        decoded += u32::from(decode::<Response<4>>(&mut copy).is_ok());
                    }
                    Some(FrameEvent::Overflow) => overflows += 1,
                    None => {}
                }
            }
        }
        // A byte is 0x00 with probability ≈ 1/51, so ≈ 1.9e5 delimiters end
        // ≈ 1.8e5 frames and ≈ 8e3 overflows ((1 − 1/51)^162 ≈ 4%).
        assert!(frames > 150_000, "{frames}");
        assert!(overflows > 5_000, "{overflows}");
        // A random 32-bit CRC match is a 2^-32 event per frame.
        assert_eq!(decoded, 0);
    }

    /// Raw bytes for postcard: a tuple, so no length prefix.
    struct Raw<'a>(&'a [u8]);

    impl Serialize for Raw<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeTuple;
            let mut tuple = serializer.serialize_tuple(self.0.len())?;
            for byte in self.0 {
                tuple.serialize_element(byte)?;
            }
            tuple.end()
        }
    }

    /// Deterministic fuzz past the CRC: random payloads with a valid CRC
    /// and a small first byte (a real variant index), so the message
    /// decoders themselves see garbage. They may succeed or fail, never
    /// panic.
    #[test]
    fn random_crc_valid_payloads_never_panic() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let mut buf = [0u8; MAX_FRAME];
        let mut payload = [0u8; 120];
        let (mut ok, mut decode_errors) = (0, 0);
        for _ in 0..50_000 {
            let len = 1 + (next() % 120) as usize;
            for byte in payload.iter_mut() {
                *byte = next() as u8;
            }
            payload[0] %= 6;
            let frame = encode(&Raw(&payload[..len]), &mut buf).unwrap();
            let mut copy = frame.to_vec();
            for result in [
                decode::<Request<4>>(frame).map(|_| ()),
                decode::<Response<4>>(&mut copy).map(|_| ()),
            ] {
                match result {
                    Ok(()) => ok += 1,
                    Err(FrameError::Decode) => decode_errors += 1,
                    Err(other) => panic!("CRC-valid frame gave {other:?}"),
                }
            }
        }
        assert!(decode_errors > 50_000, "{decode_errors}");
        assert!(ok > 0, "{ok}");
    }

    #[test]
    fn errors_have_distinct_texts() {
        let all = [
            FrameError::Cobs,
            FrameError::Crc,
            FrameError::Decode,
            FrameError::BufferFull,
            FrameError::TooLong,
            FrameError::Encode,
        ];
        for (i, e) in all.iter().enumerate() {
            assert!(all[..i].iter().all(|o| o.as_str() != e.as_str()));
        }
    }
}
