"""Read MLMD stores on MySQL/MariaDB and PostgreSQL servers in bulk, read-only, in one snapshot.

This is where Kubeflow Pipelines keeps its metadata (a MySQL database named ``metadb``). The
queries are those of the SQLite reader (:mod:`mlprov.provenance.mlmd_queries`); only their transport
differs, chosen for speed under two constraints: a user with SELECT privileges only must
suffice, and one ingest must see one consistent snapshot of the store, so that a pipeline
writing while mlprov reads cannot leave an event without its execution or half a run.

- **PostgreSQL**: the ADBC PostgreSQL driver (Arrow batches over COPY). One connection opens a
  ``REPEATABLE READ, READ ONLY`` transaction and exports its snapshot; worker connections read
  the tables in parallel inside that same snapshot (``SET TRANSACTION SNAPSHOT``).
- **MySQL/MariaDB**: ``connectorx`` (Arrow batches, binary protocol), the fastest Arrow-native
  MySQL driver measured here (PyMySQL only checks the login and the schema version). MySQL
  cannot share a snapshot between connections, so every table is read by one ``UNION ALL``
  statement (one consistent read view) inside a
  ``READ ONLY`` transaction, the rows of each table tagged and laid out in typed slots, and
  split into the staging tables by DuckDB. MySQL declares ``int_value`` as a 32-bit INT; values
  are widened to BIGINT as they are read.

The password comes from the URL or from :class:`mlprov.provenance.readers.Secret` (the CLI's
``--password-file`` or ``MLPROV_PASSWORD``); it is left out of ``config.location`` and
redacted from every error message. Nothing is ever written: no DDL, no temporary tables.
"""

from __future__ import annotations

from pathlib import Path

from mlprov.provenance import mlmd_queries as q
from mlprov.provenance.connect import (
    MYSQL_SESSION,
    PG_BEGIN,
    Config,
    check_reachable,
    configure,
    failure,
    pg_connect,
    pymysql_connect,
)
from mlprov.provenance.errors import MlprovError, NotAnMlmdStoreError, UnsupportedSchemaVersionError
from mlprov.provenance.readers import Mark, ReadResult, Secret, Stage

__all__ = ["READER", "Config", "configure", "read"]

#: PostgreSQL tables read at once, each on its own connection in the shared snapshot.
PG_READ_THREADS = 3


class _ServerReader:
    kind = "mlmd_server"
    summary = "MLMD on MySQL/MariaDB or PostgreSQL servers (Kubeflow's metadb), bulk SQL"
    schemes = ("mysql", "postgresql")

    def claims_file(self, path: Path) -> bool:
        return False

    def configure(self, location: str, secret: Secret) -> Config:
        return configure(location, secret)

    def read(self, config: Config, stage: Stage) -> ReadResult:
        return read(config, stage)


READER = _ServerReader()


def read(config: Config, stage: Stage) -> ReadResult:
    """Stage every row of the store past ``stage.marks``, from one snapshot of the database.

    Raises:
        SourceUnreachableError, SourceAccessError, SourceNotFoundError, NotAnMlmdStoreError,
        UnsupportedSchemaVersionError, SourceReadError.
    """
    try:
        check_reachable(config)
        if config.scheme == "mysql":
            return _read_mysql(config, stage)
        return _read_postgresql(config, stage)
    except MlprovError:
        raise
    except Exception as err:  # driver errors, also those surfacing through DuckDB's Arrow scan
        raise failure(config, err) from err


def _check_store(config: Config, tables: set[str], version: object) -> int:
    """Refuse a database that is not MLMD or holds another schema version."""
    names = {t.lower() for t in tables}
    if "mlmdenv" not in names:
        raise NotAnMlmdStoreError(
            f"{config.location} is not an ML Metadata database (it lacks the MLMDEnv table"
            f"{'; it has no tables at all' if not names else ''}); name the database your "
            "pipelines write metadata to (Kubeflow: metadb)"
        )
    if version not in q.SUPPORTED_SCHEMA_VERSIONS:
        raise UnsupportedSchemaVersionError(q.unsupported_version_message(config.location, version))
    return int(str(version))


# ---- PostgreSQL: ADBC, tables in parallel in one exported snapshot -------------------------


def _read_postgresql(config: Config, stage: Stage) -> ReadResult:
    result = ReadResult()
    conn = pg_connect(config)
    try:
        cur = conn.cursor()
        cur.execute(PG_BEGIN)
        cur.execute(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
        )
        tables = {r[0] for r in cur.fetchall()}
        version = None
        if "mlmdenv" in tables:
            cur.execute(q.SCHEMA_VERSION_SQL)
            version = cur.fetchone()[0]
        result.schema_version = _check_store(config, tables, version)
        cur.execute("SELECT pg_export_snapshot()")
        snapshot = str(cur.fetchone()[0])
        cur.execute(q.BOUNDS_SQL)
        new = q.marks_from_bounds(list(cur.fetchone()))
        _stage_parallel(config, stage, result, snapshot, new)
        cur.execute("ROLLBACK")
    finally:
        conn.close()
    result.marks = new
    return result


