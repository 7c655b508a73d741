//! Puts the selected board's `memory.x` on the linker search path, where
//! cortex-m-rt's `link.x` includes it.

use std::{env, fs, path::PathBuf};

/// Boards with a `boards/<name>/memory.x`, by Cargo feature.
const BOARDS: &[&str] = &["mps2-an386"];

fn main() {
    let selected: Vec<&str> = BOARDS
        .iter()
        .copied()
        .filter(|board| env::var_os(feature_var(board)).is_some())
        .collect();
    let board = match selected.as_slice() {
        [board] => *board,
        _ => panic!("enable exactly one board feature of {BOARDS:?}, got {selected:?}"),
    };
    let source = PathBuf::from("boards").join(board).join("memory.x");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(&source, out.join("memory.x")).expect("copy the board's memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=build.rs");
}

/// `CARGO_FEATURE_<NAME>` as Cargo spells it for a feature.
fn feature_var(feature: &str) -> String {
    format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"))
}
