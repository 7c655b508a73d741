//! What a benchmark run measured, where and on which machine: measured
//! here, read from criterion's results, or counted in QEMU.

use crate::run::{self, RunArgs};
use anyhow::{anyhow, bail, Context as _};
use hsmoe_core::protocol::{Response, UpdateMsg};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::args::BenchArgs;
use super::points::*;
use super::timing::*;

/// A measured value and where it was measured (the JSON shape of each
/// headline figure).
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// The value.
    pub value: f64,
    /// Particles, if the figure has them.
    pub n: Option<usize>,
    /// Experts.
    pub k: Option<usize>,
    /// Features (for `exponent_d`, the largest of the series).
    pub d: Option<usize>,
    /// Further context (the D series, the c range, the source).
    pub note: String,
}

impl Measurement {
    fn at(value: f64, point: Point, note: impl Into<String>) -> Measurement {
        Measurement {
            value,
            n: Some(point.n),
            k: Some(point.k),
            d: Some(point.d),
            note: note.into(),
        }
    }

    fn bare(value: f64, note: impl Into<String>) -> Measurement {
        Measurement {
            value,
            n: None,
            k: None,
            d: None,
            note: note.into(),
        }
    }
}

/// The machine and toolchain the figures were taken on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model (from `/proc/cpuinfo` where available).
    pub cpu: String,
    /// Logical CPUs available to this process.
    pub cpus: usize,
    /// 1-minute load average when the report was made (from
    /// `/proc/loadavg`), a hint of how shared the machine was.
    pub load_average: Option<f64>,
    /// Operating system and architecture.
    pub os: String,
    /// `rustc -V` of the toolchain in the working directory, if any.
    pub rustc: Option<String>,
    /// UTC date of the report, `YYYY-MM-DD`.
    pub date: String,
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01
/// (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms",
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

impl Machine {
    /// Reads what it can about this machine.
    ///
    /// # Examples
    /// ```
    /// assert!(hsmoe_host::bench::report::Machine::this().cpus >= 1);
    /// ```
    pub fn this() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()));
        let rustc = std::process::Command::new("rustc")
            .arg("-V")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs() / 86_400);
        let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_average,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            rustc,
            date: format!("{y:04}-{m:02}-{d:02}"),
        }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {} logical CPUs, {}", self.cpu, self.cpus, self.os)?;
        if let Some(rustc) = &self.rustc {
            write!(f, ", {rustc}")?;
        }
        write!(f, ", {}", self.date)?;
        if let Some(load) = self.load_average {
            write!(f, ", load average {load:.2}")?;
        }
        Ok(())
    }
}

/// Everything one `hsmoe bench` run measured; serialized as its JSON.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Where.
    pub machine: Machine,
    /// How the figures were taken: in this process or by criterion.
    pub source: String,
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// Core ns per update at the target point N = 1000, K = 10, D = 6.
    pub core_update_ns: Measurement,
    /// Reference ns per update at the same point, same run.
    pub reference_update_ns: Measurement,
    /// Reference time over core time there.
    pub ratio_core_vs_reference: Measurement,
    /// Fitted exponent of the core's update time in D (R = D).
    pub exponent_d: Measurement,
    /// Core `PG(1, c)` draws per second over the c grid.
    pub pg_draws_per_s: Measurement,
    /// Exact (Devroye) draws per second over the same grid.
    pub pg_exact_draws_per_s: Measurement,
    /// Core over exact draws per second.
    pub ratio_pg_vs_exact: Measurement,
    /// Update time with R = 1 over R = D.
    pub ratio_refresh_r1_vs_rd: Measurement,
    /// Firmware instructions per update (`--qemu` only).
    pub firmware_instructions_per_update: Option<Measurement>,
    /// The D series of the exponent fit.
    pub update_vs_d: Vec<UpdateTiming>,
    /// Core update time against N.
    pub update_vs_n: Vec<UpdateTiming>,
    /// The benchmark grid, core and reference (full runs only).
    pub grid: Vec<UpdateTiming>,
    /// PG draws per second by c: (c, core, exact).
    pub pg_by_c: Vec<(f64, f64, f64)>,
    /// Cholesky ns by D: (D, rank-1 update, refactorization).
    pub cholesky: Vec<(usize, f64, f64)>,
}

