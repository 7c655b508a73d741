#!/usr/bin/env bash
# Host section of BENCHMARKS.md, one command: runs the criterion benches
# (tests/benches: one PL update, core and f64 reference, over the benchmark
# grid; PG(1, c) draws, approximation and exact; rank-1 Cholesky update
# against refactorization), then `hsmoe bench --criterion` tabulates their
# results between the `hsmoe bench` markers of BENCHMARKS.md and draws
# docs/bench_update.png. About 10 minutes on a 2-core machine, plus the
# build.
#
#   scripts/bench-host.sh           # the host figures
#   scripts/bench-host.sh --qemu    # also the firmware's instructions per
#                                   # update (needs the firmware built)
#
# WARM_UP and MEASURE (seconds per benchmark, default 1 and 3) lengthen
# the run on a quiet machine. Results land in
# ${CARGO_TARGET_DIR:-target}/criterion-host, emptied first so every
# figure comes from this one run.
set -euo pipefail
cd "$(dirname "$0")/.."

home="${CARGO_TARGET_DIR:-target}/criterion-host"
rm -rf "$home"
mkdir -p "$home"
home="$(cd "$home" && pwd)"
CRITERION_HOME="$home" cargo bench -p hsmoe-tests --bench update --bench pg --bench cholesky -- \
  --warm-up-time "${WARM_UP:-1}" --measurement-time "${MEASURE:-3}" --noplot
cargo run --release -q -p hsmoe-host -- bench --criterion "$home" "$@" \
  --json "$home/bench.json" --plot docs/bench_update.png --into BENCHMARKS.md
