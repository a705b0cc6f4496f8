"""Work left RUNNING: in flight while recent, abandoned (waste) once stale (study.md, item 8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from mlprov.analysis.frames import Liveness, Scope
from mlprov.analysis.pruning import load_pruning_data
from mlprov.analysis.waste import graphlet_reasons, waste_summary
from mlprov.provenance.store import ProvenanceStore
from tests.analysis.conftest import CPU, built
from tests.conftest import needs_client

KILLED_AT = datetime(2025, 1, 6, 0, 21)  # the killed trainer's last update (day 0)
LAST = datetime(2025, 1, 9, 0, 32)  # the store's last recorded time (day 3, the Pusher's end)


@pytest.fixture(scope="module")
def killed_mlmd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A client-written store whose day-0 trainer was killed mid-run: MLMD keeps it RUNNING.

    Day 0: ExampleGen (1 cpu_hour) -> Trainer (4 cpu_hours), RUNNING for good. Day 3:
    ExampleGen 2 -> Trainer 8 -> Pusher 1, pushed.
    """
    needs_client()
    from mlprov.sample.synth.writer import MlmdWriter
    from tests.fixtures.stores import EXAMPLE_GEN, PUSHER, TRAINER, TfxPipeline

    path = tmp_path_factory.mktemp("killed") / "killed.sqlite"
    with MlmdWriter(path) as w:
        p = TfxPipeline(w, "p")
        r = p.run("p-r1", 0)
        _, g = r.node(
            EXAMPLE_GEN,
            custom={"cpu_hours": 1.0},
            outputs={"examples": [w.new_artifact("Examples", "/p/ex/1", span=1, version=0)]},
        )
        r.node(TRAINER, state="RUNNING", custom={"cpu_hours": 4.0}, inputs=g)
        r = p.run("p-r2", 3)
        _, g = r.node(
            EXAMPLE_GEN,
            custom={"cpu_hours": 2.0},
            outputs={"examples": [w.new_artifact("Examples", "/p/ex/2", span=2, version=0)]},
        )
        _, t = r.node(
            TRAINER,
            custom={"cpu_hours": 8.0},
            inputs=g,
            outputs={"model": [w.new_artifact("Model", "/p/m/2")]},
        )
        r.node(
            PUSHER,
            custom={"cpu_hours": 1.0},
            inputs=t,
            outputs={
                "pushed_model": [w.new_artifact("PushedModel", "/p/pm", custom={"pushed": 1})]
            },
        )
    return path


@pytest.fixture
def killed(killed_mlmd: Path) -> Iterator[ProvenanceStore]:
    with built(killed_mlmd, CPU) as store:
        yield store


def test_stale_running_trainer_is_abandoned_waste(killed: ProvenanceStore) -> None:
    # By default as of the store's last record: three days after the kill.
    w = waste_summary(killed)
    assert (w.abandoned_graphlets, w.in_flight_graphlets, w.unpushed_graphlets) == (1, 0, 1)
    assert (w.abandoned_executions, w.abandoned_cost) == (2, 5.0)
    assert (w.wasted_cost, w.in_flight_cost, w.total_cost) == (5.0, 0.0, 16.0)
    assert w.unpushed_share == 0.5


@pytest.mark.parametrize(
    "liveness",
    [
        Liveness(KILLED_AT + timedelta(hours=1)),  # analyzed an hour after the last update
        Liveness(LAST, stale_after=timedelta(days=4)),  # a patient stale_after
    ],
)
def test_recent_running_trainer_is_in_flight(killed: ProvenanceStore, liveness: Liveness) -> None:
    w = waste_summary(killed, Scope(liveness=liveness))
    assert (w.abandoned_graphlets, w.in_flight_graphlets, w.unpushed_graphlets) == (0, 1, 0)
    assert (w.abandoned_cost, w.in_flight_cost, w.wasted_cost) == (0.0, 5.0, 0.0)


def test_stale_after_boundary(killed: ProvenanceStore) -> None:
    """Exactly stale_after without an update is still in flight; a microsecond more is not."""
    at = KILLED_AT + timedelta(hours=24)
    assert waste_summary(killed, Scope.of(as_of=at)).in_flight_graphlets == 1
    after = at + timedelta(microseconds=1)
    assert waste_summary(killed, Scope.of(as_of=after)).abandoned_graphlets == 1


def test_pruning_counts_abandoned_work_as_waste(killed: ProvenanceStore) -> None:
    stale = load_pruning_data(killed)
    assert stale.executions["wasted"].tolist() == [True, True, False, False, False]
    assert stale.decisions["in_flight"].tolist() == [False, False]
    live = load_pruning_data(killed, liveness=Liveness(KILLED_AT + timedelta(hours=1)))
    assert not live.executions["wasted"].any()
    assert live.decisions["in_flight"].tolist() == [True, False]


def test_report_cli_judges_running_work_as_of(killed_mlmd: Path, tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    built(killed_mlmd, CPU, db=str(db)).close()

    def headline(*args: str) -> dict[str, float]:
        out = tmp_path / f"r{len(args)}"
        result = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(out), *args])
        assert result.exit_code == 0, result.output
        return json.loads((out / "summary.json").read_text())["headline"]

    now = headline()  # as of now: long stale
    assert (now["abandoned_cost"], now["in_flight_cost"]) == (5.0, 0.0)
    early = headline("--as-of", "2025-01-06T01:00:00")
    assert (early["abandoned_cost"], early["in_flight_cost"]) == (0.0, 5.0)
    patient = headline("--as-of", "2025-01-09", "--stale-after", "30d")
    assert patient["in_flight_graphlets"] == 1


def test_bad_stale_after_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["report", "--db", str(tmp_path / "x.duckdb"), "--out", "o", "--stale-after", "-1h"]
    )
    assert result.exit_code == 2
    assert "is not a duration such as 24h" in result.output


def test_reason_turns_abandoned_as_of_a_time(killed: ProvenanceStore) -> None:
    """The stored reason says in_flight; the analyses tell abandoned from it as of a time."""
    stored = killed.df("SELECT reason FROM graphlets ORDER BY graphlet_id")["reason"].tolist()
    assert stored[0] == "in_flight"
    at, after = KILLED_AT + timedelta(hours=1), KILLED_AT + timedelta(hours=25)
    live = graphlet_reasons(killed, Scope.of(as_of=at)).set_index("reason")["graphlets"]
    stale = graphlet_reasons(killed, Scope.of(as_of=after)).set_index("reason")["graphlets"]
    assert live.get("in_flight") == 1 and "abandoned" not in live
    assert stale.get("abandoned") == 1 and "in_flight" not in stale
    assert stale.sum() == live.sum() == len(stored)
