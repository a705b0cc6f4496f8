"""Write a put log straight into an MLMD SQLite store, column-wise (the bulk backend).

The ml-metadata client writes one execution per call, which takes hours at the study's scale
(~150 million rows). This backend writes the same rows as the client would (same ids, same
values; see :mod:`mlprov.sample.synth.log`) through the ADBC SQLite driver's Arrow bulk ingest,
in one transaction, with MLMD's secondary indexes dropped during the load and rebuilt after.

The store's schema and type rows come from the client when it is installed (so they are
exactly the client's); elsewhere (Python 3.12+) from ``mlmd_schema_v10.sql``, a dump of a
store the 1.17.1 client created, plus the same type rows the client writes (a test checks
the two agree).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa

from mlprov.provenance.errors import interrupts_as_keyboard
from mlprov.provenance.mlmd_codes import ArtifactState
from mlprov.provenance.sql import literal
from mlprov.sample.synth.log import Properties, PutLog
from mlprov.sample.synth.recorder import DOUBLE, INT, STRING
from mlprov.sample.synth.tfx import KEYS, PROPERTY_NAMES, SYSTEM_TYPES, TYPES, TypeSpec
from mlprov.sample.synth.writer import MlmdWriter, client_available

SCHEMA_FILE = "mlmd_schema_v10.sql"
Progress = Callable[[str, int, int], None]


def create_store(path: str | Path, *, use_client: bool | None = None) -> dict[int, int]:
    """Create an empty MLMD store at ``path`` holding the TFX types.

    Args:
        path: the SQLite file to create (must not exist).
        use_client: create it through the ml-metadata client (default: when installed).

    Returns:
        Map from index in :data:`tfx.TYPES` to type id.
    """
    if use_client is None:
        use_client = client_available()
    if use_client:
        with MlmdWriter(path) as w:
            ids = w.register_types(TYPES)
        return dict(enumerate(ids))
    return _create_store_sql(Path(path), TYPES)


def _create_store_sql(path: Path, types: tuple[TypeSpec, ...]) -> dict[int, int]:
    ddl = resources.files("mlprov.sample.synth").joinpath(SCHEMA_FILE).read_text()
    con = sqlite3.connect(path)
    try:
        con.executescript(ddl)
        with con:
            for name, kind in SYSTEM_TYPES:
                con.execute("INSERT INTO Type (name, type_kind) VALUES (?, ?)", (name, int(kind)))
            con.execute("INSERT INTO MLMDEnv (schema_version) VALUES (10)")
            system = dict(con.execute("SELECT name, id FROM Type").fetchall())
            ids = {}
            for i, spec in enumerate(types):
                cur = con.execute(
                    "INSERT INTO Type (name, type_kind) VALUES (?, ?)", (spec.name, int(spec.kind))
                )
                type_id = int(cur.lastrowid or 0)
                ids[i] = type_id
                con.executemany(
                    "INSERT INTO TypeProperty VALUES (?, ?, ?)",
                    [(type_id, p, int(dt)) for p, dt in spec.properties],
                )
                if spec.base_type:
                    con.execute(
                        "INSERT INTO ParentType VALUES (?, ?)", (type_id, system[spec.base_type])
                    )
    finally:
        con.close()
    return ids


def dump_schema(path: str | Path) -> str:
    """The DDL of an MLMD SQLite store, in creation order (how ``mlmd_schema_v10.sql`` is made)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
    finally:
        con.close()
    return "".join(f"{sql};\n" for (sql,) in rows)


def _props_table(owner_col: str, props: Properties) -> pa.Table:
    names = pa.array(PROPERTY_NAMES).take(pa.array(props.name))
    kind = props.kind
    return pa.table(
        {
            owner_col: props.owner,
            "name": names,
            "is_custom_property": props.is_custom,
            "int_value": pa.array(props.int_value, mask=kind != INT),
            "double_value": pa.array(props.double_value, mask=kind != DOUBLE),
            "string_value": props.string_value
            if np.any(kind == STRING)
            else pa.nulls(len(kind), pa.string()),
            "byte_value": pa.nulls(len(kind), pa.binary()),
            "proto_value": pa.nulls(len(kind), pa.binary()),
            "bool_value": pa.nulls(len(kind), pa.int64()),
        }
    )


