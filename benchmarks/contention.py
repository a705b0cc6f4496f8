"""Prune and report on a shared machine: wall time idle and with a CPU hog on one core.

A scheduled job rarely has the machine to itself. This generates (or reuses) a store, then
times ``mlprov prune`` and ``mlprov report`` as a user runs them, each in a fresh process:
idle, with one busy-looping process pinned to core 0, and — the baseline, measured in the same
run — with the hog and OpenMP's spinning workers (``OMP_WAIT_POLICY=ACTIVE``, how the pools
behaved before mlprov sized them). Prints a table and one JSON line.

    python -m benchmarks.contention --pipelines 100 --days 90
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlprov.graphlets import build_graphlets
from mlprov.provenance.conventions import Mapping
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from mlprov.sample.synth.generator import SynthConfig, generate

MLPROV = [sys.executable, "-c", "from mlprov.analysis.cli import main; main()"]


def _hog() -> None:  # pragma: no cover - runs in the hog process
    os.sched_setaffinity(0, {0})
    while True:
        pass


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(MLPROV + args, check=True, env=env, capture_output=True, timeout=3600)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=2, help="Best of this many runs.")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/.cache"))
    args = parser.parse_args()

    args.cache.mkdir(parents=True, exist_ok=True)
    source = args.cache / f"contention-{args.pipelines}-{args.days}-{args.seed}.sqlite"
    if not source.exists():
        config = SynthConfig(pipelines=args.pipelines, days=args.days, seed=args.seed)
        generate(config, source, writer="bulk")
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "prov.duckdb")
        with ProvenanceStore.open(db) as store:
            ingest(store, str(source), mapping=Mapping(cost_property="cpu_hours"))
            build_graphlets(store)
        commands = {
            "prune": ["prune", "--db", db, "--as-of", "2030-01-01"],
            "report": [
                "report",
                "--db",
                db,
                "--out",
                str(Path(tmp) / "r"),
                "--as-of",
                "2030-01-01",
            ],
        }
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "OPENBLAS_"))}
        spinning = {**base, "OMP_WAIT_POLICY": "ACTIVE"}
        results: dict[str, dict[str, float]] = {name: {} for name in commands}

        def best(name: str, env: dict[str, str]) -> float:
            return min(timed(commands[name], env) for _ in range(args.repeats))

        for name in commands:
            results[name]["idle_s"] = best(name, base)
        hog = multiprocessing.Process(target=_hog, daemon=True)
        hog.start()
        try:
            for name in commands:
                results[name]["hog_s"] = best(name, base)
                results[name]["hog_spinning_s"] = best(name, spinning)
        finally:
            hog.terminate()
            hog.join()
    print(f"{os.cpu_count()} cores; store {source.name}; best of {args.repeats}")
    print(f"{'command':8} {'idle s':>8} {'hog s':>8} {'ratio':>6} {'spinning s':>11} {'ratio':>6}")
    for name, r in results.items():
        r["hog_ratio"] = r["hog_s"] / r["idle_s"]
        r["spinning_ratio"] = r["hog_spinning_s"] / r["idle_s"]
        print(
            f"{name:8} {r['idle_s']:8.2f} {r['hog_s']:8.2f} {r['hog_ratio']:6.2f} "
            f"{r['hog_spinning_s']:11.2f} {r['spinning_ratio']:6.2f}"
        )
    print(json.dumps({"benchmark": "contention", "cores": os.cpu_count(), **results}))


if __name__ == "__main__":
    main()
