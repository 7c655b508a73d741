//! Byte links to the device and the QEMU launcher.
//!
//! A [`Port`] is either a real serial port (the `serialport` crate) or
//! QEMU's emulated UART on a local TCP socket. [`Qemu::launch`] builds
//! the firmware for a [`Board`] if needed ([`build_firmware`]), boots it
//! on the board's QEMU machine with `-icount shift=0`, connects its UART
//! to a socket and decodes its defmt log (semihosting, on QEMU's stdout)
//! with [`crate::defmt_log`].
//!
//! QEMU dies with the host: it is killed when the [`Qemu`] is dropped,
//! by [`kill_qemu_on_signals`] on SIGINT, SIGTERM or SIGHUP, and on Linux
//! by the kernel when the host dies of anything else (SIGKILL included):
//! the child asks for `PR_SET_PDEATHSIG` before it runs QEMU. Sharing the
//! host's process group, as every child does, would not be enough: a
//! signal sent to the host's PID alone (`kill PID`, a supervisor's
//! SIGKILL) does not reach the group.

use crate::defmt_log::DeviceLog;
use crate::family::Family;
use anyhow::{bail, Context as _};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// PIDs of the QEMUs this process started and has not yet reaped: what
/// the signal handler kills.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Installs a handler for SIGINT (Ctrl-C), SIGTERM and SIGHUP that kills
/// every QEMU this process started, then exits with status 130. Call it
/// early in a program that launches QEMU; calling it again does nothing.
///
/// # Errors
/// If the handler cannot be installed.
pub fn kill_qemu_on_signals() -> anyhow::Result<()> {
    let installed = ctrlc::set_handler(|| {
        let running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        for &pid in running.iter() {
            kill_pid(pid);
        }
        let _ = writeln!(io::stderr(), "interrupted: QEMU stopped");
        std::process::exit(130);
    });
    match installed {
        Ok(()) | Err(ctrlc::Error::MultipleHandlers) => Ok(()),
        Err(error) => Err(error).context("cannot install the signal handler"),
    }
}

/// Kills the process `pid` (SIGKILL), ignoring failure (it may be gone).
fn kill_pid(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// On Linux, makes the child of `command` get SIGKILL when the host
/// thread that starts it exits (`PR_SET_PDEATHSIG`), so that QEMU does
/// not outlive a host killed by a signal no handler can catch. Elsewhere
/// a no-op.
fn die_with_host(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        let host = nix::unistd::getpid();
        let in_child = move || -> io::Result<()> {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            // The host may have died between fork and prctl: then the
            // signal will never come, so do not start QEMU.
            if nix::unistd::getppid() != host {
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        };
        // SAFETY: the closure runs in the forked child before exec. It
        // only makes the prctl(2) and getppid(2) system calls, which are
        // async-signal-safe, and neither allocates nor takes a lock (its
        // error is a raw OS error code).
        unsafe {
            command.pre_exec(in_child);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// How long QEMU may take to connect its UART to our socket.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A board the firmware supports (its Cargo feature in `firmware/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Board {
    /// ARM MPS2 with the AN386 image (QEMU `mps2-an386`); the default.
    #[default]
    #[value(name = "mps2-an386")]
    Mps2An386,
    /// STM32F405 (QEMU `netduinoplus2`; STM32F4-Discovery class boards).
    Stm32f405,
    /// nRF52840 (nRF52840-DK); no QEMU machine models it.
    Nrf52840,
}

impl Board {
    /// The firmware's Cargo feature for this board.
    pub fn feature(self) -> &'static str {
        match self {
            Board::Mps2An386 => "mps2-an386",
            Board::Stm32f405 => "stm32f405",
            Board::Nrf52840 => "nrf52840",
        }
    }

    /// The QEMU machine that models this board, if one does.
    pub fn qemu_machine(self) -> Option<&'static str> {
        match self {
            Board::Mps2An386 => Some("mps2-an386"),
            Board::Stm32f405 => Some("netduinoplus2"),
            Board::Nrf52840 => None,
        }
    }
}

/// A byte link to the device.
pub enum Port {
    /// A serial port (USB-UART bridge, `/dev/ttyACM0`, a pty, ...).
    Serial(Box<dyn serialport::SerialPort>),
    /// QEMU's UART0 on a TCP socket.
    Tcp(TcpStream),
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Port::Serial(port) => write!(f, "Port::Serial({:?})", port.name()),
            Port::Tcp(stream) => write!(f, "Port::Tcp({:?})", stream.peer_addr().ok()),
        }
    }
}

