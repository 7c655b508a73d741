//! End to end: the firmware on QEMU's `mps2-an386` (and, for the
//! bit-identical run, on `netduinoplus2` as the stm32f405 board), fed by
//! the host over the emulated UART.
//!
//! - `hsmoe run --qemu` answers every `seq` exactly once, and the decoded
//!   telemetry is bit-identical to the core filter run on the host
//!   (directly, and through `hsmoe fit --engine core --json`), on both
//!   boards at their default N, and with firmware built for Bernoulli and
//!   Student experts (`HSMOE_FAMILY`, `hsmoe run --family`).
//! - Damaged frames, garbage, a truncated and an over-long frame each get
//!   a `Reject` and leave the next observation's answer unchanged.
//! - The on-target self-test passes.
//!
//! They need `qemu-system-arm` (or `$HSMOE_QEMU`). Without it they skip
//! with a loud message, except under `CI=true`, where they fail.

use hsmoe_core::expert::{Bernoulli, Expert, Gaussian, Student};
use hsmoe_core::frame::MAX_FRAME;
use hsmoe_core::protocol::{
    FeatureVec, ObserveMsg, PredictMsg, PredictionMsg, RejectMsg, RejectReason, Request, Response,
    UpdateMsg,
};
use hsmoe_core::{Config, Filter, Update};
use hsmoe_host::data::{self, Dataset, LoadOptions};
use hsmoe_host::engine::EngineKind;
use hsmoe_host::family::Family;
use hsmoe_host::fit::{self, FitOptions};
use hsmoe_host::link::{HostRequest, HostResponse, Received};
use hsmoe_host::run::{self, Device, RunArgs};
use hsmoe_host::serial::{self, Board, Qemu};
use hsmoe_host::simulate::{self, Design};
use hsmoe_host::telemetry;
use hsmoe_tests::{scratch, simulated_csv, UpdateBits, FIRMWARE_D, FIRMWARE_K, FIRMWARE_N};
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The default firmware build.
const N: usize = FIRMWARE_N;
const K: usize = FIRMWARE_K;
const D: usize = FIRMWARE_D;

/// Generous: an update takes ~1 ms of emulation, a first firmware build
/// happens before the first answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// A simulated linear data set with D − 1 = 3 features and a response of
/// `family`'s experts, written as CSV and loaded back exactly as `hsmoe
/// run --family family` loads it.
fn simulated(dir: &std::path::Path, rows: usize, seed: u64, family: Family) -> (PathBuf, Dataset) {
    let (csv, data) = if family == Family::Gaussian {
        simulated_csv(dir, Design::Linear, rows, seed)
    } else {
        let csv = dir.join("data.csv");
        let sim = simulate::simulate_family(Design::Linear, family, rows, seed);
        simulate::write(&sim, &csv).unwrap();
        let opts = LoadOptions {
            binary_response: family.binary_response(),
            ..LoadOptions::default()
        };
        let data = data::load(&csv, &opts).unwrap();
        (csv, data)
    };
    assert_eq!(data.d(), D);
    (csv, data)
}

/// The core filter of a firmware build with `P` particles and experts
/// `E`, on the host.
struct HostFilter<const P: usize, E: Expert<D>> {
    filter: Box<Filter<P, K, D, E>>,
    rng: XorShiftRng,
}

impl<const P: usize, E: Expert<D>> HostFilter<P, E> {
    fn new(seed: u64, config: &Config) -> Self {
        let mut rng = XorShiftRng::seed_from_u64(seed);
        let mut filter = Box::new(Filter::new());
        filter.reset(config, &mut rng).unwrap();
        HostFilter { filter, rng }
    }

    fn observe(&mut self, x: &[f32], y: f32) -> Update<K> {
        self.filter.observe(x, y, &mut self.rng).unwrap()
    }
}

/// Asserts that a device `Update` carries exactly the bits of `want`.
fn assert_same_bits(got: &HostResponse, want: &Update<K>, row: usize) {
    assert_eq!(
        UpdateBits::of_response(got),
        Some(UpdateBits::of_update(want, row as u32)),
        "row {row}: device {got:?}, host {want:?}"
    );
}

#[test]
fn run_answers_every_seq_once_bit_identical_to_the_host_core() {
    if !serial::require_qemu("run_answers_every_seq_once_bit_identical_to_the_host_core") {
        return;
    }
    run_bit_identical::<N, Gaussian<D>>(Board::Mps2An386, "run", 150, None);
}

#[test]
fn a_bernoulli_firmware_run_is_bit_identical_to_the_host_core() {
    if !serial::require_qemu("a_bernoulli_firmware_run_is_bit_identical_to_the_host_core") {
        return;
    }
    run_bit_identical::<N, Bernoulli<D>>(Board::Mps2An386, "run-bernoulli", 150, None);
}