/// The raw measurements behind a [`BenchReport`], however taken.
struct Measured {
    source: String,
    quick: bool,
    /// How the ratios were formed, for the figures' notes.
    ratio_note: &'static str,
    headline: UpdateTiming,
    update_vs_d: Vec<UpdateTiming>,
    update_vs_n: Vec<UpdateTiming>,
    /// Core and exact draws per second over [`pg_grid`], and their ratio.
    pg: (f64, f64, f64),
    pg_by_c: Vec<(f64, f64, f64)>,
    refresh_ratio: f64,
    cholesky: Vec<(usize, f64, f64)>,
    grid: Vec<UpdateTiming>,
}

impl BenchReport {
    /// Fits the exponent, attaches the firmware figure and labels every
    /// figure with where it was measured.
    fn of(m: Measured, firmware_instructions_per_update: Option<Measurement>) -> BenchReport {
        let ds: Vec<f64> = m.update_vs_d.iter().map(|u| u.point.d as f64).collect();
        let ts: Vec<f64> = m.update_vs_d.iter().map(|u| u.core_ns).collect();
        let series = format!("D in {EXPONENT_DS:?}, R = D, least squares on ln t against ln D");
        let exponent_point = Point::new(
            EXPONENT_NK.0,
            EXPONENT_NK.1,
            EXPONENT_DS[EXPONENT_DS.len() - 1],
        );
        let target = m.headline.point;
        let pg_note = "c = 0, 0.5, ..., 50, cycled";
        let [rd, _] = refresh_points();
        BenchReport {
            machine: Machine::this(),
            source: m.source,
            quick: m.quick,
            core_update_ns: Measurement::at(m.headline.core_ns, target, "median"),
            reference_update_ns: Measurement::at(
                m.headline.reference_ns.unwrap_or(f64::NAN),
                target,
                "median, same run as the core",
            ),
            ratio_core_vs_reference: Measurement::at(
                m.headline.ratio.unwrap_or(f64::NAN),
                target,
                format!("reference time / core time, {}", m.ratio_note),
            ),
            exponent_d: Measurement::at(loglog_slope(&ds, &ts), exponent_point, series),
            pg_draws_per_s: Measurement::bare(m.pg.0, pg_note),
            pg_exact_draws_per_s: Measurement::bare(m.pg.1, pg_note),
            ratio_pg_vs_exact: Measurement::bare(
                m.pg.2,
                format!("core draws/s over exact draws/s, {}", m.ratio_note),
            ),
            ratio_refresh_r1_vs_rd: Measurement::at(
                m.refresh_ratio,
                rd,
                format!("update time at R = 1 over R = D, {}", m.ratio_note),
            ),
            firmware_instructions_per_update,
            update_vs_d: m.update_vs_d,
            update_vs_n: m.update_vs_n,
            grid: m.grid,
            pg_by_c: m.pg_by_c,
            cholesky: m.cholesky,
        }
    }
}

