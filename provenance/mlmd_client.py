"""Read an MLMD store through the official ml-metadata client into the staging tables.

For stores reachable only through the client: a gRPC metadata server (as Kubeflow runs it), and,
with ``--kind mlmd_client``, MySQL, PostgreSQL or SQLite stores (to cross-check the bulk
readers). Nodes come from the bulk calls (``get_executions()`` and friends,
without paging) and events from ``get_events_by_execution_ids`` over id lists; the client has no
bulk call for associations, attributions or parent contexts, so those take one call per context.
It stages exactly what :mod:`mlprov.provenance.mlmd_sql` stages, so both give identical canonical
rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import duckdb
import pyarrow as pa

from mlprov.provenance import mlmd_codes
from mlprov.provenance.errors import ClientUnavailableError, MlprovError, UnknownSourceError
from mlprov.provenance.readers import (
    NO_SECRET,
    NODE_TABLES,
    ArtifactState,
    EventType,
    ExecutionState,
    Mark,
    NodeKind,
    Progress,
    ReadResult,
    Secret,
    Skipped,
    Stage,
)

EVENT_CHUNK = 20_000  # execution ids per events call, to stay under gRPC message limits
MAX_MESSAGE_BYTES = 2**31 - 1


@dataclass(frozen=True)
class Config:
    """A ``grpc://``, ``mysql://`` or ``postgresql://`` URL, or a SQLite path (read-only)."""

    url: str | Path
    secret: Secret = NO_SECRET

    @property
    def location(self) -> str:
        if isinstance(self.url, Path):
            return str(self.url.resolve())
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
        return f"{parts.scheme}://{user}{host}{port}{parts.path}"  # no password


class _ClientReader:
    kind = "mlmd_client"
    summary = "the ml-metadata client (gRPC metadata servers; needs ml-metadata, Python <= 3.11)"
    schemes = ("grpc", "mysql", "postgresql")

    def claims_file(self, path: Path) -> bool:
        return False

    def configure(self, location: str, secret: Secret) -> Config:
        scheme, sep, rest = location.partition("://")
        if not sep:
            return Config(Path(location))
        if scheme == "sqlite":
            return Config(Path(rest))
        if urlsplit(location).password:
            secret = Secret(unquote(urlsplit(location).password or ""))
        return Config(location, secret)

    def read(self, config: Config, stage: Stage) -> ReadResult:
        return read(config, stage)


READER = _ClientReader()


def _open_store(config: Config) -> Any:
    try:
        from ml_metadata.metadata_store import metadata_store
        from ml_metadata.proto import metadata_store_pb2 as pb
    except ImportError as err:
        raise ClientUnavailableError(
            "reading this source needs the ml-metadata client, which is not installed (it has "
            "wheels for Python 3.9-3.11 on Linux): pip install 'ml-metadata==1.17.1'; "
            "SQLite stores can be read without it"
        ) from err
    if isinstance(config.url, Path):
        from mlprov.provenance.sqlite_source import check_file

        check_file(config.url)
        conn = pb.ConnectionConfig()
        conn.sqlite.filename_uri = str(config.url.resolve())
        conn.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
        return metadata_store.MetadataStore(conn)
    parts = urlsplit(config.url)
    if parts.scheme == "grpc":
        client = pb.MetadataStoreClientConfig(
            host=parts.hostname or "localhost", port=parts.port or 8080
        )
        client.channel_arguments.max_receive_message_length = MAX_MESSAGE_BYTES
        return metadata_store.MetadataStore(client)
    return metadata_store.MetadataStore(connection_config(config.url, config.secret))


def connection_config(url: str, secret: Secret = NO_SECRET, *, create_db: bool = False) -> Any:
    """The client's ``ConnectionConfig`` for a ``mysql://`` or ``postgresql://`` URL.

    ``create_db`` lets the client create the database (only the test and benchmark writers
    do); mlprov's readers never create anything.
    """
    from ml_metadata.proto import metadata_store_pb2 as pb

    parts = urlsplit(url)
    conn = pb.ConnectionConfig()
    user = unquote(parts.username or "")
    password = unquote(parts.password or "") or secret.value or ""
    database = parts.path.lstrip("/")
    if parts.scheme == "mysql":
        conn.mysql.host, conn.mysql.port = parts.hostname or "localhost", parts.port or 3306
        conn.mysql.database, conn.mysql.user, conn.mysql.password = database, user, password
        conn.mysql.skip_db_creation = not create_db
    elif parts.scheme == "postgresql":
        pg = conn.postgresql
        pg.host, pg.port = parts.hostname or "localhost", str(parts.port or 5432)
        pg.dbname, pg.user, pg.password = database, user, password
        pg.skip_db_creation = not create_db
    else:
        raise UnknownSourceError(
            f"the ml-metadata client cannot open {url.split('://')[0]}:// URLs"
        )
    return conn


def read(config: Config, stage: Stage) -> ReadResult:
    """Stage every node past ``stage.marks`` and every edge of the store."""
    try:
        store = _open_store(config)
        return _read(store, stage.con, stage.marks, stage.progress)
    except MlprovError:
        raise
    except Exception as err:  # the client raises its own errors.* types and RuntimeError
        raise MlprovError(
            config.secret.redact(
                f"cannot read {config.location} through the ml-metadata client: {err}"
            )
        ) from err


