"""
### rebalance_paper_account

After the close of session T, rebalance the trading account to T's target weights with orders
for the open of T+1.

`risk_checks` → `place_orders`

* **Scheduled by assets**: runs when `generate_signals` updates `signals.target_weights`; the
  session is the one its event names (or the run's data interval for a manual run/backfill).
* **risk_checks**, a task of its own so a refusal is its own red square: kill switch, session,
  signal age, weight limits, broker clock, the planned orders' size (`tradewind rebalance
  --dry-run`: everything but sending). A breach fails without retries.
* **place_orders** (pool `alpaca_trading`, one at a time): the orders, each with a deterministic
  client order id, so a cleared task or a second run finds its orders and sends none twice.
* **Broker**: the run's `broker` param, else Alpaca when the `alpaca_trading` connection (or the
  APCA keys in the settings) names a trading account, else the simulated broker.
* **Outputs**: updates the `broker.orders` asset with `{"session": T}`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from tradewind.orchestration import assets
from tradewind.orchestration.defaults import (
    START_DATE,
    TRADING_POOL,
    broker_param,
    default_args,
)

ORDERS = assets.broker_orders()


@dag(
    dag_id="rebalance_paper_account",
    schedule=assets.target_weights(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["tradewind", "trading", "model"],
    doc_md=__doc__,
    params={
        "broker": broker_param(),
        "model": Param(
            None,
            type=["null", "string"],
            title="Model",
            description="NAME or NAME@V; empty: the settings' trading model.",
        ),
    },  # fmt: skip
)
def rebalance_paper_account():
    @task
    def risk_checks(params=None, data_interval_end=None, triggering_asset_events=None) -> dict:
        from tradewind.orchestration import model_layer

        session = model_layer.run_session(data_interval_end, triggering_asset_events)
        return model_layer.risk_checks(session, broker=params["broker"], model=params["model"])

    @task(pool=TRADING_POOL, outlets=[ORDERS])
    def place_orders(
        params=None, data_interval_end=None, triggering_asset_events=None, outlet_events=None
    ) -> dict:
        from tradewind.orchestration import model_layer

        # The session and broker are worked out again, not read from risk_checks' XCom: the
        # same answer, and a cleared place_orders needs nothing but its own run.
        session = model_layer.run_session(data_interval_end, triggering_asset_events)
        out = model_layer.place_orders(session, broker=params["broker"], model=params["model"])
        outlet_events[ORDERS].extra = {"session": out["session"], "broker": out["broker"]}
        return out

    risk_checks() >> place_orders()


rebalance_paper_account()
