#!/usr/bin/env bash
# Measures the firmware for BENCHMARKS.md ("Firmware (QEMU mps2-an386)"):
# flash and static RAM from the ELF, and, from a run of a simulated data
# set under QEMU -icount shift=0, SysTick ticks per update (1 tick = 40
# instructions exactly: the self-test's calibration) and the stack
# high-water mark (stack painting), for N = 32, 128 (default) and 256.
#
# With --profile, instead: a flat and an inclusive instruction profile of
# `Filter::observe` in the default build over the first ROWS updates (QEMU
# logs every executed instruction, `-singlestep -d exec,nochain`, into a
# pipe; a shadow call stack over the ELF's function entries charges each
# instruction to the call site in `Link::handle` it descends from, and only
# call sites inside the inlined `ParticleSet::observe` are kept; PCs are
# mapped to functions and lines, inlining included, by llvm-symbolizer).
# Slow (QEMU runs ~40× slower): use ROWS ≈ 20.
#
# With --board stm32f405 the table is measured the same way on QEMU's
# netduinoplus2, for N = 32 and 128 (256 does not fit its 128 KiB). Its
# SysTick runs on QEMU's fixed 168 MHz system clock, so under -icount
# shift=0 (1 ns per instruction) 1 tick = 1000/168 instructions, not 40.
#
# Usage: firmware/bench.sh [--board BOARD] [ROWS]   (needs qemu-system-arm, size)
#        firmware/bench.sh --profile [ROWS]         (also python3, llvm-symbolizer)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=false
board=mps2-an386
while [ $# -gt 0 ]; do
  case $1 in
    --profile) profile=true; shift ;;
    --board) board=$2; shift 2 ;;
    *) break ;;
  esac
done
case $board in
  # Instructions per SysTick tick, and the N measured.
  mps2-an386) per_tick=40; sizes="32 128 256" ;;
  stm32f405) per_tick=$(awk 'BEGIN { print 1000 / 168 }'); sizes="32 128" ;;
  *) echo "bench.sh: no QEMU board $board (mps2-an386, stm32f405)" >&2; exit 2 ;;
esac
if $profile && [ "$board" != mps2-an386 ]; then
  echo "bench.sh: --profile runs on mps2-an386 only" >&2
  exit 2
fi
rows=${1:-500}
cargo build --release -p hsmoe-host --quiet
hsmoe="${CARGO_TARGET_DIR:-target}/release/hsmoe"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$hsmoe" simulate --design linear --n "$rows" --seed 1 -o "$work/data.csv" >/dev/null

# Builds the firmware for $board with N particles (HSMOE_N), in the
# target directory `hsmoe run --board` uses at the default N; prints the
# ELF's path.
build() {
  local n=$1 target=firmware/target features=()
  if [ "$board" != mps2-an386 ]; then
    target="$target/board-$board"
    features=(--no-default-features --features "qemu,$board")
  fi
  if [ "$n" != 128 ]; then
    target="$target/n$n"
  fi
  (cd firmware && env -u RUSTFLAGS HSMOE_N="$n" CARGO_TARGET_DIR="${target#firmware/}" \
    cargo build --release --quiet "${features[@]}")
  echo "$target/thumbv7em-none-eabihf/release/hsmoe-firmware"
}

if $profile; then
  elf=$(build 128)
  mkfifo "$work/trace"
  printf '#!/bin/sh\nexec qemu-system-arm -singlestep -d exec,nochain -D %s "$@"\n' \
    "$work/trace" >"$work/qemu"
  chmod +x "$work/qemu"
  python3 - "$elf" "$work/trace" "$rows" 128 <<'EOF' &
import bisect, collections, json, re, subprocess, sys

elf, trace, updates, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
symbols = []  # (start, size, demangled name) of every function
for parts in (line.split(maxsplit=3) for line in subprocess.run(
        ["nm", "-S", "-C", elf], capture_output=True, text=True, check=True).stdout.splitlines()):
    if len(parts) == 4 and parts[2] in ("t", "T") and int(parts[1], 16):
        symbols.append((int(parts[0], 16) & ~1, int(parts[1], 16), parts[3]))
symbols.sort()
starts = [start for start, _, _ in symbols]
lo, size = next((s, z) for s, z, name in symbols if re.search(r"Link.*::handle", name))
hi = lo + size

def function(pc):
    i = bisect.bisect_right(starts, pc) - 1
    return i if i >= 0 and pc < starts[i] + symbols[i][1] else -1

entries, stack, returns = set(starts), [], collections.Counter()
counts, prev = collections.Counter(), 0
with open(trace, "rb") as log:
    for line in log:
        slash = line.find(b"/")
        if not line.startswith(b"Trace") or slash < 0:
            continue
        pc = int(line[slash + 1:line.find(b"/", slash + 1)], 16)
        if returns[pc]:  # a return (or a tail call's) to a frame on the stack
            while stack:
                a, b, _ = stack.pop()
                returns[a] -= 1
                returns[b] -= 1
                if pc in (a, b):
                    break
        elif pc in entries and function(prev) != function(pc):  # a call
            root = prev if lo <= prev < hi else (stack[-1][2] if stack else 0)
            stack.append((prev + 2, prev + 4, root))
            returns[prev + 2] += 1
            returns[prev + 4] += 1
        root = pc if lo <= pc < hi else (stack[-1][2] if stack else 0)
        counts[root << 32 | pc] += 1
        prev = pc