impl Port {
    /// Opens the serial port at `path` (8N1, no flow control) at `baud`.
    ///
    /// # Errors
    /// If the port does not exist or cannot be opened; the message names
    /// the path.
    pub fn open_serial(path: &str, baud: u32) -> anyhow::Result<Port> {
        let port = serialport::new(path, baud)
            .timeout(Duration::from_millis(100))
            .open()
            .with_context(|| format!("cannot open serial port {path} at {baud} baud"))?;
        Ok(Port::Serial(port))
    }

    /// Sets how long a `read` waits for the first byte before failing with
    /// [`io::ErrorKind::TimedOut`] or [`io::ErrorKind::WouldBlock`].
    ///
    /// # Errors
    /// As the underlying port (a zero timeout is raised to 1 ms).
    pub fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        let timeout = timeout.max(Duration::from_millis(1));
        match self {
            Port::Serial(port) => port.set_timeout(timeout).map_err(io::Error::from),
            Port::Tcp(stream) => stream.set_read_timeout(Some(timeout)),
        }
    }
}

impl Read for Port {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Port::Serial(port) => port.read(buf),
            Port::Tcp(stream) => stream.read(buf),
        }
    }
}

impl Write for Port {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Port::Serial(port) => port.write(buf),
            Port::Tcp(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Port::Serial(port) => port.flush(),
            Port::Tcp(stream) => stream.flush(),
        }
    }
}

/// The firmware crate's directory: `$HSMOE_FIRMWARE_DIR`, else
/// `firmware/` next to this crate's source.
pub fn firmware_dir() -> PathBuf {
    match std::env::var_os("HSMOE_FIRMWARE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware"),
    }
}

/// The QEMU binary: `$HSMOE_QEMU`, else `qemu-system-arm` on the `PATH`.
pub fn qemu_program() -> PathBuf {
    std::env::var_os("HSMOE_QEMU").map_or_else(|| PathBuf::from("qemu-system-arm"), PathBuf::from)
}

