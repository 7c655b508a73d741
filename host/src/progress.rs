//! Progress display for long runs: drawn on stderr only when it is a
//! terminal and only once a run has taken more than a second, so short
//! runs, pipes and tests print nothing.

use indicatif::{HumanDuration, ProgressBar, ProgressState, ProgressStyle};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// Runs shorter than this never show a bar.
const DELAY: Duration = Duration::from_secs(1);

/// The time left at the run's average rate so far. indicatif's own
/// estimate follows recent steps only, and the bar appears with a jump
/// from 0 to the work done in its first second, which it reads as a
/// burst of speed: its ETA starts near zero.
fn eta(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let (pos, len) = (state.pos(), state.len().unwrap_or(0));
    if pos == 0 || len <= pos {
        let _ = write!(w, "-");
        return;
    }
    let left = state.elapsed().mul_f64((len - pos) as f64 / pos as f64);
    let _ = write!(w, "{:#}", HumanDuration(left));
}

/// A counter that turns into a progress bar after a second (`DELAY`).
///
/// # Examples
/// ```
/// let mut progress = hsmoe_host::progress::Progress::new(false, 10, "demo");
/// for _ in 0..10 {
///     progress.inc();
/// }
/// progress.finish(); // never drawn: disabled
/// ```
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    start: Instant,
    len: u64,
    pos: u64,
    label: String,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A counter to `len`; it can draw only if `enabled` and stderr is a
    /// terminal.
    pub fn new(enabled: bool, len: u64, label: &str) -> Self {
        Progress {
            enabled: enabled && std::io::stderr().is_terminal(),
            start: Instant::now(),
            len,
            pos: 0,
            label: label.to_owned(),
            bar: None,
        }
    }

    /// Counts one unit of work, drawing the bar once it is due.
    pub fn inc(&mut self) {
        self.pos += 1;
        match &self.bar {
            Some(bar) => bar.set_position(self.pos),
            None if self.enabled && self.start.elapsed() > DELAY => {
                // The bar's clock starts with the run, not with the bar.
                let bar = ProgressBar::new(self.len)
                    .with_message(self.label.clone())
                    .with_elapsed(self.start.elapsed());
                let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} eta {eta}");
                if let Ok(style) = style {
                    bar.set_style(style.progress_chars("=> ").with_key("eta", eta));
                }
                bar.set_position(self.pos);
                self.bar = Some(bar);
            }
            None => {}
        }
    }

    /// Removes the bar, if one was drawn.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }

    /// Runs `work` (on a scoped thread when the display is possible) and
    /// shows a spinner labelled `label` if it takes more than a second.
    ///
    /// # Examples
    /// ```
    /// let answer = hsmoe_host::progress::Progress::spin(true, "think", || 6 * 7);
    /// assert_eq!(answer, 42);
    /// ```
    pub fn spin<T: Send>(enabled: bool, label: &str, work: impl FnOnce() -> T + Send) -> T {
        if !(enabled && std::io::stderr().is_terminal()) {
            return work();
        }
        std::thread::scope(|scope| {
            let (done, finished) = std::sync::mpsc::channel();
            let handle = scope.spawn(move || {
                let out = work();
                // The receiver only goes away after join, so this cannot fail.
                let _ = done.send(());
                out
            });
            if finished.recv_timeout(DELAY).is_err() {
                let spinner = ProgressBar::new_spinner().with_message(label.to_owned());
                spinner.enable_steady_tick(Duration::from_millis(120));
                let _ = finished.recv();
                spinner.finish_and_clear();
            }
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}