def tables(log: PutLog, type_ids: dict[int, int]) -> list[tuple[str, pa.Table]]:
    """The MLMD tables to append, as Arrow tables with the store's column names."""
    tid = np.zeros(len(TYPES), dtype=np.int64)
    for i, t in type_ids.items():
        tid[i] = t
    n_ctx, n_ex, n_art, n_ev = (
        len(log.ctx_type),
        len(log.ex_type),
        len(log.art_type),
        len(log.ev_exec),
    )
    has_parent = log.ctx_parent != 0
    ev_ids = np.arange(1, n_ev + 1, dtype=np.int64)
    path_key = pa.array(KEYS).take(pa.array(np.repeat(log.ev_key, 2)))
    is_index = np.tile(np.array([0, 1], dtype=np.int64), n_ev)
    return [
        (
            "Context",
            pa.table(
                {
                    "id": np.arange(1, n_ctx + 1, dtype=np.int64),
                    "type_id": tid[log.ctx_type],
                    "name": log.ctx_name,
                    "external_id": pa.nulls(n_ctx, pa.string()),
                    "create_time_since_epoch": log.ctx_time,
                    "last_update_time_since_epoch": log.ctx_time,
                }
            ),
        ),
        (
            "ParentContext",
            pa.table(
                {
                    "context_id": np.flatnonzero(has_parent).astype(np.int64) + 1,
                    "parent_context_id": log.ctx_parent[has_parent],
                }
            ),
        ),
        (
            "Execution",
            pa.table(
                {
                    "id": np.arange(1, n_ex + 1, dtype=np.int64),
                    "type_id": tid[log.ex_type],
                    "last_known_state": log.ex_state,
                    "name": pa.nulls(n_ex, pa.string()),
                    "external_id": pa.nulls(n_ex, pa.string()),
                    "create_time_since_epoch": log.ex_start,
                    "last_update_time_since_epoch": log.ex_end,
                }
            ),
        ),
        ("ExecutionProperty", _props_table("execution_id", log.exec_props)),
        (
            "Artifact",
            pa.table(
                {
                    "id": np.arange(1, n_art + 1, dtype=np.int64),
                    "type_id": tid[log.art_type],
                    "uri": log.art_uri,
                    "state": np.full(n_art, ArtifactState.LIVE, dtype=np.int64),
                    "name": pa.nulls(n_art, pa.string()),
                    "external_id": pa.nulls(n_art, pa.string()),
                    "create_time_since_epoch": log.art_time,
                    "last_update_time_since_epoch": log.art_time,
                }
            ),
        ),
        ("ArtifactProperty", _props_table("artifact_id", log.art_props)),
        (
            "Event",
            pa.table(
                {
                    "id": ev_ids,
                    "artifact_id": log.ev_art,
                    "execution_id": log.ev_exec,
                    "type": log.ev_type,
                    "milliseconds_since_epoch": log.ev_time,
                }
            ),
        ),
        (
            "EventPath",
            pa.table(
                {
                    "event_id": np.repeat(ev_ids, 2),
                    "is_index_step": is_index,
                    "step_index": pa.array(np.repeat(log.ev_index, 2), mask=is_index == 0),
                    "step_key": pc_mask(path_key, is_index == 1),
                }
            ),
        ),
        (
            "Association",
            pa.table(
                {
                    "id": np.arange(1, len(log.assoc_exec) + 1, dtype=np.int64),
                    "context_id": log.assoc_ctx,
                    "execution_id": log.assoc_exec,
                }
            ),
        ),
        (
            "Attribution",
            pa.table(
                {
                    "id": np.arange(1, len(log.attr_ctx) + 1, dtype=np.int64),
                    "context_id": log.attr_ctx,
                    "artifact_id": log.attr_art,
                }
            ),
        ),
    ]


