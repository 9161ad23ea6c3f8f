"""The Timescale-specific migrations on a real TimescaleDB (2.23, PGlite build).

All tests share one server and one migrate() run (module fixtures); each test writes its own
symbols and years, so they do not depend on each other's data or order.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg
import pytest

from tradewind.db.migrate import MigrationReport, discover, migrate, schema_status
from tradewind.settings import PROJECT_ROOT

pytestmark = pytest.mark.timescale

SQL_DIR = PROJECT_ROOT / "sql"
TIMESCALE_FILES = sorted(m.id for m in discover(SQL_DIR) if m.timescale)


@pytest.fixture(scope="module")
def first_run(fresh_timescale_url: str) -> MigrationReport:
    return migrate(fresh_timescale_url, SQL_DIR)


@pytest.fixture
def conn(fresh_timescale_url: str, first_run: MigrationReport):
    with psycopg.connect(fresh_timescale_url, autocommit=True) as c:
        yield c


# --- pure helpers -----------------------------------------------------------------------------
def minute_bars(symbol: str, start: datetime, minutes: int, seed: int) -> dict[str, list]:
    """A consistent random-walk series of minute bars (low <= open/close <= high)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, minutes)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 1e-3, minutes))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 1e-3, minutes))
    volume = rng.integers(100, 10_000, minutes).astype(float)
    vwap = (high + low + close) / 3
    trades = rng.integers(1, 200, minutes)
    return {
        "symbol": [symbol] * minutes,
        "ts": [start + timedelta(minutes=i) for i in range(minutes)],
        "open": open_.tolist(),
        "high": high.tolist(),
        "low": low.tolist(),
        "close": close.tolist(),
        "volume": volume.tolist(),
        "vwap": vwap.tolist(),
        "trade_count": trades.tolist(),
    }


def hourly_rollup(bars: dict[str, list]) -> dict[tuple[str, datetime], dict]:
    """Expected hourly OHLCV: first open, max high, min low, last close, summed volume,
    volume-weighted vwap, summed trades, minute count; bucket = the hour from hh:30 UTC the bar
    opens in (hours counted from the 09:30 New York open, migration 018; regular minutes only)."""
    out: dict[tuple[str, datetime], dict] = {}
    order = sorted(range(len(bars["ts"])), key=lambda i: (bars["symbol"][i], bars["ts"][i]))
    for i in order:
        t = bars["ts"][i]
        since_half = timedelta(minutes=(t.minute - 30) % 60, seconds=t.second,
                               microseconds=t.microsecond)  # fmt: skip
        key = (bars["symbol"][i], t - since_half)
        h = out.get(key)
        if h is None:
            h = out[key] = {
                "open": bars["open"][i],
                "high": -math.inf,
                "low": math.inf,
                "volume": 0.0,
                "pv": 0.0,
                "trade_count": 0,
                "minutes": 0,
            }
        h["high"] = max(h["high"], bars["high"][i])
        h["low"] = min(h["low"], bars["low"][i])
        h["close"] = bars["close"][i]
        h["volume"] += bars["volume"][i]
        h["pv"] += bars["vwap"][i] * bars["volume"][i]
        h["trade_count"] += bars["trade_count"][i]
        h["minutes"] += 1
    for h in out.values():
        h["vwap"] = h.pop("pv") / h["volume"]
    return out


# --- I/O helpers ------------------------------------------------------------------------------
def insert_minute_bars(conn: psycopg.Connection, source: str, bars: dict[str, list]) -> None:
    # COPY FROM STDIN crashes PGlite: bulk-load through unnest instead.
    conn.execute(
        """
        insert into raw.bars_minute
            (source, symbol, ts, open, high, low, close, volume, vwap, trade_count)
        select %s, * from unnest(%s::text[], %s::timestamptz[], %s::float8[], %s::float8[],
                                 %s::float8[], %s::float8[], %s::float8[], %s::float8[],
                                 %s::int8[])
        """,
        [source, *(bars[k] for k in ("symbol", "ts", "open", "high", "low", "close"))]
        + [bars["volume"], bars["vwap"], bars["trade_count"]],
    )


def insert_daily_bars(conn: psycopg.Connection, symbol: str, sessions: list[date], close: float):
    conn.execute(
        """
        insert into raw.bars_daily (source, symbol, session, open, high, low, close, volume)
        select 'test', %s, s, %s, %s, %s, %s, %s from unnest(%s::date[]) as s
        """,
        (symbol, close, close * 1.01, close * 0.99, close, 1000.0, sessions),
    )


