//! `hsmoe validate` and `hsmoe plot` through the command line
//! (`cli::execute`, whose `Err` the binary turns into exit status 1).
//!
//! - validate passes for the core engine and for telemetry of a core run
//!   with the flags' prior, and fails for telemetry or a core run with a
//!   wrong prior or another K;
//! - validate holds telemetry of Bernoulli experts to the reference
//!   filter of that family, and refuses a `--family` the device did not run;
//! - plot writes non-empty PNG and SVG from a fit JSON and from telemetry.
//!
//! The telemetry is written here, without QEMU, as the device's frames
//! (`Config`, one `Update` per row, `Status`, `Config`) carrying a core
//! run on the host: the firmware's answers are bit-identical to that run
//! (tests/tests/firmware_qemu.rs checks every bit).
//!
//! Tolerances are validate's own: each difference is in units of its
//! Monte Carlo standard error from the default 16 reference replicates,
//! z about Student-t with 15 degrees of freedom for a correct candidate,
//! and the checks use the default `--max-z 4` (|z| > 4 has probability
//! ≈ 0.001 per scalar under t₁₅). Seeds are fixed.

use clap::Parser as _;
use hsmoe_core::frame::{self, MAX_FRAME};
use hsmoe_core::protocol::{ConfigMsg, GateVec, StatusMsg, UpdateMsg, PROTOCOL_VERSION};
use hsmoe_host::cli::{execute, Cli};
use hsmoe_host::data::Dataset;
use hsmoe_host::data::{self as data_io, LoadOptions};
use hsmoe_host::engine::EngineKind;
use hsmoe_host::family::{self, Family};
use hsmoe_host::fit::{self, FitOptions};
use hsmoe_host::link::HostResponse;
use hsmoe_host::simulate::{self, Design};
use hsmoe_host::validate;
use hsmoe_tests::{scratch, simulated_csv};
use std::path::{Path, PathBuf};

/// Sizes of every run here: small enough for a fast test, large enough
/// that the PL estimate is stable at these seeds.
const K: usize = 2;
const N: usize = 200;
const SEED: u64 = 2;

/// The piecewise design (three regimes, one feature, mcycle-like), 100
/// rows, written as CSV and loaded back as the CLI loads it.
fn simulated(dir: &Path) -> (PathBuf, Dataset) {
    simulated_csv(dir, Design::Piecewise, 100, 3)
}

/// `hsmoe ARGS…` as the binary runs it; the error as the binary prints
/// it (all its causes on one line).
fn hsmoe(args: &[&str]) -> Result<(), String> {
    let cli = Cli::try_parse_from(std::iter::once("hsmoe").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    execute(cli).map_err(|e| format!("{e:#}"))
}

/// Writes what `hsmoe run --telemetry` records for a device running the
/// core with `opts`: `Config` (answering `Hello`, boot seed 0), `Config`
/// (answering `Reset`), an `Update` per row with row 2's answered twice
/// (a resend), a damaged frame, `Status` and `Config` again.
fn write_telemetry(path: &Path, data: &Dataset, opts: &FitOptions) {
    let report = fit::fit(
        data,
        &FitOptions {
            engine: EngineKind::Core,
            ..*opts
        },
    )
    .unwrap();
    let config = |seed| {
        HostResponse::Config(ConfigMsg {
            version: PROTOCOL_VERSION,
            n: opts.n_particles as u32,
            k: opts.k as u32,
            d: data.d() as u32,
            family_tag: family::tag(opts.family),
            seed,
            max_frame: MAX_FRAME as u32,
            resample_ess: opts.config.resample_ess,
        })
    };
    // Exact: every value of a core run is an f32.
    let updates = report.predictive.iter().enumerate().map(|(t, s)| {
        HostResponse::Update(UpdateMsg {
            seq: t as u32,
            pred_mean: s.mean as f32,
            pred_var: s.var as f32,
            log_pred: s.log_pred as f32,
            ess: s.ess as f32,
            resampled: false,
            gate: GateVec::from_slice(&s.gate.iter().map(|&g| g as f32).collect::<Vec<_>>())
                .unwrap(),
            ticks: 0,
        })
    });
    let mut responses = vec![config(0), config(opts.seed)];
    for (t, update) in updates.enumerate() {
        if t == 2 {
            responses.push(update.clone());
        }
        responses.push(update);
    }
    responses.push(HostResponse::Status(StatusMsg {
        steps: data.y.len() as u32,
        last_seq: Some(data.y.len() as u32 - 1),
        rejected: 0,
        log_marginal: report.log_marginal.unwrap(),
    }));
    responses.push(config(opts.seed));
    let mut bytes = hsmoe_host::telemetry::header().to_vec();
    let mut buf = [0u8; MAX_FRAME];
    for (i, response) in responses.iter().enumerate() {
        bytes.extend_from_slice(frame::encode(response, &mut buf).unwrap());
        if i == 5 {
            bytes.extend([0x42, 0x17, 0x00]); // a frame damaged on the link
        }
    }
    std::fs::write(path, bytes).unwrap();
}

/// The fit options of the flags below (`--experts 2 --particles 200 --seed 2`).
fn options(data: &Dataset) -> FitOptions {
    FitOptions::new(EngineKind::Core, K, N, SEED, data)
}

/// `validate --data CSV --telemetry BIN --json JSON`, to extend.
fn validate_telemetry<'a>(csv: &'a Path, telemetry: &'a Path, json: &'a Path) -> Vec<&'a str> {
    let [csv, telemetry, json] = [csv, telemetry, json].map(|p| p.to_str().unwrap());
    vec![
        "validate",
        "--data",
        csv,
        "--telemetry",
        telemetry,
        "--json",
        json,
    ]
}

