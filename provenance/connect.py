"""Connections to database servers the readers read: URLs, drivers, snapshots and failures.

Shared by the readers of servers (:mod:`mlprov.provenance.mlmd_server`, Marquez in
:mod:`mlprov.provenance.openlineage_marquez`, the MLflow tracking store): a URL parsed into a
:class:`Config` holding the password apart, a fast check that a server listens, the driver
connections opened for a read-only snapshot, and one-line errors for driver failures, with the
password redacted.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from mlprov.provenance.errors import (
    MlprovError,
    SourceAccessError,
    SourceNotFoundError,
    SourceReadError,
    SourceUnreachableError,
    UnknownSourceError,
)
from mlprov.provenance.readers import NO_SECRET, Secret

CONNECT_TIMEOUT_S = 10
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
#: Opens the one snapshot a PostgreSQL read sees.
PG_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
#: Opens the one read view a MySQL read sees.
MYSQL_SESSION = [
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
]


@dataclass(frozen=True)
class Config:
    """A database on a server: ``scheme://user@host:port/database`` and its password."""

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


def check_reachable(config: Config) -> None:
    """Fail fast where nothing listens (the drivers' pools retry for half a minute)."""
    try:
        socket.create_connection((config.host, config.port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise SourceUnreachableError(
            _UNREACHABLE.format(where=config.location, host=config.host, port=config.port)
        ) from err


def pg_connect(config: Config) -> Any:
    """An ADBC PostgreSQL connection (Arrow batches over COPY), in autocommit mode: the
    caller opens its snapshot with :data:`PG_BEGIN`."""
    import adbc_driver_postgresql.dbapi

    uri = f"{config.url()}?connect_timeout={CONNECT_TIMEOUT_S}&application_name=mlprov"
    return adbc_driver_postgresql.dbapi.connect(uri, autocommit=True)


def pymysql_connect(config: Config) -> Any:
    """A PyMySQL connection (logins and small reads; bulk reads go through connectorx)."""
    import pymysql

    return pymysql.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.secret.value or "",
        database=config.database,
        connect_timeout=CONNECT_TIMEOUT_S,
    )


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


def failure(config: Config, err: BaseException, connected: bool = False) -> MlprovError:
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
