"""dbt build on TimescaleDB (PGlite's TimescaleDB build served by Node.js; skipped without it):
hypertables as sources, time_bucket for the minute rollups, incremental runs on hypertables."""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg
import pytest
from features_testlib import (
    assert_frames_close,
    expected_features,
    fixture_bars,
    insert_bars_unnest,
    read_frame,
)

pytestmark = pytest.mark.timescale

MINUTES = [
    # (ts UTC, open, high, low, close, volume): 2010-06-01, NYSE open 13:30 UTC (EDT).
    ("2010-06-01 13:29:00+00", 9.0, 9.0, 9.0, 9.0, 10.0),  # pre-market: not in the daily bar
    ("2010-06-01 13:30:00+00", 10.0, 11.0, 9.5, 10.5, 100.0),
    ("2010-06-01 13:33:00+00", 10.5, 12.0, 10.0, 11.0, 300.0),
    ("2010-06-01 13:35:00+00", 11.0, 11.0, 8.0, 9.0, 50.0),
]


@pytest.fixture(scope="module")
def timescale(tmp_path_factory, pglite_starter):
    from tradewind.db.migrate import migrate
    from tradewind.settings import PROJECT_ROOT

    server = pglite_starter(wait_ms=60_000)
    try:
        report = migrate(server.url, PROJECT_ROOT / "sql", use_timescale=True)
        assert report.timescale
        bars = fixture_bars()
        insert_bars_unnest(server.url, bars[bars["session"] < date(2010, 12, 31)])
        with psycopg.connect(server.url) as c:
            for row in MINUTES:
                c.execute(
                    "insert into raw.bars_minute (source, symbol, ts, open, high, low, close, "
                    "volume) values ('alpaca', 'AAPL', %s, %s, %s, %s, %s, %s)",
                    row,
                )
        yield {"url": server.url, "bars": bars, "target": tmp_path_factory.mktemp("ts-target")}
    finally:
        server.stop()


def test_dbt_build_on_timescaledb(timescale):
    from tradewind.features import build

    url, bars, target = timescale["url"], timescale["bars"], timescale["target"]
    # PGlite serves one connection at a time: one dbt thread.
    result = build(url=url, target_path=target, threads=1)
    assert result.success and result.statuses.get("error", 0) == 0
    hyper = read_frame(url, "select hypertable_name from timescaledb_information.hypertables")
    assert "bars_daily" in set(hyper["hypertable_name"])

    compiled = (
        target / "run" / "tradewind" / "models" / "intermediate" / "int_bars_5min.sql"
    ).read_text()
    assert "time_bucket(" in compiled and "date_bin(" not in compiled
    five = read_frame(
        url, "select bucket, open, high, low, close, volume, minutes from "
        "features_intermediate.int_bars_5min order by bucket"
    )  # fmt: skip
    assert five[["open", "close", "volume", "minutes"]].values.tolist() == [
        [10.0, 11.0, 400.0, 2],
        [11.0, 9.0, 50.0, 1],
    ]  # the 13:29 pre-market minute stays out, as in the daily bar
    assert [t.strftime("%H:%M") for t in pd.to_datetime(five["bucket"], utc=True)] == [
        "13:30", "13:35"
    ]  # fmt: skip
    daily = read_frame(url, "select * from features_intermediate.int_bars_daily_from_minute")
    assert daily[["open", "high", "low", "close", "volume", "minutes"]].values.tolist() == [
        [10.0, 12.0, 8.0, 9.0, 450.0, 3]
    ]

    # One more session arrives: the incremental run on the hypertable matches the reference.
    last = bars[bars["session"] == date(2010, 12, 31)]
    insert_bars_unnest(url, last)
    build(url=url, target_path=target, threads=1, select=["+daily_features"])
    actual = read_frame(url, "select * from features.daily_features")
    assert_frames_close(actual, expected_features(bars))
