//! `hsmoe run`: streams a data file to the device, one `Observe` per row,
//! and collects its answers (docs/protocol.md §4).
//!
//! Rows are sent with `seq` = row index. Up to `--window` observations are
//! in flight; the device absorbs them strictly in `seq` order, so a lost
//! frame is repaired by going back to the first unanswered row and
//! resending from there (go-back-N): after a timeout, after a `Reject`
//! without a seq (the device saw a damaged frame), or after an
//! `OutOfOrder` for a later row. The device answers a repeated `seq` from
//! its cache of the last 64 answers without absorbing it twice, so every
//! lost request or answer is recovered for any window up to 64. Row 0 goes
//! alone: the device takes any `seq` as its first after a `Reset`, so a
//! lost row 0 must not let row 1 in first. At the end the host asks the
//! device for its `Status` and checks that it absorbed each row exactly
//! once. `--faults` (hidden, for tests) puts a
//! [`FaultProxy`] on the QEMU link.
//!
//! # Checkpoints
//! With `--checkpoint FILE` the host pauses every `--checkpoint-every`
//! rows (at row indices that are multiples of it, once every earlier row
//! is answered and no later one sent) and after the last row, gets the
//! device's checkpoint stream (from the host's copy of the device's
//! filter, confirmed by the stream's tail, see `shadow`; else with
//! `Snapshot` requests for the whole stream) and writes it to `FILE`
//! atomically (a temporary file in the same directory, synced,
//! then renamed over `FILE`), so a crash at any moment leaves the
//! previous complete checkpoint. The file is the stream, byte for byte:
//! the filter snapshot and the link trailer (last `seq`, rejected count,
//! seed; see `hsmoe_core::snapshot::LinkState`).
//!
//! `--resume FILE` replaces the `Reset`: after `Hello` the host checks the
//! file's header against the device (format and protocol version, N, K,
//! D, length), streams it twice with `Restore` (the device verifies, then
//! writes), and continues with the row after the checkpoint's last `seq`
//! (rows are `seq`s). `--seed` is then ignored: the device continues the
//! checkpointed run's random stream. `--telemetry` is written anew and
//! holds the resumed rows only; the earlier run's telemetry up to the
//! checkpoint's last `seq`, followed by it, is the uninterrupted run's.

mod checkpoint;
mod device;
mod shadow;

use checkpoint::{check_checkpoint, save_checkpoint};
pub use checkpoint::{write_atomically, CheckpointOptions};
pub use device::Device;
use shadow::Shadow;

use crate::args::{unit_interval, DataArgs};
use crate::data;
use crate::family::{self, Family};
use crate::faults::{FaultConfig, FaultProxy, FaultReport};
use crate::link::{HostRequest, HostResponse, Received, HOST_D};
use crate::progress::Progress;
use crate::serial::{Board, Port, Qemu};
use anyhow::{bail, Context as _};
use clap::Args;
use hsmoe_core::protocol::{
    ConfigMsg, FeatureVec, ObserveMsg, PredictionMsg, RejectMsg, RejectReason, Request, Response,
    RestoreNextMsg, RestoredMsg, SnapshotChunkMsg, StatusMsg, UpdateMsg, PROTOCOL_VERSION,
};
use hsmoe_core::window::{SendWindow, MAX_WINDOW};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `hsmoe run`.
#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("device").required(true).args(["qemu", "port"]))]
pub struct RunArgs {
    /// The data file and how to read it (`--data`, `--no-intercept`,
    /// `--standardize`). With the intercept it must have the device's D
    /// features.
    #[command(flatten)]
    pub data: DataArgs,
    /// Boot the firmware in QEMU (building it if needed) and talk to its
    /// emulated UART.
    #[arg(long)]
    pub qemu: bool,
    /// Serial port of a real device (e.g. /dev/ttyACM0).
    #[arg(long)]
    pub port: Option<String>,
    /// With --qemu, the board to build the firmware for and emulate.
    #[arg(long, value_enum, default_value_t = Board::default())]
    pub board: Board,
    /// The experts' likelihood (docs/model.md §10). With --qemu the
    /// firmware is built with it; a device that runs another family is
    /// refused. `bernoulli` reads a 0/1 response (never standardized).
    #[arg(long, default_value_t = Family::Gaussian, value_parser = family::parser())]
    pub family: Family,
    /// Baud rate of --port.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Record every byte the device sends (its telemetry frames) here;
    /// read it back with `hsmoe decode`.
    #[arg(long)]
    pub telemetry: Option<PathBuf>,
    /// Seed of the device's random stream (sent in `Reset`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Observations in flight at once (1 = stop-and-wait).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_WINDOW as i64))]
    pub window: u32,
    /// Milliseconds to wait for an answer before resending.
    #[arg(long, default_value_t = 5_000)]
    pub timeout_ms: u64,
    /// Resends of one observation before giving up.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// With --qemu, boot this ELF instead of building the firmware.
    #[arg(long)]
    pub elf: Option<PathBuf>,
    /// No progress bar and no live device log.
    #[arg(long)]
    pub quiet: bool,
    /// With --qemu, inject link faults (testing only), e.g.
    /// `drop=0.01,duplicate=0.01,corrupt=0.01,truncate=0.01,delay=0.01,delay-ms=300,seed=1`.
    #[arg(long, hide = true)]
    pub faults: Option<FaultConfig>,
    /// Save the device's state to this file every --checkpoint-every rows
    /// and at the end (atomically: a crash never leaves half a file).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Rows between checkpoints (at row indices that are multiples of it).
    #[arg(long, default_value_t = 1_000, requires = "checkpoint",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub checkpoint_every: u32,
    /// Restore the device from this checkpoint instead of resetting it,
    /// and continue with the row after its last seq (--seed is ignored).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Stop after this many rows of this run, without the final
    /// checkpoint and status check, as if the link died (testing only).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
    /// Set the device's resampling threshold after the reset or restore:
    /// resample when a step's ESS is below this fraction of N (1: every
    /// step; 0: never) [default: the device's].
    #[arg(long, value_parser = unit_interval)]
    pub resample_ess: Option<f32>,
}

