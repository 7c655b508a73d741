//! Selects the board and the filter's sizes, and checks that they fit:
//!
//! - puts the board's `memory.x` on the linker search path, where
//!   cortex-m-rt's `link.x` includes it;
//! - reads `HSMOE_N`, `HSMOE_K`, `HSMOE_D` (particles, experts, features
//!   with the intercept; defaults below) and `HSMOE_FAMILY` (the experts'
//!   likelihood: `gaussian`, the default, `bernoulli` or `student`) and
//!   writes them to `$OUT_DIR/sizes.rs`, which `src/config.rs` includes;
//! - fails the build, naming the board, the bytes needed and the bytes
//!   available, when the particle set plus stack and buffers does not fit
//!   the board's RAM (README, "Memory"). `src/config.rs` repeats the
//!   check at compile time with the compiler's own `size_of`.

use hsmoe_core::expert::Family;
use std::{env, fs, path::PathBuf};

/// A board: its Cargo feature (also `boards/<feature>/memory.x`) and its
/// default number of particles, which fits its RAM at the default K and D
/// (README, "Boards").
struct Board {
    feature: &'static str,
    default_n: usize,
}

/// The supported boards (one module each in `src/board/`).
const BOARDS: &[Board] = &[
    Board {
        feature: "mps2-an386",
        default_n: 128,
    },
    // 128 KiB of SRAM: N = 128 takes 92 KiB of particles.
    Board {
        feature: "stm32f405",
        default_n: 128,
    },
    Board {
        feature: "nrf52840",
        default_n: 128,
    },
];

/// Default experts and features (intercept included).
const DEFAULT_K: usize = 4;
const DEFAULT_D: usize = 4;

/// RAM kept free for the stack: the measured high-water mark is about
/// 2.4 KiB (BENCHMARKS.md), this leaves room for deeper paths.
const STACK_RESERVE: usize = 4096;

/// RAM for every static besides the filter: the UART ring buffer (1 KiB),
/// the answer cache (≈ 3 KiB at K = 4, growing with K) and the logger's
/// and runtime's few words.
const OTHER_STATICS: usize = 8192;

/// Bytes per particle (README, "Memory"; `core/tests/memory.rs` checks
/// the formula against `size_of`): each expert is its family's snapshot
/// words plus one scratch word.
fn bytes_per_particle(k: usize, d: usize, family: Family) -> usize {
    let triangle = d * (d + 1) / 2;
    4 * (k * (family.expert_words(d) + 1) + (k - 1) * (triangle + 4 * d) + 5)
}

/// Largest `K` and `D` the core implements (`hsmoe_core::dims`).
const MAX_K_D: usize = 16;

/// The filter's state besides its particles, at most (the same test).
fn filter_overhead(k: usize) -> usize {
    64 + 8 * k
}

