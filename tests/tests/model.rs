//! A saved model (`hsmoe fit --save`) through the command line
//! (`cli::execute`): `predict` at the first held-out row is, bit for bit,
//! the one-step-ahead prediction of a fit over the whole file; `update`
//! on the rest gives the whole-file fit's filter bit for bit (log
//! marginal, every step's report, the final summaries), with the default
//! moves in three islands and with `--moves none`; expert coefficients
//! come back in the data's original units; `plot` reads the fit's data
//! options.
//!
//! The saved state is the filter after the last row and its move, before
//! the report's final sweeps, which is the state the whole-file fit
//! continues from: so every comparison is exact (no tolerance).

use clap::Parser as _;
use hsmoe_host::cli::{execute, Cli};
use hsmoe_host::model::Model;
use hsmoe_host::simulate::Design;
use hsmoe_tests::{scratch, simulated_csv};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Rows of the file, and of its first part.
const ROWS: usize = 90;
const FIRST: usize = 60;

/// `hsmoe ARGS…` as the binary runs it.
fn hsmoe(args: &[&str]) {
    let cli = Cli::try_parse_from(std::iter::once("hsmoe").chain(args.iter().copied())).unwrap();
    execute(cli).unwrap_or_else(|e| panic!("hsmoe {args:?}: {e:#}"));
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The piecewise design's CSV, and its first `FIRST` rows and the rest
/// as two files with the same header.
fn split(dir: &Path) -> [PathBuf; 3] {
    let (whole, _) = simulated_csv(dir, Design::Piecewise, ROWS, 4);
    let text = std::fs::read_to_string(&whole).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let write = |name: &str, rows: &[&str]| {
        let path = dir.join(name);
        std::fs::write(&path, format!("{}\n{}\n", lines[0], rows.join("\n"))).unwrap();
        path
    };
    let first = write("first.csv", &lines[1..=FIRST]);
    let rest = write("rest.csv", &lines[FIRST + 1..]);
    [whole, first, rest]
}

/// An f32 the JSON holds (a core run writes f32 values; `predict`
/// writes their exact f64 widening).
fn f32_at(v: &Value) -> f32 {
    v.as_f64().unwrap() as f32
}

fn fit_args<'a>(data: &'a str, moves: &'a str) -> Vec<&'a str> {
    let sizes = ["--experts", "2", "--particles", "150", "--seed", "7"];
    let mut args = vec!["fit", "--data", data, "--moves", moves];
    args.extend(sizes);
    if moves == "auto" {
        args.extend(["--islands", "3"]);
    }
    args
}

#[test]
fn predict_and_update_continue_the_fit_bit_for_bit() {
    let dir = scratch("continue");
    let [whole, first, rest] = split(&dir);
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    for moves in ["auto", "none"] {
        let (whole_json, model, predicted, updated, updated_model, whole_model) = (
            s(&dir.join(format!("whole-{moves}.json"))),
            s(&dir.join(format!("first-{moves}.hsm"))),
            s(&dir.join(format!("predict-{moves}.json"))),
            s(&dir.join(format!("update-{moves}.json"))),
            s(&dir.join(format!("update-{moves}.hsm"))),
            s(&dir.join(format!("whole-{moves}.hsm"))),
        );
        let (whole, first, rest) = (s(&whole), s(&first), s(&rest));
        let mut args = fit_args(&whole, moves);
        args.extend(["--json", &whole_json, "--save", &whole_model]);
        hsmoe(&args);
        let mut args = fit_args(&first, moves);
        args.extend(["--save", &model]);
        hsmoe(&args);
        hsmoe(&[
            "predict", "--model", &model, "--data", &rest, "--json", &predicted,
        ]);
        hsmoe(&[
            "update",
            "--model",
            &model,
            "--data",
            &rest,
            "--json",
            &updated,
            "--save",
            &updated_model,
        ]);

        // predict's first row is the whole fit's one-step prediction of
        // row FIRST + 1: mean, sd (of the same f32 variance) and gate.
        let fit = json(Path::new(&whole_json));
        let step = &fit["predictive"][FIRST];
        let row = &json(Path::new(&predicted))["rows"][0];
        assert_eq!(f32_at(&row["mean"]), f32_at(&step["mean"]), "{moves}");
        let sd = f64::from(f32_at(&step["var"])).sqrt();
        assert_eq!(row["sd"].as_f64().unwrap(), sd, "{moves}");
        let gates = |v: &Value| -> Vec<f32> { v.as_array().unwrap().iter().map(f32_at).collect() };
        assert_eq!(gates(&row["gate"]), gates(&step["gate"]), "{moves}");
        let q = gates(&row["quantiles"]);
        assert!(q[0] < q[1] && q[1] < q[2], "{moves}: quantiles {q:?}");

        // update's report is the whole fit's for the same rows.
        let update = json(Path::new(&updated));
        assert_eq!(update["log_marginal"], fit["log_marginal"], "{moves}");
        assert_eq!(update["continued_from"], FIRST, "{moves}");
        assert_eq!(
            update["predictive"].as_array().unwrap()[..],
            fit["predictive"].as_array().unwrap()[FIRST..],
            "{moves}"
        );
        for field in ["predictive", "gate_mean", "alloc"] {
            let tail = &fit["final"][field].as_array().unwrap()[FIRST..];
            assert_eq!(
                update["final"][field].as_array().unwrap()[..],
                *tail,
                "{moves}: final {field}"
            );
        }
        for field in ["allocation_freq", "allocation_freq_sorted", "horseshoe"] {
            assert_eq!(
                update["final"][field], fit["final"][field],
                "{moves}: final {field}"
            );
        }
        assert_eq!(update["experts"], fit["experts"], "{moves}");
        let sweeps = |v: &Value| v["moves"]["sweeps"].clone();
        assert_eq!(sweeps(&update), sweeps(&fit), "{moves}");

        // And the saved filters are the same: snapshot, stream, moves.
        let (a, b) = (
            Model::load(updated_model.as_ref()).unwrap(),
            Model::load(whole_model.as_ref()).unwrap(),
        );
        let islands = if moves == "auto" { 3 } else { 1 };
        assert_eq!(
            (a.states.len(), b.states.len()),
            (islands, islands),
            "{moves}"
        );
        for (a, b) in a.states.iter().zip(&b.states) {
            assert_eq!(a.snapshot, b.snapshot, "{moves}");
            assert_eq!(a.stream, b.stream, "{moves}");
            let schedule = |m: &hsmoe_host::engine::EngineState| {
                m.moves
                    .as_ref()
                    .map(|s| (s.next_geometric, s.spent, s.t, s.report.sweeps))
            };
            assert_eq!(schedule(a), schedule(b), "{moves}");
        }
        assert_eq!(a.meta.n_obs, ROWS);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-expert fit of `y = 40 − 0.5·x + noise` with x in the hundreds,
/// standardized: the reported coefficients are in the original units.
/// With K = 1 the posterior is the conjugate one (every particle holds
/// it), T = 400 rows swamp the prior, and the truth lies within 4
/// posterior sds of the mean (probability of a miss ≈ 6e-5 per
/// coefficient at this fixed seed).
#[test]
fn coefficients_are_in_original_units_and_plot_reads_the_options() {
    let dir = scratch("coefficients");
    let csv = dir.join("lin.csv");
    let mut text = String::from("idx,speed,load\n");
    let mut state = 12345u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..400 {
        let x = 100.0 + 300.0 * uniform();
        // Approximately normal noise of sd 2: a sum of 12 uniforms.
        let noise: f64 = (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
        text.push_str(&format!("{i},{x},{}\n", 40.0 - 0.5 * x + 2.0 * noise));
    }
    std::fs::write(&csv, text).unwrap();
    let (csv, fit_json, png) = (
        csv.to_str().unwrap().to_owned(),
        dir.join("fit.json").to_str().unwrap().to_owned(),
        dir.join("fit.png").to_str().unwrap().to_owned(),
    );
    hsmoe(&[
        "fit",
        "--data",
        &csv,
        "--y",
        "load",
        "--features",
        "speed",
        "--standardize",
        "--experts",
        "1",
        "--particles",
        "20",
        "--moves",
        "none",
        "--json",
        &fit_json,
    ]);
    let fit = json(Path::new(&fit_json));
    let expert = &fit["experts"][0];
    for (j, truth) in [40.0, -0.5].into_iter().enumerate() {
        let mean = expert["mean"][j].as_f64().unwrap();
        let sd = expert["sd"][j].as_f64().unwrap();
        assert!(
            (mean - truth).abs() < 4.0 * sd,
            "coefficient {j}: {mean} ± {sd}, truth {truth}"
        );
    }
    assert_eq!(expert["share"].as_f64().unwrap(), 1.0);
    // Without the fit's recorded options the file has no column `y`.
    hsmoe(&["plot", &fit_json, "--data", &csv, "-o", &png]);
    assert!(std::fs::metadata(&png).unwrap().len() > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
