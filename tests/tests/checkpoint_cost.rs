//! What checkpoints cost: 3 000 rows through the firmware in QEMU with a
//! checkpoint every 100 rows against the same run without.
//!
//! Asserted, independent of time: the bytes the device sends (its
//! telemetry). A checkpoint costs the device one short answer (the
//! stream's tail, see `hsmoe_host::run`), not the 76 kB stream, so 30
//! checkpoints may add at most 5 % to the bytes of 3 000 answers.
//!
//! Reported, not asserted: the ratio of wall times (the minimum of three
//! alternating runs each; 0.88 and 1.063 on an idle machine). Timing
//! is a benchmark: a build beside this test once pushed the ratio to 1.23.
//! Run with `--nocapture` to read it. In its own test binary, so that no
//! other QEMU test runs beside it.

use hsmoe_host::run::{self, RunArgs};
use hsmoe_host::serial;
use hsmoe_host::simulate::Design;
use hsmoe_tests::{qemu_run_args, scratch, simulated_csv};
use std::path::Path;
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

#[test]
fn checkpoints_every_100_rows_add_at_most_5_percent_to_the_devices_bytes() {
    let test = "checkpoints_every_100_rows_add_at_most_5_percent_to_the_devices_bytes";
    if !serial::require_qemu(test) {
        return;
    }
    let dir = scratch(test);
    let (csv, _) = simulated_csv(&dir, Design::Device, ROWS, 5);
    // A first run builds the firmware if needed, outside the timing.
    let mut plain = Vec::new();
    let mut checkpointed = Vec::new();
    timed_run(&csv, &dir, false);
    for _ in 0..3 {
        plain.push(timed_run(&csv, &dir, false));
        checkpointed.push(timed_run(&csv, &dir, true));
    }
    let min = |runs: &[(Duration, u64)]| runs.iter().map(|r| r.0).min().unwrap();
    let ratio = min(&checkpointed).as_secs_f64() / min(&plain).as_secs_f64();
    let bytes = checkpointed[0].1 as f64 / plain[0].1 as f64;
    eprintln!(
        "{test}: plain {:?}, checkpointed {:?}: ratio {ratio:.3}; device bytes ratio {bytes:.4}",
        min(&plain),
        min(&checkpointed)
    );
    assert!(bytes <= 1.05, "the device sent {bytes:.3} times the bytes");
    std::fs::remove_dir_all(&dir).unwrap();
}