def chunk_of(conn: psycopg.Connection, table: str, day: date) -> tuple[str, bool]:
    """(qualified name, is_compressed) of the chunk of raw.<table> that holds `day`."""
    row = conn.execute(
        """
        select format('%%I.%%I', chunk_schema, chunk_name), is_compressed
        from timescaledb_information.chunks
        where hypertable_schema = 'raw' and hypertable_name = %s
          and range_start::date <= %s and %s < range_end::date
        """,
        (table, day, day),
    ).fetchone()
    assert row is not None, f"no chunk of raw.{table} holds {day}"
    return row[0], row[1]


# --- tests ------------------------------------------------------------------------------------
def test_first_run_detects_timescale_and_applies_its_files(first_run: MigrationReport):
    assert TIMESCALE_FILES == [
        "002_raw_bars.timescale.sql",
        "008_minute_rollup.timescale.sql",
        "018_minute_sessions.timescale.sql",
    ]
    assert first_run.timescale is True
    assert first_run.skipped_timescale == []
    assert first_run.already == 0
    assert first_run.applied == [m.id for m in discover(SQL_DIR)]
    # Each Timescale file runs right after the plain file of its version.
    for ts_file in TIMESCALE_FILES:
        plain = ts_file.replace(".timescale.sql", ".sql")
        assert first_run.applied.index(ts_file) == first_run.applied.index(plain) + 1


def test_migrations_are_recorded_with_their_timescale_flag(conn):
    rows = dict(conn.execute("select id, timescale from ops.schema_migrations").fetchall())
    assert {k for k, v in rows.items() if v} == set(TIMESCALE_FILES)
    assert len(rows) == len(discover(SQL_DIR))
    ext = conn.execute("select extversion from pg_extension where extname = 'timescaledb'")
    assert ext.fetchone()[0].startswith("2.")


def test_bars_are_hypertables_on_their_time_columns(conn):
    dims = {
        t: (col, interval)
        for t, col, interval in conn.execute(
            """
            select hypertable_name, column_name, time_interval
            from timescaledb_information.dimensions where hypertable_schema = 'raw'
            """
        ).fetchall()
    }
    assert set(dims) == {"bars_daily", "bars_minute"}
    assert dims["bars_daily"][0] == "session"
    # Timescale stores "1 year" on a date column as 360 days (30-day months).
    assert timedelta(days=360) <= dims["bars_daily"][1] <= timedelta(days=366)
    assert dims["bars_minute"] == ("ts", timedelta(days=7))


def test_compression_segments_by_series_and_orders_by_time(conn):
    rows = conn.execute(
        """
        select hypertable_name, attname, segmentby_column_index, orderby_column_index, orderby_asc
        from timescaledb_information.compression_settings where hypertable_schema = 'raw'
        """
    ).fetchall()
    settings: dict[str, dict] = {}
    for table, col, seg_i, ord_i, asc in rows:
        s = settings.setdefault(table, {"segmentby": {}, "orderby": {}})
        if seg_i is not None:
            s["segmentby"][seg_i] = col
        if ord_i is not None:
            s["orderby"][ord_i] = (col, asc)
    assert settings == {
        "bars_daily": {"segmentby": {1: "source", 2: "symbol"}, "orderby": {1: ("session", True)}},
        "bars_minute": {"segmentby": {1: "source", 2: "symbol"}, "orderby": {1: ("ts", True)}},
    }


def test_policies_exist_for_compression_and_the_hourly_aggregate(conn):
    jobs = conn.execute(
        """
        select proc_name, hypertable_name, config
        from timescaledb_information.jobs where hypertable_schema = 'raw'
        """
    ).fetchall()
    compression = {t: cfg["compress_after"] for p, t, cfg in jobs if p == "policy_compression"}
    assert compression == {"bars_daily": "365 days", "bars_minute": "30 days"}
    refresh = [cfg for p, t, cfg in jobs if p == "policy_refresh_continuous_aggregate"]
    assert len(refresh) == 1
    assert refresh[0]["start_offset"] == "30 days"
    assert refresh[0]["end_offset"] == "01:00:00"