#[test]
fn a_student_firmware_run_is_bit_identical_to_the_host_core() {
    if !serial::require_qemu("a_student_firmware_run_is_bit_identical_to_the_host_core") {
        return;
    }
    run_bit_identical::<N, Student<D>>(Board::Mps2An386, "run-student", 100, None);
}

/// A device built for other experts than the run asks for is refused
/// before any row is sent, naming both families.
#[test]
fn a_device_of_another_family_is_refused_by_name() {
    if !serial::require_qemu("a_device_of_another_family_is_refused_by_name") {
        return;
    }
    let dir = scratch("run-wrong-family");
    let (csv, _) = simulated(&dir, 10, 3, Family::Bernoulli);
    let gaussian_elf = serial::build_firmware(Board::default(), Family::Gaussian, false).unwrap();
    let args = RunArgs {
        family: Family::Bernoulli,
        elf: Some(gaussian_elf),
        timeout_ms: ANSWER_TIMEOUT.as_millis() as u64,
        quiet: true,
        ..RunArgs::qemu(csv)
    };
    let error = run::run(&args).unwrap_err().to_string();
    assert!(
        error.contains("the device runs gaussian experts")
            && error.contains("asked for bernoulli experts"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resampling_threshold_set_from_the_host_stays_bit_identical() {
    if !serial::require_qemu("a_resampling_threshold_set_from_the_host_stays_bit_identical") {
        return;
    }
    // Weights carried across steps that do not resample, as on the host.
    run_bit_identical::<N, Gaussian<D>>(Board::Mps2An386, "run-resample-ess", 150, Some(0.5));
}

#[test]
fn stm32f405_run_is_bit_identical_to_the_host_core() {
    if !serial::require_qemu("stm32f405_run_is_bit_identical_to_the_host_core") {
        return;
    }
    run_bit_identical::<FIRMWARE_N, Gaussian<D>>(Board::Stm32f405, "run-stm32f405", 100, None);
}

/// `hsmoe run --qemu --board board --family …` (the family of `E`) on
/// `rows` simulated rows: every `seq` answered once, the device's sizes
/// `(P, K, D)` and family, and its telemetry bit for bit the host core's
/// and `hsmoe fit --engine core`'s.
fn run_bit_identical<const P: usize, E: Expert<D>>(
    board: Board,
    name: &str,
    rows: usize,
    resample_ess: Option<f32>,
) {
    let dir = scratch(name);
    let family = E::FAMILY;
    let (csv, data) = simulated(&dir, rows, 21, family);
    let seed = 5;
    let mut opts = FitOptions::new(EngineKind::Core, K, P, seed, &data);
    opts.family = family;
    opts.config.resample_ess = resample_ess.unwrap_or(opts.config.resample_ess);
    let telemetry_path = dir.join("telemetry.bin");
    let args = RunArgs {
        telemetry: Some(telemetry_path.clone()),
        seed,
        board,
        family,
        timeout_ms: ANSWER_TIMEOUT.as_millis() as u64,
        quiet: true,
        resample_ess,
        ..RunArgs::qemu(csv)
    };
    let summary = run::run(&args).unwrap();
    let rows = run::rows_f32(&data).unwrap();
    assert_eq!((summary.sent, summary.answered()), (rows.len(), rows.len()));
    assert_eq!(
        summary.updates(),
        rows.len(),
        "rejected: {:?}",
        summary.rejected()
    );
    assert_eq!(
        (summary.device.n, summary.device.k, summary.device.d),
        (P as u32, K as u32, D as u32)
    );
    assert_eq!(summary.device.seed, seed);
    assert_eq!(summary.device.family_tag, E::TAG);
    assert_eq!(summary.device.resample_ess, opts.config.resample_ess);
    assert!(
        summary
            .device_log
            .iter()
            .any(|l| l.contains("stack high-water mark")),
        "device log: {:?}",
        summary.device_log
    );

    // The telemetry holds one Update per seq (more only if a frame was resent).
    let recording = telemetry::Recording::read(&telemetry_path).unwrap();
    assert_eq!(
        recording.incomplete_from, None,
        "the recording ends on a whole frame"
    );
    let updates: Vec<HostResponse> = recording
        .frames
        .into_iter()
        .filter_map(|frame| match frame {
            Received::Response(update @ Response::Update(UpdateMsg { .. })) => Some(update),
            Received::Response(_) => None,
            Received::Damaged(error) => panic!("damaged telemetry frame: {error}"),
        })
        .collect();
    let mut per_seq = vec![0usize; rows.len()];
    for update in &updates {
        if let Response::Update(UpdateMsg { seq, .. }) = update {
            per_seq[*seq as usize] += 1;
        }
    }
    assert!(per_seq.iter().all(|&n| n >= 1), "a seq was never answered");
    assert_eq!(updates.len() as u64, rows.len() as u64 + summary.resent);

    // Bit for bit against the core on the host: the filter directly...
    let mut host = HostFilter::<P, E>::new(seed, &opts.config);
    for (t, ((x, y), answer)) in rows.iter().zip(&summary.answers).enumerate() {
        assert_same_bits(answer, &host.observe(x, *y), t);
    }
    assert_eq!(summary.log_marginal(), host.filter.state().log_marginal());
    if resample_ess.is_some() {
        // Both kinds of step ran: some resampled, some carried weights.
        let resampled: Vec<bool> = summary
            .answers
            .iter()
            .filter_map(|a| match a {
                Response::Update(UpdateMsg { resampled, .. }) => Some(*resampled),
                _ => None,
            })
            .collect();
        assert!(resampled.contains(&true) && resampled.contains(&false));
    }

    // ... and through `hsmoe fit --engine core --json`.
    let report = fit::fit(&data, &opts).unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let as_f32 = |v: &serde_json::Value| v.as_f64().unwrap() as f32;
    for (t, answer) in summary.answers.iter().enumerate() {
        let step = &json["predictive"][t];
        let Response::Update(UpdateMsg {
            pred_mean,
            pred_var,
            log_pred,
            ess,
            gate,
            ..
        }) = answer
        else {
            unreachable!("checked above")
        };
        let fit_gate: Vec<u32> = step["gate"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| as_f32(g).to_bits())
            .collect();
        let device_gate: Vec<u32> = gate.iter().map(|g| g.to_bits()).collect();
        assert_eq!(
            pred_mean.to_bits(),
            as_f32(&step["mean"]).to_bits(),
            "row {t} mean"
        );
        assert_eq!(
            pred_var.to_bits(),
            as_f32(&step["var"]).to_bits(),
            "row {t} var"
        );
        assert_eq!(
            log_pred.to_bits(),
            as_f32(&step["log_pred"]).to_bits(),
            "row {t} log_pred"
        );
        assert_eq!(ess.to_bits(), as_f32(&step["ess"]).to_bits(), "row {t} ess");
        assert_eq!(device_gate, fit_gate, "row {t} gate");
    }
    assert_eq!(Some(summary.log_marginal()), json["log_marginal"].as_f64());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A QEMU session driven frame by frame.
struct Session {
    _qemu: Qemu,
    device: Device,
}

impl Session {
    fn start(seed: u64) -> Session {
        let (qemu, port) = Qemu::launch(Board::default(), Family::Gaussian, None, false).unwrap();
        let mut device = Device::new(port);
        device.send_raw(&[0]).unwrap();
        let config = device
            .request_config(&Request::Reset { seed }, ANSWER_TIMEOUT, 2, |c| {
                c.seed == seed
            })
            .unwrap();
        assert_eq!(
            (config.n, config.k, config.d),
            (N as u32, K as u32, D as u32)
        );
        Session {
            _qemu: qemu,
            device,
        }
    }

    /// Sends raw bytes and returns the one answer they get.
    fn exchange_raw(&mut self, bytes: &[u8]) -> HostResponse {
        self.device.send_raw(bytes).unwrap();
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        match self.device.receive(deadline).unwrap() {
            Some(Received::Response(response)) => response,
            other => panic!("expected one answer to {bytes:02x?}, got {other:?}"),
        }
    }

    fn exchange(&mut self, request: &HostRequest) -> HostResponse {
        self.exchange_raw(&framed(request))
    }

    /// Nothing more arrives within a short while.
    fn assert_quiet(&mut self) {
        let extra = self
            .device
            .receive(Instant::now() + Duration::from_millis(300))
            .unwrap();
        assert_eq!(extra, None, "an unexpected extra answer");
    }
}

fn framed(request: &HostRequest) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    hsmoe_core::frame::encode(request, &mut buf)
        .unwrap()
        .to_vec()
}

fn observe(seq: usize, (x, y): &(Vec<f32>, f32)) -> HostRequest {
    Request::Observe(ObserveMsg {
        seq: seq as u32,
        x: FeatureVec::from_slice(x).unwrap(),
        y: *y,
    })
}

fn reject(seq: Option<u32>, reason: RejectReason) -> HostResponse {
    Response::Reject(RejectMsg { seq, reason })
}

#[test]
fn damaged_frames_are_rejected_and_change_nothing() {
    if !serial::require_qemu("damaged_frames_are_rejected_and_change_nothing") {
        return;
    }
    let dir = scratch("damage");
    let (_, data) = simulated(&dir, 12, 4, Family::Gaussian);
    let rows = run::rows_f32(&data).unwrap();
    let seed = 9;
    let mut session = Session::start(seed);
    let mut host = HostFilter::<N, Gaussian<D>>::new(seed, &Config::default_for(D));

    // Each kind of damage, then the next row: a Reject without a seq for
    // the damage, and for the row exactly the host's answer.
    let good = framed(&observe(0, &rows[0]));
    let mut flipped = good.clone();
    flipped[5] ^= 0x08;
    let truncated = [&good[..good.len() - 6], &[0][..]].concat();
    let overlong = [vec![0x5A; MAX_FRAME + 40], vec![0]].concat();
    let garbage = vec![0x13, 0x37, 0xC0, 0xFF, 0xEE, 0x00];
    assert!(
        !flipped[..flipped.len() - 1].contains(&0),
        "the flip made a delimiter"
    );
    let damage = [
        (flipped, RejectReason::Corrupt),
        (garbage, RejectReason::Corrupt),
        (truncated, RejectReason::Corrupt),
        (overlong, RejectReason::TooLong),
    ];
    let mut answers = Vec::new();
    for (t, (bytes, reason)) in damage.iter().enumerate() {
        assert_eq!(
            session.exchange_raw(bytes),
            reject(None, *reason),
            "damage {t}"
        );
        let answer = session.exchange(&observe(t, &rows[t]));
        assert_same_bits(&answer, &host.observe(&rows[t].0, rows[t].1), t);
        answers.push(answer);
    }

    // Sequence numbers: a repeat, also of an older seq, is answered from
    // the cache (of the last 64 answers), a gap is out of order; none of
    // them touches the posterior.
    let t = damage.len();
    let first = session.exchange(&observe(t, &rows[t]));
    assert_same_bits(&first, &host.observe(&rows[t].0, rows[t].1), t);
    assert_eq!(session.exchange(&observe(t, &rows[t])), first, "repeat");
    let gap = t + 2;
    assert_eq!(
        session.exchange(&observe(gap, &rows[gap])),
        reject(Some(gap as u32), RejectReason::OutOfOrder)
    );
    assert_eq!(
        session.exchange(&observe(1, &rows[1])),
        answers[1],
        "older repeat"
    );

    // Bad values keep their seq and change nothing either.
    let mut nan = rows[t + 1].clone();
    nan.0[2] = f32::NAN;
    assert_eq!(
        session.exchange(&observe(t + 1, &nan)),
        reject(Some(t as u32 + 1), RejectReason::NonFinite)
    );
    let long = (vec![1.0; D + 1], 0.5);
    assert_eq!(
        session.exchange(&observe(t + 2, &long)),
        reject(Some(t as u32 + 2), RejectReason::WrongLength)
    );
    let next = t + 3;
    let answer = session.exchange(&observe(next, &rows[next]));
    assert_same_bits(&answer, &host.observe(&rows[next].0, rows[next].1), next);

    // Predict is answered from the same posterior, without changing it.
    let x = &rows[next + 1].0;
    let prediction = session.exchange(&Request::Predict(PredictMsg {
        seq: 1000,
        x: FeatureVec::from_slice(x).unwrap(),
    }));
    let want = host.filter.predict(x).unwrap();
    let Response::Prediction(PredictionMsg {
        seq: 1000,
        mean,
        var,
        gate,
    }) = prediction
    else {
        panic!("expected a Prediction, got {prediction:?}");
    };
    assert_eq!(
        (mean.to_bits(), var.to_bits()),
        (want.mean.to_bits(), want.var.to_bits())
    );
    assert_eq!(gate.as_slice(), want.gate.as_slice());
    let last = next + 1;
    let answer = session.exchange(&observe(last, &rows[last]));
    assert_same_bits(&answer, &host.observe(&rows[last].0, rows[last].1), last);
    session.assert_quiet();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn on_target_self_test_passes_in_qemu() {
    if !serial::require_qemu("on_target_self_test_passes_in_qemu") {
        return;
    }
    let elf = serial::build_firmware(Board::default(), Family::Gaussian, true).unwrap();
    let (status, log) =
        Qemu::run_to_exit(Board::default(), &elf, Duration::from_secs(300), false).unwrap();
    let log = log.join("\n");
    eprintln!("{log}");
    assert!(status.success(), "self-test failed ({status}):\n{log}");
    assert!(log.contains("0 failed"), "no verdict in the log:\n{log}");
}

/// Bit-identity needs the same libm on both sides: the firmware has its
/// own lockfile, so check that both lock the same version.
#[test]
fn firmware_and_host_lock_the_same_libm() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let version = |lock: &str| {
        let text = std::fs::read_to_string(root.join(lock)).unwrap();
        let at = text
            .find("name = \"libm\"\nversion = \"")
            .unwrap_or_else(|| panic!("no libm in {lock}"));
        let rest = &text[at + "name = \"libm\"\nversion = \"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    };
    assert_eq!(version("Cargo.lock"), version("firmware/Cargo.lock"));
}
