"""Benchmark: time and size of ``preset paper`` generation (not a test).

Run: ``python benchmarks/synth_paper.py /tmp/paper.sqlite [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

from provenance.synth.generator import PRESETS, generate


def main() -> int:
    """Generate the paper preset, print stage timings, size and headline numbers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    last = {"stage": ""}

    def progress(stage: str, done: int, total: int) -> None:
        if stage != last["stage"] or done == total:
            print(f"{time.perf_counter() - t0:8.1f}s {stage} {done}/{total}", flush=True)
            last["stage"] = stage

    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    result = generate(
        PRESETS[args.preset], args.out, writer="bulk", overwrite=True, progress=progress
    )
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    size = args.out.stat().st_size
    print(
        f"seconds {result.seconds:.1f} size {size / 1e9:.2f} GB pipelines {result.pipelines} "
        f"trainers {result.trainers} unpushed {result.unpushed_share:.3f}"
    )
    print(f"rows {sum(result.rows.values()):,} {result.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
