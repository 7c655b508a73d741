//! Checkpoint and restore through the public API: bit-identical
//! continuation, and refusal of corrupt or mismatched snapshots with the
//! live filter untouched.

use crc::{Crc, CRC_32_ISCSI};
use hsmoe_core::expert::{Bernoulli, Expert, Gaussian, Student};
use hsmoe_core::snapshot::{
    xorshift_from_state, xorshift_state, Pass, RestoreProgress, Restorer, SnapshotError,
    SnapshotShape, FORMAT_VERSION, RNG_STATE_LEN,
};
use hsmoe_core::{Config, Error, Filter};
use hsmoe_core::{Const, Experts, Features};
use rand_core::{RngCore, SeedableRng};
use rand_xorshift::XorShiftRng;

type Small = Filter<6, 3, 2>;

/// A deterministic, mildly gated data stream.
fn row(t: usize) -> ([f32; 2], f32) {
    let u = ((t * 37) % 101) as f32 / 50.0 - 1.0;
    let y = if u < 0.0 {
        1.0 + 0.5 * u
    } else {
        -1.0 + 2.0 * u
    };
    ([1.0, u], y + 0.05 * ((t * 13 % 7) as f32 - 3.0))
}

fn warmed_up(seed: u64, steps: usize) -> (Box<Small>, XorShiftRng) {
    let mut filter = Box::new(Small::new());
    let mut rng = XorShiftRng::seed_from_u64(seed);
    filter.reset(&Config::default_for(2), &mut rng).unwrap();
    for t in 0..steps {
        let (x, y) = row(t);
        filter.observe(&x, y, &mut rng).unwrap();
    }
    (filter, rng)
}

/// Everything, step scratch included: Debug output of f32/f64 round-trips
/// exactly, and the RNG is compared by its state bytes (its Debug output
/// hides the state).
fn fingerprint(filter: &Small, rng: &XorShiftRng) -> String {
    format!(
        "{:?}{:?}{:?}",
        filter.particles(),
        filter.state(),
        xorshift_state(rng)
    )
}

fn snapshot_of(filter: &Small, rng: &XorShiftRng) -> Vec<u8> {
    let mut bytes = vec![0u8; Small::SNAPSHOT_LEN];
    assert_eq!(
        filter.write_snapshot(&xorshift_state(rng), 0, &mut bytes),
        bytes.len()
    );
    bytes
}

