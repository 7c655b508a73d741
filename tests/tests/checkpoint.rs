//! Checkpoint and restore through the firmware in QEMU (docs/protocol.md §5).
//!
//! - Kill and resume: a run with `--checkpoint-every` is stopped partway
//!   (its QEMU killed), a fresh QEMU is restored from the last checkpoint
//!   with `--resume`, and the combined telemetry must equal an
//!   uninterrupted run's bit for bit, every `seq` answered exactly once;
//!   the resumed run's final checkpoint must equal the uninterrupted
//!   run's byte for byte (filter, RNG and link state).
//! - A corrupt checkpoint (one flipped byte, in the particles or in the
//!   link trailer), a mismatched one (header edited to another N, or
//!   another format version) and a truncated one are refused with the
//!   documented error, and the device is left unchanged bit for bit (its
//!   own checkpoint afterwards equals the one before) and keeps working.
//! - A long run with checkpoints: every `seq` answered once, the device's
//!   `Status` count equal to the host's.
//!
//! CI runs short versions; `--ignored` runs 10 000 rows. They need
//! `qemu-system-arm` (or `$HSMOE_QEMU`); without it they skip loudly,
//! except under `CI=true`, where they fail.

use hsmoe_core::protocol::RestoredMsg;
use hsmoe_core::snapshot::{self, checkpoint_len, LinkState, Pass, SnapshotError, LINK_STATE_LEN};
use hsmoe_host::family::Family;
use hsmoe_host::faults::FaultConfig;
use hsmoe_host::link::RestoreRefused;
use hsmoe_host::run::{self, CheckpointOptions, Device, RunArgs, RunSummary, Start, StreamOptions};
use hsmoe_host::serial::{self, Board, Qemu};
use hsmoe_host::simulate::{self, Design};
use hsmoe_tests::{
    qemu_run_args, recorded_updates, scratch, UpdateBits, FIRMWARE_D, FIRMWARE_K, FIRMWARE_N,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The default firmware build.
const N: usize = FIRMWARE_N;
const K: usize = FIRMWARE_K;
const D: usize = FIRMWARE_D;

/// Seed of the device's random stream.
const SEED: u64 = 3;

/// Waiting for an answer: a clean link answers in milliseconds.
const TIMEOUT_MS: u64 = 5_000;

/// On a faulty link: resend soon, and hold delayed frames longer than
/// that (as `link_faults.rs`).
const FAULT_TIMEOUT_MS: u64 = 250;
const FAULT_DELAY: Duration = Duration::from_millis(400);

/// A scratch directory with a simulated data set of `rows` rows.
fn scratch_with_data(test: &str, rows: usize) -> (PathBuf, PathBuf) {
    scratch_with_family_data(test, rows, Family::Gaussian)
}

/// A scratch directory with `rows` simulated rows of `family`'s experts.
fn scratch_with_family_data(test: &str, rows: usize, family: Family) -> (PathBuf, PathBuf) {
    let dir = scratch(test);
    let csv = dir.join("data.csv");
    let sim = simulate::simulate_family(Design::Linear, family, rows, 17);
    simulate::write(&sim, &csv).unwrap();
    (dir, csv)
}

/// Run arguments for a quiet QEMU run of `csv` with the test's seed.
fn args(csv: &Path) -> RunArgs {
    qemu_run_args(csv, SEED, TIMEOUT_MS)
}

/// The link trailer of a checkpoint file.
fn trailer(bytes: &[u8]) -> LinkState {
    let core = bytes.len() - LINK_STATE_LEN;
    let crc = u32::from_le_bytes(bytes[core - 4..core].try_into().unwrap());
    LinkState::from_bytes(bytes[core..].try_into().unwrap(), crc).unwrap()
}

/// Runs `rows` rows three ways: uninterrupted; with a checkpoint every
/// `every` rows, stopped (QEMU killed) after `stop` rows; resumed from
/// that run's last checkpoint in a fresh QEMU. The last two go through
/// `faults` if given. Checks that nothing was lost, repeated or changed.
fn killed_and_resumed_run_equals_uninterrupted_run(
    test: &str,
    family: Family,
    rows: usize,
    every: u32,
    stop: usize,
    faults: Option<FaultConfig>,
) {
    if !serial::require_qemu(test) {
        return;
    }
    let start = Instant::now();
    let (dir, csv) = scratch_with_family_data(test, rows, family);
    let args = |csv: &Path| RunArgs {
        family,
        ..args(csv)
    };
    let path = |name: &str| dir.join(name);
    // Only the final checkpoint.
    let once = u32::MAX;

    // A resampling threshold other than the power-on one, so the resume
    // must take it from the checkpoint.
    let threshold = Some(0.5);
    let full = run::run(&RunArgs {
        telemetry: Some(path("full.bin")),
        checkpoint: Some(path("full.ckpt")),
        checkpoint_every: once,
        resample_ess: threshold,
        ..args(&csv)
    })
    .unwrap();
    assert_eq!(full.checkpoints, [rows]);

    let faulty = RunArgs {
        faults,
        timeout_ms: if faults.is_some() {
            FAULT_TIMEOUT_MS
        } else {
            TIMEOUT_MS
        },
        retries: 40,
        resample_ess: threshold,
        ..args(&csv)
    };
    let killed = run::run(&RunArgs {
        telemetry: Some(path("killed.bin")),
        checkpoint: Some(path("killed.ckpt")),
        checkpoint_every: every,
        stop_after: Some(stop),
        ..faulty.clone()
    })
    .unwrap();
    let every = every as usize;
    let saved: Vec<usize> = (1..=(stop - 1) / every).map(|i| i * every).collect();
    assert!(killed.interrupted && !saved.is_empty());
    assert_eq!(killed.checkpoints, saved);
    assert_eq!(killed.answered(), stop);
    let resume_after = *saved.last().unwrap();

    // The checkpoint file: the device's stream, with its link state.
    let checkpoint = std::fs::read(path("killed.ckpt")).unwrap();
    assert_eq!(checkpoint.len(), checkpoint_len(N, K, D, family));
    assert_eq!(checkpoint[..4], snapshot::MAGIC);
    let link = trailer(&checkpoint);
    assert_eq!(
        link,
        LinkState {
            last_seq: Some(resume_after as u32 - 1),
            rejected: 0,
            seed: SEED
        }
    );

    let resumed = run::run(&RunArgs {
        telemetry: Some(path("resumed.bin")),
        checkpoint: Some(path("resumed.ckpt")),
        checkpoint_every: once,
        resume: Some(path("killed.ckpt")),
        // Ignored when resuming: the checkpoint carries the random state
        // and the threshold.
        seed: 999,
        resample_ess: None,
        ..faulty
    })
    .unwrap();
    assert_eq!(
        resumed.resumed,
        Some(RestoredMsg {
            seed: SEED,
            steps: resume_after as u32,
            last_seq: Some(resume_after as u32 - 1),
            rejected: 0
        })
    );
    assert_eq!(resumed.device.seed, SEED);
    assert_eq!(Some(resumed.device.resample_ess), threshold);
    assert_eq!(resumed.answered(), rows - resume_after);

    // The device's own count: each row absorbed once, same log marginal.
    let (full_status, resumed_status) = (full.status.unwrap(), resumed.status.unwrap());
    assert_eq!(full_status.steps as usize, rows);
    assert_eq!(resumed_status, full_status);
    assert_eq!(
        resumed_status.log_marginal.to_bits(),
        full_status.log_marginal.to_bits()
    );

    // Telemetry: the killed run's up to the checkpoint, then the resumed
    // run's, is the uninterrupted run's, bit for bit, each seq once. (On
    // a faulty link the files also hold damaged frames and repeated
    // answers; the summaries below are checked then.)
    let reference = recorded_updates(&path("full.bin"));
    assert_eq!(reference.len(), rows);
    if faults.is_none() {
        let mut combined: Vec<UpdateBits> = recorded_updates(&path("killed.bin"))
            .into_iter()
            .filter(|u| (u.seq as usize) < resume_after)
            .collect();
        combined.extend(recorded_updates(&path("resumed.bin")));
        let seqs: Vec<u32> = combined.iter().map(|u| u.seq).collect();
        assert_eq!(seqs, (0..rows as u32).collect::<Vec<_>>(), "each seq once");
        for (got, want) in combined.iter().zip(&reference) {
            assert_eq!(got, want, "row {}", want.seq);
        }
    }
    // The summaries agree with the telemetry.
    let answers: Vec<UpdateBits> = killed.answers[..resume_after]
        .iter()
        .chain(&resumed.answers)
        .filter_map(UpdateBits::of_response)
        .collect();
    assert_eq!(answers, reference);

    // And the end state: every bit of filter, RNG and link state.
    let full_end = std::fs::read(path("full.ckpt")).unwrap();
    let resumed_end = std::fs::read(path("resumed.ckpt")).unwrap();
    assert!(full_end == resumed_end, "final checkpoints differ");
    assert_eq!(trailer(&full_end).last_seq, Some(rows as u32 - 1));

    if let (Some(killed), Some(resumed)) = (killed.faults, resumed.faults) {
        eprintln!("{test}: faults while killed:\n{killed}faults while resumed:\n{resumed}");
    }
    let bits = reference
        .iter()
        .map(|u| 32 * (u.values.len() + u.gate.len()) + 1)
        .sum::<usize>();
    eprintln!(
        "{test}: {rows} rows, checkpoints every {every}, killed after {stop} rows, resumed after row {}; \
         {} telemetry bits and {} checkpoint bytes equal; {:.1} s",
        resume_after - 1,
        bits,
        full_end.len(),
        start.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_run_resumed_from_its_checkpoint_equals_an_uninterrupted_run() {
    killed_and_resumed_run_equals_uninterrupted_run(
        "a_killed_run_resumed_from_its_checkpoint_equals_an_uninterrupted_run",
        Family::Gaussian,
        600,
        250,
        420,
        None,
    );
}

/// Bernoulli experts: the host has no copy of this filter, so every
/// checkpoint crosses the link whole.
#[test]
fn a_killed_bernoulli_run_resumed_from_its_checkpoint_equals_an_uninterrupted_run() {
    killed_and_resumed_run_equals_uninterrupted_run(
        "a_killed_bernoulli_run_resumed_from_its_checkpoint_equals_an_uninterrupted_run",
        Family::Bernoulli,
        300,
        100,
        220,
        None,
    );
}

#[test]
#[ignore = "10 000 rows through QEMU three times with checkpoints: a few minutes"]
fn a_killed_run_of_10_000_rows_resumed_equals_an_uninterrupted_run() {
    killed_and_resumed_run_equals_uninterrupted_run(
        "a_killed_run_of_10_000_rows_resumed_equals_an_uninterrupted_run",
        Family::Gaussian,
        10_000,
        1_000,
        7_777,
        None,
    );
}

#[test]
#[ignore = "checkpoints through 1% link faults: several minutes"]
fn a_killed_run_resumed_through_link_faults_equals_an_uninterrupted_run() {
    killed_and_resumed_run_equals_uninterrupted_run(
        "a_killed_run_resumed_through_link_faults_equals_an_uninterrupted_run",
        Family::Gaussian,
        600,
        250,
        420,
        Some(FaultConfig::uniform(0.01, FAULT_DELAY, 505)),
    );
}

/// Stream options for a session on a clean link.
fn options(checkpoint: Option<PathBuf>) -> StreamOptions {
    StreamOptions {
        window: 1,
        timeout: Duration::from_millis(TIMEOUT_MS),
        retries: 3,
        progress: false,
        checkpoint: checkpoint.map(|path| CheckpointOptions {
            path,
            every: 1_000_000,
        }),
        stop_after: None,
        resample_ess: None,
        family: Family::Gaussian,
    }
}

/// The device's refusal of `bytes`.
fn refusal(device: &mut Device, bytes: &[u8]) -> RestoreRefused {
    let error = device
        .restore(bytes, Duration::from_millis(TIMEOUT_MS), 3)
        .unwrap_err();
    *error
        .downcast_ref::<RestoreRefused>()
        .unwrap_or_else(|| panic!("not a refusal: {error:#}"))
}

#[test]
fn corrupt_and_mismatched_checkpoints_are_refused_and_change_nothing() {
    let test = "corrupt_and_mismatched_checkpoints_are_refused_and_change_nothing";
    if !serial::require_qemu(test) {
        return;
    }
    let start = Instant::now();
    let (dir, csv) = scratch_with_data(test, 90);
    let data = hsmoe_host::data::load(&csv, &Default::default()).unwrap();
    let rows = run::rows_f32(&data).unwrap();
    let good_path = dir.join("good.ckpt");
    let (qemu, port) = Qemu::launch(Board::default(), Family::Gaussian, None, false).unwrap();
    let mut device = Device::new(port);
    let first = run::session(
        &mut device,
        &rows[..60],
        Start::Reset { seed: SEED },
        &options(Some(good_path.clone())),
    )
    .unwrap();
    assert_eq!(first.checkpoints, [60]);
    let good = std::fs::read(&good_path).unwrap();
    let core = good.len() - LINK_STATE_LEN;

    let edit = |at: usize, f: &dyn Fn(u8) -> u8| {
        let mut bytes = good.clone();
        bytes[at] = f(bytes[at]);
        bytes
    };
    let cases: [(&str, Vec<u8>, SnapshotError, Pass); 5] = [
        // A byte in the middle of the particles: the verify pass's CRC.
        (
            "flipped particle byte",
            edit(core / 2, &|b| b ^ 0x01),
            SnapshotError::Crc,
            Pass::Verify,
        ),
        // The header's N (word 2) edited to 32: a snapshot of another N.
        (
            "header N = 32",
            edit(8, &|_| 32),
            SnapshotError::Shape,
            Pass::Verify,
        ),
        // The format version (word 1, low half) edited to the next one.
        (
            "next format version",
            edit(4, &|_| hsmoe_core::version::FORMAT_VERSION as u8 + 1),
            SnapshotError::Version,
            Pass::Verify,
        ),
        // The trailer's last seq: the trailer's own CRC.
        (
            "flipped trailer byte",
            edit(core + 8, &|b| b ^ 0x80),
            SnapshotError::Crc,
            Pass::Verify,
        ),
        // Not a checkpoint at all.
        (
            "not a checkpoint",
            vec![0x55; good.len()],
            SnapshotError::BadMagic,
            Pass::Verify,
        ),
    ];
    let status = device
        .request_status(Duration::from_millis(TIMEOUT_MS), 3)
        .unwrap();
    assert_eq!((status.steps, status.last_seq), (60, Some(59)));
    for (what, bytes, reason, pass) in &cases {
        let refused = refusal(&mut device, bytes);
        assert_eq!((refused.reason, refused.pass), (*reason, *pass), "{what}");
        let after = device
            .request_status(Duration::from_millis(TIMEOUT_MS), 3)
            .unwrap();
        assert_eq!(after, status, "{what}: the device's state changed");
        eprintln!("{test}: {what}: {refused}");
    }
    // Truncated by one byte: the device asks for the missing byte.
    let error = device
        .restore(
            &good[..good.len() - 1],
            Duration::from_millis(TIMEOUT_MS),
            3,
        )
        .unwrap_err();
    assert!(error.to_string().contains("truncated"), "{error}");

    // Nothing changed, bit for bit: the device's checkpoint now is the
    // one taken before the refusals.
    let now = device
        .snapshot(Duration::from_millis(TIMEOUT_MS), 3)
        .unwrap();
    assert!(now == good, "a refused checkpoint changed the device");

    // And it keeps working: the good checkpoint restores, and the run
    // goes on to row 89 with the device's count matching.
    let resumed = run::session(
        &mut device,
        &rows,
        Start::Resume {
            checkpoint: &good,
            path: &good_path,
        },
        &options(None),
    )
    .unwrap();
    assert_eq!(resumed.answered(), 30);
    let status = resumed.status.unwrap();
    assert_eq!((status.steps, status.last_seq), (90, Some(89)));
    drop(qemu);

    // Through `hsmoe run --resume`: errors name the file and the reason.
    for (name, bytes, expected) in [
        (
            "other-n.ckpt",
            edit(8, &|_| 32),
            "a checkpoint of N = 32, K = 4, D = 4; the device has N = 128",
        ),
        (
            "flipped.ckpt",
            edit(core / 2, &|b| b ^ 0x01),
            "snapshot CRC mismatch",
        ),
        ("short.ckpt", good[..1000].to_vec(), "truncated or damaged"),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        let error = run::run(&RunArgs {
            resume: Some(file.clone()),
            ..args(&csv)
        })
        .unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains(&file.display().to_string()) && message.contains(expected),
            "{message}"
        );
        eprintln!("{test}: {message}");
    }
    eprintln!("{test}: {:.1} s", start.elapsed().as_secs_f64());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `rows` rows with a checkpoint every `every` and checks the counts.
fn long_run_answers_every_seq_once(test: &str, rows: usize, every: u32) {
    if !serial::require_qemu(test) {
        return;
    }
    let start = Instant::now();
    let (dir, csv) = scratch_with_data(test, rows);
    let summary: RunSummary = run::run(&RunArgs {
        checkpoint: Some(dir.join("run.ckpt")),
        checkpoint_every: every,
        ..args(&csv)
    })
    .unwrap();
    let seqs: Vec<u32> = summary
        .answers
        .iter()
        .map(|a| UpdateBits::of_response(a).expect("an Update").seq)
        .collect();
    assert_eq!(seqs, (0..rows as u32).collect::<Vec<_>>());
    let status = summary.status.unwrap();
    assert_eq!(
        (status.steps as usize, status.last_seq, status.rejected),
        (rows, Some(rows as u32 - 1), 0)
    );
    let every = every as usize;
    let mut expected: Vec<usize> = (1..).map(|i| i * every).take_while(|&r| r < rows).collect();
    expected.push(rows);
    assert_eq!(summary.checkpoints, expected);
    let checkpoint = std::fs::read(dir.join("run.ckpt")).unwrap();
    assert_eq!(trailer(&checkpoint).last_seq, Some(rows as u32 - 1));
    eprintln!(
        "{test}: {rows} rows, {} checkpoints, {} resent; {:.1} s",
        summary.checkpoints.len(),
        summary.resent,
        start.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_run_with_checkpoints_answers_every_seq_once() {
    long_run_answers_every_seq_once("a_run_with_checkpoints_answers_every_seq_once", 1_000, 500);
}

#[test]
#[ignore = "10 000 rows through QEMU with 10 checkpoints: about two minutes"]
fn a_run_of_10_000_rows_with_checkpoints_answers_every_seq_once() {
    long_run_answers_every_seq_once(
        "a_run_of_10_000_rows_with_checkpoints_answers_every_seq_once",
        10_000,
        1_000,
    );
}