def _read(
    store: Any, con: duckdb.DuckDBPyConnection, marks: dict[str, Mark], progress: Progress
) -> ReadResult:
    result = ReadResult(schema_version=10)
    types = [
        (t.id, t.name, kind.value)
        for kind, get in (
            (NodeKind.EXECUTION, store.get_execution_types),
            (NodeKind.ARTIFACT, store.get_artifact_types),
            (NodeKind.CONTEXT, store.get_context_types),
        )
        for t in get()
    ]
    _stage(con, "stg_types", ["id", "name", "kind"], types)
    result.rows_read["Type"] = len(types)
    nodes = {
        "Context": store.get_contexts(),
        "Artifact": store.get_artifacts(),
        "Execution": store.get_executions(),
    }
    for table in NODE_TABLES:
        everything = nodes[table]
        result.marks[table] = Mark(
            max((n.id for n in everything), default=0),
            max((n.last_update_time_since_epoch for n in everything), default=0),
        )
        old = marks.get(table)
        changed = [
            n
            for n in everything
            if old is None
            or n.id > (old.max_id or 0)
            or n.last_update_time_since_epoch >= (old.max_update_ms or 0)
        ]
        _stage_nodes(con, table, changed, result)
        progress(table, len(changed))
    contexts = nodes["Context"]
    associations, attributions, parents = [], [], []
    for ctx in contexts:
        associations += [(ctx.id, e.id) for e in store.get_executions_by_context(ctx.id)]
        attributions += [(ctx.id, a.id) for a in store.get_artifacts_by_context(ctx.id)]
        parents += [(ctx.id, p.id) for p in store.get_parent_contexts_by_context(ctx.id)]
    _stage(con, "stg_associations", ["context_id", "execution_id"], associations)
    _stage(con, "stg_attributions", ["context_id", "artifact_id"], attributions)
    _stage(con, "stg_parent_contexts", ["context_id", "parent_context_id"], parents)
    result.rows_read.update(
        Association=len(associations), Attribution=len(attributions), ParentContext=len(parents)
    )
    ids = sorted(e.id for e in nodes["Execution"])
    events = []
    for start in range(0, len(ids), EVENT_CHUNK):
        events += store.get_events_by_execution_ids(ids[start : start + EVENT_CHUNK])
        progress("Event", len(events))
    _stage(
        con,
        "stg_events",
        ["execution_id", "artifact_id", "type", "ms", "key", "idx"],
        [
            (
                e.execution_id,
                e.artifact_id,
                _decode(mlmd_codes.EventType, EventType, e.type),
                e.milliseconds_since_epoch,
                *_path(e),
            )
            for e in events
        ],
    )
    result.rows_read["Event"] = len(events)
    return result


def _decode(codes: type[IntEnum], vocabulary: type[Enum], code: int) -> str:
    """The canonical name of an MLMD code (``UNKNOWN`` for codes MLMD lacks)."""
    try:
        return str(vocabulary[codes(code).name].value)
    except ValueError:
        return "UNKNOWN"


def _path(event: Any) -> tuple[str | None, int | None]:
    key = next((s.key for s in event.path.steps if s.WhichOneof("value") == "key"), None)
    index = next((s.index for s in event.path.steps if s.WhichOneof("value") == "index"), None)
    return key, index


_PROPERTY_TABLE = {
    "Execution": ("stg_execution_props", "ExecutionProperty"),
    "Artifact": ("stg_artifact_props", "ArtifactProperty"),
    "Context": ("stg_context_props", "ContextProperty"),
}


def _stage_nodes(
    con: duckdb.DuckDBPyConnection, table: str, nodes: list[Any], result: ReadResult
) -> None:
    times = [(n.create_time_since_epoch, n.last_update_time_since_epoch) for n in nodes]
    if table == "Execution":
        _stage(
            con,
            "stg_executions",
            ["id", "type_id", "state", "name", "create_ms", "update_ms"],
            [
                (
                    n.id,
                    n.type_id,
                    _decode(mlmd_codes.ExecutionState, ExecutionState, n.last_known_state),
                    n.name,
                    *t,
                )
                for n, t in zip(nodes, times, strict=True)
            ],
        )
    elif table == "Artifact":
        _stage(
            con,
            "stg_artifacts",
            ["id", "type_id", "uri", "state", "name", "create_ms", "update_ms"],
            [
                (
                    n.id,
                    n.type_id,
                    n.uri,
                    _decode(mlmd_codes.ArtifactState, ArtifactState, n.state),
                    n.name,
                    *t,
                )
                for n, t in zip(nodes, times, strict=True)
            ],
        )
    else:
        _stage(
            con,
            "stg_contexts",
            ["id", "type_id", "name", "create_ms", "update_ms"],
            [(n.id, n.type_id, n.name, *t) for n, t in zip(nodes, times, strict=True)],
        )
    result.rows_read[table] = len(nodes)
    staging, source_table = _PROPERTY_TABLE[table]
    rows, unloadable = [], []
    for n in nodes:
        for is_custom, props in ((False, n.properties), (True, n.custom_properties)):
            for name, value in props.items():
                kind = value.WhichOneof("value")
                if kind in ("int_value", "double_value", "string_value", "bool_value"):
                    typed = [None, None, None, None]
                    typed[
                        ("int_value", "double_value", "string_value", "bool_value").index(kind)
                    ] = getattr(value, kind)
                    rows.append((n.id, name, is_custom, *typed))
                else:
                    unloadable.append(n.id)
    _stage(
        con,
        staging,
        [
            "owner_id",
            "name",
            "is_custom",
            "int_value",
            "double_value",
            "string_value",
            "bool_value",
        ],
        rows,
    )
    result.rows_read[source_table] = len(rows)
    if unloadable:
        result.skipped.append(
            Skipped(
                source_table,
                "proto or byte value (not used by the analysis)",
                len(unloadable),
                (str(min(unloadable)),),
            )
        )


def _stage(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    rows = list(rows)
    if not rows:
        return
    data = pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})
    con.register("client_rows", data)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM client_rows")
    finally:
        con.unregister("client_rows")
