"""The pure order planner, risk checks and client order ids (no I/O)."""

from __future__ import annotations

from datetime import date

import pytest

from tradewind.trading import risk
from tradewind.trading.ids import client_order_id
from tradewind.trading.model import Account, Asset, Clock, Targets
from tradewind.trading.planner import PlanConfig, plan_rebalance

PRICES = {"A": 100.0, "B": 50.0, "C": 20.0}
NOBUF = PlanConfig(cash_buffer=0.0, min_trade_value=1.0)


def cash_account(cash=10_000.0, bp=None, fund=False) -> Account:
    return Account("acct", cash, cash, cash if bp is None else bp, sells_fund_buys=fund)


def test_first_rebalance_builds_the_book_from_cash():
    plan = plan_rebalance({"A": 0.5, "B": 0.3}, {}, PRICES, cash_account(), {}, NOBUF)
    got = {o.symbol: (o.side, o.qty, o.time_in_force) for o in plan.orders}
    assert got == {"A": ("buy", 50.0, "opg"), "B": ("buy", 60.0, "opg")}  # 5000/100, 3000/50
    assert plan.turnover == pytest.approx(0.8) and plan.buy_scale == 1.0


def test_one_order_per_symbol_sells_first_and_full_exits():
    pos = {"A": 60.0, "B": 10.0, "C": 3.0}  # value 6000 + 500 + 60, cash 3440 -> equity 10000
    acct = Account("acct", 3440.0, 10_000.0, 3440.0, sells_fund_buys=True)
    plan = plan_rebalance({"A": 0.3, "B": 0.5}, pos, PRICES, acct, {}, NOBUF)
    assert [(o.symbol, o.side) for o in plan.orders] == [("A", "sell"), ("C", "sell"), ("B", "buy")]
    q = {o.symbol: o.qty for o in plan.orders}
    assert q == {"A": 30.0, "C": 3.0, "B": 90.0}  # C: weight 0 -> sold entirely


def test_fractional_where_allowed_whole_shares_otherwise():
    assets = {"A": Asset("A", fractionable=False), "B": Asset("B")}
    plan = plan_rebalance({"A": 0.333, "B": 0.333}, {}, PRICES, cash_account(), assets, NOBUF)
    by = {o.symbol: o for o in plan.orders}
    assert by["A"].qty == 33.0 and by["A"].time_in_force == "opg"  # 33.3 -> 33 whole shares
    assert by["B"].qty == pytest.approx(66.6) and by["B"].time_in_force == "day"


def test_min_trade_size_and_cash_buffer():
    pos = {"A": 50.0}
    acct = Account("acct", 5000.0, 10_000.0, 5000.0)
    cfg = PlanConfig(cash_buffer=0.0, min_trade_value=150.0)
    plan = plan_rebalance({"A": 0.51, "B": 0.2}, pos, PRICES, acct, {}, cfg)
    assert [o.symbol for o in plan.orders] == ["B"]  # A: +$100 < $150 minimum
    assert "minimum" in next(ln.note for ln in plan.lines if ln.symbol == "A")
    buffered = plan_rebalance(
        {"B": 1.0}, {}, PRICES, cash_account(), {}, PlanConfig(cash_buffer=0.02)
    )
    assert buffered.orders[0].qty == pytest.approx(196.0)  # 98% of 10000 / 50


def test_buys_scaled_to_buying_power_and_sells_funding_buys():
    acct = cash_account(bp=4000.0)
    plan = plan_rebalance({"A": 0.5, "B": 0.3}, {}, PRICES, acct, {}, NOBUF)
    spent = sum(o.qty * PRICES[o.symbol] for o in plan.orders)
    assert plan.buy_scale == pytest.approx(0.5) and spent == pytest.approx(4000.0)
    # 10 A held, no cash: without sells funding buys nothing can be bought
    acct = Account("acct", 0.0, 1000.0, 0.0, sells_fund_buys=False)
    plan = plan_rebalance({"B": 1.0}, {"A": 10.0}, PRICES, acct, {}, NOBUF)
    assert [o.side for o in plan.orders] == ["sell"]
    acct = Account("acct", 0.0, 1000.0, 0.0, sells_fund_buys=True)
    plan = plan_rebalance({"B": 1.0}, {"A": 10.0}, PRICES, acct, {}, NOBUF)
    assert [(o.side, o.qty) for o in plan.orders] == [("sell", 10.0), ("buy", 20.0)]


def test_not_tradable_is_held_and_costs_shrink_the_book():
    assets = {"A": Asset("A", tradable=False)}
    acct = Account("acct", 5000.0, 10_000.0, 5000.0)
    plan = plan_rebalance({"A": 0.0, "B": 0.4}, {"A": 50.0}, PRICES, acct, assets, NOBUF)
    assert [o.symbol for o in plan.orders] == ["B"]
    plan = plan_rebalance({"B": 1.0}, {}, PRICES, cash_account(), {}, NOBUF, rates={"B": 0.01})
    assert plan.expected_cost == pytest.approx(0.01)
    assert plan.orders[0].qty == pytest.approx(10_000 * 0.99 / 50)


def test_client_order_id_is_deterministic_and_keyed_by_all_five_fields():
    base = ("acct", date(2015, 3, 26), "demo", "AAPL", "buy")
    a = client_order_id(*base)
    assert a == client_order_id(*base) and len(a) <= 128 and a.startswith("tw-20150326-AAPL-b-")
    others = {
        client_order_id(*(base[:i] + (v,) + base[i + 1 :]))
        for i, v in enumerate(("acct2", date(2015, 3, 27), "demo2", "MSFT", "sell"))
    }
    assert len(others) == 5 and a not in others


def test_risk_checks_collect_every_breach():
    limits = risk.RiskLimits(max_weight=0.3, max_gross_exposure=1.0)
    t = Targets(date(2015, 3, 26), "m", 1, {"A": 0.5, "B": 0.6, "C": float("nan"), "X": 0.1})
    assets = {"A": Asset("A"), "B": Asset("B"), "C": Asset("C"), "X": None}
    out = risk.check_targets(t, date(2015, 3, 26), limits, assets)
    text = "; ".join(out)
    assert "non-finite" in text and "max weight" in text and "gross exposure" in text
    assert "unknown symbol(s) at the broker: X" in text
    assert risk.check_targets(None, date(2015, 3, 26), limits, {}, date(2015, 3, 20)) == [
        "no target weights for 2015-03-26 (newest targets: 2015-03-20)"
    ]
    assert risk.check_session(date(2015, 4, 3), risk.RiskLimits(kill_switch=True)) == [
        "the kill switch is on (TRADEWIND_TRADING_KILL_SWITCH=true)",
        "2015-04-03 is not an NYSE session (market holiday or weekend)",
    ]
    import pandas as pd

    ok = Clock(
        pd.Timestamp("2015-03-26 20:05", tz="UTC"),
        False,
        pd.Timestamp("2015-03-27 13:30", tz="UTC"),
    )
    assert risk.check_clock(ok, date(2015, 3, 26)) == []
    early = Clock(
        pd.Timestamp("2015-03-26 19:00", tz="UTC"), True, pd.Timestamp("2015-03-27 13:30", tz="UTC")
    )
    assert "market is open" in risk.check_clock(early, date(2015, 3, 26))[0]
