"""Read-only access to the warehouse for the dashboard.

Every page reads inside one ``REPEATABLE READ, READ ONLY`` transaction on a connection whose
``default_transaction_read_only`` is on: the page sees one consistent snapshot, and PostgreSQL
itself refuses any write (``cannot execute INSERT in a read-only transaction``), whatever SQL a
bug might send. A statement timeout keeps a slow query from holding a server connection.

The tables of the model layer land one migration at a time, so queries ask ``has(relation)``
and pages show "not recorded yet" instead of failing on a missing table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg.rows import dict_row

from tradewind.db import connect

# Milliseconds. A dashboard query that takes longer is a bug in the query, not a reason to wait.
STATEMENT_TIMEOUT_MS = 15_000


def _plain(value: Any) -> Any:
    """JSON-friendly scalars: numeric as float, dates as ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


class Reader:
    """Runs SQL in the page's read-only snapshot; rows come back as plain dicts."""

    def __init__(self, conn) -> None:
        self._conn = conn
        self._relations: dict[str, bool] = {}
        self._columns: dict[str, set[str]] = {}

    def rows(self, sql: str, params: dict | None = None) -> list[dict[str, Any]]:
        # Binary results: arrays of floats and dates (the charts' series) parse much faster.
        with self._conn.cursor(row_factory=dict_row, binary=True) as cur:
            cur.execute(sql, params or {})
            return [{k: _plain(v) for k, v in r.items()} for r in cur.fetchall()]

    def one(self, sql: str, params: dict | None = None) -> dict[str, Any]:
        got = self.rows(sql, params)
        return got[0] if got else {}

    def has(self, relation: str) -> bool:
        """Whether a table or view exists (its migration or dbt model has run)."""
        if relation not in self._relations:
            with self._conn.cursor() as cur:
                cur.execute("select to_regclass(%s) is not null", (relation,))
                self._relations[relation] = bool(cur.fetchone()[0])
        return self._relations[relation]

    def columns(self, relation: str) -> set[str]:
        """Column names of a relation (empty when it does not exist)."""
        if relation not in self._columns:
            schema, _, name = relation.partition(".")
            with self._conn.cursor() as cur:
                cur.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = %s and table_name = %s",
                    (schema, name),
                )
                self._columns[relation] = {r[0] for r in cur.fetchall()}
        return self._columns[relation]


class ReadOnlyWarehouse:
    """Opens read-only snapshots of one warehouse."""

    def __init__(self, url: str) -> None:
        self.url = url

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        conn = connect(
            self.url,
            options=(
                "-c default_transaction_read_only=on "
                f"-c statement_timeout={STATEMENT_TIMEOUT_MS} "
                "-c application_name=tradewind-dashboard"
            ),
        )
        try:
            conn.execute("set transaction isolation level repeatable read, read only")
            yield Reader(conn)
        finally:
            # Nothing to keep: a read-only transaction ends the same either way.
            conn.rollback()
            conn.close()
