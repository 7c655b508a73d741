#!/usr/bin/env bash
# Measures the firmware for BENCHMARKS.md ("Firmware (QEMU mps2-an386)"):
# flash and static RAM from the ELF, and, from a run of a simulated data
# set under QEMU -icount shift=0, SysTick ticks per update (1 tick = 40
# instructions exactly: the self-test's calibration) and the stack
# high-water mark (stack painting), for N = 32, 128 (default) and 256.
#
# Usage: firmware/bench.sh [ROWS]   (needs qemu-system-arm and binutils' size)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-500}
cargo build --release -p hsmoe-host --quiet
hsmoe="${CARGO_TARGET_DIR:-target}/release/hsmoe"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$hsmoe" simulate --design linear --n "$rows" --seed 1 -o "$work/data.csv" >/dev/null

echo "| N | flash (B) | of which code (B) | static RAM (B) | of which filter (B) | stack high-water (B) | ticks/update mean | min | max | instructions/update (mean ×40) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in 32 128 256; do
  features=()
  target=firmware/target
  if [ "$n" != 128 ]; then
    features=(--features "n$n")
    target="firmware/target/features-n$n"
  fi
  (cd firmware && env -u RUSTFLAGS CARGO_TARGET_DIR="${target#firmware/}" \
    cargo build --release --quiet "${features[@]}")
  elf="$target/thumbv7em-none-eabihf/release/hsmoe-firmware"
  # Flash: everything loaded, i.e. code (vector table, .text, .rodata) and
  # the initial image of .data; static RAM: .data + .bss + .uninit.
  read -r code flash ram < <(size -A -d "$elf" | awk '
    $1 ~ /^\.(vector_table|text|rodata)$/ { code += $2 }
    $1 ~ /^\.(data|bss|uninit)$/ { ram += $2 }
    $1 == ".data" { data = $2 }
    END { print code, code + data, ram }')
  filter=$((16#$(nm -S -C "$elf" | awk '/ hsmoe_firmware::FILTER$/ { print $2 }')))
  "$hsmoe" run --qemu --elf "$elf" --data "$work/data.csv" --seed 1 --timeout-ms 30000 \
    --telemetry "$work/t$n.bin" 2>"$work/log$n.txt" >/dev/null
  stack=$(grep -o 'stack high-water mark [0-9]* B' "$work/log$n.txt" | tail -1 | awk '{print $4}')
  "$hsmoe" decode "$work/t$n.bin" >"$work/t$n.csv"
  awk -F, -v n="$n" -v flash="$flash" -v code="$code" -v ram="$ram" -v filter="$filter" -v stack="$stack" '
    $1 == "update" { t = $8; s += t; c++; if (c == 1 || t < lo) lo = t; if (t > hi) hi = t }
    END { printf "| %d | %d | %d | %d | %d | %d | %.0f | %d | %d | %.2fM |\n", n, flash, code, ram, filter, stack, s / c, lo, hi, 40 * s / c / 1e6 }' \
    "$work/t$n.csv"
done
