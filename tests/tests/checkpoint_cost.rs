//! What checkpoints cost: 3 000 rows through the firmware in QEMU with a
//! checkpoint every 100 rows against the same run without.
//!
//! Asserted, independent of time: the bytes the device sends (its
//! telemetry). A checkpoint costs the device one short answer (the
//! stream's tail, see `hsmoe_host::run`), not the 76 kB stream, so 30
//! checkpoints may add at most 5 % to the bytes of 3 000 answers. One run
//! of each suffices: the bytes do not depend on timing.
//!
//! The ratio of wall times is a benchmark, not a test: the ignored
//! `checkpoint_wall_time_ratio` (the minimum of three alternating runs
//! each; 0.88 and 1.063 on an idle machine, 1.23 with a build beside it),
//! run with `--ignored --nocapture` (BENCHMARKS.md). In its own test
//! binary, so that no other QEMU test runs beside it.

use hsmoe_host::run::{self, RunArgs};
use hsmoe_host::serial;
use hsmoe_host::simulate::Design;
use hsmoe_tests::{qemu_run_args, scratch, simulated_csv};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROWS: usize = 3_000;
const EVERY: u32 = 100;

/// One run of `csv`, checkpointed or not: its wall time and the bytes
/// the device sent.
fn timed_run(csv: &Path, dir: &Path, checkpoint: bool) -> (Duration, u64) {
    let telemetry = dir.join("run.bin");
    let start = Instant::now();
    let summary = run::run(&RunArgs {
        telemetry: Some(telemetry.clone()),
        checkpoint: checkpoint.then(|| dir.join("run.ckpt")),
        checkpoint_every: EVERY,
        ..qemu_run_args(csv, 1, 5_000)
    })
    .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(summary.updates(), ROWS);
    let checkpoints = if checkpoint { ROWS / EVERY as usize } else { 0 };
    assert_eq!(summary.checkpoints.len(), checkpoints);
    (elapsed, std::fs::metadata(&telemetry).unwrap().len())
}

/// The scratch directory and simulated stream of `test`, or `None` where
/// QEMU is missing outside CI.
fn stream(test: &str) -> Option<(PathBuf, PathBuf)> {
    if !serial::require_qemu(test) {
        return None;
    }
    let dir = scratch(test);
    let (csv, _) = simulated_csv(&dir, Design::Device, ROWS, 5);
    Some((dir, csv))
}

#[test]
fn checkpoints_every_100_rows_add_at_most_5_percent_to_the_devices_bytes() {
    let test = "checkpoints_every_100_rows_add_at_most_5_percent_to_the_devices_bytes";
    let Some((dir, csv)) = stream(test) else {
        return;
    };
    let (_, plain) = timed_run(&csv, &dir, false);
    let (_, checkpointed) = timed_run(&csv, &dir, true);
    let bytes = checkpointed as f64 / plain as f64;
    eprintln!("{test}: device bytes ratio {bytes:.4}");
    assert!(bytes <= 1.05, "the device sent {bytes:.3} times the bytes");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "a benchmark: wall times, printed"]
fn checkpoint_wall_time_ratio() {
    let test = "checkpoint_wall_time_ratio";
    let Some((dir, csv)) = stream(test) else {
        return;
    };
    // A first run builds the firmware if needed, outside the timing.
    timed_run(&csv, &dir, false);
    let (mut plain, mut checkpointed) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        plain.push(timed_run(&csv, &dir, false).0);
        checkpointed.push(timed_run(&csv, &dir, true).0);
    }
    let (plain, checkpointed) = (
        plain.iter().min().unwrap(),
        checkpointed.iter().min().unwrap(),
    );
    let ratio = checkpointed.as_secs_f64() / plain.as_secs_f64();
    eprintln!("{test}: plain {plain:?}, checkpointed {checkpointed:?}: ratio {ratio:.3}");
    std::fs::remove_dir_all(&dir).unwrap();
}