def _stage_parallel(
    config: Config, stage: Stage, result: ReadResult, snapshot: str, new: dict[str, Mark]
) -> None:
    def read_one(read: q.TableRead, sql: str) -> None:
        conn = pg_connect(config)
        try:
            cur = conn.cursor()
            cur.execute(PG_BEGIN)
            cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            cur.execute(sql)
            q.insert_batches(stage.con, read, cur.fetch_record_batch())
        finally:
            conn.close()

    q.stage_in_parallel(stage, result, q.POSTGRESQL, new, PG_READ_THREADS, read_one)


# ---- MySQL/MariaDB: connectorx, every table in one UNION ALL statement ----------------------

# The typed first part fixes each slot's type whatever NULLs later parts put there.
_SLOT_TYPES = {"i": "CAST(0 AS SIGNED)", "d": "0e0", "s": "CAST('' AS CHAR)"}


def _slots() -> list[str]:
    """The union's columns after the tag: enough slots of each kind for the widest read."""
    widest = {k: max(sum(c[2] == k for c in r.columns) for r in q.READS) for k in "ids"}
    widest["i"] = max(widest["i"], 2)  # bounds rows: (bound number, value)
    return [f"{k}{n}" for k in "ids" for n in range(1, widest[k] + 1)]


def _union(marks: dict[str, Mark]) -> tuple[str, list[dict[str, str]]]:
    """The one statement reading every table, and per read the slot holding each column."""
    slots = _slots()
    parts = [
        "SELECT 0 AS t, "
        + ", ".join(f"{_SLOT_TYPES[s[0]]} AS {s}" for s in slots)
        + " FROM DUAL WHERE 1 = 0"
    ]
    layouts = []
    for tag, read in enumerate(q.READS, start=1):
        layout, exprs, used = {}, {}, dict.fromkeys("ids", 0)
        for name, expr, kind in read.columns:
            used[kind] += 1
            layout[name] = slot = f"{kind}{used[kind]}"
            exprs[slot] = f"CAST({expr} AS SIGNED)" if kind == "i" else expr
        columns = ", ".join([str(tag), *(exprs.get(s, "NULL") for s in slots)])
        parts.append(read.query(q.MYSQL, marks, {}, select_list=columns))
        layouts.append(layout)
    nulls = ", ".join("NULL" for s in slots[2:])
    for n, bound in enumerate(q.BOUNDS):
        parts.append(f"SELECT 0, {n}, CAST({bound} AS SIGNED){', ' + nulls if nulls else ''}")
    return "\nUNION ALL ".join(parts), layouts


def _mysql_tables(config: Config) -> tuple[set[str], object]:
    """The database's tables and MLMD schema version, through PyMySQL: connectorx's pool
    retries a refused login for half a minute before it reports it."""
    conn = pymysql_connect(config)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            names = {str(r[0]) for r in cur.fetchall()}
            version = None
            if "mlmdenv" in {n.lower() for n in names}:
                cur.execute(q.SCHEMA_VERSION_SQL)
                version = cur.fetchone()[0]
    finally:
        conn.close()
    return names, version


def _read_mysql(config: Config, stage: Stage) -> ReadResult:

    result = ReadResult()
    tables, version = _mysql_tables(config)
    result.schema_version = _check_store(config, tables, version)
    sql, layouts = _union(stage.marks)
    try:
        return _stage_union(config, stage, result, sql, layouts)
    except MlprovError:
        raise
    except Exception as err:  # connected before: a connection failure now is a lost server
        raise failure(config, err, connected=True) from err


def _stage_union(
    config: Config, stage: Stage, result: ReadResult, sql: str, layouts: list[dict[str, str]]
) -> ReadResult:
    import connectorx as cx

    stream = cx.read_sql(
        config.url(),
        sql,
        return_type="arrow_stream",
        protocol="binary",
        batch_size=q.BATCH_ROWS,
        pre_execution_query=MYSQL_SESSION,
    )
    con = stage.con
    slots = ", ".join(
        f"{s} {'BIGINT' if s[0] == 'i' else 'DOUBLE' if s[0] == 'd' else 'VARCHAR'}"
        for s in _slots()
    )
    con.execute(f"CREATE TEMP TABLE stg_union (t INTEGER, {slots})")
    try:
        con.register("src", stream)
        con.execute("INSERT INTO stg_union SELECT * FROM src")
        con.unregister("src")
        con.execute(q.RAW_STAGING)
        for tag, (read, layout) in enumerate(zip(q.READS, layouts, strict=True), start=1):
            part = ", ".join(f"{slot} AS {name}" for name, slot in layout.items())
            select = read.stage.replace(
                "FROM src", f"FROM (SELECT {part} FROM stg_union WHERE t = {tag}) src"
            )
            con.execute(f"INSERT INTO {read.staging} {select}")
            result.rows_read[read.table], skipped = q.staged(con, read)
            result.skipped.extend(skipped)
            stage.progress(read.table, result.rows_read[read.table])
        bounds = dict(con.execute("SELECT i1, i2 FROM stg_union WHERE t = 0").fetchall())
        result.marks = q.marks_from_bounds([bounds.get(n) for n in range(len(q.BOUNDS))])
        q.finish(con)
    finally:
        con.execute("DROP TABLE IF EXISTS stg_union")
    return result