/// Whether the QEMU binary can be started (`--version` succeeds).
///
/// # Examples
/// ```
/// // Either answer is fine; the call itself never fails.
/// let _available: bool = hsmoe_host::serial::qemu_available();
/// ```
pub fn qemu_available() -> bool {
    Command::new(qemu_program())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// For tests that need QEMU: whether it can run. If not, panics under
/// `CI` (set and not `false`/`0`), so CI fails instead of skipping, and
/// otherwise prints a loud SKIPPED line naming `test` on stderr.
///
/// # Panics
/// Under `CI` when QEMU is missing.
///
/// # Examples
/// ```no_run
/// if !hsmoe_host::serial::require_qemu("my_test") {
///     return; // skipped, and said so
/// }
/// ```
pub fn require_qemu(test: &str) -> bool {
    if qemu_available() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let message = format!(
        "{} not found; install it (apt-get install qemu-system-arm) or set HSMOE_QEMU",
        qemu_program().display()
    );
    assert!(
        !ci,
        "{test}: {message} (CI is set: failing instead of skipping)"
    );
    // Written to stderr directly, past the test harness's output capture.
    let _ = writeln!(io::stderr(), "\n*** SKIPPED {test}: {message} ***\n");
    false
}

/// Cargo's target directory for a firmware build for `board` with
/// `family` experts: the default board with Gaussian experts shares
/// `firmware/target` with `cargo run` in `firmware/`; the others get
/// their own, so their builds do not overwrite each other.
fn firmware_target_dir(board: Board, family: Family) -> PathBuf {
    let target = firmware_dir().join("target");
    match (board == Board::default(), family) {
        (true, Family::Gaussian) => target,
        (false, Family::Gaussian) => target.join(format!("board-{}", board.feature())),
        (_, family) => target.join(format!("board-{}-{family}", board.feature())),
    }
}

/// The `cargo build --release` command for the QEMU firmware of `board`
/// with `family` experts (or, with `test`, its on-target self-test
/// `tests/selftest.rs`), at the board's default sizes: set `HSMOE_N`,
/// `HSMOE_K`, `HSMOE_D` on it for others.
pub fn firmware_build_command(board: Board, family: Family, test: bool) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(firmware_dir())
        .args(["build", "--release"]);
    if test {
        command.args([
            "--test",
            "selftest",
            "--message-format=json-render-diagnostics",
        ]);
    }
    if board != Board::default() {
        let features = format!("qemu,{}", board.feature());
        command.args(["--no-default-features", "--features", &features]);
    }
    // The firmware's own .cargo/config.toml sets the target and the linker
    // scripts; flags from the caller's environment would replace them, and
    // sizes from it would change the build the tests expect.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "HSMOE_N",
        "HSMOE_K",
        "HSMOE_D",
    ] {
        command.env_remove(var);
    }
    // Gaussian is the build's default: leaving the variable unset keeps
    // this build the same as a plain `cargo build` in `firmware/`.
    match family {
        Family::Gaussian => command.env_remove("HSMOE_FAMILY"),
        family => command.env("HSMOE_FAMILY", family.name()),
    };
    command.env("CARGO_TARGET_DIR", firmware_target_dir(board, family));
    command.stdin(Stdio::null());
    command
}