def pc_mask(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """``values`` with nulls where ``mask`` is true."""
    import pyarrow.compute as pc

    return pc.if_else(pa.array(mask), pa.nulls(len(values), values.type), values)


class BulkLoad:
    """One load into a new MLMD store: create it, append Arrow tables, rebuild its indexes.

    The appends happen in one transaction with MLMD's secondary indexes dropped; tables must be
    appended in id order (the store is written front to back). After :meth:`commit`,
    :meth:`copy` can add the tables another load wrote. The store is not complete before
    then: write it under a temporary name.

    Args:
        path: the SQLite file to create (must not exist).
        use_client: create the schema through the client (default: when installed).
    """

    def __init__(self, path: str | Path, *, use_client: bool | None = None) -> None:
        import adbc_driver_sqlite.dbapi as adbc

        #: Map from index in :data:`tfx.TYPES` to type id.
        self.type_ids = create_store(path, use_client=use_client)
        con = sqlite3.connect(path)
        self._indexes = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
        with con:
            for name, _ in self._indexes:
                con.execute(f"DROP INDEX `{name}`")
        con.close()
        self._db = adbc.connect(str(path), autocommit=True)
        self._cur = self._db.cursor()
        for pragma in PRAGMAS:
            self._execute(f"PRAGMA {pragma}")
            self._cur.fetchall()
        self._execute("BEGIN")

    def append(self, table_name: str, table: pa.Table) -> None:
        """Append rows (columns named as the store's) to ``table_name``."""
        if table.num_rows:
            with interrupts_as_keyboard():
                self._cur.adbc_ingest(table_name, table, mode="append")

    def copy(self, part: str | Path, table_names: Iterable[str]) -> None:
        """After :meth:`commit`, copy whole tables, their indexes included, from another
        committed load ``part`` into this store's tables of those names, still empty.

        SQLite copies such tables record by record and their indexes in order, without
        decoding or re-sorting them (its transfer optimization of ``INSERT INTO t SELECT *
        FROM t2``, which holds when both tables have the same indexes and ``t`` is empty):
        about a third of the time of loading the rows and building the indexes.
        """
        self._execute(f"ATTACH DATABASE {literal(str(part))} AS part")  # not in a transaction
        self._execute("BEGIN")
        for name in table_names:
            self._execute(f"INSERT INTO main.`{name}` SELECT * FROM part.`{name}`")
        self._execute("COMMIT")
        self._execute("DETACH DATABASE part")

    def commit(self, progress: Progress | None = None) -> None:
        """Rebuild the indexes and commit; ``progress`` gets ("index <name>", 1, 1) per index."""
        for name, sql in self._indexes:
            self._execute(sql)
            if progress is not None:
                progress(f"index {name}", 1, 1)
        self._execute("COMMIT")

    def _execute(self, sql: str) -> None:
        with interrupts_as_keyboard():  # SQLite's driver can't cancel: it raises from Ctrl-C
            self._cur.execute(sql)

    def close(self) -> None:
        """Release the connection (without :meth:`commit`, nothing is kept)."""
        self._cur.close()
        self._db.close()


# 256 MB of page cache bounds the writer's memory; MLMD's indexes are rebuilt with sorts that
# spill to temporary files rather than to memory.
PRAGMAS = (
    "journal_mode=OFF",
    "synchronous=OFF",
    "cache_size=-262144",
    "locking_mode=EXCLUSIVE",
)


def write_bulk(
    log: PutLog,
    path: str | Path,
    *,
    progress: Progress | None = None,
    use_client: bool | None = None,
    chunk_rows: int = 2_000_000,
) -> None:
    """Create an MLMD store at ``path`` and write every row of ``log`` into it.

    Args:
        log: the put log.
        path: the SQLite file to create (must not exist).
        progress: called with (table name, rows written, rows in table).
        use_client: create the schema through the client (default: when installed).
        chunk_rows: rows per Arrow batch handed to the driver.
    """
    load = BulkLoad(path, use_client=use_client)
    try:
        for table_name, table in tables(log, load.type_ids):
            total = table.num_rows
            for start in range(0, max(total, 1), chunk_rows):
                load.append(table_name, table.slice(start, chunk_rows))
                if progress is not None:
                    progress(table_name, min(start + chunk_rows, total), total)
        load.commit(progress)
    finally:
        load.close()


__all__ = ["BulkLoad", "create_store", "dump_schema", "tables", "write_bulk"]
