//! The `hsmoe` binary end to end: usage errors are clap's whole message
//! with status 2, other errors one line naming file, line and column;
//! pandas-written CSV and standard input and output; telemetry that knows
//! its format; `simulate` → `fit --json/--plot` works for every engine; a
//! core run's JSON carries the engine's exact f32 values.

use hsmoe_core::frame;
use hsmoe_core::protocol::{ConfigMsg, GateVec, UpdateMsg, PROTOCOL_VERSION};
use hsmoe_host::data::{load, LoadOptions};
use hsmoe_host::engine::EngineKind;
use hsmoe_host::fit::{fit, FitOptions, FitReport};
use hsmoe_host::link::HostResponse;
use hsmoe_host::moves::{MoveOptions, Moves};
use hsmoe_host::telemetry;
use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A fresh scratch directory for one test, removed when the test passes
/// (kept for inspection when it fails).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("hsmoe-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn hsmoe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hsmoe"))
        .args(args)
        .output()
        .unwrap()
}

/// The single line of stderr of a failed run.
fn error_line(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    stderr
}

/// `hsmoe ARGS…` with `input` on standard input.
fn hsmoe_with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hsmoe"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed: {stderr}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn bad_csv_gives_one_line_naming_line_and_column() {
    let dir = scratch("bad-csv");
    let cases = [
        (
            "x1,x2,y\n1,2,3\n4,five,6\n",
            "line 3, column 2 (`x2`)",
            "not a number",
        ),
        ("x1,y\n1,2\n3,inf\n", "line 3, column 2 (`y`)", "not finite"),
        (
            "x1,y\n1,2\n3,nan\n",
            "line 3, column 2 (`y`)",
            "missing value \"nan\"; fill it in, or skip such rows with --drop-missing",
        ),
        (
            "x1,y\n1,2\n3\n",
            "line 3",
            "1 field(s), but the header has 2",
        ),
        ("x1,x2\n1,2\n", "line 1 (header)", "no column named `y`"),
        ("", "bad-5.csv", "no header or no data rows"),
    ];
    for (i, (text, place, what)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad-{i}.csv"));
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap();
        let line = error_line(&hsmoe(&["fit", "--data", path, "--experts", "2"]));
        assert!(line.contains(path), "{line}");
        assert!(line.contains(place) && line.contains(what), "{line}");
    }
    let missing = error_line(&hsmoe(&[
        "fit",
        "--data",
        "/nonexistent.csv",
        "--experts",
        "2",
    ]));
    assert!(
        missing.contains("/nonexistent.csv: cannot read"),
        "{missing}"
    );
}

#[test]
fn unsupported_core_sizes_and_bad_options_are_one_line_errors() {
    let dir = scratch("sizes");
    let data = dir.join("paper.csv");
    let data = data.to_str().unwrap();
    ok(&hsmoe(&[
        "simulate", "--design", "paper", "--n", "20", "-o", data,
    ]));
    let line = error_line(&hsmoe(&[
        "fit",
        "--data",
        data,
        "--experts",
        "11",
        "--particles",
        "10",
    ]));
    assert!(
        line.contains("K = 11, D = 6") && line.contains("--engine reference"),
        "{line}"
    );
    // The reference has no size limits.
    ok(&hsmoe(&[
        "fit",
        "--data",
        data,
        "--experts",
        "11",
        "--particles",
        "10",
        "--engine",
        "reference",
    ]));
    let plot = dir.join("fit.gif");
    let line = error_line(&hsmoe(&[
        "fit",
        "--data",
        data,
        "--experts",
        "2",
        "--particles",
        "10",
        "--plot",
        plot.to_str().unwrap(),
    ]));
    assert!(line.contains(".svg or .png"), "{line}");
    let line = error_line(&hsmoe(&[
        "fit",
        "--data",
        data,
        "--experts",
        "2",
        "--engine",
        "gibbs",
        "--gibbs-iterations",
        "10",
        "--gibbs-burn-in",
        "10",
    ]));
    assert!(line.contains("keep no sweep"), "{line}");
}