addresses = sorted({a for key in counts for a in (key >> 32, key & 0xFFFFFFFF) if a})
out = subprocess.run(["llvm-symbolizer", "--output-style=JSON", "-C", "-i", "-e", elf],
                     input="\n".join(map(hex, addresses)), capture_output=True, text=True).stdout
frames = {a: [(f["FunctionName"], f["FileName"].split("/src/")[-1], f["Line"]) for f in
              json.loads(row)["Symbol"]] for a, row in zip(addresses, out.splitlines())}

def short(name):
    """Without hash, generic arguments and closure suffixes."""
    for code, char in (("$LT$", "<"), ("$GT$", ">"), ("$C$", ","), ("$u20$", " "),
                       ("$RF$", "&"), ("$BP$", "*"), ("$u7b$", "{"), ("$u7d$", "}"), ("..", "::")):
        name = name.replace(code, char)
    name = re.sub(r"::h[0-9a-f]{16}$", "", name).replace("::_{{closure}}", "")
    name = re.sub(r"(^|::)_<", r"\1<", name)  # `_<T as Trait>::f`
    while re.search(r"(?<=\w)<[^<>]*>", name):  # generic arguments, not <T as Trait>
        name = re.sub(r"(?<=\w)<[^<>]*>", "", name)
    return name

flat, inclusive, lines = collections.Counter(), collections.Counter(), collections.Counter()
total = 0
for key, c in counts.items():
    root, pc = key >> 32, key & 0xFFFFFFFF
    if not any("ParticleSet" in f[0] and "observe" in f[0] for f in frames.get(root, [])):
        continue
    total += c
    inner = frames[pc][0]
    flat[short(inner[0])] += c
    lines[f"{inner[1]}:{inner[2]} ({short(inner[0])})"] += c
    chain = frames[pc] + (frames[root] if pc != root else [])
    for name in {short(f[0]) for f in chain}:
        inclusive[name] += c
per = updates * n
print(f"{total} instructions in ParticleSet::observe over {updates} updates, N = {n}: "
      f"{total / per:.0f} per particle-update")
for title, table, rows in (("flat (innermost function, inlining resolved)", flat, 25),
                           ("inclusive (function on the inline or call chain)", inclusive, 40),
                           ("source lines", lines, 25)):
    print(f"\n| {title} | share | instructions per particle-update |\n|---|---|---|")
    for name, c in [(k, c) for k, c in table.most_common() if c < total][:rows]:
        print(f"| `{name}` | {100 * c / total:.1f} % | {c / per:.0f} |")
EOF
  analysis=$!
  HSMOE_QEMU="$work/qemu" "$hsmoe" run --qemu --elf "$elf" --data "$work/data.csv" --seed 1 \
    --timeout-ms 600000 >/dev/null 2>"$work/log.txt"
  wait "$analysis"
  exit
fi

echo "| board | N | flash (B) | of which code (B) | static RAM (B) | of which filter (B) | stack high-water (B) | ticks/update mean | min | max | instructions/update (mean × $per_tick) | instructions per particle-update |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in $sizes; do
  elf=$(build "$n")
  # Flash: everything loaded, i.e. code (vector table, .text, .rodata) and
  # the initial image of .data; static RAM: .data + .bss + .uninit.
  read -r code flash ram < <(size -A -d "$elf" | awk '
    $1 ~ /^\.(vector_table|text|rodata)$/ { code += $2 }
    $1 ~ /^\.(data|bss|uninit)$/ { ram += $2 }
    $1 == ".data" { data = $2 }
    END { print code, code + data, ram }')
  filter=$((16#$(nm -S -C "$elf" | awk '/ hsmoe_firmware::FILTER$/ { print $2 }')))
  "$hsmoe" run --qemu --board "$board" --elf "$elf" --data "$work/data.csv" --seed 1 --timeout-ms 30000 \
    --telemetry "$work/t$n.bin" 2>"$work/log$n.txt" >/dev/null
  stack=$(grep -o 'stack high-water mark [0-9]* B' "$work/log$n.txt" | tail -1 | awk '{print $4}')
  "$hsmoe" decode "$work/t$n.bin" >"$work/t$n.csv"
  awk -F, -v board="$board" -v per_tick="$per_tick" -v n="$n" -v flash="$flash" -v code="$code" \
    -v ram="$ram" -v filter="$filter" -v stack="$stack" '
    $1 == "update" { t = $8; s += t; c++; if (c == 1 || t < lo) lo = t; if (t > hi) hi = t }
    END { printf "| %s | %d | %d | %d | %d | %d | %d | %.0f | %d | %d | %.2fM | %.0f |\n", board, n, flash, code,
          ram, filter, stack, s / c, lo, hi, per_tick * s / c / 1e6, per_tick * s / c / n }' \
    "$work/t$n.csv"
done
