//! The README runs as written: every ```` ```sh ```` block, in order, in a
//! fresh clone of the repository's committed state (`git clone`), each
//! with `bash -euo pipefail` from the clone's root. A block whose info
//! string contains `no-run` is skipped: the test suite itself (it would
//! run this test) and what needs a real board.
//!
//! `cargo install --locked --path host` (the lock file, as every other
//! build here, so artifacts are shared) installs into the clone's temporary
//! directory (`CARGO_INSTALL_ROOT`, put first on the `PATH`), and every
//! cargo command shares the workspace's target directory, so the host
//! is not built a second time: Cargo judges a source file by its
//! modification time, so every cloned file gets the time of the
//! workspace's copy. That holds in a clean checkout (CI); where the
//! working tree differs from the commit, the clone builds in a target
//! directory of its own (see the test). A host built in the
//! workspace finds the firmware next to the workspace's sources, so
//! `HSMOE_FIRMWARE_DIR` names the clone's, as a host built in the clone
//! would. Needs `git` and QEMU (the README runs the firmware); without
//! QEMU it skips loudly, except under `CI=true`.

use hsmoe_host::serial;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The workspace root (this crate is `tests/`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The shell blocks of a Markdown text, in order: `(info string, body)`.
fn shell_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
        .into_iter()
        .filter(|(info, _)| info.split_whitespace().next() == Some("sh"))
        .collect()
}

/// Gives every file under `clone` (but `.git`) the modification time of
/// the file at the same place under `root` where their bytes are equal;
/// returns the files that differ (or are missing under `root`).
fn copy_times_of_equal_files(clone: &Path, root: &Path) -> Vec<PathBuf> {
    let mut differ = Vec::new();
    for entry in std::fs::read_dir(clone).unwrap() {
        let entry = entry.unwrap();
        let (path, original) = (entry.path(), root.join(entry.file_name()));
        if entry.file_name() == ".git" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            differ.extend(copy_times_of_equal_files(&path, &original));
        } else if std::fs::read(&original).ok() == Some(std::fs::read(&path).unwrap()) {
            let modified = std::fs::metadata(&original).unwrap().modified().unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(modified).unwrap();
        } else {
            differ.push(original);
        }
    }
    differ
}

#[test]
fn shell_blocks_are_found_with_their_markers() {
    let text = "# t\n```sh\necho a\n```\ntext\n```sh no-run\necho b\n```\n```text\nc\n```\n";
    assert_eq!(
        shell_blocks(text),
        [
            ("sh".to_owned(), "echo a\n".to_owned()),
            ("sh no-run".to_owned(), "echo b\n".to_owned())
        ]
    );
}

#[test]
fn the_readme_runs_as_written_in_a_fresh_clone() {
    let test = "the_readme_runs_as_written_in_a_fresh_clone";
    if !serial::require_qemu(test) {
        return;
    }
    let root = workspace();
    let dir = std::env::temp_dir().join(format!("hsmoe-readme-{}", std::process::id()));
    let clone = dir.join("hsmoe");
    std::fs::create_dir_all(&dir).unwrap();
    let cloned = Command::new("git")
        .args(["clone", "--quiet"])
        .arg(&root)
        .arg(&clone)
        .status()
        .unwrap();
    assert!(cloned.success(), "git clone of {} failed", root.display());
    let differ = copy_times_of_equal_files(&clone, &root);

    // Workspace crates built from the clone's sources carry the same
    // metadata hash as the workspace's own, so where the committed state
    // differs from the working tree they would overwrite the workspace's
    // artifacts under the same names: then the clone builds in a target
    // directory of its own (slower, only outside a clean checkout).
    let target = if differ.is_empty() {
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
    } else {
        eprintln!(
            "{test}: the working tree differs from the commit in {differ:?}: \
             the clone builds in a target directory of its own"
        );
        dir.join("target")
    };
    let install = dir.join("install");
    let path = std::env::join_paths(std::iter::once(install.join("bin")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let readme = std::fs::read_to_string(clone.join("README.md")).unwrap();
    let blocks = shell_blocks(&readme);
    assert!(blocks.len() > 5, "README shell blocks: {blocks:?}");
    for (info, body) in blocks {
        if info.split_whitespace().any(|word| word == "no-run") {
            eprintln!("{test}: skipped (no-run):\n{body}");
            continue;
        }
        let start = Instant::now();
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &body])
            .current_dir(&clone)
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_INSTALL_ROOT", &install)
            .env("PATH", &path)
            .env("HSMOE_FIRMWARE_DIR", clone.join("firmware"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README block failed ({}):\n{body}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "{test}: ran in {:.1} s:\n{body}",
            start.elapsed().as_secs_f64()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
