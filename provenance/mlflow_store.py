"""Read an MLflow tracking database (SQLite file, PostgreSQL or MySQL) in bulk, read-only.

MLflow's SQLAlchemy store keeps experiments, runs, their params, metrics and tags, the
datasets runs logged as inputs, MLflow 3's logged models and the model registry in plain
tables. Each table is read with one query inside one read-only snapshot
(:mod:`mlprov.provenance.mlflow_snapshot`) into Arrow, which DuckDB reads in place as views, and
``mlflow_store.sql`` maps them set at a time onto the staging tables: experiments are
pipelines, top-level runs pipeline runs, runs executions, datasets and models artifacts (the
file's header gives the whole mapping). Metrics are read from ``latest_metrics`` (one value
per key and run, as the canonical store keeps), never from the full history in ``metrics``.

The schema is known by its alembic revision (``alembic_version``): MLflow 2.4 (the first
with dataset inputs) to 3.18. Another revision is refused with the known list.

Deployed: a model version holding one of the mapping's ``[deploy] aliases`` (default
:data:`DEPLOY_ALIASES`) or in stage ``Production``. MLflow keeps only the current alias and
stage, so a version that served and was replaced counts as not deployed.

Incremental: MLflow records no update time on runs, so every ingest reads the runs and the
small tables (experiments, datasets, inputs, models, the registry) whole, compares each run
with its canonical row and a per-run digest of its params, metrics and tags (rows and text
length, or the sum of the metric values; aggregated by the source) with its canonical
properties, and reads the params, metrics and tags, the bulk of a store, only for the runs
to stage: new ones, running ones, ones whose status, times, type or digest changed, pipeline
runs holding such a run, and runs that started or ended within :data:`OVERLAP_MS` of the
latest run time the previous ingest saw. Only a tag overwritten by one of the same length on
an old run, otherwise unchanged, escapes an incremental ingest; a full one (a new store, or
another mapping) reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from mlprov.provenance import connect
from mlprov.provenance.errors import NotAnMlmdStoreError, UnsupportedSchemaVersionError
from mlprov.provenance.mlflow_snapshot import NO_TABLE, Config, Fetch, snapshot
from mlprov.provenance.readers import Mark, ReadResult, Secret, Skipped, Stage, sqlite_tables
from mlprov.provenance.sql import execute, literal, named_queries

#: Registry aliases that mark a model version deployed, unless the mapping names others.
DEPLOY_ALIASES = ("champion", "production", "prod")

#: The alembic revisions of MLflow's tracking schema mlprov reads, oldest first: MLflow 2.4
#: (7f2a7d5fae7d adds datasets and inputs) to 3.18, as MLflow's migrations chain them.
KNOWN_REVISIONS = (
    "7f2a7d5fae7d", "2d6e25af4d3e", "acf3f17fdcc7", "867495a8f9d4", "5b0e9adcef9c",
    "4465047574b1", "f5a4f2784254", "0584bdc529eb", "400f98739977", "6953534de441",
    "bda7b8c39065", "cbc13b556ace", "770bee3ae1dd", "a1b2c3d4e5f6", "de4033877273",
    "1a0cddfcaa16", "534353b11cbc", "71994744cf8e", "3da73c924c2f", "bf29a5ff90ea",
    "1bd49d398cd23", "b7c8d9e0f1a2", "5d2d30f0abce", "c9d4e5f6a7b8", "2c33131f4dae",
    "d3e4f5a6b7c8", "d0e1f2a3b4c5", "c8d9e0f1a2b3", "1b5f0d9ad7c1", "e1f2a3b4c5d6",
    "76601a5f987d", "c3d6457b6d8a", "a5b4c3d2e1f0", "ae8bbe7743c9", "7d34483879f0",
    "da6fb0208061", "89d3d66ed43f", "b7e4c1a90f23", "a8b9c0d1e2f3", "c1d2e3f4a5b6",
    "c3d9e7f1a2b4", "6f8d9c3b2a1e", "1971f2d9a75b", "17e22815139b", "b7e2c1a4d9f3",
    "75868b020152", "dc11669786a5", "e7d1f4b2a9c6", "8b6ad64cb8f5", "f4a9b2c7d1e6",
)  # fmt: skip
_LOGGED_MODELS = KNOWN_REVISIONS.index("400f98739977")  # MLflow 3.0: logged_models
_WORKSPACES = KNOWN_REVISIONS.index("1b5f0d9ad7c1")  # model registry names per workspace
#: Tables that make a SQLite file an MLflow tracking database.
MARKER_TABLES = frozenset({"alembic_version", "experiments", "runs"})

_SQL = named_queries("mlprov.provenance", "mlflow_store.sql")


@dataclass(frozen=True)
class _Read:
    """One MLflow table read into raw table ``raw``: (name, source expression, kind) columns,
    kind ``i`` (integer), ``d`` (double) or ``s`` (text); ``since``: the first revision (an
    index of KNOWN_REVISIONS) holding the table, older stores stage it empty; ``where``: a
    condition on its rows."""

    raw: str
    table: str
    columns: tuple[tuple[str, str, str], ...]
    since: int = 0
    where: str = ""


def _cols(spec: str) -> tuple[tuple[str, str, str], ...]:
    """``"name:kind name=expr:kind ..."`` -> column tuples (the expression defaults to name)."""
    out = []
    for item in spec.split():
        named, kind = item.rsplit(":", 1)
        name, _, expr = named.partition("=")
        out.append((name, expr or name, kind))
    return tuple(out)


_READS = (
    _Read(
        "mlf_experiments",
        "experiments",
        _cols("experiment_id:i name:s lifecycle_stage:s creation_time:i last_update_time:i"),
    ),
    _Read(
        "mlf_runs",
        "runs",
        _cols(
            "run_uuid:s experiment_id:i name:s status:s start_time:i end_time:i lifecycle_stage:s"
        ),
    ),
    _Read("mlf_tags", "tags", _cols("run_uuid:s key={key}:s value:s")),
    _Read("mlf_params", "params", _cols("run_uuid:s key={key}:s value:s")),
    _Read(
        "mlf_metrics",
        "latest_metrics",
        _cols("run_uuid:s key={key}:s value:d timestamp:i is_nan={is_nan}:i"),
    ),
    _Read(
        "mlf_datasets",
        "datasets",
        _cols(
            "dataset_uuid:s experiment_id:i name:s digest:s dataset_source_type:s dataset_source:s"
        ),
    ),
    _Read(
        "mlf_inputs",
        "inputs",
        _cols("input_uuid:s source_type:s source_id:s destination_type:s destination_id:s"),
    ),
    _Read("mlf_input_tags", "input_tags", _cols("input_uuid:s name:s value:s")),
    _Read(
        "mlf_logged_models",
        "logged_models",
        _cols(
            "model_id:s experiment_id:i name:s artifact_location:s "
            "creation_ms=creation_timestamp_ms:i update_ms=last_updated_timestamp_ms:i "
            "status:i lifecycle_stage:s model_type:s source_run_id:s"
        ),
        since=_LOGGED_MODELS,
    ),
    _Read(
        "mlf_versions",
        "model_versions",
        _cols(
            "workspace={workspace}:s name:s version:i creation_time:i last_updated_time:i "
            "current_stage:s source:s run_id:s status:s storage_location:s"
        ),
    ),
    _Read(
        "mlf_aliases",
        "registered_model_aliases",
        _cols("workspace={workspace}:s name:s alias:s version:i"),
    ),
)
_DUCK_TYPES = {"i": "BIGINT", "d": "DOUBLE", "s": "VARCHAR"}
#: Read only for the runs an ingest stages (all of them on a full read): the bulk of a store.
_PROPERTIES = ("mlf_tags", "mlf_params", "mlf_metrics")
#: Which run is nested in which, read before the properties to find the runs to stage.
_NESTING = _Read(
    "mlf_nesting", "tags", _cols("run_uuid:s parent=value:s"), where="{key} = 'mlflow.parentRunId'"
)
_DIGESTS = _Read(
    "mlf_digests", "params, tags, latest_metrics", _cols("run_uuid:s kind:s n:i size:d")
)
#: Runs that started or ended less than this before the latest run time the previous ingest
#: saw are staged again (MLflow clients stamp runs with their own clocks).
OVERLAP_MS = 86_400_000
_MAX_LISTED = 100_000  # runs named in one query; more are read by a scan


@dataclass(frozen=True)
class _Dialect:
    """How a database spells a quoted name, a double, and the length of a text."""

    quote: str
    double: str
    length: str = "length"

    def select(self, read: _Read, revision: int, where: str = "") -> str:
        fill = {
            "key": f"{self.quote}key{self.quote}",
            "is_nan": "CASE WHEN is_nan THEN 1 ELSE 0 END",
            "workspace": "workspace" if revision >= _WORKSPACES else "'default'",
        }
        exprs = []
        for name, expr, kind in read.columns:
            expr = expr.format(**fill)
            # Text arrives coalesced: the ADBC SQLite driver types a column by its first batch.
            typed = {"s": f"coalesce({expr}, '')", "d": self.double.format(expr)}.get(kind, expr)
            exprs.append(f"{typed} AS {self.quote}{name}{self.quote}")
        conditions = " AND ".join(c for c in (read.where.format(**fill), where) if c)
        return f"SELECT {', '.join(exprs)} FROM {read.table}" + (
            f" WHERE {conditions}" if conditions else ""
        )

    def digests(self) -> str:
        """Per run: rows and text length of its params and tags, rows and value sum of its
        latest metrics (``mlf_digests``, compared with the canonical properties)."""
        key, size = f"{self.quote}key{self.quote}", f"{self.length}(coalesce(value, ''))"
        text = (
            f"SELECT run_uuid, '{{kind}}' AS kind, count(*) AS n, "
            f"{self.double.format(f'sum({self.length}({key}) + {size})')} AS size "
            "FROM {table} GROUP BY run_uuid"
        )
        metric = self.double.format("sum(CASE WHEN is_nan THEN 0 ELSE value END)")
        return " UNION ALL ".join(
            [
                text.format(kind="params", table="params"),
                text.format(kind="tags", table="tags"),
                f"SELECT run_uuid, 'metrics', count(*), {metric} FROM latest_metrics "
                "GROUP BY run_uuid",
            ]
        )


_SQLITE = _Dialect('"', "CAST({} AS REAL)")
_POSTGRESQL = _Dialect('"', "CAST({} AS DOUBLE PRECISION)")
_MYSQL = _Dialect("`", "CAST({} AS DOUBLE)", "char_length")


class _MlflowReader:
    kind = "mlflow"
    summary = (
        "MLflow tracking databases (SQLite file; postgresql:// or mysql:// with --kind mlflow)"
    )
    schemes = ("sqlite",)  # server URLs belong to the MLMD server reader unless --kind mlflow

    def claims_file(self, path: Path) -> bool:
        return sqlite_tables(path) >= MARKER_TABLES

    def configure(self, location: str, secret: Secret) -> Config:
        scheme = location.partition("://")[0] if "://" in location else ""
        if scheme in ("", "sqlite"):
            return Config(path=Path(unquote(location.removeprefix("sqlite://"))))
        return Config(server=connect.configure(location, secret))

    def read(self, config: Config, stage: Stage) -> ReadResult:
        return read(config, stage)


READER = _MlflowReader()


def read(config: Config, stage: Stage) -> ReadResult:
    """Stage the runs that are new or changed since ``stage.marks`` (all on a first ingest),
    with every experiment, dataset, model and model version.

    Each table is fetched into Arrow inside the source's snapshot and seen by DuckDB as a view
    over that Arrow table (no copy). Runs are compared with their canonical rows first, so
    the params, metrics and tags, the bulk of a store, are read for the runs staged only.

    Raises:
        SourceNotFoundError, NotAnMlmdStoreError, UnsupportedSchemaVersionError,
        CorruptSourceError, SourceBusyError, and the server errors of
        :mod:`mlprov.provenance.mlmd_server`.
    """
    result = ReadResult()
    con = stage.con
    mark = stage.marks.get("runs")
    since = None if mark is None or mark.max_update_ms is None else mark.max_update_ms
    try:
        with snapshot(config) as fetch:
            dialect = _dialect(config)
            revision = _revision(config, fetch)

            def load(r: _Read, where: str = "") -> None:
                if revision < r.since:
                    data = pa.table({n: pa.array([], pa.null()) for n, _, _ in r.columns})
                else:
                    data = fetch(dialect.select(r, revision, where)).read_all()
                    result.rows_read[r.table] = data.num_rows
                    stage.progress(r.table, data.num_rows)
                _view(con, r, data)

            for r in _READS:
                if r.raw not in _PROPERTIES:
                    load(r)
            _view(con, _NESTING, fetch(dialect.select(_NESTING, revision)).read_all())
            window = None if since is None else since - OVERLAP_MS
            views = _prepare(stage, window)
            if window is not None:  # incremental: the runs whose properties changed
                _view(con, _DIGESTS, fetch(dialect.digests()).read_all())
                _run(stage, "changed_properties", views)
            _run(stage, "changed_pipelines", views, {"since": window})
            where = "" if window is None else _changed_runs(con)
            for r in _READS:
                if r.raw in _PROPERTIES:
                    load(r, where)
        _stage(stage, views, result)
        latest = con.execute(
            "SELECT max(greatest(start_time, coalesce(end_time, start_time))) FROM mlf_runs"
        ).fetchall()[0][0]
    finally:
        _drop_temporaries(con)
    result.rows_read = {
        r.table: result.rows_read[r.table] for r in _READS if r.table in result.rows_read
    }
    runs = result.rows_read.get("runs", 0)
    result.marks = {"runs": Mark(runs, since if latest is None else int(latest))}
    return result


def _changed_runs(con: Any) -> str:
    """The condition on a property table's rows that reads those of the runs to stage (none
    when they are nearly all, or too many to list)."""
    ((changed, live),) = con.execute(
        "SELECT (SELECT count(*) FROM mlf_changed), (SELECT count(*) FROM mlf_live)"
    ).fetchall()
    if changed > min(0.9 * live, _MAX_LISTED):
        return ""
    uuids = con.execute("SELECT run_uuid FROM mlf_changed ORDER BY ALL").fetchall()
    quoted = ", ".join(literal(str(u)) for (u,) in uuids)
    return f"run_uuid IN ({quoted})" if quoted else "1 = 0"


def _view(con: Any, read: _Read, data: pa.Table) -> None:
    """Make ``read.raw`` a typed view over ``data`` (text arrives coalesced: empty is NULL)."""
    con.register(f"{read.raw}_arrow", data)
    columns = ", ".join(
        f"NULLIF(CAST({n} AS VARCHAR), '') AS {n}"
        if k == "s"
        else f"CAST({n} AS {_DUCK_TYPES[k]}) AS {n}"
        for n, _, k in read.columns
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW {read.raw} AS SELECT {columns} FROM {read.raw}_arrow")


def _drop_temporaries(con: Any) -> None:
    """Release the Arrow tables and drop the views and temporary tables one read left on the
    store's connection."""
    for r in (*_READS, _NESTING, _DIGESTS):
        con.unregister(f"{r.raw}_arrow")
    for name, kind in con.execute(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_catalog = 'temp' AND table_name LIKE 'mlf_%'"
    ).fetchall():
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS temp.main.{name}")


