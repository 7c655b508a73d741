//! The flags of `hsmoe bench`.

use clap::Args;
use std::path::PathBuf;

/// `hsmoe bench`.
#[derive(Debug, Clone, Default, Args)]
pub struct BenchArgs {
    /// A short run: the headline figures only, fewer and shorter rounds.
    #[arg(long)]
    pub quick: bool,
    /// Also write the results as JSON to this file (`-`: standard output,
    /// and the Markdown report goes to standard error).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also boot the default firmware in QEMU (`-icount shift=0`) and
    /// report its instructions per update.
    #[arg(long)]
    pub qemu: bool,
    /// Also draw update time against D and against N (with `--fit-cost`:
    /// fit time against T) to this PNG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Instead of the core's speed, measure the default fit's cost against
    /// `--moves none` at these stream lengths T (comma-separated) on the
    /// paper design, K = 10, N = 1000, one thread.
    #[arg(long, value_name = "T,…", value_delimiter = ',', value_parser = crate::args::positive_usize,
          conflicts_with_all = ["quick", "qemu", "criterion"])]
    pub fit_cost: Vec<usize>,
    /// Measure nothing on the host: report the criterion benches' results
    /// found in this directory (their `CRITERION_HOME`, e.g.
    /// `target/criterion`), the full grid included.
    #[arg(long, value_name = "DIR", conflicts_with = "quick")]
    pub criterion: Option<PathBuf>,
    /// Also replace the block between the lines `<!-- hsmoe bench: begin -->`
    /// and `<!-- hsmoe bench: end -->` of this Markdown file with the
    /// report (e.g. `BENCHMARKS.md`).
    #[arg(long, value_name = "FILE")]
    pub into: Option<PathBuf>,
}
