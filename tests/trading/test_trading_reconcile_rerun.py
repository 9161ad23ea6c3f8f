"""Re-running reconcile for a session leaves every broker.* row identical (all columns)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import psycopg
from trading_helpers import T1, T

from tradewind.trading.service import rebalance, reconcile


def broker_tables(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every row's full text, per table of the broker schema."""
    with psycopg.connect(url) as c:
        names = [
            r[0]
            for r in c.execute(
                "select table_name from information_schema.tables where table_schema = 'broker' "
                "and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        return {
            n: c.execute(
                "select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                f"from broker.{n} t"
            ).fetchone()
            for n in names
        }


def test_reconcile_rerun_leaves_every_broker_row_identical(warehouse):
    assert rebalance(T, "sim").sent == 4
    first = reconcile(T, "sim")
    before = broker_tables(warehouse)
    assert {"fills", "orders", "positions", "reconciliations", "sim_orders"} <= set(before)
    assert before["fills"][0] == 4 and before["reconciliations"][0] == 1
    again = reconcile(T, "sim")
    after = broker_tables(warehouse)
    assert {k for k in before if before[k] != after[k]} == set()
    assert again.report == first.report
    # The simulated fill time: the open of T+1 on the New York clock.
    open_t1 = datetime.combine(T1, time(9, 30), ZoneInfo("America/New_York"))
    with psycopg.connect(warehouse) as c:
        times = {r[0] for r in c.execute("select filled_at from broker.fills").fetchall()}
    assert times == {open_t1}
