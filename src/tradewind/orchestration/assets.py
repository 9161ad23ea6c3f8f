"""Airflow Assets of the warehouse tables the DAGs produce and consume.

URIs follow the postgres asset scheme, naming host, port, database, schema and table
(``postgres://127.0.0.1:54329/tradewind/raw/bars_daily``). The URI is also the asset's name:
Airflow deactivates an asset whose name reappears with another URI, so a shorter fixed name
(``raw.bars_daily``) would break the load tasks the day the warehouse moves. The location is
known without connecting (``warehouse_location``), since DAG files build these while parsing.
"""

from __future__ import annotations

from airflow.sdk import Asset

from tradewind.orchestration.connections import warehouse_location


def table_uri(schema: str, table: str) -> str:
    loc = warehouse_location()
    return f"postgres://{loc.host}:{loc.port}/{loc.database}/{schema}/{table}"


def table_asset(schema: str, table: str) -> Asset:
    return Asset(uri=table_uri(schema, table), group="warehouse")


def bars_daily() -> Asset:
    return table_asset("raw", "bars_daily")


def bars_minute() -> Asset:
    return table_asset("raw", "bars_minute")


def daily_features() -> Asset:
    return table_asset("features", "daily_features")


def forward_returns() -> Asset:
    return table_asset("features", "forward_returns")


def target_weights() -> Asset:
    """Written by ``generate_signals``; schedules ``rebalance_paper_account``."""
    return table_asset("signals", "target_weights")


def model_versions() -> Asset:
    """Updated by ``train_agents`` when the gate promotes a version; schedules signals."""
    return table_asset("ml", "model_versions")


def broker_orders() -> Asset:
    """Written by ``rebalance_paper_account`` (orders for the open of T+1)."""
    return table_asset("broker", "orders")