impl RunArgs {
    /// The arguments for a QEMU run of `data` with all defaults.
    ///
    /// # Examples
    /// ```
    /// let args = hsmoe_host::run::RunArgs::qemu("data.csv".into());
    /// assert!(args.qemu && args.port.is_none() && args.window == 1);
    /// ```
    pub fn qemu(data: PathBuf) -> RunArgs {
        RunArgs {
            data: DataArgs::file(data),
            qemu: true,
            port: None,
            board: Board::default(),
            family: Family::Gaussian,
            baud: 115_200,
            telemetry: None,
            seed: 1,
            window: 1,
            timeout_ms: 5_000,
            retries: 5,
            elf: None,
            quiet: false,
            faults: None,
            checkpoint: None,
            checkpoint_every: 1_000,
            resume: None,
            stop_after: None,
            resample_ess: None,
        }
    }
}

/// How to stream observations.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamOptions {
    /// Observations in flight at once.
    pub window: usize,
    /// Wait for an answer before resending.
    pub timeout: Duration,
    /// Resends of one observation before giving up.
    pub retries: u32,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Where and how often to save checkpoints.
    pub checkpoint: Option<CheckpointOptions>,
    /// Stop after this many rows of this session, as if the link died: no
    /// final checkpoint, no status check.
    pub stop_after: Option<usize>,
    /// The resampling threshold to set on the device before the first row
    /// (`Request::Resampling`); `None` keeps the device's.
    pub resample_ess: Option<f32>,
    /// The experts the device must run.
    pub family: Family,
}

/// How a [`session`] starts the device.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// `Reset { seed }`, then row 0.
    Reset {
        /// Seed of the device's random stream.
        seed: u64,
    },
    /// Restore a checkpoint, then the row after its last `seq`.
    Resume {
        /// The checkpoint stream (the file's bytes).
        checkpoint: &'a [u8],
        /// The file it came from, for messages.
        path: &'a Path,
    },
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The device's configuration after `Reset` (or `Hello`, when resumed).
    pub device: ConfigMsg,
    /// What the device reported absorbing, after the last row.
    pub status: Option<StatusMsg>,
    /// The faults injected on the link (`--faults` only).
    pub faults: Option<FaultReport>,
    /// Where a resumed run started: the checkpoint's run as restored.
    pub resumed: Option<RestoredMsg>,
    /// Checkpoints saved, with the number of rows each covers.
    pub checkpoints: Vec<usize>,
    /// Whether the run stopped early (`stop_after`).
    pub interrupted: bool,
    /// Observations sent (each counted once).
    pub sent: usize,
    /// The final answer to each observation of this run, in row order
    /// (`seq` = row; a resumed run starts after the checkpoint).
    pub answers: Vec<HostResponse>,
    /// Resent observation frames.
    pub resent: u64,
    /// Frames from the device that did not decode.
    pub damaged_answers: u64,
    /// `Reject`s without a seq: frames the device received damaged.
    pub damaged_requests: u64,
    /// Where the raw telemetry went.
    pub telemetry: Option<PathBuf>,
    /// The device's log (QEMU only).
    pub device_log: Vec<String>,
}

