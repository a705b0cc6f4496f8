"""Read MLMD stores on MySQL/MariaDB and PostgreSQL servers in bulk, read-only, in one snapshot.

This is where Kubeflow Pipelines keeps its metadata (a MySQL database named ``metadb``). The
queries are those of the SQLite reader (:mod:`provenance.mlmd_queries`); only their transport
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

The password comes from the URL or from :class:`provenance.readers.Secret` (the CLI's
``--password-file`` or ``MLPROV_PASSWORD``); it is left out of ``config.location`` and
redacted from every error message. Nothing is ever written: no DDL, no temporary tables.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from provenance import mlmd_queries as q
from provenance.errors import (
    MlprovError,
    NotAnMlmdStoreError,
    SourceAccessError,
    SourceNotFoundError,
    SourceReadError,
    SourceUnreachableError,
    UnknownSourceError,
    UnsupportedSchemaVersionError,
)
from provenance.readers import NO_SECRET, Mark, ReadResult, Secret, Stage

#: PostgreSQL tables read at once, each on its own connection in the shared snapshot.
PG_READ_THREADS = 3
CONNECT_TIMEOUT_S = 10
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}


@dataclass(frozen=True)
class Config:
    """An MLMD database on a server: ``scheme://user@host:port/database`` and its password."""

    scheme: str
    host: str
    port: int
    user: str
    database: str
    secret: Secret = NO_SECRET

    @property
    def location(self) -> str:
        """The URL without the password (how the source is recorded and reported)."""
        return f"{self.scheme}://{quote(self.user)}@{self.host}:{self.port}/{self.database}"

    def url(self) -> str:
        """The URL with the password, for the driver only."""
        auth = quote(self.user, safe="")
        if self.secret.value:
            auth += ":" + quote(self.secret.value, safe="")
        return f"{self.scheme}://{auth}@{self.host}:{self.port}/{quote(self.database)}"


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


def configure(url: str, secret: Secret = NO_SECRET) -> Config:
    """Parse ``mysql://user[:password]@host[:port]/database`` (or ``postgresql://``).

    A password in the URL wins over ``secret``.

    Raises:
        UnknownSourceError: another scheme, or no user or database in the URL.
    """
    parts = urlsplit(url)
    scheme = {"postgres": "postgresql"}.get(parts.scheme, parts.scheme)
    if parts.password:
        secret = Secret(unquote(parts.password))
    shown = Config(scheme, parts.hostname or "localhost", 0, unquote(parts.username or ""), "")
    if scheme not in DEFAULT_PORTS:
        raise UnknownSourceError(
            f"the server reader reads mysql:// and postgresql:// URLs, not {scheme}://"
        )
    database = unquote(parts.path.lstrip("/"))
    if not database or not parts.username:
        raise UnknownSourceError(
            f"{shown.scheme}://{shown.host}: name the user and the MLMD database in the URL, "
            f"e.g. {scheme}://reader@{shown.host}:{DEFAULT_PORTS[scheme]}/metadb"
        )
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as err:
        raise UnknownSourceError(
            f"{shown.scheme}://{shown.host}: the port is not a number"
        ) from err
    return Config(scheme, shown.host, port, shown.user, database, secret)


def read(config: Config, stage: Stage) -> ReadResult:
    """Stage every row of the store past ``stage.marks``, from one snapshot of the database.

    Raises:
        SourceUnreachableError, SourceAccessError, SourceNotFoundError, NotAnMlmdStoreError,
        UnsupportedSchemaVersionError, SourceReadError.
    """
    try:
        _check_reachable(config)
        if config.scheme == "mysql":
            return _read_mysql(config, stage)
        return _read_postgresql(config, stage)
    except MlprovError:
        raise
    except Exception as err:  # driver errors, also those surfacing through DuckDB's Arrow scan
        raise _failure(config, err) from err


