#!/usr/bin/env bash
# Installs what a fresh machine lacks: the Cortex-M4F target, QEMU and
# flip-link (the linker of the real-board firmware builds).
# Idempotent; safe to run every time. Quiet unless it installs something
# or fails.
set -euo pipefail

if ! rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf; then
  echo "setup: adding Rust target thumbv7em-none-eabihf"
  rustup target add thumbv7em-none-eabihf
fi

if ! command -v qemu-system-arm >/dev/null 2>&1; then
  echo "setup: installing qemu-system-arm"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq qemu-system-arm >/dev/null
fi
if ! qemu-system-arm --version >/dev/null 2>&1; then
  echo "setup: qemu-system-arm is installed but does not run" >&2
  exit 1
fi

if ! command -v flip-link >/dev/null 2>&1; then
  echo "setup: installing flip-link (about 20 s)"
  cargo install flip-link --locked --quiet
fi
