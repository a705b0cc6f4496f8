"""Graphlets are always current: readers refresh them after an ingest, or refuse stale ones.

The store is written by the ml-metadata client (tests/fixtures/tfx_small.sqlite), ingested and
built; then a new taxi run arrives and churn's RUNNING trainer completes, and the store is
ingested again without a graphlet build, which is how a scheduled job would leave it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from mlprov.analysis.pruning import load_pruning_data
from mlprov.analysis.waste import waste_summary
from mlprov.graphlets import (
    GraphletRules,
    build_graphlets,
    ensure_current,
    graphlet_summary,
    list_graphlets,
    load_graphlet,
)
from mlprov.graphlets.errors import StaleGraphletsError
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore

SMALL = Path(__file__).parent.parent / "fixtures" / "tfx_small.sqlite"


def stale_store(tmp_path: Path, rules: GraphletRules | None = None) -> str:
    """A database built once, then ingested again after new runs: its graphlets are stale."""
    pytest.importorskip("ml_metadata")
    from tests.fixtures.stores import extend_tfx

    source = tmp_path / "tfx.sqlite"
    shutil.copy(SMALL, source)
    db = str(tmp_path / "prov.duckdb")
    with ProvenanceStore.open(db) as store:
        ingest(store, str(source))
        build_graphlets(store, rules)
    extend_tfx(source)  # a new taxi run, and churn's running trainer completes
    with ProvenanceStore.open(db) as store:
        ingest(store, str(source))
    return db


def rebuilt(db: str, tmp_path: Path, rules: GraphletRules | None = None) -> str:
    """A copy of ``db`` with its graphlets rebuilt whole: the reference."""
    copy = str(tmp_path / "rebuilt.duckdb")
    shutil.copy(db, copy)
    with ProvenanceStore.open(copy) as store:
        build_graphlets(store, rules, incremental=False)
    return copy


def test_analyses_refresh_stale_graphlets_first(tmp_path: Path) -> None:
    db = stale_store(tmp_path)
    reference = rebuilt(db, tmp_path)
    with ProvenanceStore.open(reference, read_only=True) as store:
        expected = waste_summary(store)
        graphlets = list_graphlets(store)
    with ProvenanceStore.open(db) as store:
        got = waste_summary(store)  # refreshes first
        assert ensure_current(store) is None  # now current: nothing to do
        assert list_graphlets(store).equals(graphlets)
    assert asdict(got) == asdict(expected)
    # the new run's executions are in graphlets, not orphans; churn's trainer is no longer
    # in flight
    assert (got.graphlets, got.in_flight_graphlets, got.orphan_executions) == (5, 0, 1)


def test_read_only_store_refuses_stale_graphlets(tmp_path: Path) -> None:
    db = stale_store(tmp_path)
    message = (
        f"the graphlets in {db} are stale: 1 ingest (latest: 2) since they were built; "
        f"refresh them with 'mlprov graphlets --db {db}'"
    )
    with ProvenanceStore.open(db, read_only=True) as store:
        for read in (
            waste_summary,
            load_pruning_data,
            list_graphlets,
            graphlet_summary,
            lambda s: load_graphlet(s, 14),
        ):
            with pytest.raises(StaleGraphletsError) as err:
                read(store)
            assert str(err.value) == message
    with ProvenanceStore.open(db) as store, pytest.raises(StaleGraphletsError) as err:
        ensure_current(store, refresh=False)
    assert str(err.value) == message + " (or run without --no-refresh)"


def test_refresh_keeps_the_rules_of_the_last_build(tmp_path: Path) -> None:
    rules = GraphletRules(include_side_branches=False)
    db = stale_store(tmp_path, rules)
    reference = rebuilt(db, tmp_path, rules)
    with ProvenanceStore.open(db) as store:
        with pytest.raises(StaleGraphletsError) as err:
            ensure_current(store, GraphletRules(), refresh=False)
        assert str(err.value) == (
            f"the graphlets in {db} were cut under other rules ({rules.digest()}, not "
            f"{GraphletRules().digest()}); refresh them with 'mlprov graphlets --db {db}' "
            "(or run without --no-refresh)"
        )
        report = ensure_current(store)
        assert report is not None and report.rules_hash == rules.digest()
        got = store.df("SELECT * FROM graphlet_members ORDER BY ALL")
    with ProvenanceStore.open(reference, read_only=True) as store:
        assert got.equals(store.df("SELECT * FROM graphlet_members ORDER BY ALL"))


def test_graphlets_of_another_version_are_rebuilt(tmp_path: Path) -> None:
    db = stale_store(tmp_path)
    with ProvenanceStore.open(db) as store:
        build_graphlets(store)
        store.con.execute("UPDATE graphlet_state SET value = '1' WHERE key = 'layout'")
    with (
        ProvenanceStore.open(db, read_only=True) as store,
        pytest.raises(StaleGraphletsError) as err,
    ):
        waste_summary(store)
    assert str(err.value) == (
        f"the graphlets in {db} were built by another mlprov version; "
        f"refresh them with 'mlprov graphlets --db {db}'"
    )
    with ProvenanceStore.open(db) as store:
        report = ensure_current(store)
    assert report is not None and report.pipelines_whole == 2


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_commands_refresh_or_refuse(tmp_path: Path) -> None:
    db = stale_store(tmp_path)
    reference = rebuilt(db, tmp_path)
    stale = f"error: the graphlets in {db} are stale: 1 ingest (latest: 2) since they were built"
    for command in (
        ("report", "--out", str(tmp_path / "r")),
        ("prune",),
        ("graphlet", "show", "14"),
        ("graphlets",),
    ):
        code, _, err = run(*command, "--db", db, "--no-refresh")
        assert code == 2 and err.startswith(stale), command
        assert err.strip().endswith("(or run without --no-refresh)")
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
    code, out, err = run("report", "--db", db, "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert "graphlets refreshed after the latest ingest: 2 written in 2 pipelines" in err
    code, _, err = run("report", "--db", reference, "--out", str(tmp_path / "ref"))
    assert code == 0 and "refreshed" not in err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    expected = json.loads((tmp_path / "ref" / "summary.json").read_text())
    assert summary["headline"] == expected["headline"]
    code, out, err = run("graphlets", "--db", db, "--no-refresh", "--format", "json")
    assert code == 0 and json.loads(out)["build"] is None
