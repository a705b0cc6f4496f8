"""End-to-end benchmark: each mlprov stage, per-model lineage baselines, incremental ingest.

    python -m benchmarks.run --scale 0.1            # 300 pipelines over 120 days
    python -m benchmarks.run --scale 1.0            # the paper preset: 3,000 pipelines
    python -m benchmarks.run --quick --json-only    # smoke test (scale 0.01)

Scale ``s`` is ``round(3000 * s)`` pipelines over the paper preset's 120 days with its seed; the
MLMD store is generated once into ``--cache`` (benchmarks/.cache, gitignored) and reused.

Every stage runs in a fresh ``python -m benchmarks.stages`` process, so its wall time includes
the interpreter, imports and opening the store, and its peak RSS (the child's ``VmHWM``) is its
own; the stage's own time (after imports) is reported beside it. Stages: ingest of the MLMD
SQLite file into a new DuckDB store, graphlet build, waste analyses, pruning simulation, report.
The ``floor`` stage streams every source row ingest reads once through the same reader into
Arrow and discards it: ``end_to_end_s / floor_s`` (and each stage's wall over the floor's) is
mlprov's cost relative to merely reading its input, measured in the same run, so it holds
whatever else the machine is doing. End to end is the user's job, ``mlprov ingest``,
``graphlets`` and ``report``: the report runs the waste analyses and the pruning simulation
itself, so their own stages are parts of it, timed alone to show where the time goes.
Then, on the same stores:

- baseline (a): per-trainer ``get_lineage_subgraph`` upstream and downstream through the
  ml-metadata client on a seeded sample of trainers, per graphlet and extrapolated to all;
- baseline (b): networkx ancestors/descendants per sampled trainer over a DiGraph of events;
- incremental: the store cut one day short is ingested and built, the last day appended, and
  the incremental ingest of that day and the graphlet refresh after it timed: the refresh
  redoes only the graphlets the day can change (see :mod:`benchmarks.corpus`).

Targets are reported as measured, never asserted. Results of each scale are kept in the cache
(``results_<pipelines>p.json``) so that the scale-1.0 run can report time(1.0) / time(0.1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.corpus import config_for, ensure_corpus
from mlprov.sample.synth.writer import client_available

PIPELINE = ("ingest", "graphlets", "waste", "pruning", "report")
#: The stages of the user's job (the report includes waste and pruning): end to end.
JOB = ("ingest", "graphlets", "report")
QUICK_SCALE = 0.01
REPO = Path(__file__).resolve().parent.parent
TARGET_E2E_S = 60.0
TARGET_RSS_MB = 4096.0
TARGET_SPEEDUP = 100.0
TARGET_SCALE_RATIO = 12.0
#: End to end within this many times the reading floor, at scales 0.1 and 1.0.
TARGET_OVER_FLOOR = 3.0
TARGET_INCREMENTAL_S = 5.0
#: One more day at paper scale: its ingest plus the graphlet refresh after it.
TARGET_DAY_REFRESH_S = 10.0


@dataclass(frozen=True)
class StageRun:
    """One stage process: wall time, peak RSS, and what the stage printed."""

    name: str
    wall_s: float
    peak_rss_mb: float
    result: dict[str, Any]

    @property
    def stage_s(self) -> float:
        """Seconds inside the stage itself, without interpreter start, imports and open."""
        return float(self.result.get("seconds", self.wall_s))


def run_stage(name: str, *, quiet: bool = True, **kwargs: Any) -> StageRun:
    """Run one stage in a fresh interpreter: its wall time and its own peak RSS.

    Raises:
        RuntimeError: the stage failed (its stderr is included).
    """
    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.stages", name, json.dumps(kwargs)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=REPO,
        )
        out, _ = proc.communicate()
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"stage {name} failed ({proc.returncode}):\n{err.read()[-4000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    run = StageRun(name, wall, float(result.pop("peak_rss_mb")), result)
    if not quiet:
        print(
            f"  {name}: {wall:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB ({_load()})",
            file=sys.stderr,
            flush=True,
        )
    return run


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def benchmark(
    scale: float,
    cache: Path,
    *,
    sample: int,
    seed: int,
    hops: int,
    client: bool,
    incremental: bool,
    memory_limit: str | None = None,
    quiet: bool = True,
) -> dict[str, Any]:
    """Run every stage and baseline at ``scale``; return the JSON-ready result.

    ``memory_limit`` is passed to DuckDB (``SET memory_limit``) in every stage that opens the
    store; ``quiet=False`` reports each finished stage on stderr.
    """
    duck: dict[str, Any] = {"memory_limit": memory_limit, "quiet": quiet}
    config = config_for(scale)
    loads = [_load()]
    source, gen_s = ensure_corpus(config, cache)
    work = cache / f"work_{config.pipelines}p"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = str(work / "prov.duckdb")
    src = str(source.resolve())

    floor = run_stage("floor", source=src, quiet=quiet)
    stages: dict[str, StageRun] = {}
    stages["ingest"] = run_stage("ingest", db=db, source=src, **duck)
    for name in PIPELINE[1:]:
        stages[name] = run_stage(name, db=db, **duck)
    loads.append(_load())
    graphlets = int(stages["graphlets"].result["total_graphlets"])
    e2e = sum(stages[name].wall_s for name in JOB)
    peak = max(s.peak_rss_mb for s in stages.values())
    per_graphlet = {
        "build": stages["graphlets"].stage_s / max(graphlets, 1),
        "ingest_build": (stages["ingest"].stage_s + stages["graphlets"].stage_s)
        / max(graphlets, 1),
    }

    baselines: dict[str, StageRun] = {}
    if client:
        baselines["client"] = run_stage(
            "client", db=db, source=src, sample=sample, seed=seed, hops=hops, quiet=quiet
        )
    baselines["networkx"] = run_stage("networkx", db=db, sample=sample, seed=seed, quiet=quiet)
    loads.append(_load())
    ratios = {
        name: {
            "baseline_per_graphlet_s": run.result["per_graphlet_s"],
            **{
                f"speedup_vs_{kind}": run.result["per_graphlet_s"] / value if value else None
                for kind, value in per_graphlet.items()
            },
            **{
                f"mlprov_over_baseline_{kind}": value / run.result["per_graphlet_s"]
                for kind, value in per_graphlet.items()
            },
        }
        for name, run in baselines.items()
    }

    incr: dict[str, StageRun] = {}
    if incremental:
        split = run_stage(
            "split",
            source=src,
            pipelines=config.pipelines,
            days=config.days,
            seed=config.seed,
            work=str(work / "incremental"),
            quiet=quiet,
        )
        idb = str(work / "incremental" / "prov.duckdb")
        incr["split"] = split
        incr["ingest_prefix"] = run_stage("ingest", db=idb, source=split.result["prefix"], **duck)
        incr["graphlets_prefix"] = run_stage("graphlets", db=idb, **duck)
        incr["append_day"] = run_stage(
            "append", prefix=split.result["prefix"], day=split.result["day"], quiet=quiet
        )
        incr["ingest_day"] = run_stage("ingest", db=idb, source=split.result["prefix"], **duck)
        incr["graphlets_day"] = run_stage("graphlets", db=idb, **duck)
        loads.append(_load())

    result: dict[str, Any] = {
        "scale": scale,
        "pipelines": config.pipelines,
        "days": config.days,
        "seed": config.seed,
        "memory_limit": memory_limit,
        "store": str(source),
        "store_mb": round(source.stat().st_size / 2**20),
        "generated_s": None if gen_s is None else round(gen_s, 1),
        "graphlets": graphlets,
        "mlmd_rows": stages["ingest"].result["rows_read"],
        "loadavg": loads,
        "stages": {n: _stage_json(s) for n, s in stages.items()},
        "end_to_end_s": round(e2e, 2),
        "end_to_end_stage_s": round(sum(stages[name].stage_s for name in JOB), 2),
        "floor": _stage_json(floor),
        "floor_s": round(floor.wall_s, 3),
        "end_to_end_over_floor": round(e2e / floor.wall_s, 2),
        "over_floor": {n: round(s.wall_s / floor.wall_s, 2) for n, s in stages.items()},
        "peak_rss_mb": round(peak, 1),
        "mlprov_per_graphlet_s": per_graphlet,
        "baselines": {n: {**_stage_json(s), **s.result} for n, s in baselines.items()},
        "ratios": ratios,
        "incremental": {n: _stage_json(s) for n, s in incr.items()},
    }
    if incr:
        result["incremental_ingest_s"] = round(incr["ingest_day"].wall_s, 2)
        result["incremental_ingest_stage_s"] = round(incr["ingest_day"].stage_s, 2)
        result["incremental_rows"] = incr["append_day"].result["rows"]
        day = incr["graphlets_day"]
        result["incremental_refresh_s"] = round(day.wall_s, 2)
        result["incremental_refresh_stage_s"] = round(day.stage_s, 2)
        result["incremental_day_s"] = round(incr["ingest_day"].wall_s + day.wall_s, 2)
        result["incremental_day_stage_s"] = round(incr["ingest_day"].stage_s + day.stage_s, 2)
        result["incremental_redone"] = (
            f"{day.result['graphlets']:,} of {day.result['total_graphlets']:,} graphlets redone "
            f"in {day.result['pipelines_built']:,} pipelines "
            f"({day.result['pipelines_whole']:,} rebuilt whole), "
            f"{day.result['changed_executions']:,} executions new or changed"
        )
    result["targets"] = _targets(result, cache)
    (cache / f"results_{config.pipelines}p.json").write_text(json.dumps(result, indent=1))
    return result


def _stage_json(run: StageRun) -> dict[str, Any]:
    return {
        "wall_s": round(run.wall_s, 3),
        "stage_s": round(run.stage_s, 3),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        **{k: v for k, v in run.result.items() if k != "seconds" and not isinstance(v, dict)},
    }


def _targets(result: dict[str, Any], cache: Path) -> dict[str, Any]:
    """Each target with the measured value and whether it was met (reported, not asserted)."""
    targets: dict[str, Any] = {}
    if result["scale"] in (0.1, 1.0):
        targets["e2e_le_3x_floor"] = _met(result["end_to_end_over_floor"], TARGET_OVER_FLOOR)
    if result["scale"] == 1.0:
        targets["e2e_le_60s"] = _met(result["end_to_end_s"], TARGET_E2E_S)
        targets["peak_rss_le_4gb"] = _met(result["peak_rss_mb"], TARGET_RSS_MB)
        tenth = cache / f"results_{config_for(0.1).pipelines}p.json"
        if tenth.exists():
            small = json.loads(tenth.read_text())["end_to_end_s"]
            targets["time_1.0_over_0.1_le_12"] = _met(
                result["end_to_end_s"] / small, TARGET_SCALE_RATIO
            )
        if "incremental_ingest_s" in result:
            targets["incremental_day_le_5s"] = _met(
                result["incremental_ingest_s"], TARGET_INCREMENTAL_S
            )
            targets["day_ingest_refresh_le_10s"] = _met(
                result["incremental_day_stage_s"], TARGET_DAY_REFRESH_S
            )
    if "client" in result["ratios"]:
        speedup = result["ratios"]["client"]["speedup_vs_ingest_build"]
        targets["speedup_vs_client_ge_100x"] = {
            "value": round(speedup, 1),
            "limit": TARGET_SPEEDUP,
            "met": speedup >= TARGET_SPEEDUP,
        }
    return targets


def _met(value: float, limit: float) -> dict[str, Any]:
    return {"value": round(value, 2), "limit": limit, "met": value <= limit}


def render(result: dict[str, Any]) -> str:
    """The human-readable table of a result."""
    lines = [
        f"mlprov benchmark: scale {result['scale']} ({result['pipelines']} pipelines, "
        f"{result['days']} days, seed {result['seed']}, DuckDB memory_limit "
        f"{result['memory_limit'] or 'default'}), store {result['store_mb']} MB, "
        f"{result['mlmd_rows']:,} MLMD rows, {result['graphlets']:,} graphlets",
        f"load average (1/5/15 min) during the run: {' | '.join(result['loadavg'])}",
        "",
        f"{'stage':<20}{'wall s':>10}{'in-stage s':>12}{'peak RSS MB':>13}",
    ]
    for group in ("stages", "incremental"):
        if group == "incremental" and result[group]:
            lines.append("incremental (cut one day short, append the day):")
        for name, s in result[group].items():
            lines.append(
                f"{name:<20}{s['wall_s']:>10.2f}{s['stage_s']:>12.2f}{s['peak_rss_mb']:>13.0f}"
            )
        if group == "stages":
            lines.append(
                f"{'end to end (job)':<20}{result['end_to_end_s']:>10.2f}"
                f"{result['end_to_end_stage_s']:>12.2f}{result['peak_rss_mb']:>13.0f}"
            )
            floor = result["floor"]
            lines.append(
                f"{'floor (read only)':<20}{floor['wall_s']:>10.2f}{floor['stage_s']:>12.2f}"
                f"{floor['peak_rss_mb']:>13.0f}"
            )
            shares = ", ".join(f"{n} {x:.1f}x" for n, x in result["over_floor"].items())
            lines.append(
                f"end to end = {result['end_to_end_over_floor']:.2f}x the floor ({shares})"
            )
    if "incremental_redone" in result:
        lines.append(
            f"one more day: ingest + graphlet refresh {result['incremental_day_s']:.2f} s wall, "
            f"{result['incremental_day_stage_s']:.2f} s in-stage; {result['incremental_redone']}"
        )
    lines += [
        "",
        "per graphlet (s):  mlprov build "
        f"{result['mlprov_per_graphlet_s']['build']:.2e}, ingest+build "
        f"{result['mlprov_per_graphlet_s']['ingest_build']:.2e}",
    ]
    for name, r in result["ratios"].items():
        b = result["baselines"][name]
        lines.append(
            f"  {name:<9} {r['baseline_per_graphlet_s']:.2e} s/graphlet over {b['sampled']} "
            f"sampled (all {b['graphlets']:,}: ~{b['extrapolated_all_s']:.0f} s); speedup "
            f"{r['speedup_vs_build']:.0f}x (build), {r['speedup_vs_ingest_build']:.0f}x "
            "(ingest+build)"
        )
    if result["targets"]:
        lines += ["", "targets (measured, not asserted):"]
        for name, t in result["targets"].items():
            lines.append(f"  {name:<28} {t['value']!s:>10}  {'met' if t['met'] else 'NOT met'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print the table and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke test: scale {QUICK_SCALE}, 20 sampled trainers"
    )
    parser.add_argument("--sample", type=int, default=200, help="trainers per baseline")
    parser.add_argument("--seed", type=int, default=0, help="seed of the trainer sample")
    parser.add_argument(
        "--hops",
        type=int,
        default=10,
        help="max_num_hops of get_lineage_subgraph (client baseline)",
    )
    parser.add_argument("--no-client", action="store_true", help="skip baseline (a)")
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit for every stage, e.g. 3GB")
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args(argv)
    scale, sample = (QUICK_SCALE, min(args.sample, 20)) if args.quick else (args.scale, args.sample)
    result = benchmark(
        scale,
        args.cache.resolve(),
        sample=sample,
        seed=args.seed,
        hops=args.hops,
        client=not args.no_client and client_available(),
        incremental=not args.no_incremental,
        memory_limit=args.memory_limit,
        quiet=args.json_only,
    )
    if not args.json_only:
        print(render(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