#[test]
fn simulate_writes_csv_and_truth() {
    let dir = scratch("simulate");
    let csv = dir.join("sg.csv");
    let out = ok(&hsmoe(&[
        "simulate",
        "--design",
        "sparse-gate",
        "--n",
        "50",
        "--seed",
        "4",
        "-o",
        csv.to_str().unwrap(),
    ]));
    assert!(out.contains("50 rows, 8 features"), "{out}");
    let header = std::fs::read_to_string(&csv).unwrap();
    assert!(header.starts_with("x1,x2,x3,x4,x5,x6,x7,x8,y\n"));
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sg.truth.json")).unwrap()).unwrap();
    assert_eq!(truth["design"], "sparse-gate");
    assert_eq!(truth["allocations"].as_array().unwrap().len(), 50);
    assert!(truth["gate"]["stick-breaking"]["phi"].is_array());
    let help = ok(&hsmoe(&["simulate", "--help"]));
    for design in ["paper", "sparse-gate", "piecewise", "linear"] {
        assert!(help.contains(design), "{help}");
    }
}

/// A short Gibbs run: 300 sweeps, 100 of them burn-in.
const SHORT_GIBBS: [&str; 6] = [
    "--engine",
    "gibbs",
    "--gibbs-iterations",
    "300",
    "--gibbs-burn-in",
    "100",
];