fn main() {
    let selected: Vec<&Board> = BOARDS
        .iter()
        .filter(|board| env::var_os(feature_var(board.feature)).is_some())
        .collect();
    let names: Vec<&str> = BOARDS.iter().map(|board| board.feature).collect();
    let board = match selected.as_slice() {
        [board] => *board,
        _ => panic!(
            "enable exactly one board feature of {names:?}, got {:?}",
            selected.iter().map(|b| b.feature).collect::<Vec<_>>()
        ),
    };
    let source = PathBuf::from("boards").join(board.feature).join("memory.x");
    let memory = fs::read_to_string(&source).expect("read the board's memory.x");
    let ram = ram_length(&memory)
        .unwrap_or_else(|| panic!("{}: no `RAM : ... LENGTH = ...` line", source.display()));

    let n = size("HSMOE_N", board.default_n);
    let k = size("HSMOE_K", DEFAULT_K);
    let d = size("HSMOE_D", DEFAULT_D);
    let family = family();
    if k > MAX_K_D || d > MAX_K_D {
        panic!("\n\nK = {k}, D = {d}: the core supports K and D up to {MAX_K_D}; set HSMOE_K and HSMOE_D lower.\n\n");
    }
    let bpp = bytes_per_particle(k, d, family);
    let particles = n * bpp;
    let needed = particles + filter_overhead(k) + OTHER_STATICS + STACK_RESERVE;
    if needed > ram {
        let largest =
            (ram.saturating_sub(filter_overhead(k) + OTHER_STATICS + STACK_RESERVE)) / bpp;
        panic!(
            "\n\nboard {board}: N = {n}, K = {k}, D = {d} ({family} experts) needs {needed} bytes of RAM \
             ({n} particles × {bpp} B = {particles} B, plus {rest} B of stack, buffers and \
             filter state), but the board has {ram} bytes available. \
             The largest N that fits at this K and D is {largest}; set HSMOE_N.\n\n",
            board = board.feature,
            rest = needed - particles,
        );
    }

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), &memory).expect("write memory.x");
    fs::write(
        out.join("sizes.rs"),
        format!(
            "/// Number of particles (`HSMOE_N`; default {default_n} on this board).\n\
             pub const N: usize = {n};\n\
             /// Number of experts (`HSMOE_K`; default {DEFAULT_K}).\n\
             pub const K: usize = {k};\n\
             /// Number of features, intercept included (`HSMOE_D`; default {DEFAULT_D}).\n\
             pub const D: usize = {d};\n\
             /// The experts' likelihood family (`HSMOE_FAMILY`; default gaussian).\n\
             pub type Expert = hsmoe_core::expert::{expert};\n\
             /// The board this firmware is built for (its Cargo feature).\n\
             pub const BOARD: &str = \"{board}\";\n\
             /// RAM of the board (its `memory.x`), bytes.\n\
             pub const RAM_BYTES: usize = {ram};\n\
             /// RAM kept free for the stack, bytes.\n\
             pub const STACK_RESERVE: usize = {STACK_RESERVE};\n\
             /// What the RAM check says when the statics and the stack do not fit.\n\
             pub const RAM_MESSAGE: &str = \"board {board}: the filter (N = {n}, K = {k}, \
             D = {d}), the buffers and {STACK_RESERVE} B of stack need more than the \
             {ram} bytes of RAM available; set HSMOE_N lower\";\n",
            default_n = board.default_n,
            board = board.feature,
            expert = match family {
                Family::Gaussian => "Gaussian<D>",
                Family::Bernoulli => "Bernoulli<D>",
                Family::Student => "Student<D>",
            },
        ),
    )
    .expect("write sizes.rs");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["HSMOE_N", "HSMOE_K", "HSMOE_D", "HSMOE_FAMILY"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
}

/// A positive size from the environment variable `var`, else `default`.
fn size(var: &str, default: usize) -> usize {
    match env::var(var) {
        Err(env::VarError::NotPresent) => default,
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(value) if value > 0 => value,
            _ => panic!("{var} = {text:?}: expected a positive integer"),
        },
        Err(error) => panic!("{var}: {error}"),
    }
}

/// The experts' family from `HSMOE_FAMILY`, else Gaussian.
fn family() -> Family {
    match env::var("HSMOE_FAMILY") {
        Err(env::VarError::NotPresent) => Family::Gaussian,
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|error| panic!("HSMOE_FAMILY = {text:?}: {error}")),
        Err(error) => panic!("HSMOE_FAMILY: {error}"),
    }
}

/// The `LENGTH` of the `RAM` region in a `memory.x`, in bytes (`K` and
/// `M` suffixes as the linker reads them).
fn ram_length(memory: &str) -> Option<usize> {
    let line = memory
        .lines()
        .find(|line| line.trim_start().starts_with("RAM"))?;
    let length = line
        .split("LENGTH")
        .nth(1)?
        .trim_start()
        .strip_prefix('=')?;
    let length = length.trim();
    let (digits, scale) = match length.strip_suffix('K') {
        Some(digits) => (digits, 1024),
        None => match length.strip_suffix('M') {
            Some(digits) => (digits, 1024 * 1024),
            None => (length, 1),
        },
    };
    let value = match digits.strip_prefix("0x") {
        Some(hex) => usize::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    Some(value * scale)
}

/// `CARGO_FEATURE_<NAME>` as Cargo spells it for a feature.
fn feature_var(feature: &str) -> String {
    format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"))
}
