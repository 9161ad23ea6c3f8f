"""ingest_daily_bars with its source chosen by configuration (Airflow Variables): the CSV drop
folder, the gate quarantining a bad row, only the run's session loaded."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.integration]

CSV = """symbol,date,open,high,low,close,volume
AAPL,2024-07-02,100,102,99,101,1000
MSFT,2024-07-02,200,202,199,201,2000
AAPL,2024-07-03,101,103,100,102,1100
MSFT,2024-07-03,201,203,200,202,2100
IBM,2024-07-03,50,49,51,50,500
AAPL,2024-07-05,102,104,101,103,1200
"""


def test_csv_drop_folder_selected_by_variable(airflow, db_url, tmp_path):
    drop = tmp_path / "drop"
    (drop / "daily").mkdir(parents=True)
    (drop / "daily" / "bars.csv").write_text(CSV)
    airflow.env.update(
        {
            "DATABASE_URL": db_url,
            # Airflow Variables from the environment: the operator's configuration knobs.
            "AIRFLOW_VAR_TRADEWIND_DAILY_BARS_SOURCE": "csv",
            "AIRFLOW_VAR_TRADEWIND_CSV_DROP_FOLDER": str(drop),
        }
    )
    conf = {"universe": None, "symbols": ["AAPL", "MSFT", "IBM"]}
    # After the 13:00 ET close of the July 3rd half day (17:00 UTC).
    result, empty = airflow.runs(
        {"dag_id": "ingest_daily_bars", "logical_date": "2024-07-03T17:30:00+00:00", "conf": conf},
        # July 8th is in no file: the gate fails rather than loading nothing quietly.
        {"dag_id": "ingest_daily_bars", "logical_date": "2024-07-08T20:30:00+00:00", "conf": conf},
    )
    assert empty["state"] == "failed" and empty["session"] == "2024-07-08"
    assert (empty["tasks"]["validate"], empty["tasks"]["load"]) == ("failed", "upstream_failed")

    assert result["state"] == "success", result
    assert result["session"] == "2024-07-03"
    assert result["tasks"] == {
        "choose_source": "success",
        "extract_csv": "success",
        "extract_alpaca": "skipped",
        "extract_quandl": "skipped",
        "validate": "success",
        "load": "success",
    }
    with psycopg.connect(db_url) as c:
        rows = c.execute(
            "select source, symbol, session::text, close from raw.bars_daily order by symbol"
        ).fetchall()
        quarantined = c.execute("select symbol, bar_time, reasons from ops.quarantine").fetchall()
        runs = c.execute("select source, timeframe, status from ops.ingest_runs").fetchall()
    # Only the run's session, and the bad IBM row went to quarantine instead.
    assert rows == [("csv", "AAPL", "2024-07-03", 102.0), ("csv", "MSFT", "2024-07-03", 202.0)]
    assert [(s, t[:10]) for s, t, _ in quarantined] == [("IBM", "2024-07-03")]
    assert runs == [("csv", "1Day", "succeeded")]