impl RunSummary {
    /// Observations answered (with an `Update` or a `Reject`).
    pub fn answered(&self) -> usize {
        self.answers.len()
    }

    /// Observations absorbed (`Update`).
    pub fn updates(&self) -> usize {
        self.answers
            .iter()
            .filter(|a| matches!(a, Response::Update(UpdateMsg { .. })))
            .count()
    }

    /// Rejected observations, by reason.
    pub fn rejected(&self) -> BTreeMap<String, usize> {
        let mut by_reason = BTreeMap::new();
        for answer in &self.answers {
            if let Response::Reject(RejectMsg { reason, .. }) = answer {
                *by_reason.entry(format!("{reason:?}")).or_insert(0) += 1;
            }
        }
        by_reason
    }

    /// `Σ_t log_pred` over the updates: the device's estimate of the log
    /// marginal likelihood, summed in f64 as `hsmoe fit` does.
    pub fn log_marginal(&self) -> f64 {
        self.answers
            .iter()
            .map(|a| match a {
                Response::Update(UpdateMsg { log_pred, .. }) => f64::from(*log_pred),
                _ => 0.0,
            })
            .sum()
    }

    /// Mean device ticks per update, if there was one.
    pub fn mean_ticks(&self) -> Option<f64> {
        let ticks: Vec<f64> = self
            .answers
            .iter()
            .filter_map(|a| match a {
                Response::Update(UpdateMsg { ticks, .. }) => Some(f64::from(*ticks)),
                _ => None,
            })
            .collect();
        (!ticks.is_empty()).then(|| ticks.iter().sum::<f64>() / ticks.len() as f64)
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.device;
        writeln!(
            f,
            "device: protocol {}, N = {}, K = {}, D = {}, seed {}",
            d.version, d.n, d.k, d.d, d.seed
        )?;
        let rejected: Vec<String> = self
            .rejected()
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let total_rejected: usize = self.rejected().values().sum();
        writeln!(
            f,
            "observations: {} sent, {} answered ({} updates, {} rejected{}), {} resent",
            self.sent,
            self.answered(),
            self.updates(),
            total_rejected,
            if rejected.is_empty() {
                String::new()
            } else {
                format!(": {}", rejected.join(", "))
            },
            self.resent
        )?;
        if self.damaged_answers + self.damaged_requests > 0 {
            writeln!(
                f,
                "link: {} damaged frames from the device, {} damaged frames reported by it",
                self.damaged_answers, self.damaged_requests
            )?;
        }
        if let Some(status) = &self.status {
            writeln!(
                f,
                "device count: {} absorbed, {} rejected (matches the host's)",
                status.steps, status.rejected
            )?;
        }
        if let Some(faults) = &self.faults {
            write!(f, "{faults}")?;
        }
        if let Some(r) = &self.resumed {
            writeln!(
                f,
                "resumed: the checkpoint of seed {} covers {} rows ({} absorbed, {} rejected)",
                r.seed,
                rows_through(r.last_seq),
                r.steps,
                r.rejected
            )?;
        }
        if let Some(rows) = self.checkpoints.last() {
            writeln!(
                f,
                "checkpoints: {} saved, the last after {rows} rows",
                self.checkpoints.len()
            )?;
        }
        if self.interrupted {
            writeln!(
                f,
                "stopped early (--stop-after): no final checkpoint or status"
            )?;
        }
        match (&self.resumed, &self.status) {
            (Some(r), Some(status)) => writeln!(
                f,
                "log marginal: {:.6} over {} rows ({:.6} carried by the checkpoint's {} rows, {:.6} from this run's {})",
                status.log_marginal,
                rows_through(status.last_seq),
                status.log_marginal - self.log_marginal(),
                rows_through(r.last_seq),
                self.log_marginal(),
                self.answered()
            )?,
            _ => writeln!(f, "log marginal: {:.6}", self.log_marginal())?,
        }
        if let Some(ticks) = self.mean_ticks() {
            writeln!(
                f,
                "device cost: {ticks:.0} ticks per update on average (on mps2-an386 under QEMU -icount shift=0, ×40 = instructions)"
            )?;
        }
        if let Some(path) = &self.telemetry {
            writeln!(
                f,
                "telemetry: {} (read it with `hsmoe decode`)",
                path.display()
            )?;
        }
        Ok(())
    }
}

