"""Benchmark: time, peak memory and size of ``preset paper`` generation (not a test).

Run: ``python benchmarks/synth_paper.py /tmp/paper.sqlite [--pipelines N] [--profile]``.
Prints the seconds at each stage's end, then one line with the wall time, the peak RSS of the
process and the load average (the machine is shared: absolute times move with it).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import os
import pstats
import resource
import sys
import time
from pathlib import Path

from mlprov.sample.synth.generator import PRESETS, generate


def main() -> int:
    """Generate the paper preset, print stage timings, peak RSS, size and headline numbers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--pipelines", type=int, help="override the preset's pipeline count")
    parser.add_argument("--workers", type=int, help="simulating processes (default: one per CPU)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    config = PRESETS[args.preset]
    if args.pipelines:
        config = dataclasses.replace(config, pipelines=args.pipelines)
    t0 = time.perf_counter()
    last = {"stage": ""}

    def progress(stage: str, done: int, total: int) -> None:
        if stage != last["stage"] and last["stage"]:
            print(f"{time.perf_counter() - t0:8.1f}s {last['stage']} done", flush=True)
        last["stage"] = stage

    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    result = generate(
        config, args.out, writer="bulk", overwrite=True, progress=progress, workers=args.workers
    )
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    size = args.out.stat().st_size
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
    worker_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6  # the largest
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"seconds {result.seconds:.1f} peak_rss {peak_gb:.2f} GB (largest worker "
        f"{worker_gb:.2f} GB) load {load} "
        f"size {size / 1e9:.2f} GB pipelines {result.pipelines} "
        f"trainers {result.trainers} unpushed {result.unpushed_share:.3f}"
    )
    print(f"rows {sum(result.rows.values()):,} {result.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
