//! `hsmoe bench`: how fast the core is, measured against its limits
//! (BENCHMARKS.md), in one process so every ratio compares figures
//! taken in the same run on the same machine.
//!
//! - one PL update of the core (`hsmoe_core::ParticleSet`) against the same
//!   update by the f64 reference engine
//!   ([`ReferenceFilter`](crate::reference::ReferenceFilter)), interleaved round by round;
//! - the fitted exponent of the core's update time in `D` at fixed `N`, `K`
//!   and `R = D` (the paper promises `O(N K D²)`);
//! - `PG(1, c)` draws per second over `c ∈ [0, 50]`, the core's f32
//!   approximation against the exact (Devroye) sampler;
//! - the rank-1 Cholesky update against refactoring, and the horseshoe
//!   refresh every observation (`R = 1`) against every `D` (`R = D`);
//! - with `--qemu`, the firmware's instructions per update in QEMU;
//! - with `--fit-cost`, instead of all the above, the default fit's cost
//!   against the plain filter over the stream length ([`fit_cost`]).
//!
//! Times are wall-clock medians over rounds; on a shared machine the
//! ratios (both engines measured alternately) are steadier than the
//! absolute figures. The criterion benches in `tests/benches/` measure the
//! same functions, at the same points (the constants below), with
//! criterion's statistics; `hsmoe bench --criterion DIR` reads their
//! results instead of measuring and prints the same report
//! (`scripts/bench-host.sh` runs both steps for `BENCHMARKS.md`).

mod args;
pub mod fit_cost;
pub mod markdown;
pub mod points;
pub mod report;
pub mod timing;

use crate::output;
use crate::plot::bench::{plot, plot_fit_cost};
use anyhow::Context as _;
use markdown::splice;
use report::measure;

pub use args::BenchArgs;
use std::io::Write as _;

/// `hsmoe bench`: measures (progress on stderr), prints the Markdown
/// tables, and writes the JSON and the plot if asked.
///
/// # Errors
/// A failed measurement, or a file that cannot be written.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let mut err = std::io::stderr();
    if !args.fit_cost.is_empty() {
        let costs = fit_cost::measure(&args.fit_cost, &mut |line| {
            let _ = writeln!(err, "bench: {line}");
        })?;
        if let Some(path) = &args.json {
            output::write(path, (output::json(&costs)? + "\n").as_bytes())?;
        }
        write!(
            output::messages(args.json.as_deref()),
            "{}",
            fit_cost::markdown(&costs)
        )?;
        if let Some(path) = &args.plot {
            plot_fit_cost(&costs, path)?;
        }
        return Ok(());
    }
    let report = measure(args, &mut |line| {
        let _ = writeln!(err, "bench: {line}");
    })?;
    if let Some(path) = &args.json {
        let text = output::json(&report)?;
        output::write(path, (text + "\n").as_bytes())?;
    }
    write!(
        output::messages(args.json.as_deref()),
        "{}",
        report.markdown()
    )?;
    if let Some(path) = &args.plot {
        plot(&report, path)?;
    }
    if let Some(path) = &args.into {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let text = splice(&text, &report.markdown()).with_context(|| path.display().to_string())?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
