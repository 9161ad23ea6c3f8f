"""The data_quality DAG reports gaps, stale symbols, quarantine and warnings for its session."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.integration]

# Five sessions of July 2024 (the 4th is a holiday, the 3rd a half day).
SESSIONS = ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"]


def _seed(url: str) -> None:
    with psycopg.connect(url) as c:
        run_id = c.execute(
            "insert into ops.ingest_runs (source, timeframe, status, params) "
            "values ('alpaca', '1Day', 'succeeded', '{\"start\": \"2024-07-01\"}') returning run_id"
        ).fetchone()[0]
        rows = []
        for s in SESSIONS:
            rows.append(("alpaca", "AAA", s))
            if s != "2024-07-03":  # BBB misses the half day: one gap
                rows.append(("alpaca", "BBB", s))
            if s <= "2024-07-03":  # CCC stops after the 3rd: stale, two sessions behind
                rows.append(("alpaca", "CCC", s))
        with c.cursor() as cur:
            cur.executemany(
                "insert into raw.bars_daily (source, symbol, session, open, high, low, close, volume)"
                " values (%s, %s, %s, 10, 11, 9, 10.5, 1000)",
                rows,
            )
        for symbol, last in (("AAA", "2024-07-08"), ("BBB", "2024-07-08"), ("CCC", "2024-07-03")):
            c.execute(
                "insert into ops.ingest_watermarks (source, symbol, timeframe, first_time, last_time,"
                " last_run_id) values ('alpaca', %s, '1Day', '2024-07-01 00:00 America/New_York',"
                " %s::date::timestamp at time zone 'America/New_York', %s)",
                (symbol, last, run_id),
            )
        rerun_id = c.execute(
            "insert into ops.ingest_runs (source, timeframe, status) "
            "values ('alpaca', '1Day', 'succeeded') returning run_id"
        ).fetchone()[0]
        c.execute(
            "insert into ops.quarantine (run_id, source, timeframe, symbol, bar_time, reasons,"
            " payload) values"
            " (%s, 'alpaca', '1Day', 'DDD', '2024-07-05', array['high_below_low'], '{}'),"
            " (%s, 'alpaca', '1Day', 'DDD', '2024-07-05', array['high_below_low'], '{}'),"
            " (%s, 'alpaca', '1Day', 'DDD', '2024-05-01', array['high_below_low'], '{}')",
            (run_id, rerun_id, run_id),
        )
        c.execute(
            "insert into ops.data_warnings (run_id, source, timeframe, symbol, bar_time, kind)"
            " values (%s, 'alpaca', '1Day', 'AAA', '2024-07-08', 'zero_volume')",
            (run_id,),
        )


def test_data_quality_reports_the_session_findings(airflow, db_url):
    _seed(db_url)
    airflow.env["DATABASE_URL"] = db_url
    after_jul8 = "2024-07-08T20:30:00+00:00"  # after the close of Monday July 8th
    results = airflow.runs(
        {"dag_id": "data_quality", "logical_date": after_jul8},
        # Keyed on the session: the report for the 3rd sees nothing of later data.
        {"dag_id": "data_quality", "logical_date": "2024-07-03T17:30:00+00:00"},
        # fail_on_findings turns findings into a failed task (no retries for a verdict).
        {"dag_id": "data_quality", "logical_date": after_jul8, "conf": {"fail_on_findings": True}},
    )
    late, early, failed = results
    assert (late["state"], late["session"]) == ("success", "2024-07-08")
    assert late["tasks"] == {"report": "success"}
    assert (early["state"], early["session"]) == ("success", "2024-07-03")
    assert failed["state"] == "failed" and failed["tasks"]["report"] == "failed"

    folder = Path(airflow.env["TRADEWIND_HOME"]) / "reports" / "data_quality"
    report = json.loads((folder / "2024-07-08.json").read_text())
    gaps = {(g["symbol"], tuple(g["missing"])) for g in report["gaps"]}
    assert gaps == {("BBB", ("2024-07-03",)), ("CCC", ("2024-07-05", "2024-07-08"))}
    assert [(s["symbol"], s["sessions_behind"]) for s in report["stale"]] == [("CCC", 2)]
    # The row refused twice (a re-run) counts once; the one outside the window not at all.
    assert [(q["reason"], q["rows"], len(q["runs"])) for q in report["quarantine"]] == [
        ("high_below_low", 1, 2)
    ]
    assert report["counts"]["warnings"] == 1
    assert report["clean"] is False
    assert "BBB: 2024-07-03" in (folder / "2024-07-08.md").read_text()

    early = json.loads((folder / "2024-07-03.json").read_text())
    assert early["gaps"] == [{"source": "alpaca", "symbol": "BBB", "missing": ["2024-07-03"]}]
    assert early["stale"] == [] and early["quarantine"] == [] and early["counts"]["warnings"] == 0
