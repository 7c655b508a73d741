//! QEMU dies with `hsmoe run --qemu`: killed with SIGTERM (handled: the
//! host kills QEMU and exits 130) or SIGKILL (not catchable: the kernel
//! kills QEMU, `PR_SET_PDEATHSIG`), the host leaves no QEMU process
//! behind, checked by QEMU's PID. Linux only (`/proc`); needs
//! `qemu-system-arm` (or `$HSMOE_QEMU`) and skips loudly without it,
//! except under `CI=true`, where it fails.
#![cfg(target_os = "linux")]

use hsmoe_host::serial;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Long enough for a firmware build on a cold cache.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// The kernel delivers the parent-death signal at once; QEMU takes a
/// moment to exit.
const DEATH_TIMEOUT: Duration = Duration::from_secs(10);

fn data(dir: &Path) -> PathBuf {
    let csv = dir.join("data.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_hsmoe"))
        .args(["simulate", "--design", "device", "--n", "20000", "-o"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    csv
}

/// The field after the command name in `/proc/PID/stat`: state, then
/// parent PID.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = text[text.rfind(')')? + 2..].split(' ');
    let state = rest.next()?.chars().next()?;
    let parent = rest.next()?.parse().ok()?;
    Some((state, parent))
}

/// The PID of the QEMU that `host` started, once it runs.
fn qemu_of(host: &mut Child) -> u32 {
    let start = Instant::now();
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if comm.trim_end().starts_with("qemu-system")
                && stat(pid).is_some_and(|(_, parent)| parent == host.id())
            {
                return pid;
            }
        }
        if let Some(status) = host.try_wait().unwrap() {
            panic!("hsmoe run exited ({status}) before QEMU started");
        }
        assert!(start.elapsed() < START_TIMEOUT, "QEMU did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` is gone (or a zombie nobody has reaped yet: dead).
fn dead(pid: u32) -> bool {
    stat(pid).is_none_or(|(state, _)| state == 'Z' || state == 'X')
}

fn kill_host_and_check_qemu_dies(test: &str, signal: &str) {
    if !serial::require_qemu(test) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("hsmoe-lifetime-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = data(&dir);
    let mut host = Command::new(env!("CARGO_BIN_EXE_hsmoe"))
        .args(["run", "--qemu", "--quiet", "--data"])
        .arg(&csv)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let qemu = qemu_of(&mut host);
    // Let it stream a little: the handler must work mid-run.
    std::thread::sleep(Duration::from_millis(500));
    let killed = Command::new("kill")
        .args([signal, &host.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = host.wait().unwrap();
    let start = Instant::now();
    while !dead(qemu) {
        assert!(
            start.elapsed() < DEATH_TIMEOUT,
            "{test}: QEMU (PID {qemu}) still runs {DEATH_TIMEOUT:?} after the host died ({status})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if signal == "-TERM" {
        assert_eq!(
            status.code(),
            Some(130),
            "{test}: the handler's exit status"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_to_the_host_stops_qemu() {
    kill_host_and_check_qemu_dies("sigterm_to_the_host_stops_qemu", "-TERM");
}

#[test]
fn sigkill_to_the_host_stops_qemu() {
    kill_host_and_check_qemu_dies("sigkill_to_the_host_stops_qemu", "-KILL");
}
