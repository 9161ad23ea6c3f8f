"""A backfill over a date range runs exactly its sessions; running it twice leaves the
warehouse identical (checksums of every data table), as does the data-quality report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow_testlib import table_checksums

from tradewind.orchestration.connections import airflow_conn_env

pytestmark = [pytest.mark.airflow, pytest.mark.integration]

SYMBOLS = ["AAPL", "MSFT", "JPM", "KO"]
TABLES = {
    "bars_daily": "select * from raw.bars_daily",
    "corporate_actions": "select * from raw.corporate_actions",
    # last_run_id/updated_at say which run touched a watermark last: bookkeeping, not data.
    "watermarks": "select source, symbol, timeframe, first_time, last_time, rows_loaded "
    "from ops.ingest_watermarks",
}


def test_backfill_of_three_sessions_twice_is_idempotent(airflow, db_url, tmp_path):
    from tradewind.emulator.dataset import make_dataset
    from tradewind.emulator.server import MarketEmulator

    # Dividends and a split inside the range: corporate actions are loaded too.
    dataset = make_dataset(SYMBOLS, "2024-05-01", "2024-07-10", minute=False, actions=True)
    with MarketEmulator(dataset) as emu:
        airflow.env.update(
            airflow_conn_env(
                db_url,
                alpaca_key_id="k",
                alpaca_secret_key="s",
                alpaca_data_url=emu.alpaca_data_url,
            )  # fmt: skip
        )
        conf = {"universe": None, "symbols": SYMBOLS}
        # July 2nd to 5th: the 3rd is a half day, the 4th a holiday -> three sessions.
        first = airflow.runs(
            {"backfill": "ingest_daily_bars", "start": "2024-07-02", "end": "2024-07-05",
             "conf": conf},
            {"backfill": "data_quality", "start": "2024-07-05", "end": "2024-07-05"},
        )  # fmt: skip
        after_first = table_checksums(db_url, TABLES)
        report_path = Path(airflow.env["TRADEWIND_HOME"]) / "reports/data_quality/2024-07-05.json"
        report_first = json.loads(report_path.read_text())
        second = airflow.runs(
            {"backfill": "ingest_daily_bars", "start": "2024-07-02", "end": "2024-07-05",
             "conf": conf},
            {"backfill": "data_quality", "start": "2024-07-05", "end": "2024-07-05"},
        )  # fmt: skip
        after_second = table_checksums(db_url, TABLES)
        report_second = json.loads(report_path.read_text())

    for results in (first, second):
        assert [r["session"] for r in results] == [
            "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-05"
        ]  # fmt: skip
        assert all(r["state"] == "success" for r in results), results
        assert all(r["tasks"]["load"] == "success" for r in results[:3])
    assert after_first["bars_daily"][0] == 3 * len(SYMBOLS)
    assert after_first == after_second
    assert report_first == report_second
    # Runs are logged, every one of them: the log is the one thing that grows.
    import psycopg

    with psycopg.connect(db_url) as c:
        statuses = c.execute("select status, count(*) from ops.ingest_runs group by 1").fetchall()
    assert statuses == [("succeeded", 6)]
