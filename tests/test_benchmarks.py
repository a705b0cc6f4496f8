"""Smoke test of the benchmark harness: ``python -m benchmarks.run --quick`` end to end.

No timing is asserted (the machine is shared); only that every stage ran and the result is
complete and consistent. The client baseline is skipped where ml-metadata is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlprov.sample.synth.writer import client_available

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The JSON result of one quick run into a temporary cache."""
    cache = tmp_path_factory.mktemp("bench")
    args = [sys.executable, "-m", "benchmarks.run", "--quick", "--json-only", "--cache", str(cache)]
    if not client_available():
        args.append("--no-client")
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1  # --json-only: exactly one JSON line
    return json.loads(lines[0])


def test_every_stage_ran(quick: dict) -> None:
    assert list(quick["stages"]) == ["ingest", "graphlets", "waste", "pruning", "report"]
    for stage in quick["stages"].values():
        assert 0 < stage["stage_s"] <= stage["wall_s"]
        assert stage["peak_rss_mb"] > 0
    job = ("ingest", "graphlets", "report")  # the report runs waste and pruning itself
    assert quick["end_to_end_s"] == pytest.approx(
        sum(quick["stages"][name]["wall_s"] for name in job), abs=0.05
    )
    assert quick["graphlets"] == quick["stages"]["waste"]["graphlets"] > 0


def test_floor_reads_what_ingest_reads(quick: dict) -> None:
    floor = quick["floor"]
    assert floor["rows_read"] == quick["mlmd_rows"] == quick["stages"]["ingest"]["rows_read"]
    assert quick["floor_s"] == floor["wall_s"] > 0
    assert quick["end_to_end_over_floor"] == pytest.approx(
        quick["end_to_end_s"] / quick["floor_s"], rel=0.01
    )
    assert set(quick["over_floor"]) == set(quick["stages"])


def test_baselines_and_ratios(quick: dict) -> None:
    expected = {"networkx", "client"} if client_available() else {"networkx"}
    assert set(quick["baselines"]) == set(quick["ratios"]) == expected
    for name, baseline in quick["baselines"].items():
        assert baseline["sampled"] == 20
        assert baseline["mean_nodes"] > 0
        ratio = quick["ratios"][name]
        assert ratio["speedup_vs_build"] * ratio["mlprov_over_baseline_build"] == pytest.approx(1)


def test_incremental_day(quick: dict) -> None:
    incr = quick["incremental"]
    assert incr["ingest_prefix"]["incremental"] is False
    assert incr["ingest_day"]["incremental"] is True
    # The day appended to the prefix store restores the full store exactly.
    assert incr["ingest_day"]["executions"] == quick["stages"]["ingest"]["executions"]
    assert incr["ingest_day"]["events"] == quick["stages"]["ingest"]["events"]
    assert incr["graphlets_day"]["total_graphlets"] == quick["graphlets"]
    assert quick["incremental_rows"] > 0
    assert incr["ingest_day"]["rows_read"] < incr["ingest_prefix"]["rows_read"]


def test_mlflow_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The MLflow ingest benchmark on a tiny corpus: every generated row read, the timings
    consistent (best <= median), the corpus cached for the next run."""
    pytest.importorskip("mlflow", reason="the benchmark's schema comes from the mlflow client")
    from benchmarks.mlflow_ingest import main as mlflow_benchmark

    args = ["--experiments", "2", "--pipelines", "40", "--repeat", "2", "--cache", str(tmp_path)]
    assert mlflow_benchmark(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # 2 x 40 pipeline runs of 3 steps, and their 80 registrations
    assert result["executions"] == 320
    assert result["rows"] == sum(result["tables"].values()) > 0
    assert result["tables"]["params"] == result["tables"]["latest_metrics"] == 240 * 12
    assert len(result["runs"]) == result["repeat"] == 2
    assert result["wall_s"]["best"] <= result["wall_s"]["median"]
    assert result["rows_per_s"]["best"] == round(result["rows"] / result["wall_s"]["best"])
    assert len(result["load_at_start"]) == 3
    # the runs, and the params, metrics and tags of the last day's (24 of 80 pipeline runs)
    assert 0 < result["reingest_unchanged"]["rows"] < result["rows"] / 2
    cached = sorted(p.name for p in tmp_path.iterdir())
    assert cached == ["mlflow_2e_40p_12x12_s7.db", "mlflow_schema.db"]


def test_openlineage_ingest_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny seeded corpus, generated once and reused, ingested twice: best and median rates
    (wall and per CPU-second) come from the runs, and the unchanged re-ingest reads nothing."""
    from benchmarks import openlineage_ingest as bench

    args = ["--events", "600", "--runs", "2", "--cache", str(tmp_path)]
    bench.main(args)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["events"] >= 600 and result["runs"] == len(result["per_run"]) == 2
    assert len(result["load_avg_at_start"]) == 3
    rates = [r["events_per_s"] for r in result["per_run"]]
    assert result["best_events_per_s"] == max(rates) >= result["median_events_per_s"]
    assert result["best_events_per_cpu_s"] >= result["median_events_per_cpu_s"] > 0
    assert result["reingest_read"] == result["skipped"] == 0
    assert result["loaded_executions"] > 0 and result["loaded_events"] > 0
    corpus = Path(result["corpus"])
    written = {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()}
    assert bench.cached_corpus(600, 7, tmp_path) == corpus  # cached: not written again
    assert {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()} == written
