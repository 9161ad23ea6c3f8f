"""
### reconcile_paper_account

After the open of T+1: the orders placed for it, their fills, the positions and an account
snapshot, and the reconciliation report (target vs achieved weights, cash, slippage, unfilled
orders, a picture under `$TRADEWIND_HOME/reports/`).

`fills_available` → `reconcile` → `alerts`

* **Schedule**: the NYSE timetable, one run per session T+1, 90 min after its close (by then
  the open is long past and `ingest_daily_bars` has loaded T+1's bars); the run reconciles the
  orders of the previous session T.
* **fills_available**: a sensor (reschedule mode: no worker slot held while waiting); the
  simulated broker needs the bars of T+1, Alpaca only the clock past the open.
* **reconcile** (pool `alpaca_trading`): records fills, positions, snapshot and report; keyed on
  the client order ids and the session, so a re-run rewrites the same rows.
* **alerts**: fails (red square, failure callbacks) on an unfilled order or a mean slippage above
  `TRADEWIND_RECONCILE_ALERT_SLIPPAGE_BPS`; the report is written either way.
* Broker: as in `rebalance_paper_account` (`broker` param, else the `alpaca_trading`
  connection, else sim).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task

from tradewind.orchestration.defaults import (
    START_DATE,
    TRADING_POOL,
    broker_param,
    default_args,
)
from tradewind.orchestration.timetable import NYSESessionTimetable


@dag(
    dag_id="reconcile_paper_account",
    schedule=NYSESessionTimetable(after_close=dt.timedelta(minutes=90)),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["tradewind", "trading", "model"],
    doc_md=__doc__,
    params={
        "broker": broker_param(),
    },  # fmt: skip
)
def reconcile_paper_account():
    @task.sensor(poke_interval=300, timeout=6 * 3600, mode="reschedule")
    def fills_available(params=None, data_interval_end=None) -> bool:
        from tradewind.orchestration import model_layer
        from tradewind.orchestration.runtime import session_for

        return model_layer.fills_available(session_for(data_interval_end), broker=params["broker"])

    @task(pool=TRADING_POOL)
    def reconcile(params=None, data_interval_end=None) -> dict:
        from tradewind.orchestration import model_layer
        from tradewind.orchestration.runtime import session_for

        return model_layer.reconcile(session_for(data_interval_end), broker=params["broker"])

    @task
    def alerts(summary: dict) -> dict:
        from tradewind.orchestration import model_layer

        problems = model_layer.alerts(summary)
        if problems:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"reconcile {summary['session']}: " + "; ".join(problems))
        return {"session": summary["session"], "problems": []}

    summary = reconcile()
    fills_available() >> summary
    alerts(summary)


reconcile_paper_account()
