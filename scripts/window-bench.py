#!/usr/bin/env python3
"""Measures the block window move (docs/model.md §4, "Window move") against
plain particle learning with more particles: BENCHMARKS.md, "Fidelity on
the device", (b).

Every arm is `hsmoe fit --engine core --moves none [--window W
--window-sweeps S] [--resample-ess X]` over seeds; per arm it prints the
log marginal (mean ± sd, median), the CPU seconds per fit (user + system
of the `hsmoe fit` process) and, for mcycle, the RMS of the final
predictive mean against the Gibbs gold standard and the sorted allocation
frequencies.

    scripts/window-bench.py mcycle  [--hsmoe target/release/hsmoe] [--jobs 2]
    scripts/window-bench.py paper   [--hsmoe target/release/hsmoe] [--jobs 2]

Arms are `N[,tX][,wW,sS]`, e.g. `1000`, `1000,t0.25`, `500,w16,s2`; the
default lists are below. mcycle's gold standard is the 4-chain Gibbs run
of BENCHMARKS.md ("Gold standard for mcycle"), made once in the work
directory.
"""

import argparse
import concurrent.futures
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

MCYCLE_ARMS = [
    "500", "1000", "2000",
    "1000,w8,s1", "1000,w16,s1", "1000,w32,s1", "1000,w16,s2", "1000,w16,s4",
    "500,w16,s1", "500,w16,s2", "500,w16,s4",
    "1000,t0.25", "2000,t0.25", "500,t0.25,w16,s2", "1000,t0.25,w16,s2",
]
PAPER_ARMS = [
    "500", "1000", "2000",
    "1000,w25,s1", "1000,w50,s1", "1000,w50,s2",
    "500,w50,s1", "500,w50,s2",
    "1000,t0.5", "2000,t0.5", "500,t0.5,w50,s1", "1000,t0.5,w50,s1",
]
SEEDS = {"mcycle": range(1, 21), "paper": range(1, 11)}


def parse_arm(arm):
    n, flags = None, []
    for part in arm.split(","):
        if part[0] == "t":
            flags += ["--resample-ess", part[1:]]
        elif part[0] == "w":
            flags += ["--window", part[1:]]
        elif part[0] == "s":
            flags += ["--window-sweeps", part[1:]]
        else:
            n = part
    return ["--particles", n] + flags


def run(cmd):
    """Runs `cmd`; returns its CPU seconds (user + system)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: {proc.stderr.read().decode()}")
    return usage.ru_utime + usage.ru_stime


def fit(hsmoe, data, experts, arm, seed, work):
    out = os.path.join(work, f"{arm}-{seed}.json".replace(",", "_"))
    cmd = [hsmoe, "fit", *data, "--experts", str(experts), "--engine", "core",
           "--moves", "none", "--seed", str(seed), "--json", out, *parse_arm(arm)]
    cpu = run(cmd)
    with open(out) as f:
        report = json.load(f)
    return report, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data", choices=["mcycle", "paper"])
    ap.add_argument("--hsmoe", default="target/release/hsmoe")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--arms", nargs="*")
    ap.add_argument("--work", default=tempfile.mkdtemp(prefix="window-bench-"))
    args = ap.parse_args()
    work = args.work
    if args.data == "mcycle":
        data, experts, arms = ["--data", "data/mcycle.csv", "--standardize"], 3, MCYCLE_ARMS
        gold_path = os.path.join(work, "gold.json")
        if not os.path.exists(gold_path):
            run([args.hsmoe, "fit", *data, "--experts", "3", "--engine", "gibbs",
                 "--gibbs-iterations", "40000", "--gibbs-burn-in", "5000",
                 "--gibbs-thin", "5", "--chains", "4", "--seed", "11", "--json", gold_path])
        with open(gold_path) as f:
            gold = json.load(f)["final"]
        gold_mean = [p["mean"] for p in gold["predictive"]]
        gold_alloc = gold["allocation_freq_sorted"]
    else:
        csv = os.path.join(work, "paper.csv")
        if not os.path.exists(csv):
            run([args.hsmoe, "simulate", "--design", "paper", "--n", "500", "--seed", "1", "-o", csv])
        data, experts, arms = ["--data", csv], 10, PAPER_ARMS
    arms = args.arms or arms
    seeds = SEEDS[args.data]
    jobs = [(arm, seed) for arm in arms for seed in seeds]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda j: fit(args.hsmoe, data, experts, *j, work), jobs))
    by_arm = {}
    for (arm, _), r in zip(jobs, results):
        by_arm.setdefault(arm, []).append(r)
    if args.data == "mcycle":
        print("| arm | RMS median | RMS max | alloc max | sorted alloc | log marginal mean ± sd | CPU s/fit |")
        print("|---|---|---|---|---|---|---|")
    else:
        print("| arm | log marginal mean ± sd | median | min | CPU s/fit |")
        print("|---|---|---|---|---|")
    for arm in arms:
        reports = [r for r, _ in by_arm[arm]]
        cpu = statistics.mean(c for _, c in by_arm[arm])
        lm = [r["log_marginal"] for r in reports]
        lm_text = f"{statistics.mean(lm):.2f} ± {statistics.stdev(lm):.2f}"
        if args.data == "mcycle":
            rms = [math.sqrt(statistics.mean((p["mean"] - g) ** 2 for p, g in
                                             zip(r["final"]["predictive"], gold_mean)))
                   for r in reports]
            allocs = [r["final"]["allocation_freq_sorted"] for r in reports]
            alloc_max = max(abs(a - g) for al in allocs for a, g in zip(al, gold_alloc))
            mean_alloc = " / ".join(f"{statistics.mean(col):.3f}" for col in zip(*allocs))
            print(f"| {arm} | {statistics.median(rms):.3f} | {max(rms):.3f} | {alloc_max:.3f} "
                  f"| {mean_alloc} | {lm_text} | {cpu:.2f} |")
        else:
            print(f"| {arm} | {lm_text} | {statistics.median(lm):.1f} | {min(lm):.1f} | {cpu:.2f} |")
    if args.data == "mcycle":
        print(f"\ngold sorted alloc: {' / '.join(f'{g:.3f}' for g in gold_alloc)}")


if __name__ == "__main__":
    main()
