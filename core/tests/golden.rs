//! Golden byte vectors: every `Request` and `Response` variant as a whole
//! frame, one filter snapshot and one device checkpoint (the bytes of a
//! `hsmoe run --checkpoint` file), each encoded from fixed inputs and
//! compared byte for byte with a checked-in hex file in `tests/golden/`,
//! then decoded back (docs/protocol.md §6).
//!
//! An intended format change must also bump the version
//! (`PROTOCOL_VERSION` or the snapshot `FORMAT_VERSION`, docs/protocol.md
//! §3). The snapshot and checkpoint vectors also hold a filter's state
//! after a few steps, so a change in the filter's arithmetic changes their
//! numbers (not their layout or length) without a version bump: old files
//! still decode and resume. Either way, rewrite the files with
//!
//!     HSMOE_BLESS=1 cargo test -p hsmoe-core --release --test golden
//!
//! and review the diff.

use std::path::PathBuf;

use hsmoe_core::expert::{Bernoulli, Expert, Gaussian, Student};
use hsmoe_core::frame::{decode, encode, MAX_FRAME};
use hsmoe_core::protocol::{
    ConfigMsg, FeatureVec, GateVec, ObserveMsg, PredictMsg, PredictionMsg, RejectMsg, RejectReason,
    Request, Response, RestoreMsg, RestoreNextMsg, RestoredMsg, SnapshotBytes, SnapshotChunkMsg,
    StatusMsg, UpdateMsg, PROTOCOL_VERSION,
};
use hsmoe_core::snapshot::{
    xorshift_from_state, xorshift_state, CheckpointProgress, CheckpointRestorer, LinkState, Pass,
    SnapshotError,
};
use hsmoe_core::{Config, Filter};
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;

/// Width of the golden messages: `D` features, `K` experts.
const D: usize = 3;
const K: usize = 3;

/// The small deterministic filter of the snapshot and checkpoint vectors.
type Small = Filter<4, 2, 2>;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.hex"))
}

/// Lowercase hex, 32 bytes a line.
fn to_hex(bytes: &[u8]) -> String {
    let mut text = String::new();
    for line in bytes.chunks(32) {
        for byte in line {
            text.push_str(&format!("{byte:02x}"));
        }
        text.push('\n');
    }
    text
}

fn from_hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Compares `bytes` with the golden file `name` (or rewrites it under
/// `HSMOE_BLESS=1`) and returns the golden bytes.
fn check(name: &str, bytes: &[u8]) -> Vec<u8> {
    let file = path(name);
    if std::env::var_os("HSMOE_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&file, to_hex(bytes)).unwrap();
    }
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (HSMOE_BLESS=1 writes it)", file.display()));
    let golden = from_hex(&text);
    assert_eq!(
        to_hex(bytes),
        to_hex(&golden),
        "{name}: the bytes changed; a format change bumps the version, then bless"
    );
    golden
}

fn frame<T: serde::Serialize>(msg: &T) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    encode(msg, &mut buf).unwrap().to_vec()
}

fn features() -> FeatureVec<D> {
    FeatureVec::from([1.0, -0.75, 3.5e-3])
}

fn gate() -> GateVec<K> {
    GateVec::from_slice(&[0.625, 0.25, 0.125]).unwrap()
}

fn requests() -> Vec<(&'static str, Request<D>)> {
    vec![
        ("request_hello", Request::Hello),
        (
            "request_observe",
            Request::Observe(ObserveMsg {
                seq: 300,
                x: features(),
                y: -1.25,
            }),
        ),
        (
            "request_predict",
            Request::Predict(PredictMsg {
                seq: 70_000,
                x: features(),
            }),
        ),
        (
            "request_reset",
            Request::Reset {
                seed: 0x0123_4567_89AB_CDEF,
            },
        ),
        ("request_status", Request::Status),
        ("request_snapshot", Request::Snapshot { offset: 256 }),
        (
            "request_restore",
            Request::Restore(RestoreMsg {
                offset: 128,
                bytes: SnapshotBytes::from_slice(&[0x48, 0x53, 0x00, 0xFF, 0x01]).unwrap(),
            }),
        ),
        (
            "request_resampling",
            Request::Resampling { ess_fraction: 0.5 },
        ),
    ]
}

