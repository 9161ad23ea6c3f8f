"""Warehouse access: which PostgreSQL to use, connections, migrations.

`warehouse_url()` is the single answer to "which database": ``DATABASE_URL`` when set, otherwise
the embedded server (started on demand). Everything else (loaders, dbt profiles, Airflow, tests)
asks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg

from tradewind.settings import Settings, get_settings


class WarehouseError(RuntimeError):
    """A configuration or connectivity problem, reported to the user as one line."""


def _normalise(url: str) -> str:
    # SQLAlchemy-style URLs ("postgresql+psycopg://") are common in settings; libpq wants plain ones.
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def validate_url(url: str) -> str:
    url = _normalise(url)
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise WarehouseError(f"DATABASE_URL is malformed: {exc}") from None
    if parts.scheme != "postgresql" or not parts.hostname and "host=" not in parts.query:
        raise WarehouseError(
            "DATABASE_URL is malformed: expected postgresql://user[:password]@host[:port]/database"
        )
    if not parts.path.strip("/"):
        raise WarehouseError("DATABASE_URL is malformed: it names no database")
    return url


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def warehouse_url(settings: Settings | None = None, *, start: bool = True) -> str:
    settings = settings or get_settings()
    if settings.database_url is not None:
        return validate_url(settings.database_url.get_secret_value())
    from tradewind.db.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(settings)
    if start:
        server.start()
    return server.url()


def connect(url: str | None = None, *, autocommit: bool = False, **kwargs) -> psycopg.Connection:
    url = url or warehouse_url()
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WarehouseError(f"cannot connect to {redact(url)}: {reason}") from None


@contextmanager
def transaction(url: str | None = None) -> Iterator[psycopg.Connection]:
    """A connection whose work commits as one transaction, or rolls back entirely on error."""
    conn = connect(url)
    try:
        with conn.transaction():
            yield conn
    finally:
        conn.close()