/// Rows up to and including `last_seq` (rows are `seq`s).
fn rows_through(last_seq: Option<u32>) -> u64 {
    last_seq.map_or(0, |last| u64::from(last) + 1)
}

/// Rows of a data set as the f32 the device computes in.
///
/// # Errors
/// If a row has more than [`HOST_D`] features.
pub fn rows_f32(data: &data::Dataset) -> anyhow::Result<Vec<(Vec<f32>, f32)>> {
    if data.d() > HOST_D {
        bail!(
            "{} features: the protocol carries at most {HOST_D}",
            data.d()
        );
    }
    Ok(data
        .x
        .iter()
        .zip(&data.y)
        .map(|(x, &y)| (x.iter().map(|&v| v as f32).collect(), y as f32))
        .collect())
}

/// The `Observe` for row `t`.
fn observe(t: usize, (x, y): &(Vec<f32>, f32)) -> anyhow::Result<HostRequest> {
    let x = FeatureVec::from_slice(x).context("row longer than the protocol allows")?;
    let seq = u32::try_from(t).context("more than 2^32 rows")?;
    Ok(Request::Observe(ObserveMsg { seq, x, y: *y }))
}

/// Handshake (`Hello`, checked against the data, then `Reset { seed }`
/// or a restore), every row from the start streamed as an `Observe` with
/// checkpoints as asked, a `Status` checked against the host's count, and
/// a final `Hello` (the device logs its counters and stack high-water
/// mark then).
///
/// # Errors
/// If the device does not answer, has another `D` or protocol version,
/// reports another count of absorbed or rejected rows than the host
/// received, refuses the checkpoint (the message names the file and the
/// reason), or the link or a checkpoint file fails.
pub fn session(
    device: &mut Device,
    rows: &[(Vec<f32>, f32)],
    start: Start<'_>,
    opts: &StreamOptions,
) -> anyhow::Result<RunSummary> {
    // A lone 0x00 ends any partial frame the device may hold.
    device.send_raw(&[0])?;
    let hello = device.request_config(&Request::Hello, opts.timeout, opts.retries, |_| true)?;
    if hello.version != PROTOCOL_VERSION {
        bail!(
            "device speaks protocol {}, this host {PROTOCOL_VERSION}",
            hello.version
        );
    }
    if hello.family_tag != family::tag(opts.family) {
        bail!(
            "the device runs {}, this run asked for {} experts (--family)",
            checkpoint::family_name(hello.family_tag),
            opts.family
        );
    }
    if let Some((x, _)) = rows.first() {
        if x.len() != hello.d as usize {
            bail!(
                "the device was built for D = {} features (intercept included), the data has {}",
                hello.d,
                x.len()
            );
        }
    }
    let (mut config, resumed) = match start {
        Start::Reset { seed } => {
            let config = device.request_config(
                &Request::Reset { seed },
                opts.timeout,
                opts.retries,
                |c| c.seed == seed,
            )?;
            (config, None)
        }
        Start::Resume { checkpoint, path } => {
            check_checkpoint(checkpoint, &hello)
                .with_context(|| format!("cannot resume from {}", path.display()))?;
            let restored = device
                .restore(checkpoint, opts.timeout, opts.retries)
                .with_context(|| format!("cannot resume from checkpoint {}", path.display()))?;
            // The checkpoint carries its own threshold; the power-on
            // `Hello` answer does not know it, so ask again.
            let config =
                device.request_config(&Request::Hello, opts.timeout, opts.retries, |c| {
                    c.seed == restored.seed
                })?;
            (config, Some(restored))
        }
    };
    // Only checkpoints need the host's copy of the device's filter.
    let mut shadow = match (&opts.checkpoint, start) {
        (None, _) => None,
        (Some(_), Start::Reset { seed }) => shadow::after_reset(&hello, seed),
        (Some(_), Start::Resume { checkpoint, .. }) => shadow::from_checkpoint(&hello, checkpoint),
    };
    if let Some(ess_fraction) = opts.resample_ess {
        config = device.request_config(
            &Request::Resampling { ess_fraction },
            opts.timeout,
            opts.retries,
            |c| c.resample_ess == ess_fraction,
        )?;
        if let Some(shadow) = shadow.as_mut() {
            shadow.set_resample_ess(ess_fraction);
        }
    }
    let first = resumed
        .and_then(|r| r.last_seq)
        .map_or(0, |last| last as usize + 1);
    if first > rows.len() {
        bail!(
            "the checkpoint is after row {} but the data has {} rows",
            first - 1,
            rows.len()
        );
    }
    let mut summary = stream(device, rows, first, opts, config, shadow.as_mut())?;
    summary.resumed = resumed;
    if summary.interrupted {
        device.flush_telemetry()?;
        return Ok(summary);
    }
    if let Some(checkpoint) = &opts.checkpoint {
        save_checkpoint(
            device,
            shadow.as_mut(),
            checkpoint,
            opts.timeout,
            opts.retries,
        )?;
        summary.checkpoints.push(rows.len());
    }
    let status = device.request_status(opts.timeout, opts.retries)?;
    let rejected: usize = summary.rejected().values().sum();
    let before = resumed.unwrap_or(RestoredMsg {
        seed: config.seed,
        steps: 0,
        last_seq: None,
        rejected: 0,
    });
    let expected = (
        before.steps as usize + summary.updates(),
        before.rejected as usize + rejected,
        if rows.len() > first {
            Some((rows.len() - 1) as u32)
        } else {
            before.last_seq
        },
    );
    if (
        status.steps as usize,
        status.rejected as usize,
        status.last_seq,
    ) != expected
    {
        bail!(
            "the device absorbed {} rows and rejected {} (last seq {:?}), but the host counts {} updates and {} rejects (last seq {:?})",
            status.steps,
            status.rejected,
            status.last_seq,
            expected.0,
            expected.1,
            expected.2,
        );
    }
    summary.status = Some(status);
    device.request_config(&Request::Hello, opts.timeout, opts.retries, |_| true)?;
    device.flush_telemetry()?;
    Ok(summary)
}