def _prepare(stage: Stage, since: int | None) -> dict[str, str]:
    """Nesting, node keys and their stable ids, and the runs to stage whose rows changed
    (``mlf_changed``: runs new, running or changed, or started or ended at ``since`` or
    later; all when it is None).

    Returns:
        The SQL's placeholders of the id views (``$ctx``, ``$exe``, ``$art``) -> their names.
    """
    con = stage.con
    deploy = stage.mapping.deploy
    aliases = list(deploy.aliases if deploy and deploy.aliases is not None else DEPLOY_ALIASES)
    for block in ("live", "keys"):
        execute(con, _SQL[block], {"aliases": aliases})
    views = {
        "$ctx": stage.stable_ids("context", "SELECT k FROM mlf_context_keys"),
        "$exe": stage.stable_ids("execution", "SELECT k FROM mlf_execution_keys"),
        "$art": stage.stable_ids("artifact", "SELECT k FROM mlf_artifact_keys"),
    }
    _run(stage, "changed", views, {"since": since})
    return views


def _stage(stage: Stage, views: dict[str, str], result: ReadResult) -> None:
    """Map the raw tables onto the staging tables (``mlflow_store.sql``)."""
    _run(stage, "stage", views)
    for table, reason, count, examples in stage.con.execute(_SQL["skipped"]).fetchall():
        if count:
            result.skipped.append(Skipped(table, reason, int(count), tuple(examples)))