/// Every final predictive mean of a fit report is a probability.
/// Runs `hsmoe` with `args` and `--json` into `dir/name`, which it reads
/// back.
fn json_report(args: &[&str], dir: &Path, name: &str) -> Value {
    let path = dir.join(name);
    ok(&hsmoe(
        &[args, &["--json", path.to_str().unwrap()]].concat(),
    ));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn assert_probabilities(report: &Value) {
    for row in report["final"]["predictive"].as_array().unwrap() {
        let p = row["mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{p}");
    }
}

#[test]
fn bernoulli_experts_simulate_fit_save_predict_and_refuse_what_they_cannot_do() {
    let dir = scratch("bernoulli");
    let csv = dir.join("b.csv");
    let path = csv.to_str().unwrap();
    let sim = [
        "simulate",
        "--design",
        "sparse-gate",
        "--family",
        "bernoulli",
    ];
    ok(&hsmoe(
        &[&sim[..], &["--n", "200", "--seed", "2", "-o", path]].concat(),
    ));
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("b.truth.json")).unwrap()).unwrap();
    assert_eq!(truth["family"], "bernoulli");
    let json = dir.join("b.json");
    let fit = [
        "fit",
        "--data",
        path,
        "--family",
        "bernoulli",
        "--experts",
        "2",
    ];
    let small = ["--particles", "64", "--seed", "3", "--standardize"];
    ok(&hsmoe(
        &[&fit[..], &small, &["--json", json.to_str().unwrap()]].concat(),
    ));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["family"], "bernoulli");
    assert!(report["log_marginal"].as_f64().unwrap().is_finite());
    // The response is not standardized: the predictive means are P(y = 1).
    assert_probabilities(&report);
    // Each expert's logit coefficients, from the particles' draws of β.
    let experts = report["experts"].as_array().unwrap();
    assert_eq!(experts.len(), 2);
    for expert in experts {
        for (mean, sd) in expert["mean"]
            .as_array()
            .unwrap()
            .iter()
            .zip(expert["sd"].as_array().unwrap())
        {
            assert!(
                mean.as_f64().unwrap().is_finite() && sd.as_f64().unwrap() > 0.0,
                "{expert}"
            );
        }
    }
    let gibbs = [&SHORT_GIBBS[..], &["--chains", "2"]].concat();
    let gibbs_report = json_report(&[&fit[..], &small, &gibbs].concat(), &dir, "gibbs.json");
    assert_eq!(gibbs_report["family"], "bernoulli");
    assert!(
        gibbs_report["gibbs_convergence"]["rhat_max"]
            .as_f64()
            .unwrap()
            >= 1.0
    );
    assert_probabilities(&gibbs_report);
    let tempered = [&gibbs[..], &["--gibbs-rungs", "3"]].concat();
    let line = error_line(&hsmoe(&[&fit[..], &small, &tempered].concat()));
    assert!(
        line.contains("--gibbs-rungs > 1 (tempering) is not available for bernoulli experts"),
        "{line}"
    );
    // The f64 reference filter takes Bernoulli experts too.
    let reference = [&fit[..], &small, &["--engine", "reference"]].concat();
    let reference_report = json_report(&reference, &dir, "reference.json");
    assert_eq!(
        (&reference_report["family"], &reference_report["precision"]),
        (&Value::from("bernoulli"), &Value::from("f64"))
    );
    assert_probabilities(&reference_report);
    // Saved and read back: the same probabilities, and no quantiles.
    // (Without moves, so that the report has no final sweeps, which a
    // saved filter never runs.)
    let model = dir.join("b.hsmoe");
    let predictions = dir.join("p.json");
    let saved_json = dir.join("saved.json");
    ok(&hsmoe(
        &[
            &fit[..],
            &small,
            &["--moves", "none", "--save", model.to_str().unwrap()],
            &["--json", saved_json.to_str().unwrap()],
        ]
        .concat(),
    ));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&saved_json).unwrap()).unwrap();
    ok(&hsmoe(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        path,
        "--json",
        predictions.to_str().unwrap(),
    ]));
    let predicted: Value =
        serde_json::from_str(&std::fs::read_to_string(&predictions).unwrap()).unwrap();
    assert_eq!(predicted["quantile_levels"], serde_json::json!([]));
    let fitted = report["final"]["predictive"].as_array().unwrap();
    let rows = predicted["rows"].as_array().unwrap();
    assert_eq!(rows.len(), fitted.len());
    for (row, fit_row) in rows.iter().zip(fitted) {
        // The same f32, written by the fit in its shortest form.
        let as_f32 = |v: &Value| v.as_f64().unwrap() as f32;
        assert_eq!(as_f32(&row["mean"]), as_f32(&fit_row["mean"]), "{row}");
    }

    // Continued with more rows, it stays a model of Bernoulli experts.
    let updated = dir.join("u.json");
    ok(&hsmoe(&[
        "update",
        "--model",
        model.to_str().unwrap(),
        "--data",
        path,
        "--json",
        updated.to_str().unwrap(),
    ]));
    let updated: Value = serde_json::from_str(&std::fs::read_to_string(&updated).unwrap()).unwrap();
    assert_eq!(updated["family"], "bernoulli");
    assert!(updated["log_marginal"].as_f64().unwrap().is_finite());

    // The run's plot shows the calibration of the one-step P(y = 1).
    let svg = dir.join("b.svg");
    ok(&hsmoe(&[
        "plot",
        saved_json.to_str().unwrap(),
        "--data",
        path,
        "-o",
        svg.to_str().unwrap(),
    ]));
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawn.contains("observed frequency of y = 1") && drawn.contains("bernoulli experts"),
        "no calibration diagram in {}",
        svg.display()
    );

    let gaussian = dir.join("g.csv");
    std::fs::write(&gaussian, "x,y\n0.1,0\n0.2,1\n0.3,0.5\n").unwrap();
    let line = error_line(&hsmoe(&[
        "fit",
        "--data",
        gaussian.to_str().unwrap(),
        "--family",
        "bernoulli",
        "--experts",
        "2",
    ]));
    assert!(
        line.contains("line 4, column 2 (`y`): \"0.5\" is not 0 or 1"),
        "{line}"
    );
}