/// Feeds `shadow` the rows from `*next` up to `upto`, all answered.
fn mirror(
    shadow: Option<&mut Box<dyn Shadow>>,
    rows: &[(Vec<f32>, f32)],
    answers: &[Option<HostResponse>],
    next: &mut usize,
    upto: usize,
) {
    if let Some(shadow) = shadow {
        for row in *next..upto {
            if let (Some((x, y)), Some(Some(answer))) = (rows.get(row), answers.get(row)) {
                // Rows are seqs, below 2^32 (`observe`).
                shadow.absorb(row as u32, x, *y, answer);
            }
        }
    }
    *next = upto.max(*next);
}

/// Streams `rows[first..]` go-back-N (see the module docs), saves the
/// checkpoints due on the way, and collects one final answer per row.
/// `shadow`, if any, absorbs every answered row, while the device works
/// on the next ones.
fn stream(
    device: &mut Device,
    rows: &[(Vec<f32>, f32)],
    first: usize,
    opts: &StreamOptions,
    config: ConfigMsg,
    mut shadow: Option<&mut Box<dyn Shadow>>,
) -> anyhow::Result<RunSummary> {
    let total = rows.len();
    let mut window = SendWindow::new(first, opts.window);
    let mut answers: Vec<Option<HostResponse>> = vec![None; total];
    let mut progress = Progress::new(opts.progress, (total - first) as u64, "run");
    let (mut resent, mut damaged_answers, mut damaged_requests) = (0u64, 0u64, 0u64);
    let mut deadline = Instant::now() + opts.timeout;
    let mut timeouts = 0u32;
    // The next row index at which a checkpoint is due.
    let mut due = opts.checkpoint.as_ref().map_or(usize::MAX, |c| {
        let every = c.every.max(1);
        (first / every + 1).saturating_mul(every)
    });
    let mut checkpoints = Vec::new();
    let stop = opts
        .stop_after
        .map_or(usize::MAX, |m| first.saturating_add(m));
    // Rows below this one are in the shadow.
    let mut mirrored = first;
    while window.base() < total.min(stop) {
        let base = window.base();
        if let Some(checkpoint) = opts.checkpoint.as_ref().filter(|_| base == due) {
            mirror(shadow.as_deref_mut(), rows, &answers, &mut mirrored, base);
            save_checkpoint(
                device,
                shadow.as_deref_mut(),
                checkpoint,
                opts.timeout,
                opts.retries,
            )?;
            checkpoints.push(base);
            due = due.saturating_add(checkpoint.every.max(1));
            deadline = Instant::now() + opts.timeout;
        }
        // None past a due checkpoint.
        while let Some(row) = window.next_to_send(total.min(due).min(stop)) {
            device.send(&observe(row, &rows[row])?)?;
            if row == base {
                deadline = Instant::now() + opts.timeout;
            }
            if window.mark_sent() {
                resent += 1;
            }
        }
        mirror(
            shadow.as_deref_mut(),
            rows,
            &answers,
            &mut mirrored,
            window.base(),
        );
        let Some(frame) = device.receive(deadline)? else {
            timeouts += 1;
            if timeouts > opts.retries {
                bail!("no answer to seq {base} after {} resends", opts.retries);
            }
            window.go_back();
            continue;
        };
        let response = match frame {
            Received::Response(response) => response,
            Received::Damaged(_) => {
                damaged_answers += 1;
                continue;
            }
        };
        let seq = match &response {
            Response::Update(UpdateMsg { seq, .. }) => *seq as usize,
            Response::Reject(RejectMsg {
                seq: Some(seq),
                reason: RejectReason::OutOfOrder,
            }) if *seq as usize != base => {
                // A gap: an earlier frame was lost on the way.
                if (*seq as usize) > base {
                    window.go_back_once();
                }
                continue;
            }
            Response::Reject(RejectMsg { seq: Some(seq), .. }) => *seq as usize,
            Response::Reject(RejectMsg { seq: None, .. }) => {
                damaged_requests += 1;
                window.go_back_once();
                continue;
            }
            Response::Config(ConfigMsg { .. })
            | Response::Prediction(PredictionMsg { .. })
            | Response::Status(StatusMsg { .. })
            | Response::SnapshotChunk(SnapshotChunkMsg { .. })
            | Response::RestoreNext(RestoreNextMsg { .. })
            | Response::Restored(RestoredMsg { .. })
            | Response::RestoreRefused { .. } => continue,
        };
        if !window.awaits(seq) || answers[seq].is_some() {
            continue; // a stale or repeated answer
        }
        answers[seq] = Some(response);
        progress.inc();
        if window.advance(|row| answers[row].is_some(), total) {
            timeouts = 0;
            deadline = Instant::now() + opts.timeout;
        }
    }
    progress.finish();
    mirror(shadow, rows, &answers, &mut mirrored, window.base());
    Ok(RunSummary {
        device: config,
        status: None,
        faults: None,
        resumed: None,
        checkpoints,
        interrupted: window.base() < total,
        sent: window.sent() - first,
        answers: answers.into_iter().flatten().collect(),
        resent,
        damaged_answers,
        damaged_requests,
        telemetry: None,
        device_log: Vec::new(),
    })
}