def _run(
    stage: Stage, block: str, views: dict[str, str], params: dict[str, Any] | None = None
) -> None:
    """Run a block of ``mlflow_store.sql`` with the id views and the parameters it names."""
    sql = _SQL[block]
    for name, view in views.items():
        sql = sql.replace(name, view)
    execute(stage.con, sql, {"sid": stage.source_id, **(params or {})})


def _dialect(config: Config) -> _Dialect:
    if config.server is None:
        return _SQLITE
    return _POSTGRESQL if config.server.scheme == "postgresql" else _MYSQL


def _revision(config: Config, fetch: Fetch) -> int:
    """The index in KNOWN_REVISIONS of the store's alembic revision.

    Raises:
        NotAnMlmdStoreError: not an MLflow tracking database.
        UnsupportedSchemaVersionError: a revision mlprov does not know.
    """
    try:
        rows = fetch("SELECT version_num FROM alembic_version").read_all().column(0).to_pylist()
    except Exception as err:
        if not re.search(NO_TABLE, str(err)):
            raise  # the driver's other failures: the caller's one-line errors
        raise NotAnMlmdStoreError(
            f"{config.location} is not an MLflow tracking database (it has no alembic_version "
            "table); pass the database your MLflow tracking server writes (--backend-store-uri)"
        ) from err
    version = rows[0] if rows else None
    if version not in KNOWN_REVISIONS:
        raise UnsupportedSchemaVersionError(
            f"{config.location} is an MLflow tracking database at schema revision {version}, "
            f"which mlprov does not read; it reads the revisions of MLflow 2.4 to 3.18: "
            f"{', '.join(KNOWN_REVISIONS)}. Upgrade a copy with `mlflow db upgrade URI` "
            "(older stores), or upgrade mlprov (newer ones)"
        )
    return KNOWN_REVISIONS.index(str(version))
