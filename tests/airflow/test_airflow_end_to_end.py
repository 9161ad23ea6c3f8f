"""End to end: ingest_daily_bars, ingest_minute_bars and build_features for two consecutive
sessions (the second a half day), against the market emulator speaking the Alpaca API and a real
PostgreSQL, through Airflow Connections only (no DATABASE_URL, no vendor keys in the settings).
Then clearing and re-running tasks leaves the warehouse identical."""

from __future__ import annotations

import math

import psycopg
import pytest
from airflow_testlib import table_checksums

from tradewind.orchestration.connections import airflow_conn_env

pytestmark = [pytest.mark.airflow, pytest.mark.integration, pytest.mark.slow]

T1, T2 = "2024-07-02", "2024-07-03"  # Tuesday, and Wednesday's 13:00 ET early close
AFTER_T1_CLOSE = "2024-07-02T20:30:00+00:00"  # 16:00 EDT = 20:00 UTC
AFTER_T2_CLOSE = "2024-07-03T17:30:00+00:00"  # 13:00 EDT = 17:00 UTC

WAREHOUSE = {
    "bars_daily": "select * from raw.bars_daily",
    "bars_minute": "select * from raw.bars_minute",
    "watermarks": "select source, symbol, timeframe, first_time, last_time, rows_loaded "
    "from ops.ingest_watermarks",
    "daily_features": "select * from features.daily_features",
    "forward_returns": "select * from features.forward_returns",
}


@pytest.fixture(scope="module")
def market():
    from tradewind.emulator.dataset import make_dataset
    from tradewind.emulator.server import MarketEmulator
    from tradewind.universes import members_between

    symbols = members_between("DOW30", "2024-05-01", T2)
    # No dividends or splits: adjusted prices are the generated ones, comparable below.
    dataset = make_dataset(symbols, "2024-05-01", T2, minute_sessions=[T1, T2], actions=False)
    with MarketEmulator(dataset) as emu:
        yield emu, dataset, sorted(symbols)


def _ok(result: dict, dag_id: str, session: str | None = None) -> dict:
    assert result["dag_id"] == dag_id
    assert result["state"] == "success", result
    if session:
        assert result["session"] == session
    return result["tasks"]


def test_two_sessions_ingest_and_features(airflow, db_url, dbt_project, market):
    emu, dataset, symbols = market
    airflow.env.update(
        airflow_conn_env(
            db_url,
            alpaca_key_id="test-key",
            alpaca_secret_key="test-secret",
            alpaca_data_url=emu.alpaca_data_url,
        )
    )
    airflow.env["TRADEWIND_DBT_PROJECT_DIR"] = str(dbt_project)
    results = airflow.runs(
        {"dag_id": "ingest_daily_bars", "logical_date": AFTER_T1_CLOSE},
        {"dag_id": "ingest_minute_bars", "logical_date": AFTER_T1_CLOSE},
        {"dag_id": "build_features"},
        {"dag_id": "ingest_daily_bars", "logical_date": AFTER_T2_CLOSE},
        {"dag_id": "ingest_minute_bars", "logical_date": AFTER_T2_CLOSE},
        {"dag_id": "build_features"},
    )
    daily1, minute1, features1, daily2, minute2, features2 = results
    # The vendor secret is in the connection only, never in a log line.
    assert "test-secret" not in airflow.last_log
    bars_daily_uri = daily1["assets"]
    for result, session in ((daily1, T1), (daily2, T2)):
        tasks = _ok(result, "ingest_daily_bars", session)
        assert tasks == {
            "choose_source": "success",
            "extract_alpaca": "success",
            "extract_quandl": "skipped",
            "extract_csv": "skipped",
            "validate": "success",
            "load": "success",
        }
        assert result["assets"] == bars_daily_uri
    assert len(bars_daily_uri) == 1 and bars_daily_uri[0].endswith("/raw/bars_daily")
    # The Asset URI names host, port and database of the warehouse the connection points at.
    host, port, db = db_url.split("@")[-1].replace("/", ":").split(":")
    assert bars_daily_uri[0] == f"postgres://{host}:{port}/{db}/raw/bars_daily"
    for result, session in ((minute1, T1), (minute2, T2)):
        tasks = _ok(result, "ingest_minute_bars", session)
        assert tasks["validate"] == tasks["load"] == "success"
        assert result["assets"][0].endswith("/raw/bars_minute")
    for result in (features1, features2):
        tasks = _ok(result, "build_features")
        assert {"daily_features.run", "daily_features.test", "forward_returns.run"} <= set(tasks)
        assert set(tasks.values()) == {"success"}, tasks
        assert any(uri.endswith("daily_features") for uri in result["assets"])

    with psycopg.connect(db_url) as c:
        daily = c.execute(
            "select symbol, session::text, close, source from raw.bars_daily order by 1, 2"
        ).fetchall()
        minute = c.execute(
            "select (ts at time zone 'America/New_York')::date::text, count(*), min(ts), max(ts)"
            " from raw.bars_minute group by 1 order by 1"
        ).fetchall()
        features = c.execute(
            "select symbol, session::text, lr_close from features.daily_features"
            " where session = %s order by symbol",
            (T2,),
        ).fetchall()

    # Exactly the two sessions (keyed on the runs' intervals), every member, the emulator's data.
    assert {(s, d) for s, d, _, _ in daily} == {(s, d) for s in symbols for d in (T1, T2)}
    assert {src for *_, src in daily} == {"alpaca"}
    expected = {
        (r.symbol, r.session.date().isoformat()): r.close
        for r in dataset.daily.itertuples()
        if r.session.date().isoformat() in (T1, T2)
    }
    assert {(s, d): c for s, d, c, _ in daily} == pytest.approx(expected)

    # Minute bars: regular hours only, 390 minutes on T1 and 210 on the half day (a few
    # minutes without trades have no bar).
    (d1, n1, lo1, hi1), (d2, n2, lo2, hi2) = minute
    assert (d1, d2) == (T1, T2)
    assert 0.95 * 390 * len(symbols) <= n1 <= 390 * len(symbols)
    assert 0.95 * 210 * len(symbols) <= n2 <= 210 * len(symbols)
    assert (lo2.hour, lo2.minute, hi2.hour, hi2.minute) == (13, 30, 16, 59)  # UTC

    # Features at T2 are built from the loaded bars: log(close_T2 / close_T1).
    closes = {(s, d): c for s, d, c, _ in daily}
    assert [s for s, _, _ in features] == symbols
    for symbol, _, lr_close in features:
        assert lr_close == pytest.approx(math.log(closes[symbol, T2] / closes[symbol, T1]))

    # Clearing and re-running: the whole T2 ingest, then the feature marts alone.
    before = table_checksums(db_url, WAREHOUSE)
    rerun = airflow.runs(
        {"dag_id": "ingest_daily_bars", "logical_date": AFTER_T2_CLOSE},
        {"dag_id": "build_features", "only": ["daily_features.run", "forward_returns.run"]},
    )
    _ok(rerun[0], "ingest_daily_bars", T2)
    tasks = _ok(rerun[1], "build_features")
    assert tasks["daily_features.run"] == "success"
    assert table_checksums(db_url, WAREHOUSE) == before
    assert before["bars_daily"][0] == 2 * len(symbols)