def _check_reachable(config: Config) -> None:
    """Fail fast where nothing listens (the drivers' pools retry for half a minute)."""
    try:
        socket.create_connection((config.host, config.port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise SourceUnreachableError(
            _UNREACHABLE.format(where=config.location, host=config.host, port=config.port)
        ) from err


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

_PG_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"


def _pg_connect(config: Config) -> Any:
    import adbc_driver_postgresql.dbapi

    uri = f"{config.url()}?connect_timeout={CONNECT_TIMEOUT_S}&application_name=mlprov"
    return adbc_driver_postgresql.dbapi.connect(uri, autocommit=True)


def _read_postgresql(config: Config, stage: Stage) -> ReadResult:
    result = ReadResult()
    conn = _pg_connect(config)
    try:
        cur = conn.cursor()
        cur.execute(_PG_BEGIN)
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
        conn = _pg_connect(config)
        try:
            cur = conn.cursor()
            cur.execute(_PG_BEGIN)
            cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            cur.execute(sql)
            q.insert_batches(stage.con, read, cur.fetch_record_batch())
        finally:
            conn.close()

    q.stage_in_parallel(stage, result, q.POSTGRESQL, new, PG_READ_THREADS, read_one)


# ---- MySQL/MariaDB: connectorx, every table in one UNION ALL statement ----------------------

# The typed first part fixes each slot's type whatever NULLs later parts put there.
_SLOT_TYPES = {"i": "CAST(0 AS SIGNED)", "d": "0e0", "s": "CAST('' AS CHAR)"}
_MYSQL_SESSION = [
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
]


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


def _pymysql_connect(config: Config) -> Any:
    import pymysql

    return pymysql.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.secret.value or "",
        database=config.database,
        connect_timeout=CONNECT_TIMEOUT_S,
    )


def _mysql_tables(config: Config) -> tuple[set[str], object]:
    """The database's tables and MLMD schema version, through PyMySQL: connectorx's pool
    retries a refused login for half a minute before it reports it."""
    conn = _pymysql_connect(config)
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
        raise _failure(config, err, connected=True) from err


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
        pre_execution_query=_MYSQL_SESSION,
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


# ---- errors ----------------------------------------------------------------------------------

# (pattern in the driver's message, error class, message); {where} is the location, {user} the
# user, {table} the table named by the driver. First match wins.
_FAILURES: tuple[tuple[str, type[MlprovError], str], ...] = (
    (
        r"Access denied for user|password authentication failed|authentication failed",
        SourceAccessError,
        "{where}: the server refused user {user!r} (wrong password or user); pass the password "
        "in the URL, with --password-file FILE or in MLPROV_PASSWORD",
    ),
    (
        r"Unknown database|database \"[^\"]*\" does not exist",
        SourceNotFoundError,
        "{where}: the server has no database {database!r}; name the MLMD database in the URL "
        "(Kubeflow: metadb)",
    ),
    (
        r"command denied to user .* for table [`']?(?P<table>\w+)|permission denied for "
        r"(?:table|relation) (?P<table2>\w+)",
        SourceAccessError,
        "{where}: user {user!r} may not read table {table}; grant it SELECT on every MLMD "
        "table (MySQL: GRANT SELECT ON {database}.* TO '{user}'@'%')",
    ),
    (
        r"Lost connection|server has gone away|server closed the connection|terminating "
        r"connection|connection reset|broken pipe|unexpected eof|EOF|Connection reset|"
        r"could not receive data|no connection to the server|server disconnected",
        SourceReadError,
        "{where}: the server went away in the middle of the read; nothing was loaded. Check "
        "the server (or the port-forward) and run the ingest again",
    ),
    (
        r"Connection refused|could not connect|timed out|timeout|No route to host|"
        r"Name or service not known|could not translate host name|failed to lookup|"
        r"Can't connect|os error 111|Network is unreachable",
        SourceUnreachableError,
        "{where}: no server answers at {host}:{port}; check the host and port (Kubeflow: "
        "kubectl -n kubeflow port-forward svc/mysql 3306:3306)",
    ),
)
_UNREACHABLE = _FAILURES[-1][2]
_WENT_AWAY = next(f for f in _FAILURES if f[1] is SourceReadError)


def _failure(config: Config, err: BaseException, connected: bool = False) -> MlprovError:
    """The one-line error for a driver failure, with the password redacted.

    ``connected``: the server had answered this read before (connectorx reports a connection
    lost mid-read as a failure to connect).
    """
    text = str(err)
    fields = {
        "where": config.location,
        "user": config.user,
        "database": config.database,
        "host": config.host,
        "port": config.port,
    }
    for pattern, cls, message in _FAILURES:
        match = re.search(pattern, text, flags=re.IGNORECASE)
        if match:
            if connected and cls is SourceUnreachableError:
                _, cls, message = _WENT_AWAY
            table = next((g for g in match.groups() if g), "?") if match.groups() else "?"
            return cls(config.secret.redact(message.format(table=table, **fields)))
    first_line = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return SourceReadError(
        config.secret.redact(f"{config.location}: the server read failed: {first_line[:300]}")
    )