/// Times the update at every point in `points`, core only or side by side.
fn time_updates(
    points: &[Point],
    with_reference: bool,
    budget: Budget,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<UpdateTiming>> {
    points
        .iter()
        .map(|&p| {
            progress(&format!("update at {}", p.label()));
            time_update(p, with_reference, budget)
        })
        .collect()
}

/// Takes every measurement of `hsmoe bench` in this process, interleaving
/// the workloads of each ratio round by round.
fn measure_here(args: &BenchArgs, progress: &mut dyn FnMut(&str)) -> anyhow::Result<Measured> {
    let budget = Budget::of(args);
    let target = Point::new(TARGET.0, TARGET.1, TARGET.2);
    progress(&format!("update at {}: core and reference", target.label()));
    let headline = time_update(target, true, budget)?;
    progress("update time against D (core)");
    let update_vs_d = time_updates(&exponent_points(), false, budget, progress)?;
    progress("update time against N (core)");
    let n_points: Vec<Point> = GRID_N
        .iter()
        .map(|&n| Point::new(n, N_SERIES_KD.0, N_SERIES_KD.1))
        .collect();
    let update_vs_n = time_updates(&n_points, false, budget, progress)?;

    progress("PG(1, c) draws over c in [0, 50]: core and exact");
    let pg = time_pg(&pg_grid(), budget)?;
    let mut pg_by_c = Vec::new();
    if !args.quick {
        for c in PG_CS {
            let (core, exact, _) = time_pg(&[c], budget)?;
            pg_by_c.push((c, core, exact));
        }
    }

    progress("horseshoe refresh every observation (R = 1) against every D");
    let [rd, r1] = refresh_points();
    let (mut at_rd, mut at_r1) = (core_loop(rd, 1)?, core_loop(r1, 1)?);
    let (_, refresh_ratio) = interleaved(
        &mut [&mut || at_rd.update(), &mut || at_r1.update()],
        budget,
    )?;

    let mut cholesky = Vec::new();
    let mut grid = Vec::new();
    if !args.quick {
        progress("rank-1 update against refactorization");
        for d in CHOLESKY_DS {
            let (update, refactored) = time_cholesky(d, budget)?;
            cholesky.push((d, update, refactored));
        }
        grid = time_updates(&grid_points(), true, budget, progress)?;
    }
    Ok(Measured {
        source: "hsmoe bench: wall-clock medians over interleaved rounds, one process".to_owned(),
        quick: args.quick,
        ratio_note: "median of per-round ratios",
        headline,
        update_vs_d,
        update_vs_n,
        pg,
        pg_by_c,
        refresh_ratio: refresh_ratio[1],
        cholesky,
        grid,
    })
}

/// Criterion results: per benchmark id `group/function/value`, the median
/// ns per iteration and the elements per iteration (its throughput).
struct CriterionResults(HashMap<String, (f64, Option<f64>)>);

impl CriterionResults {
    /// Reads every `*/new/{benchmark,estimates}.json` under `dir`.
    fn read(dir: &Path) -> anyhow::Result<CriterionResults> {
        let json = |path: PathBuf| -> anyhow::Result<serde_json::Value> {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        };
        let mut found = HashMap::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(d) = dirs.pop() {
            let entries =
                std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))?;
            for entry in entries {
                let path = entry?.path();
                if !path.is_dir() {
                    continue;
                }
                if !path.ends_with("new") {
                    dirs.push(path);
                    continue;
                }
                let id = json(path.join("benchmark.json"))?;
                let estimates = json(path.join("estimates.json"))?;
                let key = ["group_id", "function_id", "value_str"]
                    .map(|f| id[f].as_str().unwrap_or(""))
                    .join("/");
                let median = estimates["median"]["point_estimate"]
                    .as_f64()
                    .ok_or_else(|| anyhow!("{}: no median estimate", path.display()))?;
                let elements = id["throughput"]["Elements"].as_f64();
                found.insert(key, (median, elements));
            }
        }
        if found.is_empty() {
            bail!(
                "{}: no criterion results (run scripts/bench-host.sh)",
                dir.display()
            );
        }
        Ok(CriterionResults(found))
    }

    fn get(&self, group: &str, function: &str, value: &str) -> anyhow::Result<(f64, Option<f64>)> {
        let key = format!("{group}/{function}/{value}");
        self.0
            .get(&key)
            .copied()
            .ok_or_else(|| anyhow!("criterion results lack {key} (run scripts/bench-host.sh)"))
    }

    fn ns(&self, group: &str, function: &str, value: &str) -> anyhow::Result<f64> {
        Ok(self.get(group, function, value)?.0)
    }

    /// Core and reference at `p`, ratio of medians.
    fn update(&self, p: Point) -> anyhow::Result<UpdateTiming> {
        let core = self.ns("update", "core", &p.label())?;
        let reference = self.ns("update", "reference", &p.label())?;
        Ok(UpdateTiming {
            point: p,
            core_ns: core,
            reference_ns: Some(reference),
            ratio: Some(reference / core),
        })
    }

    /// Draws per second of the PG sampler `function` at `c`.
    fn pg_rate(&self, function: &str, c: Option<f64>) -> anyhow::Result<f64> {
        let (ns, elements) = self.get("pg", function, &pg_label(c))?;
        Ok(elements.unwrap_or(1.0) * 1e9 / ns)
    }

    /// The measurements of a full `hsmoe bench`, from criterion's results.
    fn measured(&self, dir: &Path) -> anyhow::Result<Measured> {
        let updates = |points: Vec<Point>| -> anyhow::Result<Vec<UpdateTiming>> {
            points.into_iter().map(|p| self.update(p)).collect()
        };
        let n_points = GRID_N
            .iter()
            .map(|&n| Point::new(n, N_SERIES_KD.0, N_SERIES_KD.1))
            .collect();
        let (pg_core, pg_exact) = (self.pg_rate("core", None)?, self.pg_rate("exact", None)?);
        let pg_by_c = PG_CS
            .iter()
            .map(|&c| {
                Ok((
                    c,
                    self.pg_rate("core", Some(c))?,
                    self.pg_rate("exact", Some(c))?,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        let [rd, r1] = refresh_points();
        let refresh = |p: Point| self.ns("refresh", "core", &p.label());
        let cholesky = CHOLESKY_DS
            .iter()
            .map(|&d| {
                let d_label = d.to_string();
                let update = self.ns("cholesky", "rank1_update", &d_label)?;
                Ok((d, update, self.ns("cholesky", "refactor", &d_label)?))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Measured {
            source: format!(
                "criterion medians, one `cargo bench` run (scripts/bench-host.sh), {}",
                dir.display()
            ),
            quick: false,
            ratio_note: "ratio of criterion medians",
            headline: self.update(Point::new(TARGET.0, TARGET.1, TARGET.2))?,
            update_vs_d: updates(exponent_points())?,
            update_vs_n: updates(n_points)?,
            pg: (pg_core, pg_exact, pg_core / pg_exact),
            pg_by_c,
            refresh_ratio: refresh(r1)? / refresh(rd)?,
            cholesky,
            grid: updates(grid_points())?,
        })
    }
}

/// Runs every measurement of `hsmoe bench` (see the module docs), or reads
/// them from criterion's results with `args.criterion`, and returns the
/// report; `progress` gets one line per figure as it is taken.
///
/// # Errors
/// If an engine fails, criterion's results are missing, or `args.qemu` and
/// the firmware run fails.
pub fn measure(args: &BenchArgs, progress: &mut dyn FnMut(&str)) -> anyhow::Result<BenchReport> {
    let measured = match &args.criterion {
        Some(dir) => {
            progress(&format!("reading criterion results from {}", dir.display()));
            CriterionResults::read(dir)?.measured(dir)?
        }
        None => measure_here(args, progress)?,
    };
    let firmware = if args.qemu {
        progress("firmware in QEMU");
        Some(firmware_instructions()?)
    } else {
        None
    };
    Ok(BenchReport::of(measured, firmware))
}

/// Firmware SysTick ticks per instruction under QEMU `-icount shift=0`
/// (one instruction per virtual ns) with the SysTick clocked at 25 MHz:
/// 40 instructions per tick (see `firmware/qemu-run.sh`).
const INSTRUCTIONS_PER_TICK: f64 = 40.0;

/// Rows streamed to the firmware, and how many of them warm it up.
const FIRMWARE_ROWS: (usize, usize) = (200, 20);

/// Boots the default firmware in QEMU, streams benchmark rows and returns
/// the mean instructions per update after warm-up, from the ticks each
/// `Update` reports.
fn firmware_instructions() -> anyhow::Result<Measurement> {
    let dir = std::env::temp_dir().join(format!("hsmoe-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let csv = dir.join("rows.csv");
    // The default firmware has D = 4: an intercept (added by `run`) and 3
    // features.
    let mut text = String::from("x1,x2,x3,y\n");
    for (x, y) in rows(4, FIRMWARE_ROWS.0, DATA_SEED) {
        writeln!(text, "{},{},{},{}", x[1], x[2], x[3], y)?;
    }
    std::fs::write(&csv, text).with_context(|| format!("writing {}", csv.display()))?;
    let summary = run::run(&RunArgs {
        quiet: true,
        ..RunArgs::qemu(csv)
    })?;
    let ticks: Vec<f64> = summary
        .answers
        .iter()
        .skip(FIRMWARE_ROWS.1)
        .filter_map(|a| match a {
            Response::Update(UpdateMsg { ticks, .. }) => Some(f64::from(*ticks)),
            _ => None,
        })
        .collect();
    if ticks.is_empty() {
        bail!("the firmware answered no update after warm-up");
    }
    let mean = ticks.iter().sum::<f64>() / ticks.len() as f64;
    let device = summary.device;
    Ok(Measurement::at(
        mean * INSTRUCTIONS_PER_TICK,
        Point::new(device.n as usize, device.k as usize, device.d as usize),
        format!(
            "QEMU mps2-an386 -icount shift=0, mean over {} updates after {} warm-up, {} instructions per SysTick tick",
            ticks.len(),
            FIRMWARE_ROWS.1,
            INSTRUCTIONS_PER_TICK
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
    }

    /// Criterion's layout `<group>/<function>/<value>/new/*.json` is read
    /// by the ids inside the files, with throughput turned into rates.
    #[test]
    fn reads_criterion_results() {
        let dir = std::env::temp_dir().join(format!("hsmoe-criterion-{}", std::process::id()));
        let write = |sub: &str, id: &str, median: f64| {
            let new = dir.join(sub).join("new");
            std::fs::create_dir_all(&new).unwrap();
            std::fs::write(new.join("benchmark.json"), id).unwrap();
            let estimates = format!(r#"{{"median": {{"point_estimate": {median}}}}}"#);
            std::fs::write(new.join("estimates.json"), estimates).unwrap();
        };
        write(
            "pg/core/c0-50",
            r#"{"group_id": "pg", "function_id": "core", "value_str": "c0-50", "throughput": {"Elements": 1000}}"#,
            2000.0,
        );
        let label = Point::new(64, 2, 2).label();
        write(
            "update/core/x",
            &format!(
                r#"{{"group_id": "update", "function_id": "core", "value_str": "{label}", "throughput": null}}"#
            ),
            10.0,
        );
        let results = CriterionResults::read(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(results.pg_rate("core", None).unwrap(), 5e8);
        assert_eq!(results.ns("update", "core", &label).unwrap(), 10.0);
        assert!(
            results.update(Point::new(64, 2, 2)).is_err(),
            "no reference"
        );
    }

    /// The JSON carries every headline key, each with where it was measured.
    #[test]
    fn json_has_the_issue_keys() {
        let p = Point::new(8, 2, 2);
        let fig = || Measurement::at(1.0, p, "x");
        let report = BenchReport {
            machine: Machine::this(),
            source: "test".to_owned(),
            quick: true,
            core_update_ns: fig(),
            reference_update_ns: fig(),
            ratio_core_vs_reference: fig(),
            exponent_d: fig(),
            pg_draws_per_s: Measurement::bare(1.0, "c"),
            pg_exact_draws_per_s: Measurement::bare(1.0, "c"),
            ratio_pg_vs_exact: Measurement::bare(1.0, "c"),
            ratio_refresh_r1_vs_rd: fig(),
            firmware_instructions_per_update: None,
            update_vs_d: Vec::new(),
            update_vs_n: Vec::new(),
            grid: Vec::new(),
            pg_by_c: Vec::new(),
            cholesky: Vec::new(),
        };
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        for key in [
            "core_update_ns",
            "reference_update_ns",
            "ratio_core_vs_reference",
            "exponent_d",
        ] {
            assert_eq!(json[key]["n"], 8, "{key}");
            assert_eq!(
                (json[key]["k"].clone(), json[key]["d"].clone()),
                (2.into(), 2.into())
            );
        }
        assert!(json["pg_draws_per_s"]["value"].is_number());
        assert!(json["pg_exact_draws_per_s"]["value"].is_number());
        assert!(json["firmware_instructions_per_update"].is_null());
        assert!(report
            .markdown()
            .contains("| core vs reference | 1.0× faster |"));
    }
}