/// The JSON `validate --json` wrote.
fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The checked z's of a validate JSON: |z| of the log marginal, RMS z of
/// each per-row quantity, |z| of each final gate logit.
fn checked_z(json: &serde_json::Value) -> Vec<(String, f64)> {
    let mut out = vec![(
        "log marginal".to_owned(),
        json["log_marginal"]["z"].as_f64().unwrap().abs(),
    )];
    for s in json["steps"].as_array().unwrap() {
        out.push((
            s["quantity"].as_str().unwrap().to_owned(),
            s["rms_z"].as_f64().unwrap(),
        ));
    }
    for (j, g) in json["final_gate"].as_array().unwrap().iter().enumerate() {
        out.push((
            format!("gate rank {}", j + 1),
            g["z"].as_f64().unwrap().abs(),
        ));
    }
    out
}

const MODEL: [&str; 6] = ["--experts", "2", "--particles", "200", "--seed", "2"];

#[test]
fn validate_passes_for_the_core_engine() {
    let dir = scratch("core");
    let (csv, _) = simulated(&dir);
    let json = dir.join("v.json");
    let (csv, json_path) = (csv.to_str().unwrap(), json.to_str().unwrap());
    // One core run (SE = s_ref √(1 + 1/R)), then three (Welch's SE).
    for runs in ["1", "3"] {
        let mut args = vec![
            "validate", "--data", csv, "--engine", "core", "--json", json_path,
        ];
        args.extend(MODEL);
        args.extend(["--engine-replicates", runs]);
        hsmoe(&args).unwrap();
        let v = read_json(&json);
        assert_eq!(v["candidate_runs"].as_u64(), Some(runs.parse().unwrap()));
        assert_eq!((v["n_obs"].as_u64(), v["k"].as_u64()), (Some(100), Some(2)));
        let z = checked_z(&v);
        eprintln!("core, {runs} run(s): {z:?}");
        assert!(z.iter().all(|(_, z)| *z <= 4.0), "{z:?}");
        assert!(v["failures"].as_array().unwrap().is_empty());
    }
}