#[test]
fn robust_experts_simulate_and_fit() {
    let dir = scratch("student");
    let csv = dir.join("s.csv");
    let path = csv.to_str().unwrap();
    let sim = ["simulate", "--design", "piecewise", "--family", "student"];
    ok(&hsmoe(&[&sim[..], &["--n", "150", "-o", path]].concat()));
    let json = dir.join("s.json");
    let fit = [
        "fit",
        "--data",
        path,
        "--family",
        "student",
        "--experts",
        "2",
    ];
    let small = [
        "--particles",
        "64",
        "--standardize",
        "--json",
        json.to_str().unwrap(),
    ];
    ok(&hsmoe(&[&fit[..], &small].concat()));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["family"], "student");
    assert!(report["log_marginal"].as_f64().unwrap().is_finite());
    assert_eq!(report["experts"].as_array().unwrap().len(), 2);
    let reference = [&fit[..], &small, &["--engine", "reference"]].concat();
    ok(&hsmoe(&reference));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        (&report["engine"], &report["family"]),
        (&Value::from("reference"), &Value::from("student"))
    );
    assert!(report["log_marginal"].as_f64().unwrap().is_finite());
    // The Gibbs sampler runs robust experts, tempered too.
    let gibbs = [
        "--engine",
        "gibbs",
        "--gibbs-iterations",
        "200",
        "--gibbs-burn-in",
        "50",
        "--chains",
        "2",
        "--gibbs-rungs",
        "3",
    ];
    ok(&hsmoe(&[&fit[..], &small, &gibbs].concat()));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        (report["family"].as_str(), report["engine"].as_str()),
        (Some("student"), Some("gibbs"))
    );
    assert_eq!(
        report["gibbs_convergence"]["exchange_acceptance"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// The JSON of a core fit has the contract's fields, and its numbers are
/// the f32 values the engine computed: a fit in this process with the
/// same seed gives the same bits (what the firmware's telemetry is
/// compared against).
#[test]
fn core_fit_json_has_the_contract_fields_and_exact_f32_values() {
    let dir = scratch("core-json");
    let csv = dir.join("pw.csv");
    let json = dir.join("fit.json");
    ok(&hsmoe(&[
        "simulate",
        "--design",
        "piecewise",
        "--n",
        "80",
        "--seed",
        "2",
        "-o",
        csv.to_str().unwrap(),
    ]));
    let summary = ok(&hsmoe(&[
        "fit",
        "--data",
        csv.to_str().unwrap(),
        "--experts",
        "3",
        "--particles",
        "64",
        "--seed",
        "9",
        "--json",
        json.to_str().unwrap(),
    ]));
    assert!(
        summary.contains("log marginal likelihood") && summary.contains("wrote"),
        "{summary}"
    );
    let text = std::fs::read_to_string(&json).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    for field in [
        "n_obs",
        "d",
        "k",
        "n_particles",
        "engine",
        "seed",
        "log_marginal",
        "predictive",
        "final",
    ] {
        assert!(!v[field].is_null(), "missing {field}");
    }
    assert_eq!(
        (v["n_obs"].as_u64(), v["d"].as_u64(), v["k"].as_u64()),
        (Some(80), Some(2), Some(3))
    );
    assert_eq!(v["engine"], "core");
    let step = &v["predictive"][0];
    for field in ["mean", "var", "log_pred", "ess"] {
        assert!(step[field].is_number(), "predictive.{field}");
    }
    assert_eq!(step["gate"].as_array().unwrap().len(), 3);
    let fin = &v["final"];
    assert_eq!(fin["predictive"].as_array().unwrap().len(), 80);
    assert_eq!(fin["gate_mean"][79].as_array().unwrap().len(), 3);
    assert_eq!(fin["allocation_freq"].as_array().unwrap().len(), 3);
    for field in ["gate_mean", "gate_sd", "logit_mean", "logit_sd"] {
        assert!(fin["router"][field].is_array(), "router.{field}");
    }
    for field in ["phi_mean", "phi_sd", "shrinkage", "tau2_mean"] {
        assert!(!fin["horseshoe"][field].is_null(), "horseshoe.{field}");
    }

    let data = load(&csv, &LoadOptions::default()).unwrap();
    // `hsmoe fit` rejuvenates by default (the library's FitOptions do not).
    assert!(v["moves"]["sweeps"].as_u64().unwrap() > 0);
    let mut opts = FitOptions::new(EngineKind::Core, 3, 64, 9, &data);
    opts.moves = Moves::Stream(MoveOptions::DEFAULT);
    let expected = fit(&data, &opts).unwrap();
    let parsed: FitReport<f32> = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.log_marginal, expected.log_marginal);
    for (got, want) in parsed.predictive.iter().zip(&expected.predictive) {
        let want = want.map(&|v| v as f32);
        assert_eq!(got.mean.to_bits(), want.mean.to_bits());
        assert_eq!(got.var.to_bits(), want.var.to_bits());
        assert_eq!(got.log_pred.to_bits(), want.log_pred.to_bits());
        assert_eq!(got.gate, want.gate);
    }
    // Shortest f32 text, not the f64 expansion of an f32.
    let mean_text = text
        .split("\"mean\": ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert!(mean_text.len() <= 16, "{mean_text}");
}

/// A 60-row `piecewise` data set in `dir`; its path.
fn piecewise_csv(dir: &Path) -> String {
    let csv = dir.join("pw.csv").to_str().unwrap().to_string();
    ok(&hsmoe(&[
        "simulate",
        "--design",
        "piecewise",
        "--n",
        "60",
        "-o",
        &csv,
    ]));
    csv
}

#[test]
fn reference_and_gibbs_fit_with_plots() {
    let dir = scratch("plots");
    let csv = piecewise_csv(&dir);
    let csv = csv.as_str();
    let svg = dir.join("ref.svg");
    let json = dir.join("ref.json");
    ok(&hsmoe(&[
        "fit",
        "--data",
        csv,
        "--experts",
        "2",
        "--particles",
        "50",
        "--engine",
        "reference",
        "--standardize",
        "--plot",
        svg.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]));
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["engine"], "reference");
    for field in ["phi_sd", "shrinkage", "tau2_geometric_mean"] {
        assert!(
            !v["final"]["horseshoe"][field].is_null(),
            "the reference reports horseshoe.{field}"
        );
    }

    let png = dir.join("gibbs.png");
    let json = dir.join("gibbs.json");
    let fit = ["fit", "--data", csv, "--experts", "2"];
    let out = [
        "--plot",
        png.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    ok(&hsmoe(&[&fit[..], &SHORT_GIBBS, &out].concat()));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(v["log_marginal"].is_null() && v["n_particles"].is_null());
    assert_eq!(v["predictive"].as_array().unwrap().len(), 0);
    assert_eq!(v["final"]["predictive"].as_array().unwrap().len(), 60);
}

/// `compare` measures fits against a reference fit of the same data, fails
/// by name when a tolerance is exceeded, and refuses a fit of the data read
/// another way rather than report a meaningless distance.
#[test]
fn compare_measures_fits_against_a_gibbs_reference() {
    let dir = scratch("compare");
    let csv = piecewise_csv(&dir);
    let csv = csv.as_str();
    let fit = |name: &str, extra: &[&str]| {
        let json = dir.join(name);
        let mut args = vec!["fit", "--data", csv, "--experts", "2", "--json"];
        args.push(json.to_str().unwrap());
        args.extend_from_slice(extra);
        ok(&hsmoe(&args));
        json.to_str().unwrap().to_string()
    };
    let gold = fit(
        "gibbs.json",
        &[
            "--engine",
            "gibbs",
            "--gibbs-iterations",
            "600",
            "--gibbs-burn-in",
            "100",
        ],
    );
    let a = fit("a.json", &["--particles", "50", "--seed", "1"]);
    let b = fit("b.json", &["--particles", "50", "--seed", "2"]);

    let report = dir.join("compare.json");
    let table = ok(&hsmoe(&[
        "compare",
        "--reference",
        &gold,
        &a,
        &b,
        "--json",
        report.to_str().unwrap(),
    ]));
    assert!(table.contains("over 2 fits"), "{table}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let fits = v["fits"].as_array().unwrap();
    assert_eq!(fits.len(), 2);
    assert_eq!(
        (fits[0]["seed"].as_u64(), fits[1]["seed"].as_u64()),
        (Some(1), Some(2))
    );
    let rms: Vec<f64> = fits
        .iter()
        .map(|f| f["predictive_rms"].as_f64().unwrap())
        .collect();
    assert!(rms.iter().all(|r| r.is_finite() && *r > 0.0), "{rms:?}");

    // A tolerance below both distances fails, naming each fit.
    let tight = format!("{}", rms[0].min(rms[1]) / 2.0);
    let out = hsmoe(&["compare", "--reference", &gold, &a, &b, "--max-rms", &tight]);
    let line = error_line(&out);
    assert!(
        line.contains("a.json: predictive-mean RMS") && line.contains("b.json"),
        "{line}"
    );

    // Standardized against raw: the same rows on another scale.
    let z = fit("z.json", &["--particles", "50", "--standardize"]);
    let line = error_line(&hsmoe(&["compare", "--reference", &gold, &z]));
    assert!(
        line.contains("z.json: the data was read differently"),
        "{line}"
    );
}

/// Usage errors print clap's whole message (the missing argument by name,
/// a suggestion for a misspelt command, the usage line) with status 2;
/// bare `hsmoe` shows the help.
#[test]
fn usage_errors_are_clap_messages_with_status_2() {
    let missing = hsmoe(&["fit", "--experts", "2"]);
    let text = stderr(&missing);
    assert_eq!(missing.status.code(), Some(2), "{text}");
    assert!(
        text.contains("--data <CSV>") && text.contains("Usage: hsmoe fit"),
        "{text}"
    );
    let typo = hsmoe(&["fitt"]);
    let text = stderr(&typo);
    assert_eq!(typo.status.code(), Some(2), "{text}");
    assert!(text.contains("similar subcommand exists: 'fit'"), "{text}");
    let bare = hsmoe(&[]);
    let text = stderr(&bare);
    assert_eq!(bare.status.code(), Some(2), "{text}");
    assert!(
        text.contains("Commands:") && text.contains("simulate"),
        "{text}"
    );
    let help = hsmoe(&["fit", "--help"]);
    assert!(ok(&help).contains("--drop-missing"));
}

/// A file as pandas' `df.to_csv()` writes it: an unnamed index column, a
/// quoted text field with a comma, an `NA` and the response not last.
const PANDAS_CSV: &str = "\
,name,speed,load,accel,noise
0,\"Smith, J.\",0.5,1.0,2.1,0.3
1,Doe,1.5,0.2,3.9,0.1
2,Roe,NA,0.7,2.2,0.9
3,Poe,2.5,1.1,5.8,0.4
4,\"Moe, K.\",0.1,0.4,0.7,0.2
5,Zoe,1.2,0.9,3.3,0.6
";

#[test]
fn a_pandas_csv_fits_with_y_and_features_and_reports_the_skipped_row() {
    let dir = scratch("pandas");
    let csv = dir.join("pandas.csv");
    std::fs::write(&csv, PANDAS_CSV).unwrap();
    let csv = csv.to_str().unwrap();
    let fit = [
        "fit",
        "--data",
        csv,
        "--y",
        "accel",
        "--features",
        "speed,load",
        "--experts",
        "1",
        "--particles",
        "20",
    ];
    // The NA is an error naming file, line and column, and what to do.
    let line = error_line(&hsmoe(&fit));
    assert!(
        line.contains(&format!(
            "{csv}: line 4, column 3 (`speed`): missing value \"NA\""
        )) && line.contains("--drop-missing"),
        "{line}"
    );
    let json = dir.join("fit.json");
    let out = hsmoe(
        &[
            &fit[..],
            &["--drop-missing", "--json", json.to_str().unwrap()],
        ]
        .concat(),
    );
    let summary = ok(&out);
    assert!(
        summary.contains("d = 3 (intercept, speed, load)"),
        "{summary}"
    );
    let note = stderr(&out);
    assert!(
        note.contains("skipped 1 row with a missing value")
            && note.contains("5 used")
            && note.contains("line 4 (`speed` is \"NA\")"),
        "{note}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["n_obs"], 5);
    assert_eq!(
        v["feature_names"],
        serde_json::json!(["intercept", "speed", "load"])
    );

    // The same from standard input, the JSON to standard output.
    let piped = hsmoe_with_stdin(
        &[
            &fit[..2],
            &["-"],
            &fit[3..],
            &["--drop-missing", "--json", "-"],
        ]
        .concat(),
        PANDAS_CSV,
    );
    let text = ok(&piped);
    let from_stdin: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(from_stdin["log_marginal"], v["log_marginal"]);
    assert!(
        stderr(&piped).contains("<standard input>: skipped 1 row"),
        "{}",
        stderr(&piped)
    );

    // A column that is neither a number nor listed is an error saying so.
    let line = error_line(&hsmoe(&[
        "fit",
        "--data",
        csv,
        "--y",
        "accel",
        "--experts",
        "1",
    ]));
    assert!(
        line.contains("column 2 (`name`)") && line.contains("--features"),
        "{line}"
    );
    let line = error_line(&hsmoe(&["fit", "--data", csv, "--experts", "1"]));
    assert!(
        line.contains("no column named `y` (the response)") && line.contains("--y NAME"),
        "{line}"
    );
}

/// A telemetry file of a device with K = 1: the header, a `Config`, then
/// an `Update` per seq.
fn telemetry_bytes(updates: u32) -> Vec<u8> {
    let mut responses = vec![HostResponse::Config(ConfigMsg {
        version: PROTOCOL_VERSION,
        n: 8,
        k: 1,
        d: 2,
        family_tag: hsmoe_host::family::tag(hsmoe_host::family::Family::Gaussian),
        seed: 1,
        max_frame: frame::MAX_FRAME as u32,
        resample_ess: 1.0,
    })];
    responses.extend((0..updates).map(|seq| {
        HostResponse::Update(UpdateMsg {
            seq,
            pred_mean: seq as f32,
            pred_var: 1.0,
            log_pred: -1.0,
            ess: 8.0,
            resampled: false,
            gate: GateVec::from_slice(&[1.0]).unwrap(),
            ticks: 7,
        })
    }));
    let mut bytes = telemetry::header().to_vec();
    let mut buf = [0u8; frame::MAX_FRAME];
    for response in &responses {
        bytes.extend_from_slice(frame::encode(response, &mut buf).unwrap());
    }
    bytes
}

#[test]
fn decode_refuses_what_is_not_telemetry_and_stops_at_a_truncation() {
    let dir = scratch("decode");
    // Not telemetry: seeded pseudo-random bytes.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let random: Vec<u8> = (0..500)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let path = dir.join("random.bin");
    std::fs::write(&path, &random).unwrap();
    let line = error_line(&hsmoe(&["decode", path.to_str().unwrap()]));
    assert!(
        line.contains(path.to_str().unwrap()) && line.contains("not hsmoe telemetry"),
        "{line}"
    );
    let line = error_line(&hsmoe(&["decode", dir.to_str().unwrap()]));
    assert!(line.contains("cannot read"), "{line}");

    // Whole: every update decodes, no note.
    let bytes = telemetry_bytes(5);
    let whole = dir.join("whole.bin");
    std::fs::write(&whole, &bytes).unwrap();
    let out = hsmoe(&["decode", whole.to_str().unwrap()]);
    assert_eq!(ok(&out).lines().count(), 1 + 5);
    assert_eq!(stderr(&out), "");

    // Cut inside the last frame: the whole frames decode, and the note
    // gives the offset where the whole frames end.
    let last_start = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == 0)
        .unwrap()
        + 1;
    let cut = dir.join("cut.bin");
    std::fs::write(&cut, &bytes[..last_start + 3]).unwrap();
    let out = hsmoe(&["decode", cut.to_str().unwrap()]);
    let csv = ok(&out);
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    assert!(
        csv.lines().last().unwrap().starts_with("update,3,"),
        "{csv}"
    );
    let note = stderr(&out);
    assert!(
        note.contains(&format!("byte offset {last_start}")) && note.contains("3 bytes"),
        "{note}"
    );
    let out = hsmoe(&[
        "decode",
        cut.to_str().unwrap(),
        "--format",
        "json",
        "-o",
        "-",
    ]);
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["incomplete_from"], last_start);
    assert_eq!(v["records"].as_array().unwrap().len(), 1 + 4);

    // Cut inside the header.
    std::fs::write(&cut, &bytes[..5]).unwrap();
    let line = error_line(&hsmoe(&["decode", cut.to_str().unwrap()]));
    assert!(line.contains("truncated: 5 bytes"), "{line}");
}

/// `hsmoe … | head`: a reader that leaves early is not an error.
#[test]
fn a_closed_pipe_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hsmoe"))
        .args(["simulate", "--design", "linear", "--n", "200000", "-o", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    // The read end is closed here.
    let out = child.wait_with_output().unwrap();
    assert!(head.starts_with(b"x1,x2,x3,y\n"));
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(stderr(&out), "");
}

/// A saved model that is random bytes, cut short or of another version is
/// refused: non-zero exit, one line naming the file and what is wrong.
#[test]
fn bad_model_files_are_refused_naming_the_file_and_the_fault() {
    let dir = scratch("bad-model");
    let csv = dir.join("d.csv");
    let model = dir.join("m.hsm");
    let rows: String = (0..30)
        .map(|t| format!("{},{}\n", t % 7, 0.5 * f64::from(t % 5)))
        .collect();
    std::fs::write(&csv, format!("x1,y\n{rows}")).unwrap();
    ok(&hsmoe(&[
        "fit",
        "--data",
        csv.to_str().unwrap(),
        "--experts",
        "1",
        "--particles",
        "10",
        "--save",
        model.to_str().unwrap(),
    ]));
    let good = std::fs::read(&model).unwrap();
    let predict = |bytes: &[u8]| {
        let bad = dir.join("bad.hsm");
        std::fs::write(&bad, bytes).unwrap();
        let args = [
            "predict",
            "--model",
            bad.to_str().unwrap(),
            "--data",
            csv.to_str().unwrap(),
        ];
        let line = error_line(&hsmoe(&args));
        assert!(line.contains("bad.hsm"), "{line}");
        line
    };
    // Random bytes (a fixed pattern, not starting with the magic).
    let noise: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert!(predict(&noise).contains("not an hsmoe model file"));
    let cut = predict(&good[..good.len() / 2]);
    assert!(
        cut.contains("truncated") && cut.contains("section"),
        "{cut}"
    );
    let mut other = good.clone();
    other[4] = 99;
    assert!(predict(&other).contains("version 99"));
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    assert!(predict(&flipped).contains("damaged"));
    // The good file predicts, CSV on standard output.
    let out = ok(&hsmoe(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
    ]));
    assert!(
        out.starts_with("row,y,mean,sd,q0.05,q0.5,q0.95,gate_1,score_1,top\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 31);
}
