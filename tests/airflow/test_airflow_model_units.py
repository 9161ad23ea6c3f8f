"""Units of the model-layer orchestration: the monthly training timetable (against the NYSE
2024 calendar written down here), the session an Asset-triggered run processes, the trading
connection, a missing warehouse connection under Airflow, the reconciliation alerts."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.airflow

# First NYSE session of each month of 2024 (Jan 1 New Year, Jun 1 Saturday, Sep 2 Labor Day,
# Dec 1 Sunday).
FIRST_SESSIONS_2024 = [
    (1, 2), (2, 1), (3, 1), (4, 1), (5, 1), (6, 3), (7, 1), (8, 1), (9, 3), (10, 1), (11, 1),
    (12, 2),
]  # fmt: skip


def test_first_session_of_month_timetable_over_2024(airflow_in_process):
    import pendulum
    from airflow.serialization.serialized_objects import decode_timetable, encode_timetable
    from airflow.timetables.base import TimeRestriction

    from tradewind.orchestration.timetable import FirstSessionOfMonthTimetable

    tt = FirstSessionOfMonthTimetable()
    restriction = TimeRestriction(
        pendulum.datetime(2024, 1, 1, tz="UTC"), pendulum.datetime(2024, 12, 31, tz="UTC"), True
    )
    infos, last = [], None
    while (info := tt.next_dagrun_info(last_automated_data_interval=last,
                                       restriction=restriction)) is not None:  # fmt: skip
        infos.append(info)
        last = info.data_interval
        assert len(infos) < 20
    days = [i.data_interval.start.in_timezone("America/New_York").date() for i in infos]
    assert days == [dt.date(2024, m, d) for m, d in FIRST_SESSIONS_2024]
    # After the close: 16:00 New York + 2 h (July 1st is EDT: 22:00 UTC).
    july = infos[6]
    assert july.run_after == pendulum.datetime(2024, 7, 1, 22, 0, tz="UTC")
    assert july.data_interval.end == pendulum.datetime(2024, 7, 1, 20, 0, tz="UTC")
    back = decode_timetable(encode_timetable(tt))
    assert back == tt and back.summary.startswith("First NYSE session of each month")


def test_train_schedule_setting(monkeypatch):
    from tradewind.orchestration.model_layer import train_schedule
    from tradewind.orchestration.timetable import FirstSessionOfMonthTimetable

    assert isinstance(train_schedule("first_session_monthly"), FirstSessionOfMonthTimetable)
    assert train_schedule("0 22 * * 1-5") == "0 22 * * 1-5"
    assert train_schedule("none") is None


def _event(extra):
    return SimpleNamespace(extra=extra)


def test_an_asset_triggered_run_processes_the_session_its_events_name():
    from tradewind.orchestration.model_layer import run_session

    events = {"a": [_event({"session": "2024-07-02"}), _event({})],
              "b": [_event({"session": "2024-07-03"})]}  # fmt: skip
    # Several events folded into one run: the newest session is the new one.
    assert run_session(None, events, "postgresql://unused") == dt.date(2024, 7, 3)
    # A data interval wins (schedule, backfill, manual trigger): the session closed at its end.
    end = dt.datetime(2024, 7, 5, 20, 0, tzinfo=dt.UTC)
    assert run_session(end, events, "postgresql://unused") == dt.date(2024, 7, 5)
    # Before the close of July 5th: July 3rd (the 4th is a holiday), never a session trading.
    assert run_session(end - dt.timedelta(hours=1), {}, None) == dt.date(2024, 7, 3)


def test_trading_connection_is_separate_and_falls_back_to_settings(monkeypatch, tmp_path):
    from airflow_testlib import airflow_base_env

    from tradewind.orchestration.connections import airflow_conn_env

    env = airflow_conn_env(
        "postgresql://u:p@127.0.0.1:5432/tw", alpaca_key_id="data-key",
        alpaca_secret_key="data-secret", trading_key_id="trade-key",
        trading_secret_key="trade-secret", trading_url="http://127.0.0.1:9999",
    )  # fmt: skip
    assert json.loads(env["AIRFLOW_CONN_ALPACA_TRADING"])["login"] == "trade-key"
    code = (
        "import json; from tradewind.orchestration import connections as c; "
        "s = c.trading_settings(); "
        "print(json.dumps([s.alpaca_api_key_id.get_secret_value() if s.alpaca_api_key_id "
        "else None, s.alpaca_trading_url, c.trading_broker(s), "
        "c.resolved_settings().alpaca_api_key_id.get_secret_value() "
        "if c.resolved_settings().alpaca_api_key_id else None]))"
    )
    import subprocess
    import sys

    base = airflow_base_env(tmp_path)

    def run(extra: dict) -> list:
        out = subprocess.run([sys.executable, "-c", code], env={**base, **extra},
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    # Trading keys from alpaca_trading, market-data keys from alpaca: never mixed.
    assert run(env) == ["trade-key", "http://127.0.0.1:9999", "alpaca", "data-key"]
    # No trading connection: the settings' keys, else the simulated broker.
    no_trading = {k: v for k, v in env.items() if k != "AIRFLOW_CONN_ALPACA_TRADING"}
    assert run({**no_trading, "APCA_API_KEY_ID": "settings-key",
                "APCA_API_SECRET_KEY": "x"})[:3] == ["settings-key", None, "alpaca"]  # fmt: skip
    assert run({})[:3] == [None, None, "sim"]


def test_missing_warehouse_connection_under_airflow_is_an_error(airflow):
    """No tradewind_warehouse connection and no DATABASE_URL: the task fails with one line and
    no embedded server is started in the worker's TRADEWIND_HOME."""
    from pathlib import Path

    result = airflow.run("generate_signals", "2024-07-02T21:00:00+00:00")
    assert result["state"] == "failed" and result["tasks"] == {"generate": "failed"}
    assert "no Airflow connection 'tradewind_warehouse' and no DATABASE_URL" in airflow.last_log
    assert not (Path(airflow.env["TRADEWIND_HOME"]) / "pgdata").exists()


def test_alerts_on_unfilled_orders_and_slippage():
    from tradewind.orchestration.model_layer import alerts

    clean = {"session": "2024-07-02", "unfilled": [], "mean_slippage_bps": 3.0}
    assert alerts(clean, max_slippage_bps=50) == []
    bad = {"session": "2024-07-02", "unfilled": ["KO buy canceled"], "mean_slippage_bps": -80.0}
    assert alerts(bad, max_slippage_bps=50) == [
        "unfilled order: KO buy canceled",
        "mean slippage -80.0 bp exceeds 50 bp",
    ]
