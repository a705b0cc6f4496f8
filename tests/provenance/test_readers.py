"""The reader contract: the registry behind parse_source and the CLI, canonical staging, the
stable id map, and the mapping file's deploy rule reaching the graphlet build."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from mlprov.provenance.conventions import DeployRule, load_mapping
from mlprov.provenance.errors import MappingError, UnknownSourceError
from mlprov.provenance.ingest import parse_source, url_schemes
from mlprov.provenance.readers import (
    REGISTRY,
    EventType,
    ExecutionState,
    Stage,
    reader,
    staging_area,
)
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES


def test_registry_decides_every_source() -> None:
    assert [reader(kind).kind for kind in REGISTRY] == list(REGISTRY)
    assert url_schemes() == {
        "sqlite": "mlmd_sql",
        "mysql": "mlmd_server",
        "postgresql": "mlmd_server",
        "grpc": "mlmd_client",
        "marquez": "openlineage",
    }
    assert parse_source(str(FIXTURES / "tfx_small.sqlite")).kind == "mlmd_sql"
    assert parse_source("postgresql://me@db:5433/metadb").location == (
        "postgresql://me@db:5433/metadb"
    )
    forced = parse_source("mysql://me:pw@db/metadb", "mlmd_client")
    assert forced.kind == "mlmd_client" and "pw" not in forced.location
    with pytest.raises(UnknownSourceError, match="valid kinds are mlmd_sql, mlmd_server, mlmd_"):
        parse_source("x.sqlite", "mlmd_serve")
    with pytest.raises(UnknownSourceError, match="Did you mean 'mysql'"):
        parse_source("mysq://db/metadb")
    with pytest.raises(UnknownSourceError, match="name the user and the MLMD database"):
        parse_source("mysql://db:3306")
    with pytest.raises(UnknownSourceError, match="the port is not a number"):
        parse_source("mysql://me@db:port/metadb")
    with pytest.raises(UnknownSourceError, match="reads mysql:// and postgresql:// URLs, not grpc"):
        parse_source("grpc://metadata:8080", "mlmd_server")


def test_password_from_url_or_argument_stays_out_of_the_location() -> None:
    from_url = parse_source("mysql://me:p%40ss@db/metadb", password="other")
    assert (
        from_url.config.secret.value == "p@ss" and from_url.location == "mysql://me@db:3306/metadb"
    )
    given = parse_source("mysql://me@db/metadb", password="p@ss")
    assert given.config.secret.value == "p@ss" and "p@ss" not in repr(given)


def test_staging_speaks_the_canonical_vocabulary() -> None:
    with ProvenanceStore.open(":memory:") as store, staging_area(store.con):
        reader("mlmd_sql").read(
            parse_source(str(FIXTURES / "tfx_small.sqlite")).config,
            Stage(store.con, 1, {}, lambda table, rows: None),
        )
        kinds = {r[0] for r in store.con.execute("SELECT DISTINCT kind FROM stg_types").fetchall()}
        states = {r[0] for r in store.con.execute("SELECT state FROM stg_executions").fetchall()}
        events = {r[0] for r in store.con.execute("SELECT type FROM stg_events").fetchall()}
    assert kinds == {"EXECUTION", "ARTIFACT", "CONTEXT"}
    assert "COMPLETE" in states and states <= {s.value for s in ExecutionState}
    assert "OUTPUT" in events and events <= {e.value for e in EventType}


def test_stable_ids_survive_ingests() -> None:
    with ProvenanceStore.open(":memory:") as store:
        con = store.con
        given = []
        for batch in (["run-b", "run-a"], ["run-c", "run-a"], ["run-b"]):
            with staging_area(con):
                stage = Stage(con, 7, {}, lambda table, rows: None)
                values = ", ".join(f"('{v}')" for v in batch)
                view = stage.stable_ids("run", f"SELECT * FROM (VALUES {values})")
                given.append(dict(con.execute(f"SELECT * FROM {view}").fetchall()))
                con.execute(
                    "INSERT INTO source_ids SELECT 7, space, external_id, id FROM stg_id_map"
                )
        assert given[0] == {"run-a": 1, "run-b": 2}
        assert given[1] == {"run-a": 1, "run-b": 2, "run-c": 3}
        assert given[2] == given[1]
        with staging_area(con), pytest.raises(ValueError, match="must be an identifier"):
            Stage(con, 7, {}, lambda table, rows: None).stable_ids("run id", "SELECT 'x'")


def _mapping(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(body)
    return path


def test_deploy_rule_reaches_the_graphlet_build(tmp_path: Path) -> None:
    kfp = str(FIXTURES / "kfp_small.sqlite")
    runner = CliRunner()
    plain, ruled = tmp_path / "plain.duckdb", tmp_path / "ruled.duckdb"
    mapping = _mapping(tmp_path, '[deploy]\ntasks = ["deploy-*"]\n')
    assert runner.invoke(main, ["ingest", kfp, "--db", str(plain)]).exit_code == 0
    assert (
        runner.invoke(
            main, ["ingest", kfp, "--db", str(ruled), "--mapping", str(mapping)]
        ).exit_code
        == 0
    )
    for db, deployed in ((plain, 0), (ruled, 1)):
        done = runner.invoke(main, ["graphlets", "--db", str(db), "--format", "json"])
        assert done.exit_code == 0, done.output
        with ProvenanceStore.open(db, read_only=True) as store:
            assert store.df("SELECT count(*) AS n FROM graphlets WHERE deployed").n[0] == deployed


def test_deploy_tasks_alone_make_the_deploy_category(tmp_path: Path) -> None:
    from mlprov.provenance.conventions import CONVENTIONS

    rule = load_mapping(
        _mapping(tmp_path, '[deploy]\ntasks = "deploy-model"\npushed_property = "live"\n')
    )
    assert rule.deploy == DeployRule(("deploy-model",), "live")
    kfp = CONVENTIONS["kfp"]
    assert rule.categorize("deploy-model", "system.ContainerExecution", kfp) == "deploy"
    assert rule.categorize("push-metrics", "system.ContainerExecution", kfp) == "other"
    assert (
        load_mapping(None).categorize("push-metrics", "system.ContainerExecution", kfp) == "deploy"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("deploy = 3\n", "deploy must be a table"),
        ("[deploy]\ntask = ['x']\n", "unknown key 'task' in \\[deploy\\].*Did you mean 'tasks'"),
        ("[deploy]\ntasks = [1]\n", "deploy.tasks must be a list of task or component globs"),
        ("[deploy]\npushed_property = ''\n", "deploy.pushed_property must be an artifact"),
        ("[deploy]\n", "names neither tasks nor pushed_property"),
    ],
)
def test_bad_deploy_rules(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        load_mapping(_mapping(tmp_path, body))


def test_sources_naming_different_pushed_properties(tmp_path: Path) -> None:
    from mlprov.graphlets.errors import ConflictingRulesError
    from mlprov.graphlets.rules import GraphletRules
    from mlprov.provenance.ingest import ingest

    with ProvenanceStore.open(":memory:") as store:
        for name, prop in (("kfp_small", "live"), ("tfx_small", "pushed")):
            rules = load_mapping(_mapping(tmp_path, f'[deploy]\npushed_property = "{prop}"\n'))
            ingest(store, str(FIXTURES / f"{name}.sqlite"), mapping=rules)
        with pytest.raises(
            ConflictingRulesError, match="different pushed properties \\(live, pushed\\)"
        ):
            GraphletRules.for_store(store)
