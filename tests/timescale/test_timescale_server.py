"""The PGlite TimescaleDB test server itself: lifecycle, one client at a time, clean sessions."""

from __future__ import annotations

import psycopg
import pytest

from tradewind.db.pglite import PGliteStartError, PGliteTimescale, unavailable_reason

pytestmark = pytest.mark.timescale


def test_reconnecting_right_after_close_always_works(fresh_timescale_url: str):
    # A hard one-connection limit drops a client that arrives before the previous socket is
    # reaped; the server queues it instead.
    for i in range(20):
        with psycopg.connect(fresh_timescale_url) as c:
            assert c.execute("select %s::int", (i,)).fetchone() == (i,)


def test_a_second_concurrent_connection_fails_clearly(fresh_timescale_url: str):
    with psycopg.connect(fresh_timescale_url, autocommit=True) as first:
        with pytest.raises(psycopg.OperationalError, match="one connection at a time"):
            psycopg.connect(fresh_timescale_url, connect_timeout=10)
        # The first client is unaffected.
        assert first.execute("select 1").fetchone() == (1,)


def test_each_connection_starts_with_a_clean_session(fresh_timescale_url: str):
    c = psycopg.connect(fresh_timescale_url)
    c.execute("create table public.abandoned (x int)")  # left in an open transaction
    c.execute("set application_name = 'leaky'")
    for _ in range(3):  # a server-side prepared statement named like the next client's
        c.execute("select %s::int + 1", (1,), prepare=True)
    c.close()

    with psycopg.connect(fresh_timescale_url, autocommit=True) as c:
        assert c.execute("select to_regclass('public.abandoned')").fetchone() == (None,)
        assert c.execute("show application_name").fetchone() != ("leaky",)
        assert c.execute("select %s::int + 1", (1,), prepare=True).fetchone() == (2,)
        assert c.execute("select count(*) from pg_prepared_statements").fetchone()[0] <= 1


def test_timescaledb_is_available_and_loads(fresh_timescale_url: str):
    with psycopg.connect(fresh_timescale_url, autocommit=True) as c:
        c.execute("create extension if not exists timescaledb")
        assert c.execute("select extversion from pg_extension where extname = 'timescaledb'")
        bucket = c.execute(
            "select time_bucket(interval '1 hour', timestamptz '2024-03-04 14:37:00+00')"
        ).fetchone()[0]
        assert bucket.isoformat().startswith("2024-03-04T14:00:00")


def test_start_stop_and_context_manager(ci_skip):
    if unavailable_reason():
        ci_skip(unavailable_reason())
    server = PGliteTimescale()
    with pytest.raises(PGliteStartError):
        _ = server.url  # not started yet
    with server:
        url = server.url
        assert server.running and server.version and "PostgreSQL 17" in server.version
        with psycopg.connect(url) as c:
            assert c.execute("select 1").fetchone() == (1,)
    assert not server.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)
    server.stop()  # idempotent