def test_bars_hourly_is_a_continuous_aggregate_with_the_right_ohlcv(conn):
    cagg = conn.execute(
        """
        select hypertable_schema, hypertable_name, materialized_only
        from timescaledb_information.continuous_aggregates
        where view_schema = 'raw' and view_name = 'bars_hourly'
        """
    ).fetchone()
    assert cagg is not None, "raw.bars_hourly is not a continuous aggregate"
    assert cagg[:2] == ("raw", "bars_minute")
    # The plain view of 008_minute_rollup.sql is gone, replaced by the aggregate.
    assert conn.execute("select to_regclass('raw.bars_hourly') is not null").fetchone()[0]

    # 14:30–16:29 UTC (09:30–11:29 New York): two full hours from the open, for two symbols.
    start = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
    bars = minute_bars("HRA", start, 120, seed=1)
    other = minute_bars("HRB", start, 120, seed=2)
    for k in bars:
        bars[k] += other[k]
    insert_minute_bars(conn, "cagg", bars)

    select = """
        select symbol, bucket, open, high, low, close, volume, vwap, trade_count, minutes
        from raw.bars_hourly where source = 'cagg' order by symbol, bucket
    """
    if cagg[2]:  # materialized only: nothing shows before a refresh
        assert conn.execute(select).fetchall() == []
    conn.execute(
        "call refresh_continuous_aggregate('raw.bars_hourly', %s::timestamptz, %s::timestamptz)",
        (datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 5, tzinfo=UTC)),
    )
    got = conn.execute(select).fetchall()
    want = hourly_rollup(bars)
    assert [(s, b) for s, b, *_ in got] == sorted(want)
    for symbol, bucket, o, h, lo, c, v, vwap, trades, minutes in got:
        w = want[(symbol, bucket)]
        assert (o, h, lo, c) == pytest.approx((w["open"], w["high"], w["low"], w["close"]))
        assert v == pytest.approx(w["volume"])
        assert vwap == pytest.approx(w["vwap"])
        assert (trades, minutes) == (w["trade_count"], w["minutes"])
    assert [m for *_, m in got] == [60, 60, 60, 60]


def test_upsert_into_a_compressed_chunk(conn):
    sessions = [date(2019, 1, 2) + timedelta(days=i) for i in range(10)]
    insert_daily_bars(conn, "UPS", sessions, close=50.0)
    chunk = chunk_of(conn, "bars_daily", sessions[3])[0]
    assert chunk_of(conn, "bars_daily", sessions[-1])[0] == chunk, "test data spans two chunks"
    conn.execute("select compress_chunk(%s::regclass, if_not_compressed => true)", (chunk,))
    assert chunk_of(conn, "bars_daily", sessions[3])[1]

    # A late correction of one session and a new session, both into the compressed chunk.
    conn.execute(
        """
        insert into raw.bars_daily (source, symbol, session, open, high, low, close, volume)
        values ('test', 'UPS', %s, 51, 52, 50, 51.5, 2000), ('test', 'UPS', %s, 52, 53, 51, 52, 10)
        on conflict (source, symbol, session) do update
        set open = excluded.open, high = excluded.high, low = excluded.low,
            close = excluded.close, volume = excluded.volume
        """,
        (sessions[3], date(2019, 1, 20)),
    )
    rows = conn.execute(
        "select session, close, volume from raw.bars_daily where symbol = 'UPS' order by session"
    ).fetchall()
    assert len(rows) == len(sessions) + 1
    by_session = {s: (c, v) for s, c, v in rows}
    assert by_session[sessions[3]] == (51.5, 2000.0)
    assert by_session[sessions[4]] == (50.0, 1000.0)
    assert by_session[date(2019, 1, 20)] == (52.0, 10.0)
    assert chunk_of(conn, "bars_daily", sessions[3])[1]


def test_compression_policy_compresses_old_chunks_when_run(conn):
    # Background jobs never run on PGlite; run_job runs the policy by hand.
    old, recent = date(2015, 3, 2), datetime.now(UTC).date() - timedelta(days=3)
    insert_daily_bars(conn, "POL", [old, recent], close=20.0)
    assert not chunk_of(conn, "bars_daily", old)[1]
    job = conn.execute(
        """
        select job_id from timescaledb_information.jobs
        where proc_name = 'policy_compression' and hypertable_name = 'bars_daily'
        """
    ).fetchone()[0]
    conn.execute("call run_job(%s)", (job,))
    assert chunk_of(conn, "bars_daily", old)[1]
    assert not chunk_of(conn, "bars_daily", recent)[1]
    count = conn.execute("select count(*) from raw.bars_daily where symbol = 'POL'").fetchone()[0]
    assert count == 2


def test_second_run_applies_nothing(fresh_timescale_url: str, first_run: MigrationReport):
    again = migrate(fresh_timescale_url, SQL_DIR)
    assert again.applied == []
    assert again.timescale is True
    assert again.already == len(first_run.applied)


def test_schema_status_lists_the_hypertables(fresh_timescale_url: str, first_run):
    status = schema_status(fresh_timescale_url, SQL_DIR)
    assert status["timescaledb"].startswith("2.")
    assert status["up_to_date"] is True
    assert status["pending"] == [] and status["changed"] == []
    assert set(status["hypertables"]) >= {"raw.bars_daily", "raw.bars_minute"}
    names = {(t["schema"], t["name"]) for t in status["tables"]}
    assert {("raw", "bars_daily"), ("raw", "bars_minute"), ("raw", "bars_hourly")} <= names
