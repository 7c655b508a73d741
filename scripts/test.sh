#!/usr/bin/env bash
# The project's whole test suite: formatting, lints, the workspace tests
# (release: the statistical tests are Monte Carlo heavy), the no_std core
# built for the Cortex-M4F, and the firmware's own build for every board.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -- -D warnings
# Broken or private intra-doc links fail the build, like clippy warnings.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
# Compile the criterion benches (tests/benches) without running them;
# `--bench "*"` skips the libraries' unit tests, which hold no benches.
cargo bench --workspace --bench "*" --no-run
cargo build -p hsmoe-core --release --target thumbv7em-none-eabihf
if [ -f firmware/Cargo.toml ]; then
  (cd firmware && cargo fmt -- --check && cargo clippy --release -- -D warnings && cargo build --release)
  # The other boards: stm32f405 as QEMU runs it (in the target directory
  # of `hsmoe run --board`, whose tests boot it); stm32f405 and nrf52840
  # as `cargo flash-<board>` builds them for a debug probe (linked with
  # flip-link; compile-checked only: the STM32's PLL setup runs only
  # there, since QEMU does not model its clock tree).
  (cd firmware && export CARGO_TARGET_DIR=target/board-stm32f405 &&
    cargo clippy --release --no-default-features --features qemu,stm32f405 -- -D warnings &&
    cargo build --release --no-default-features --features qemu,stm32f405)
  for board in stm32f405 nrf52840; do
    (cd firmware && export CARGO_TARGET_DIR=target/probe-$board &&
      cargo clippy --release --no-default-features --features probe,$board -- -D warnings &&
      cargo build --release --no-default-features --features probe,$board \
        --config "target.thumbv7em-none-eabihf.linker = 'flip-link'")
  done
fi
cargo test --workspace --release