#[test]
fn validate_passes_for_telemetry_of_the_core_and_fails_with_a_wrong_prior() {
    let dir = scratch("telemetry");
    let (csv, data) = simulated(&dir);
    let right = dir.join("right.bin");
    write_telemetry(&right, &data, &options(&data));
    // The device's expert noise prior IG(2, 3) instead of the flags' IG(2, 1):
    // three times the prior noise scale.
    let mut wrong_prior = options(&data);
    wrong_prior.config.b0 = 3.0;
    let wrong = dir.join("wrong.bin");
    write_telemetry(&wrong, &data, &wrong_prior);

    let json = dir.join("v.json");
    let run = |telemetry: &Path| {
        let mut args = validate_telemetry(&csv, telemetry, &json);
        args.extend(MODEL);
        hsmoe(&args)
    };

    run(&right).unwrap();
    let v = read_json(&json);
    let z = checked_z(&v);
    eprintln!("telemetry, right prior: {z:?}");
    assert!(z.iter().all(|(_, z)| *z <= 4.0), "{z:?}");
    // The candidate is exactly the recorded core run.
    let core = fit::fit(&data, &options(&data)).unwrap();
    assert_eq!(v["log_marginal"]["candidate"].as_f64(), core.log_marginal);
    // Without --experts and --particles the recording's K and N are used:
    // the same comparison, number for number.
    let seed = SEED.to_string();
    let mut args = validate_telemetry(&csv, &right, &json);
    args.extend(["--seed", &seed]);
    hsmoe(&args).unwrap();
    assert_eq!(read_json(&json)["log_marginal"], v["log_marginal"]);

    let err = run(&wrong).unwrap_err();
    assert!(err.starts_with("validation failed"), "{err}");
    let v = read_json(&json);
    let z = checked_z(&v);
    eprintln!("telemetry, wrong prior: {z:?}");
    // The predictive variance is where a noise prior shows first.
    let ln_var = z
        .iter()
        .find(|(q, _)| q == "ln predictive variance")
        .unwrap()
        .1;
    assert!(ln_var > 4.0, "{z:?}");
    assert!(err.contains("ln predictive variance"), "{err}");
}

#[test]
fn validate_refuses_telemetry_of_another_device_configuration() {
    let dir = scratch("config");
    let (csv, data) = simulated(&dir);
    let three = dir.join("k3.bin");
    write_telemetry(
        &three,
        &data,
        &FitOptions::new(EngineKind::Core, 3, 64, SEED, &data),
    );
    let mut args = vec![
        "validate",
        "--data",
        csv.to_str().unwrap(),
        "--telemetry",
        three.to_str().unwrap(),
    ];
    args.extend(MODEL);
    let err = hsmoe(&args).unwrap_err();
    eprintln!("{err}");
    assert!(err.contains("K = 3 experts, but --experts 2"), "{err}");
    assert!(
        err.contains("N = 64 particles, but --particles 200"),
        "{err}"
    );
    // Matching K and N, but the data read without the intercept column.
    let mut args = args[..5].to_vec();
    args.extend([
        "--experts",
        "3",
        "--particles",
        "64",
        "--seed",
        "2",
        "--no-intercept",
    ]);
    let err = hsmoe(&args).unwrap_err();
    assert!(err.contains("D = 2 features, but the data have 1"), "{err}");
}

#[test]
fn compare_fails_for_a_core_run_with_a_wrong_prior_or_another_k() {
    let dir = scratch("compare");
    let (_, data) = simulated(&dir);
    let reference = FitOptions {
        engine: EngineKind::Reference,
        ..options(&data)
    };
    // Seeds far from the candidate's, as `hsmoe validate` picks them.
    let seeds: Vec<u64> = (0..16)
        .map(|r| SEED + validate::REFERENCE_SEED_OFFSET + r)
        .collect();
    let reference = validate::traces(&data, &reference, &seeds).unwrap();

    let core = validate::traces(&data, &options(&data), &[SEED]).unwrap();
    let v = validate::compare(&core, &reference, 4.0).unwrap();
    assert!(v.passed(), "{}", v.table());

    // Expert coefficients' prior scale v0 = 0.1 instead of 10.
    let mut tight = options(&data);
    tight.config.v0 = 0.1;
    let core = validate::traces(&data, &tight, &[SEED]).unwrap();
    let v = validate::compare(&core, &reference, 4.0).unwrap();
    eprintln!("{}", v.table());
    assert!(!v.passed());

    let three = FitOptions {
        k: 3,
        ..options(&data)
    };
    let core = validate::traces(&data, &three, &[SEED]).unwrap();
    let err = validate::compare(&core, &reference, 4.0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("K = 3 experts, the reference K = 2"), "{err}");
}

