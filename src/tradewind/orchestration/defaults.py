"""Shared DAG conventions: owner, retry policy, tags, pools.

Kept import-light (no pandas, no database): every DAG file imports it while parsing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

OWNER = "data-eng"

# Vendor APIs rate-limit per account: a pool caps how many tasks call each one at a time,
# across all DAGs and runs (backfills included). Slots are what the free tiers tolerate.
ALPACA_POOL = "alpaca_api"
NDL_POOL = "nasdaq_data_link_api"
# One RLlib training at a time per slot (a run takes every core it is given); one rebalance or
# reconcile at a time against the trading account (orders of two runs must never interleave).
RAY_POOL = "ray_training"
TRADING_POOL = "alpaca_trading"
# Signal generation one session at a time: a session's weights are the next session's "previous
# weights", and the scheduler queues a pool's waiting tasks oldest logical date first, so even a
# backfill with many active runs computes the sessions in order (as one run after another would).
SIGNALS_POOL = "signals"
POOLS: dict[str, tuple[int, str]] = {
    ALPACA_POOL: (2, "Concurrent calls to the Alpaca market-data API"),
    NDL_POOL: (1, "Concurrent calls to the Nasdaq Data Link API"),
    RAY_POOL: (1, "Concurrent RLlib training runs (each uses the cores Ray is given)"),
    TRADING_POOL: (1, "Tasks talking to the trading account (rebalance, reconcile)"),
    SIGNALS_POOL: (1, "Signal generation: one session at a time, oldest first"),
}

# First session the schedules know about; catchup is off, so this only bounds backfills.
START_DATE = datetime(2015, 1, 1, tzinfo=UTC)


def default_args(**overrides: Any) -> dict[str, Any]:
    """Task defaults: 3 retries, 1 min doubling up to 30 min (vendor hiccups, lock waits)."""
    args: dict[str, Any] = {
        "owner": OWNER,
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=2),
    }
    args.update(overrides)
    return args


def broker_param() -> Any:
    """The ``broker`` param of the trading DAGs (rebalance, reconcile): which account a run talks
    to. Airflow is imported here, not at module level: non-DAG code imports this module too."""
    from airflow.sdk import Param

    from tradewind.trading import BROKERS

    return Param(
        None,
        type=["null", "string"],
        enum=[None, *BROKERS],
        title="Broker",
        description="Empty: alpaca when keys exist, else sim.",
    )