/// Builds the QEMU firmware for `board` with `family` experts
/// ([`firmware_build_command`]) and returns the path of its ELF. A no-op
/// when it is up to date.
///
/// # Errors
/// If cargo cannot be run or the build fails (with cargo's output).
pub fn build_firmware(board: Board, family: Family, test: bool) -> anyhow::Result<PathBuf> {
    let dir = firmware_dir();
    let mut command = firmware_build_command(board, family, test);
    let output = command.output().with_context(|| {
        format!(
            "cannot run cargo to build the firmware in {}",
            dir.display()
        )
    })?;
    if !output.status.success() {
        bail!(
            "building the firmware in {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if test {
        return test_executable(&output.stdout);
    }
    Ok(firmware_target_dir(board, family).join("thumbv7em-none-eabihf/release/hsmoe-firmware"))
}

/// The executable of the `selftest` target in cargo's JSON messages.
fn test_executable(messages: &[u8]) -> anyhow::Result<PathBuf> {
    for line in messages.split(|&b| b == b'\n') {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if message["target"]["name"] == "selftest" {
            if let Some(path) = message["executable"].as_str() {
                return Ok(PathBuf::from(path));
            }
        }
    }
    bail!("cargo did not report the selftest executable")
}

/// The QEMU command line that boots `elf` on `machine` (a Cortex-M4F)
/// with deterministic instruction counting and semihosting, whose console
/// (the defmt log) is QEMU's stdout. The first UART (the firmware's)
/// goes to `serial` (a QEMU chardev spec).
pub fn qemu_command(machine: &str, elf: &Path, serial: &str) -> Command {
    let mut command = Command::new(qemu_program());
    command
        .args(["-cpu", "cortex-m4", "-machine", machine])
        .args(["-display", "none", "-monitor", "none"])
        .args(["-icount", "shift=0"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-serial", serial])
        .arg("-kernel")
        .arg(elf);
    command
}

/// A running QEMU with the firmware; killed on drop.
#[derive(Debug)]
pub struct Qemu {
    child: Child,
    log: Option<DeviceLog>,
}

impl Qemu {
    /// Boots `elf` (or the board's default firmware build with `family`
    /// experts, built if needed) on `board`'s QEMU machine and returns QEMU and the port of
    /// the firmware's UART. With `echo`, each device log line is also
    /// printed on stderr as it arrives.
    ///
    /// # Errors
    /// If no QEMU machine models `board`, the firmware cannot be built,
    /// QEMU cannot be started, or it does not connect its UART within
    /// 20 s (QEMU's stderr is included).
    pub fn launch(
        board: Board,
        family: Family,
        elf: Option<&Path>,
        echo: bool,
    ) -> anyhow::Result<(Qemu, Port)> {
        let elf = match elf {
            Some(elf) => elf.to_path_buf(),
            None => build_firmware(board, family, false)?,
        };
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot open a local socket")?;
        let address = listener.local_addr()?;
        // nodelay: QEMU writes each UART byte on its own; with Nagle and our
        // delayed ACKs every answer would wait ~40 ms.
        let serial = format!("tcp:{address},nodelay=on");
        let mut qemu = Qemu::spawn(board, &elf, &serial, echo)?;
        let stream = qemu.accept(&listener)?;
        stream.set_nodelay(true)?;
        Ok((qemu, Port::Tcp(stream)))
    }

    /// Boots `elf` on `board` without a UART and waits until it exits
    /// (e.g. the on-target self-test), at most `timeout`. Returns QEMU's
    /// exit status (the program's semihosting exit code) and the device
    /// log.
    ///
    /// # Errors
    /// If QEMU cannot be started or does not exit in time (it is killed).
    pub fn run_to_exit(
        board: Board,
        elf: &Path,
        timeout: Duration,
        echo: bool,
    ) -> anyhow::Result<(ExitStatus, Vec<String>)> {
        let mut qemu = Qemu::spawn(board, elf, "null", echo)?;
        let status = qemu.wait_timeout(timeout)?;
        let Some(status) = status else {
            bail!("{} did not exit within {timeout:?}", elf.display());
        };
        Ok((status, qemu.finish_log()))
    }

    fn spawn(board: Board, elf: &Path, serial: &str, echo: bool) -> anyhow::Result<Qemu> {
        let Some(machine) = board.qemu_machine() else {
            bail!(
                "no QEMU machine models the {} board; use --port with a real one",
                board.feature()
            );
        };
        if !elf.is_file() {
            bail!("no firmware ELF at {}", elf.display());
        }
        let mut command = qemu_command(machine, elf, serial);
        die_with_host(&mut command);
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (install it: apt-get install qemu-system-arm, or set HSMOE_QEMU)",
                    qemu_program().display()
                )
            })?;
        running.push(child.id());
        drop(running);
        let log = match child.stdout.take() {
            Some(stdout) => Some(DeviceLog::spawn(elf, stdout, echo)?),
            None => None,
        };
        Ok(Qemu { child, log })
    }

    /// Waits for QEMU to connect to `listener`, failing early if it exits.
    fn accept(&mut self, listener: &TcpListener) -> anyhow::Result<TcpStream> {
        listener.set_nonblocking(true)?;
        let start = Instant::now();
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false)?;
                    return Ok(stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).context("accepting QEMU's UART connection"),
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "QEMU exited ({status}) before connecting its UART: {}",
                    self.stderr()
                );
            }
            if start.elapsed() > CONNECT_TIMEOUT {
                bail!("QEMU did not connect its UART within {CONNECT_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// QEMU's stderr so far (only once it has exited).
    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            let _ = stderr.read_to_string(&mut text);
        }
        text.trim().to_owned()
    }

    /// Waits up to `timeout` for QEMU to exit.
    ///
    /// # Errors
    /// If waiting on the process fails.
    pub fn wait_timeout(&mut self, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if start.elapsed() > timeout {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops QEMU and returns the whole device log.
    pub fn finish_log(mut self) -> Vec<String> {
        self.kill();
        self.log.take().map(DeviceLog::join).unwrap_or_default()
    }

    fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Reaped: its PID may now be reused, so the handler must forget it.
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        running.retain(|&pid| pid != self.child.id());
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
    }
}