/// `hsmoe run`: loads the data, opens the device (QEMU or a serial
/// port), runs a [`session`] and returns its summary (print it with
/// `Display`).
///
/// # Errors
/// If the data cannot be loaded, the device cannot be reached or stops
/// answering, or the telemetry file cannot be written.
pub fn run(args: &RunArgs) -> anyhow::Result<RunSummary> {
    let rows = rows_f32(&args.data.read_for(args.family)?.data)?;
    let (qemu, port) = match (&args.port, args.qemu) {
        (Some(path), false) => (None, Port::open_serial(path, args.baud)?),
        (None, true) => {
            let (qemu, port) =
                Qemu::launch(args.board, args.family, args.elf.as_deref(), !args.quiet)?;
            (Some(qemu), port)
        }
        _ => bail!("give exactly one of --qemu and --port"),
    };
    let (port, proxy) = match (&args.faults, port) {
        (None, port) => (port, None),
        (Some(faults), Port::Tcp(stream)) => {
            let (port, proxy) = FaultProxy::insert(stream, faults)?;
            (port, Some(proxy))
        }
        (Some(_), Port::Serial(_)) => bail!("--faults needs --qemu"),
    };
    let mut device = Device::new(port);
    if let Some(path) = &args.telemetry {
        device.record_to(path)?;
    }
    let opts = StreamOptions {
        window: args.window as usize,
        timeout: Duration::from_millis(args.timeout_ms),
        retries: args.retries,
        progress: !args.quiet,
        checkpoint: args.checkpoint.as_ref().map(|path| CheckpointOptions {
            path: path.clone(),
            every: args.checkpoint_every as usize,
        }),
        stop_after: args.stop_after,
        resample_ess: args.resample_ess,
        family: args.family,
    };
    let checkpoint = match &args.resume {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read checkpoint {}", path.display()))?,
        ),
        None => None,
    };
    let start = match (&args.resume, &checkpoint) {
        (Some(path), Some(bytes)) => Start::Resume {
            checkpoint: bytes,
            path,
        },
        _ => Start::Reset { seed: args.seed },
    };
    let mut summary = session(&mut device, &rows, start, &opts)?;
    summary.telemetry.clone_from(&args.telemetry);
    summary.faults = proxy.as_ref().map(FaultProxy::report);
    if let Some(qemu) = qemu {
        summary.device_log = qemu.finish_log();
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hsmoe_core::frame::{self, FrameAccumulator, FrameEvent, MAX_FRAME};
    use hsmoe_core::protocol::{
        ConfigMsg, GateVec, ObserveMsg, PredictMsg, RejectMsg, RestoreMsg, StatusMsg, UpdateMsg,
    };
    use std::io::{Read as _, Write as _};
    use std::net::{Ipv4Addr, TcpListener, TcpStream};

    /// A device stand-in on a socket with the firmware's `seq` rules
    /// (absorb `last + 1`, repeat `last` from the cache, reject anything
    /// else as out of order) that loses or damages chosen frames.
    struct FakeDevice {
        /// Indices of received frames to drop without an answer.
        lose: Vec<usize>,
        /// Indices of received frames to answer as corrupt.
        damage: Vec<usize>,
    }

    impl FakeDevice {
        /// Serves one connection; returns the seqs absorbed, in order.
        fn serve(self, mut stream: TcpStream) -> Vec<u32> {
            let mut rx = FrameAccumulator::<MAX_FRAME>::new();
            let (mut received, mut absorbed) = (0usize, Vec::new());
            let mut last: Option<(u32, HostResponse)> = None;
            let mut byte = [0u8; 1];
            while stream.read_exact(&mut byte).is_ok() {
                let Some(FrameEvent::Frame(body)) = rx.push(byte[0]) else {
                    continue;
                };
                let request = frame::decode::<HostRequest>(body).unwrap();
                received += 1;
                if self.lose.contains(&(received - 1)) {
                    continue;
                }
                let answer = if self.damage.contains(&(received - 1)) {
                    Response::Reject(RejectMsg {
                        seq: None,
                        reason: RejectReason::Corrupt,
                    })
                } else {
                    match request {
                        Request::Hello => config(0),
                        Request::Reset { seed } => {
                            last = None;
                            config(seed)
                        }
                        Request::Observe(ObserveMsg { seq, .. }) => match &last {
                            Some((l, cached)) if *l == seq => cached.clone(),
                            Some((l, _)) if seq != l + 1 => Response::Reject(RejectMsg {
                                seq: Some(seq),
                                reason: RejectReason::OutOfOrder,
                            }),
                            _ => {
                                absorbed.push(seq);
                                let update = update(seq);
                                last = Some((seq, update.clone()));
                                update
                            }
                        },
                        Request::Predict(PredictMsg { .. })
                        | Request::Snapshot { .. }
                        | Request::Restore(RestoreMsg { .. })
                        | Request::Resampling { .. } => {
                            unreachable!("these sessions neither predict, checkpoint nor tune")
                        }
                        Request::Status => Response::Status(StatusMsg {
                            steps: absorbed.len() as u32,
                            last_seq: absorbed.last().copied(),
                            rejected: 0,
                            log_marginal: absorbed.iter().map(|&t| -f64::from(t)).sum(),
                        }),
                    }
                };
                let mut buf = [0u8; MAX_FRAME];
                let bytes = frame::encode(&answer, &mut buf).unwrap();
                if stream.write_all(bytes).is_err() {
                    break;
                }
            }
            absorbed
        }
    }

    fn config(seed: u64) -> HostResponse {
        Response::Config(ConfigMsg {
            version: PROTOCOL_VERSION,
            n: 8,
            k: 2,
            d: 2,
            family_tag: family::tag(Family::Gaussian),
            seed,
            max_frame: MAX_FRAME as u32,
            resample_ess: 1.0,
        })
    }

    /// A recognizable update for `seq`.
    fn update(seq: u32) -> HostResponse {
        Response::Update(UpdateMsg {
            seq,
            pred_mean: seq as f32,
            pred_var: 1.0,
            log_pred: -(seq as f32),
            ess: 8.0,
            resampled: false,
            gate: GateVec::from_slice(&[0.5, 0.5]).unwrap(),
            ticks: 1,
        })
    }

    /// Runs a session of `rows` rows against a fake device.
    fn session_with(fake: FakeDevice, rows: usize, window: usize) -> (RunSummary, Vec<u32>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let address = listener.local_addr().unwrap();
        let device = std::thread::spawn(move || fake.serve(listener.accept().unwrap().0));
        let mut host = Device::new(Port::Tcp(TcpStream::connect(address).unwrap()));
        let data: Vec<(Vec<f32>, f32)> = (0..rows).map(|t| (vec![1.0, t as f32], 0.5)).collect();
        let opts = StreamOptions {
            window,
            timeout: Duration::from_millis(150),
            retries: 3,
            progress: false,
            checkpoint: None,
            stop_after: None,
            resample_ess: None,
            family: Family::Gaussian,
        };
        let summary = session(&mut host, &data, Start::Reset { seed: 42 }, &opts).unwrap();
        drop(host);
        (summary, device.join().unwrap())
    }

    fn assert_complete(summary: &RunSummary, absorbed: &[u32], rows: usize) {
        let expected: Vec<u32> = (0..rows as u32).collect();
        assert_eq!(
            absorbed, expected,
            "the device absorbed each row once, in order"
        );
        let answered: Vec<HostResponse> = (0..rows as u32).map(update).collect();
        assert_eq!(summary.answers, answered);
        assert_eq!((summary.sent, summary.device.seed), (rows, 42));
    }

    #[test]
    fn a_clean_link_sends_each_row_once() {
        for window in [1, 4] {
            let fake = FakeDevice {
                lose: vec![],
                damage: vec![],
            };
            let (summary, absorbed) = session_with(fake, 30, window);
            assert_complete(&summary, &absorbed, 30);
            assert_eq!((summary.resent, summary.damaged_requests), (0, 0));
            let log_marginal: f64 = (0..30).map(|t| -f64::from(t)).sum();
            assert_eq!(summary.log_marginal(), log_marginal);
        }
    }

    /// Frame 0 is `Hello`, 1 is `Reset`, then the observations: lose
    /// observations 4 and 12 (recovered by timeout) and damage 8 and 17
    /// (recovered at once by going back).
    #[test]
    fn lost_and_damaged_frames_are_resent_in_order() {
        for window in [1, 2, 5] {
            let fake = FakeDevice {
                lose: vec![6, 14],
                damage: vec![10, 19],
            };
            let (summary, absorbed) = session_with(fake, 25, window);
            assert_complete(&summary, &absorbed, 25);
            assert!(
                summary.resent >= 4,
                "window {window}: {} resent",
                summary.resent
            );
            assert_eq!(summary.damaged_requests, 2, "window {window}");
        }
    }

    #[test]
    fn a_silent_device_is_an_error_naming_the_seq() {
        let fake = FakeDevice {
            lose: (2..100).collect(),
            damage: vec![],
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let address = listener.local_addr().unwrap();
        let device = std::thread::spawn(move || fake.serve(listener.accept().unwrap().0));
        let mut host = Device::new(Port::Tcp(TcpStream::connect(address).unwrap()));
        let opts = StreamOptions {
            window: 1,
            timeout: Duration::from_millis(50),
            retries: 2,
            progress: false,
            checkpoint: None,
            stop_after: None,
            resample_ess: None,
            family: Family::Gaussian,
        };
        let rows = vec![(vec![1.0, 0.0], 0.0)];
        let error = session(&mut host, &rows, Start::Reset { seed: 1 }, &opts).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no answer to seq 0 after 2 resends"),
            "{error}"
        );
        drop(host);
        assert!(device.join().unwrap().is_empty());
    }
}