fn responses() -> Vec<(&'static str, Response<K>)> {
    vec![
        (
            "response_config",
            Response::Config(ConfigMsg {
                version: PROTOCOL_VERSION,
                n: 128,
                k: K as u32,
                d: D as u32,
                family_tag: <Gaussian<D> as Expert<D>>::TAG,
                seed: 42,
                max_frame: MAX_FRAME as u32,
                resample_ess: 0.5,
            }),
        ),
        (
            "response_update",
            Response::Update(UpdateMsg {
                seq: 300,
                pred_mean: 0.5,
                pred_var: 1.5,
                log_pred: -1.375,
                ess: 97.25,
                resampled: true,
                gate: gate(),
                ticks: 123_456,
            }),
        ),
        (
            "response_prediction",
            Response::Prediction(PredictionMsg {
                seq: 70_000,
                mean: -0.5,
                var: 2.25,
                gate: gate(),
            }),
        ),
        (
            "response_reject",
            Response::Reject(RejectMsg {
                seq: Some(301),
                reason: RejectReason::NonFinite,
            }),
        ),
        (
            "response_status",
            Response::Status(StatusMsg {
                steps: 1_000,
                last_seq: Some(999),
                rejected: 2,
                log_marginal: -1234.5625,
            }),
        ),
        (
            "response_snapshot_chunk",
            Response::SnapshotChunk(SnapshotChunkMsg {
                offset: 128,
                total: 1_000,
                bytes: SnapshotBytes::from_slice(b"HSMS\x01\x00").unwrap(),
            }),
        ),
        (
            "response_restore_next",
            Response::RestoreNext(RestoreNextMsg {
                pass: Pass::Write,
                offset: 384,
            }),
        ),
        (
            "response_restored",
            Response::Restored(RestoredMsg {
                seed: 42,
                steps: 500,
                last_seq: Some(499),
                rejected: 1,
            }),
        ),
        (
            "response_restore_refused",
            Response::RestoreRefused {
                reason: SnapshotError::OutOfOrder { expected: 640 },
            },
        ),
    ]
}

#[test]
fn every_request_matches_its_golden_frame() {
    for (name, request) in requests() {
        let mut golden = check(name, &frame(&request));
        assert_eq!(decode::<Request<D>>(&mut golden), Ok(request), "{name}");
    }
}

#[test]
fn every_response_matches_its_golden_frame() {
    for (name, response) in responses() {
        let mut golden = check(name, &frame(&response));
        assert_eq!(decode::<Response<K>>(&mut golden), Ok(response), "{name}");
    }
}

/// A small filter of experts `E` after a few observations, from a fixed
/// seed; `E`'s responses are `y` mapped by `response`.
fn small_filter_of<E: Expert<2>>(
    response: fn(f32) -> f32,
) -> (Box<Filter<4, 2, 2, E>>, XorShiftRng) {
    let mut filter = Box::new(Filter::new());
    let mut rng = XorShiftRng::seed_from_u64(7);
    filter.reset(&Config::default_for(2), &mut rng).unwrap();
    for (x, y) in [
        (0.5, 1.0),
        (-1.0, -0.5),
        (0.25, 0.75),
        (2.0, 2.5),
        (-0.5, 0.0),
    ] {
        filter.observe(&[1.0, x], response(y), &mut rng).unwrap();
    }
    (filter, rng)
}

/// The Gaussian filter of the snapshot and checkpoint vectors.
fn small_filter() -> (Box<Small>, XorShiftRng) {
    small_filter_of(|y| y)
}

/// `E`'s small filter's snapshot is the golden `name`, and restores to a
/// filter that writes it again.
fn snapshot_round_trip<E: Expert<2>>(name: &str, response: fn(f32) -> f32) {
    let (filter, rng) = small_filter_of::<E>(response);
    let mut bytes = vec![0u8; Filter::<4, 2, 2, E>::SNAPSHOT_LEN];
    filter.write_snapshot(&xorshift_state(&rng), 0, &mut bytes);
    let golden = check(name, &bytes);

    let mut copy = Box::new(Filter::<4, 2, 2, E>::new());
    let state = copy.restore_snapshot(&golden).unwrap();
    assert_eq!(state, xorshift_state(&rng));
    let mut again = vec![0u8; Filter::<4, 2, 2, E>::SNAPSHOT_LEN];
    copy.write_snapshot(&xorshift_state(&xorshift_from_state(&state)), 0, &mut again);
    assert_eq!(again, golden);
}

#[test]
fn a_snapshot_matches_its_golden_stream() {
    snapshot_round_trip::<Gaussian<2>>("snapshot", |y| y);
}

#[test]
fn every_family_has_a_golden_snapshot() {
    snapshot_round_trip::<Bernoulli<2>>("snapshot_bernoulli", |y| f32::from(y > 0.5));
    snapshot_round_trip::<Student<2>>("snapshot_student", |y| y);
}

#[test]
fn a_checkpoint_matches_its_golden_file() {
    let (filter, rng) = small_filter();
    let link = LinkState {
        last_seq: Some(4),
        rejected: 1,
        seed: 7,
    };
    let mut bytes = vec![0u8; Small::CHECKPOINT_LEN];
    filter.write_checkpoint(&xorshift_state(&rng), &link, 0, &mut bytes);
    let golden = check("checkpoint", &bytes);

    let mut copy = Box::new(Small::new());
    let mut restorer = CheckpointRestorer::new();
    let verified = restorer.push(&mut copy.as_set(), 0, &golden).unwrap();
    assert_eq!(verified, CheckpointProgress::Verified);
    let restored = restorer.push(&mut copy.as_set(), 0, &golden).unwrap();
    let rng_state = xorshift_state(&rng);
    assert_eq!(restored, CheckpointProgress::Restored { rng_state, link });
    let mut again = vec![0u8; Small::CHECKPOINT_LEN];
    copy.write_checkpoint(&rng_state, &link, 0, &mut again);
    assert_eq!(again, golden);
}
