"""Re-running reconcile for a session leaves every broker.* row identical (all columns)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import psycopg
import pytest
from trading_helpers import T1, WEIGHTS, T, insert_bars, insert_targets

from tradewind.emulator import make_dataset
from tradewind.trading.service import rebalance, reconcile

# Symbols of several lengths: jsonb stores the sim book's keys shorter-first, so the book read
# back comes in another order than the one the fills built (a float sum must not care).
MIXED = {"NVDA": 0.12, "GS": 0.22, "JPM": 0.18, "V": 0.16, "HD": 0.14, "MMM": 0.11}


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


@pytest.mark.parametrize("weights", [WEIGHTS, MIXED], ids=["same_length", "mixed_length"])
def test_reconcile_rerun_leaves_every_broker_row_identical(tw_env, weights):
    ds = make_dataset(list(weights), "2015-01-02", "2015-03-31", seed=11, minute=False)
    insert_bars(tw_env, ds)
    insert_targets(tw_env, T, weights)
    assert rebalance(T, "sim").sent == len(weights)
    first = reconcile(T, "sim")
    before = broker_tables(tw_env)
    assert {"fills", "orders", "positions", "reconciliations", "sim_orders"} <= set(before)
    assert before["fills"][0] == len(weights) and before["reconciliations"][0] == 1
    again = reconcile(T, "sim")
    after = broker_tables(tw_env)
    assert {k for k in before if before[k] != after[k]} == set()
    assert again.report == first.report
    # The simulated fill time: the open of T+1 on the New York clock.
    open_t1 = datetime.combine(T1, time(9, 30), ZoneInfo("America/New_York"))
    with psycopg.connect(tw_env) as c:
        times = {r[0] for r in c.execute("select filled_at from broker.fills").fetchall()}
    assert times == {open_t1}
