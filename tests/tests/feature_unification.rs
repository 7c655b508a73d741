//! The host alone gets the features the test build gives it. Cargo builds
//! a crate once per feature set, and `cargo test --workspace` turns on
//! features (through the tests' dev-dependencies) in crates the host also
//! uses; unless the host asks for them itself, `cargo build -p
//! hsmoe-host` and `cargo install --path host` (the demo, the README)
//! compile the host and much of its graph a second time after the tests,
//! minutes on a two-core CI machine. `host/Cargo.toml` lists those
//! features; this test finds any that a new dependency adds.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Every `package [features]` line of `cargo tree` with `args`.
fn feature_sets(args: &[&str]) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "--prefix", "none"])
        .args(["--format", "{p} [{f}]"])
        .args(args)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| line.trim_end_matches(" (*)").to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn the_host_alone_is_built_with_the_test_builds_features() {
    let host = feature_sets(&["-p", "hsmoe-host", "-e", "normal,build"]);
    let workspace = feature_sets(&["--workspace", "-e", "normal,build,dev"]);
    let differ: Vec<&String> = host.difference(&workspace).collect();
    // The workspace's feature sets of the same packages, to add from.
    let wanted: Vec<&String> = workspace
        .iter()
        .filter(|line| {
            differ
                .iter()
                .any(|d| d.split(" [").next() == line.split(" [").next())
        })
        .collect();
    assert!(
        differ.is_empty(),
        "built alone, these crates of the host's graph get other features than under \
         `cargo test --workspace`:\n{differ:#?}\nadd to host/Cargo.toml what the workspace \
         gives them:\n{wanted:#?}"
    );
}
