//! Link faults (docs/protocol.md §4): `hsmoe run` against the firmware in QEMU
//! through a [`FaultProxy`](hsmoe_host::faults::FaultProxy) that drops,
//! duplicates, corrupts (one bit), truncates and delays frames in both
//! directions, each at 1% per frame.
//!
//! Every `seq` must be absorbed exactly once — the device's own `Status`
//! count (steps, last seq, rejects, log marginal) equals the host's and a
//! fault-free run's — and every `Update` (pred_mean, pred_var, log_pred,
//! ess, resampled, gate) must equal the fault-free run's bit for bit.
//!
//! CI runs 1 500 rows at windows 1 and 4; `--ignored` runs 10 000. They
//! need `qemu-system-arm` (or `$HSMOE_QEMU`); without it they skip
//! loudly, except under `CI=true`, where they fail.

use hsmoe_host::faults::{Fault, FaultConfig};
use hsmoe_host::run::{self, RunArgs, RunSummary};
use hsmoe_host::serial;
use hsmoe_host::simulate::Design;
use hsmoe_tests::{qemu_run_args, scratch, simulated_csv, UpdateBits};
use std::time::{Duration, Instant};

/// Per frame and per fault kind.
const RATE: f64 = 0.01;

/// Waiting for an answer before resending: an update takes ~1 ms of
/// emulation, so this is only reached when a frame was lost or held.
const TIMEOUT_MS: u64 = 250;

/// Longer than the timeout, so a delayed frame also causes a resend and
/// a duplicate answer.
const DELAY: Duration = Duration::from_millis(400);

/// Runs `rows` simulated rows clean and through the faults at `window`,
/// and checks that the faulty run lost and repeated nothing.
fn faulty_run_equals_clean_run(test: &str, rows: usize, window: u32, fault_seed: u64) {
    if !serial::require_qemu(test) {
        return;
    }
    let dir = scratch(test);
    let (csv, _) = simulated_csv(&dir, Design::Linear, rows, 17);
    let seed = 3;
    let args = RunArgs {
        window,
        retries: 40,
        ..qemu_run_args(&csv, seed, TIMEOUT_MS)
    };

    let clean = run::run(&args).unwrap();
    let start = Instant::now();
    let faults = FaultConfig::uniform(RATE, DELAY, fault_seed);
    let faulty = run::run(&RunArgs {
        faults: Some(faults),
        ..args
    })
    .unwrap();
    let elapsed = start.elapsed();
    report(test, rows, window, &faulty, elapsed);

    // The device's own count: each row absorbed once, same posterior.
    let (clean_status, faulty_status) = (clean.status.unwrap(), faulty.status.unwrap());
    assert_eq!(clean_status.steps as usize, rows);
    assert_eq!(faulty_status.steps, clean_status.steps, "absorbed count");
    assert_eq!(faulty_status.last_seq, Some(rows as u32 - 1));
    assert_eq!((faulty_status.rejected, clean_status.rejected), (0, 0));
    assert_eq!(
        faulty_status.log_marginal.to_bits(),
        clean_status.log_marginal.to_bits(),
        "log marginal: faulty {}, clean {}",
        faulty_status.log_marginal,
        clean_status.log_marginal
    );

    // Every answer, bit for bit.
    assert_eq!((faulty.sent, faulty.answered()), (rows, rows));
    for (t, (got, want)) in faulty.answers.iter().zip(&clean.answers).enumerate() {
        let bits = UpdateBits::of_response(want);
        assert!(bits.is_some(), "row {t}: clean run answered {want:?}");
        assert_eq!(UpdateBits::of_response(got), bits, "row {t}");
    }
    assert_eq!(
        faulty.log_marginal().to_bits(),
        clean.log_marginal().to_bits()
    );

    // The faults happened, and the host had to recover from them.
    let injected = faulty.faults.unwrap();
    for fault in Fault::ALL {
        for (direction, counts) in [
            ("to device", injected.to_device),
            ("to host", injected.to_host),
        ] {
            // ≥ 1 600 frames per direction at 1%: Poisson(≥ 16), so 0 has
            // P < 1.2e-7 per count.
            assert!(counts.of(fault) > 0, "no {} {direction}", fault.name());
        }
    }
    assert!(faulty.resent > 0 && faulty.damaged_requests > 0 && faulty.damaged_answers > 0);
    assert_eq!(
        (clean.resent, clean.damaged_requests, clean.damaged_answers),
        (0, 0, 0)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Prints the figures for RELIABILITY.md.
fn report(test: &str, rows: usize, window: u32, summary: &RunSummary, elapsed: Duration) {
    let faults = summary.faults.unwrap();
    eprintln!(
        "{test}: {rows} rows, window {window}, {:.1} s; {} resent, {} damaged answers, {} damaged requests\n{faults}",
        elapsed.as_secs_f64(),
        summary.resent,
        summary.damaged_answers,
        summary.damaged_requests,
    );
}

#[test]
fn faults_lose_nothing_stop_and_wait() {
    faulty_run_equals_clean_run("faults_lose_nothing_stop_and_wait", 1_500, 1, 101);
}

#[test]
fn faults_lose_nothing_with_a_window_of_4() {
    faulty_run_equals_clean_run("faults_lose_nothing_with_a_window_of_4", 1_500, 4, 202);
}

#[test]
#[ignore = "10 000 rows through QEMU with faults: a few minutes"]
fn faults_lose_nothing_over_10_000_rows() {
    faulty_run_equals_clean_run("faults_lose_nothing_over_10_000_rows", 10_000, 1, 303);
}

#[test]
#[ignore = "10 000 rows through QEMU with faults: a few minutes"]
fn faults_lose_nothing_over_10_000_rows_with_a_window_of_8() {
    faulty_run_equals_clean_run(
        "faults_lose_nothing_over_10_000_rows_with_a_window_of_8",
        10_000,
        8,
        404,
    );
}
