"""Numbered SQL migrations from ``sql/``, applied in order, each in its own transaction.

File names: ``NNN_name.sql`` always; ``NNN_name.timescale.sql`` right after it, only when the
TimescaleDB extension is available (so the same schema exists on plain PostgreSQL, and the
hypertables/compression/continuous aggregates appear where Timescale is installed). A file whose
first line is ``-- tradewind: no-transaction`` runs statement by statement in autocommit, for DDL
that refuses transaction blocks (continuous aggregates).

Every applied file is recorded in ``ops.schema_migrations`` with its checksum; a second run applies
nothing, and an applied file that changed afterwards is an error rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tradewind.db import WarehouseError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+?)(?P<ts>\.timescale)?\.sql$")
NO_TRANSACTION = "-- tradewind: no-transaction"
_LOCK_KEY = 0x7472_6164  # "trad": one migrator at a time per database


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    timescale: bool
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def transactional(self) -> bool:
        return not self.sql.lstrip().startswith(NO_TRANSACTION)


@dataclass
class MigrationReport:
    applied: list[str]
    skipped_timescale: list[str]
    timescale: bool
    already: int


def discover(sql_dir: Path) -> list[Migration]:
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            continue
        found.append(Migration(m["version"], m["name"], bool(m["ts"]), path))
    # Plain file before its Timescale companion within one version.
    found.sort(key=lambda mig: (mig.version, mig.timescale, mig.name))
    return found


def timescale_available(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "select installed_version from pg_available_extensions where name = 'timescaledb'"
    ).fetchone()
    return row is not None


def ensure_timescale(conn: psycopg.Connection, wanted: bool | None) -> bool:
    """Install the extension when possible. Never fails because it is absent unless forced."""
    if wanted is False:
        return False
    if not timescale_available(conn):
        if wanted:
            raise WarehouseError("TRADEWIND_USE_TIMESCALE=true but timescaledb is not available")
        return False
    try:
        with conn.transaction():
            conn.execute("create extension if not exists timescaledb")
    except psycopg.Error as exc:
        # e.g. available but not in shared_preload_libraries
        if wanted:
            raise WarehouseError(f"cannot enable timescaledb: {exc}".splitlines()[0]) from None
        log.warning("timescaledb present but not usable (%s); using plain tables", exc)
        return False
    return True


def _bootstrap(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("create schema if not exists ops")
        conn.execute(
            """
            create table if not exists ops.schema_migrations (
                id          text primary key,
                version     text not null,
                checksum    text not null,
                timescale   boolean not null,
                applied_at  timestamptz not null default now()
            )
            """
        )


def applied_migrations(conn: psycopg.Connection) -> dict[str, str]:
    exists = conn.execute("select to_regclass('ops.schema_migrations')").fetchone()[0]
    if exists is None:
        return {}
    return dict(conn.execute("select id, checksum from ops.schema_migrations").fetchall())


def _split_statements(sql: str) -> list[str]:
    """Split on semicolons outside quotes, comments and dollar-quoted bodies."""
    out, buf, i, n = [], [], 0, len(sql)
    dollar: str | None = None
    while i < n:
        c = sql[i]
        if dollar:
            if sql.startswith(dollar, i):
                buf.append(dollar)
                i += len(dollar)
                dollar = None
                continue
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        elif c == "'":
            j = i + 1
            while j < n and not (sql[j] == "'" and (j + 1 >= n or sql[j + 1] != "'")):
                j += 2 if sql[j] == "'" else 1
            buf.append(sql[i : j + 1])
            i = j + 1
            continue
        elif c == "$":
            m = re.match(r"\$[A-Za-z_]*\$", sql[i:])
            if m:
                dollar = m.group(0)
                buf.append(dollar)
                i += len(dollar)
                continue
        elif c == ";":
            stmt = "".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
            i += 1
            continue
        buf.append(c)
        i += 1
    stmt = "".join(buf).strip()
    if stmt:
        out.append(stmt)
    return out


def pending(conn: psycopg.Connection, sql_dir: Path, timescale: bool) -> list[Migration]:
    done = applied_migrations(conn)
    todo = []
    for mig in discover(sql_dir):
        if mig.id in done:
            if done[mig.id] != mig.checksum:
                raise WarehouseError(
                    f"migration {mig.id} changed after it was applied; add a new migration instead"
                )
            continue
        if mig.timescale and not timescale:
            continue
        todo.append(mig)
    return todo


def migrate(url: str, sql_dir: Path, use_timescale: bool | None = None) -> MigrationReport:
    from tradewind.db import connect

    conn = connect(url, autocommit=True)
    try:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            timescale = ensure_timescale(conn, use_timescale)
            _bootstrap(conn)
            todo = pending(conn, sql_dir, timescale)
            already = len(applied_migrations(conn))
            applied = []
            for mig in todo:
                log.debug("applying %s", mig.id)
                record = (
                    "insert into ops.schema_migrations (id, version, checksum, timescale) "
                    "values (%s, %s, %s, %s)"
                )
                args = (mig.id, mig.version, mig.checksum, mig.timescale)
                try:
                    if mig.transactional:
                        with conn.transaction():
                            conn.execute(mig.sql)
                            conn.execute(record, args)
                    else:
                        for stmt in _split_statements(mig.sql):
                            conn.execute(stmt)
                        conn.execute(record, args)
                except psycopg.Error as exc:
                    first = str(exc).strip().splitlines()[0]
                    raise WarehouseError(f"migration {mig.id} failed: {first}") from None
                applied.append(mig.id)
            skipped = [m.id for m in discover(sql_dir) if m.timescale and not timescale]
            return MigrationReport(applied, skipped, timescale, already)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    finally:
        conn.close()


def schema_status(url: str, sql_dir: Path) -> dict:
    """What a health summary shows: applied/pending migrations, timescale, table counts."""
    from tradewind.db import connect

    with connect(url, autocommit=True) as conn:
        ts_installed = conn.execute(
            "select extversion from pg_extension where extname = 'timescaledb'"
        ).fetchone()
        timescale = ts_installed is not None
        done = applied_migrations(conn)
        all_migs = discover(sql_dir)
        relevant = [m for m in all_migs if timescale or not m.timescale]
        pending_ids = [m.id for m in relevant if m.id not in done]
        changed = [m.id for m in relevant if m.id in done and done[m.id] != m.checksum]
        tables = conn.execute(
            """
            select n.nspname, c.relname, c.relkind, coalesce(s.n_live_tup, 0)
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            left join pg_stat_user_tables s on s.relid = c.oid
            where n.nspname in ('raw', 'ref', 'ops', 'ml', 'signals', 'broker', 'features')
              and c.relkind in ('r', 'v', 'm', 'p')
            order by 1, 2
            """
        ).fetchall()
        hypertables = []
        if timescale:
            hypertables = [
                f"{s}.{t}"
                for s, t in conn.execute(
                    "select hypertable_schema, hypertable_name "
                    "from timescaledb_information.hypertables order by 1, 2"
                ).fetchall()
            ]
        version = conn.execute("show server_version").fetchone()[0]
    return {
        "server_version": version,
        "timescaledb": ts_installed[0] if ts_installed else None,
        "applied": len(done),
        "pending": pending_ids,
        "changed": changed,
        "up_to_date": not pending_ids and not changed,
        "tables": [
            {
                "schema": s,
                "name": t,
                "kind": {"r": "table", "v": "view", "m": "matview", "p": "table"}[k],
                "rows": int(r),
            }
            for s, t, k, r in tables
        ],
        "hypertables": hypertables,
    }