/// Rewrites the trailing CRC so that a deliberately edited snapshot passes
/// the checksum and reaches the checks behind it.
fn reseal(bytes: &mut [u8]) {
    let body = bytes.len() - 4;
    let crc = Crc::<u32>::new(&CRC_32_ISCSI).checksum(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn chunked_writes_equal_one_whole_write() {
    let (filter, rng) = warmed_up(1, 30);
    let whole = snapshot_of(&filter, &rng);
    let state = xorshift_state(&rng);
    for size in [1, 3, 4, 5, 64, 1000] {
        let mut chunked = vec![0u8; whole.len()];
        let mut offset = 0;
        for chunk in chunked.chunks_mut(size) {
            offset += filter.write_snapshot(&state, offset, chunk);
        }
        assert_eq!(offset, whole.len());
        assert_eq!(chunked, whole, "chunk size {size}");
    }
    // Out-of-order and repeated requests give the same bytes.
    let mut tail = [0u8; 9];
    assert_eq!(filter.write_snapshot(&state, 101, &mut tail), 9);
    assert_eq!(tail, whole[101..110]);
    assert_eq!(filter.write_snapshot(&state, whole.len() - 2, &mut tail), 2);
    assert_eq!(tail[..2], whole[whole.len() - 2..]);
}

/// The core guarantee: restored state + restored RNG continue exactly as
/// the original, step for step, whatever the chunking of both passes.
#[test]
fn restored_filter_continues_bit_identically() {
    for (seed, chunk) in [(2u64, 1usize), (3, 7), (4, 64), (5, 100_000)] {
        let (mut original, mut rng) = warmed_up(seed, 50);
        let bytes = snapshot_of(&original, &rng);

        // A fresh, never-reset filter as the target, fed in chunks.
        let mut copy = Box::new(Small::new());
        let mut restorer = Restorer::new();
        for pass in [Pass::Verify, Pass::Write] {
            for (i, piece) in bytes.chunks(chunk).enumerate() {
                let progress = restorer.push(&mut copy.as_set(), i * chunk, piece).unwrap();
                let end = (i + 1) * chunk >= bytes.len();
                match (pass, progress) {
                    (_, RestoreProgress::Next { pass: p, offset }) => {
                        assert!(!end && p == pass && offset == (i + 1) * chunk)
                    }
                    (Pass::Verify, RestoreProgress::Verified) => assert!(end),
                    (Pass::Write, RestoreProgress::Restored { rng_state }) => {
                        assert!(end);
                        assert_eq!(rng_state, xorshift_state(&rng));
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        let mut copy_rng = xorshift_from_state(&xorshift_state(&rng));
        assert_eq!(snapshot_of(&copy, &copy_rng), bytes);

        for t in 50..250 {
            let (x, y) = row(t);
            let a = original.observe(&x, y, &mut rng).unwrap();
            let b = copy.observe(&x, y, &mut copy_rng).unwrap();
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "step {t}");
        }
        // Now the step scratch agrees too.
        assert_eq!(fingerprint(&copy, &copy_rng), fingerprint(&original, &rng));
        assert_eq!(copy.state().steps(), 250);
    }
}

/// Every single-byte corruption, anywhere in the stream, is refused and
/// leaves a live filter exactly as it was; the filter then carries on.
#[test]
fn any_corrupt_byte_is_refused_and_the_live_filter_is_untouched() {
    let (source, source_rng) = warmed_up(6, 20);
    let good = snapshot_of(&source, &source_rng);
    let (mut live, mut live_rng) = warmed_up(7, 35);
    let before = fingerprint(&live, &live_rng);
    let mut refusals = [0usize; 6];
    for at in 0..good.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[at] ^= flip;
            let error = live.restore_snapshot(&bad).unwrap_err();
            let slot = match error {
                SnapshotError::BadMagic => 0,
                SnapshotError::Version => 1,
                SnapshotError::Shape => 2,
                SnapshotError::Invalid => 3,
                SnapshotError::Crc => 4,
                SnapshotError::Family => 5,
                other => panic!("byte {at} ^ {flip:#x}: unexpected {other:?}"),
            };
            refusals[slot] += 1;
            assert_eq!(fingerprint(&live, &live_rng), before, "byte {at}");
        }
    }
    println!(
        "{} corruptions refused: magic {}, version {}, shape {}, invalid {}, CRC {}, family {}",
        3 * good.len(),
        refusals[0],
        refusals[1],
        refusals[2],
        refusals[3],
        refusals[4],
        refusals[5]
    );
    // Header fields are checked before the CRC, the rest by the CRC.
    assert_eq!(refusals[0], 12);
    assert_eq!(refusals[5], 12);
    assert!(refusals[4] > 3 * (good.len() - 100));
    // Truncated and overlong streams are refused too.
    assert_eq!(
        live.restore_snapshot(&good[..good.len() - 1]),
        Err(SnapshotError::Truncated)
    );
    assert_eq!(live.restore_snapshot(&[]), Err(SnapshotError::Truncated));
    let mut long = good.clone();
    long.push(0);
    assert_eq!(live.restore_snapshot(&long), Err(SnapshotError::TooLong));
    assert_eq!(fingerprint(&live, &live_rng), before);
    live.observe(&[1.0, 0.2], 0.4, &mut live_rng).unwrap();
}

#[test]
fn snapshots_of_other_shapes_and_versions_are_refused() {
    let (live, rng) = warmed_up(8, 10);
    let good = snapshot_of(&live, &rng);

    fn refuse<const N: usize, const K: usize, const D: usize>(bytes: &[u8]) -> SnapshotError
    where
        Const<K>: Experts,
        Const<D>: Features,
    {
        refuse_into::<N, K, D, Gaussian<D>>(bytes)
    }
    fn refuse_into<const N: usize, const K: usize, const D: usize, E: Expert<D>>(
        bytes: &[u8],
    ) -> SnapshotError
    where
        Const<K>: Experts,
        Const<D>: Features,
    {
        let mut other: Box<Filter<N, K, D, E>> = Box::new(Filter::new());
        let mut rng = XorShiftRng::seed_from_u64(1);
        other.reset(&Config::default_for(D), &mut rng).unwrap();
        let before = format!("{:?}{:?}", other.particles(), other.state());
        let error = other.restore_snapshot(bytes).unwrap_err();
        assert_eq!(
            format!("{:?}{:?}", other.particles(), other.state()),
            before
        );
        error
    }
    assert_eq!(refuse::<7, 3, 2>(&good), SnapshotError::Shape);
    assert_eq!(refuse::<5, 3, 2>(&good), SnapshotError::Shape);
    assert_eq!(refuse::<6, 2, 2>(&good), SnapshotError::Shape);
    assert_eq!(refuse::<6, 3, 3>(&good), SnapshotError::Shape);
    // Same N, K, D, other experts: a word count that might even match
    // must not be read as another family's statistics.
    assert_eq!(
        refuse_into::<6, 3, 2, Bernoulli<2>>(&good),
        SnapshotError::Family
    );
    assert_eq!(
        refuse_into::<6, 3, 2, Student<2>>(&good),
        SnapshotError::Family
    );
    let student = {
        let mut filter: Box<Filter<6, 3, 2, Student<2>>> = Box::new(Filter::new());
        let mut rng = XorShiftRng::seed_from_u64(2);
        filter.reset(&Config::default_for(2), &mut rng).unwrap();
        let mut bytes = vec![0u8; Filter::<6, 3, 2, Student<2>>::SNAPSHOT_LEN];
        filter.write_snapshot(&xorshift_state(&rng), 0, &mut bytes);
        bytes
    };
    // Student experts of another ν have the same layout.
    assert_eq!(
        refuse_into::<6, 3, 2, Student<2, 3>>(&student),
        SnapshotError::Family
    );

    // Another format version, another protocol version, another magic,
    // each with a valid CRC.
    for (at, value, expected) in [
        (4, FORMAT_VERSION + 1, SnapshotError::Version),
        (
            6,
            hsmoe_core::protocol::PROTOCOL_VERSION + 1,
            SnapshotError::Version,
        ),
        (0, u16::from_le_bytes(*b"XX"), SnapshotError::BadMagic),
    ] {
        let mut edited = good.clone();
        edited[at..at + 2].copy_from_slice(&value.to_le_bytes());
        reseal(&mut edited);
        assert_eq!(refuse::<6, 3, 2>(&edited), expected);
    }

    // A CRC-valid snapshot whose settings are invalid (v0 = −1).
    let mut edited = good.clone();
    let config_at = SnapshotShape::LEN + RNG_STATE_LEN;
    edited[config_at..config_at + 4].copy_from_slice(&(-1.0f32).to_le_bytes());
    reseal(&mut edited);
    assert_eq!(refuse::<6, 3, 2>(&edited), SnapshotError::Invalid);
}

/// A write pass whose bytes differ from the verified ones cannot be
/// undone; the filter must then refuse to run until a good restore.
#[test]
fn a_write_pass_that_differs_leaves_the_filter_refusing_to_run() {
    let (source, source_rng) = warmed_up(9, 15);
    let good = snapshot_of(&source, &source_rng);
    let (mut live, mut rng) = warmed_up(10, 5);
    let mut restorer = Restorer::new();
    assert_eq!(
        restorer.push(&mut live.as_set(), 0, &good),
        Ok(RestoreProgress::Verified)
    );
    let mut other = good.clone();
    other[good.len() / 2] ^= 0x10;
    assert_eq!(
        restorer.push(&mut live.as_set(), 0, &other),
        Err(SnapshotError::CommitFailed)
    );
    assert_eq!(
        live.observe(&[1.0, 0.0], 0.0, &mut rng).unwrap_err(),
        Error::Uninitialized
    );
    assert_eq!(live.predict(&[1.0, 0.0]).unwrap_err(), Error::Uninitialized);
    // The restorer started over; a good stream recovers the filter.
    let state = live.restore_snapshot(&good).unwrap();
    let mut rng = xorshift_from_state(&state);
    assert_eq!(snapshot_of(&live, &rng), good);
    live.observe(&[1.0, 0.0], 0.0, &mut rng).unwrap();
}

/// Chunks lost, repeated or delivered late, as on a noisy link: the
/// restorer asks for what it needs and ends with the exact state.
#[test]
fn lost_and_repeated_chunks_are_recovered_by_resending() {
    let (source, source_rng) = warmed_up(11, 25);
    let good = snapshot_of(&source, &source_rng);
    let mut live = Box::new(Small::new());
    let mut restorer = Restorer::new();
    let mut link = XorShiftRng::seed_from_u64(99);
    let (mut offset, mut sends, mut done) = (0usize, 0usize, None);
    let mut last_sent = 0usize;
    while done.is_none() {
        sends += 1;
        assert!(sends < 100_000, "no progress");
        let len = 1 + (link.next_u32() % 40) as usize;
        // 10% of chunks are lost, 10% are an old chunk repeated.
        let roll = link.next_u32() % 10;
        let start = match roll {
            0 => continue,
            1 => last_sent.saturating_sub(len / 2),
            _ => offset,
        };
        let end = (start + len).min(good.len());
        last_sent = start;
        match restorer.push(&mut live.as_set(), start, &good[start..end]) {
            Ok(RestoreProgress::Next { offset: next, .. }) => offset = next,
            Ok(RestoreProgress::Verified) => offset = 0,
            Ok(RestoreProgress::Restored { rng_state }) => done = Some(rng_state),
            Err(SnapshotError::OutOfOrder { expected }) => offset = expected,
            Err(e) => panic!("{e:?}"),
        }
    }
    let rng = xorshift_from_state(&done.unwrap());
    assert_eq!(snapshot_of(&live, &rng), good);
    println!(
        "restored after {sends} sends of a {}-byte snapshot",
        good.len()
    );
}

/// A snapshot read while the filter moves on is inconsistent; its CRC
/// (computed from the state at the time of the last chunk) exposes it.
#[test]
fn a_snapshot_taken_across_a_step_is_refused() {
    let (mut filter, mut rng) = warmed_up(12, 10);
    let state = xorshift_state(&rng);
    let mut bytes = vec![0u8; Small::SNAPSHOT_LEN];
    let half = bytes.len() / 2;
    filter.write_snapshot(&state, 0, &mut bytes[..half]);
    filter.observe(&[1.0, 0.3], 0.1, &mut rng).unwrap();
    filter.write_snapshot(&state, half, &mut bytes[half..]);
    let mut target = Box::new(Small::new());
    assert_eq!(target.restore_snapshot(&bytes), Err(SnapshotError::Crc));
}

/// A filter that was never reset has no valid prior: its snapshot is
/// refused, and the live filter keeps running.
#[test]
fn a_snapshot_of_a_never_reset_filter_is_refused() {
    let empty = Small::new();
    let mut bytes = vec![0u8; Small::SNAPSHOT_LEN];
    empty.write_snapshot(&[1; 16], 0, &mut bytes);
    let (mut live, mut rng) = warmed_up(13, 3);
    let before = fingerprint(&live, &rng);
    assert_eq!(live.restore_snapshot(&bytes), Err(SnapshotError::Invalid));
    assert_eq!(fingerprint(&live, &rng), before);
    live.observe(&[1.0, 0.0], 0.0, &mut rng).unwrap();
}