/// Asserts that `path` is a non-empty PNG or SVG image.
fn assert_image(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() > 1000,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
    if path.extension().unwrap() == "png" {
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{}",
            path.display()
        );
    } else {
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains("<polyline"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn plot_draws_a_fit_json_and_telemetry_as_png_and_svg() {
    let dir = scratch("plot");
    let (csv, data) = simulated(&dir);
    let csv = csv.to_str().unwrap();
    let json = dir.join("fit.json");
    let mut args = vec!["fit", "--data", csv, "--json", json.to_str().unwrap()];
    args.extend(MODEL);
    hsmoe(&args).unwrap();
    let telemetry = dir.join("run.bin");
    write_telemetry(&telemetry, &data, &options(&data));

    for input in [&json, &telemetry] {
        for ext in ["png", "svg"] {
            let out = dir.join(format!(
                "{}.{ext}",
                input.file_stem().unwrap().to_str().unwrap()
            ));
            hsmoe(&[
                "plot",
                input.to_str().unwrap(),
                "--data",
                csv,
                "-o",
                out.to_str().unwrap(),
            ])
            .unwrap();
            assert_image(&out);
        }
    }

    let gif = dir.join("x.gif");
    let err = hsmoe(&[
        "plot",
        json.to_str().unwrap(),
        "--data",
        csv,
        "-o",
        gif.to_str().unwrap(),
    ])
    .unwrap_err();
    assert!(err.contains("must end in .svg or .png"), "{err}");
    // A Gibbs fit has no one-step-ahead output to plot over t.
    let json = json.to_str().unwrap();
    let gibbs = [
        "--engine",
        "gibbs",
        "--gibbs-iterations",
        "20",
        "--gibbs-burn-in",
        "10",
    ];
    let mut args = vec!["fit", "--data", csv, "--experts", "2", "--json", json];
    args.extend(gibbs);
    hsmoe(&args).unwrap();
    let svg = dir.join("gibbs.svg");
    let err = hsmoe(&["plot", json, "--data", csv, "-o", svg.to_str().unwrap()]).unwrap_err();
    assert!(err.contains("no one-step-ahead predictive"), "{err}");
}

#[test]
fn validate_holds_bernoulli_telemetry_to_the_reference_of_its_family() {
    // A device with Bernoulli experts: `validate` reads the family from
    // the recording and runs the f64 reference filter with it. The 0/1
    // response's variance is not a separate check (it is p(1 − p)).
    let dir = scratch("bernoulli");
    let csv = dir.join("data.csv");
    let sim = simulate::simulate_family(Design::Device, Family::Bernoulli, 150, 4);
    simulate::write(&sim, &csv).unwrap();
    let load = LoadOptions {
        binary_response: true,
        ..LoadOptions::default()
    };
    let data = data_io::load(&csv, &load).unwrap();
    let opts = FitOptions {
        family: Family::Bernoulli,
        ..FitOptions::new(EngineKind::Core, 4, 128, SEED, &data)
    };
    let telemetry = dir.join("b.bin");
    write_telemetry(&telemetry, &data, &opts);
    let json = dir.join("v.json");
    let mut args = validate_telemetry(&csv, &telemetry, &json);
    args.extend(["--seed", "2"]);
    hsmoe(&args).unwrap();
    let v = read_json(&json);
    let z = checked_z(&v);
    eprintln!("Bernoulli telemetry: {z:?}");
    assert!(z.iter().all(|(_, z)| *z <= 4.0), "{z:?}");
    let quantities: Vec<&str> = z.iter().map(|(q, _)| q.as_str()).collect();
    assert!(
        !quantities.contains(&"ln predictive variance"),
        "{quantities:?}"
    );
    assert_eq!(z.len(), 1 + 2 + 4);
    // A device whose coefficients had a prior 100 times tighter in
    // variance (v0 = 0.1: logits rarely beyond ±1) is told apart.
    let mut tight = opts;
    tight.config.v0 /= 100.0;
    write_telemetry(&telemetry, &data, &tight);
    let err = hsmoe(&args).unwrap_err();
    eprintln!(
        "Bernoulli telemetry, tight prior: {:?}",
        checked_z(&read_json(&json))
    );
    assert!(err.starts_with("validation failed"), "{err}");
    args.extend(["--family", "student"]);
    let err = hsmoe(&args).unwrap_err();
    assert!(
        err.contains("bernoulli experts, but --family student"),
        "{err}"
    );
}
