"""The simulated broker: backtest parity with the environment, warehouse-backed rebalances and
reconciliations, and the demo step."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import psycopg
import pytest
from rich.console import Console
from trading_helpers import SYMBOLS, T1, WEIGHTS, T, bar, insert_targets

from tradewind import calendar as nyse
from tradewind.rl.core import CostConfig
from tradewind.trading.parity import broker_backtest, parity_report
from tradewind.trading.service import rebalance, reconcile
from tradewind.trading.sim_broker import Bars


@pytest.fixture(scope="module")
def bars() -> Bars:
    from trading_helpers import dataset

    return Bars(dataset().daily)


def random_weights(bars: Bars, n: int = 30, seed: int = 0) -> pd.DataFrame:
    sessions = sorted(set(bars.frame["session"]))
    days = sessions[22 : 22 + n]
    w = np.random.default_rng(seed).dirichlet(np.ones(len(SYMBOLS) + 1), size=n)[:, :-1]
    return pd.DataFrame(w, index=pd.to_datetime(days), columns=SYMBOLS)


@pytest.mark.parametrize("costs", [CostConfig(10, 0.0), CostConfig(25, 0.3)], ids=str)
def test_parity_with_the_env_in_continuous_mode(bars, costs):
    rep = parity_report(bars, random_weights(bars), costs=costs, quantities="continuous")
    assert rep.sessions == 30
    assert rep.max_abs_return_diff < 1e-9 and rep.final_value_rel_diff < 1e-9


def test_whole_shares_difference_is_reported(bars):
    weights = random_weights(bars)
    whole = parity_report(bars, weights, quantities="whole", initial_cash=20_000)
    assert 1e-7 < whole.max_abs_return_diff < 5e-3  # rounding to shares: small, not zero
    assert "max |daily return diff|" in whole.line()


def test_sim_fee_is_the_env_cost_of_the_achieved_book(bars):
    # One step from cash, computed here from raw prices: fee f solves f = rate * A * V / (V - f)
    # with A the dollars put into shares at the open (h = 0, w_i = a_i / (V - f)).
    w = random_weights(bars, n=1)
    rec = broker_backtest(bars, w, costs=CostConfig(10, 0.0), initial_cash=50_000)
    t1 = nyse.next_session(w.index[0].date())
    opens = {s: bars.open(s, t1) for s in SYMBOLS}
    v = 50_000.0
    # The planner sizes a_i = w_i * V * (1 - c), c = rate * sum(w); check the fee from a_i.
    c = 1e-3 * w.iloc[0].sum()
    a = (w.iloc[0] * v * (1 - c)).sum()
    fee = (v - math.sqrt(v * v - 4 * v * 1e-3 * a)) / 2
    assert rec["fee"].iloc[0] == pytest.approx(fee, rel=1e-12)
    assert rec["fee"].iloc[0] == pytest.approx(c * v, rel=1e-12)
    assert all(opens.values())


def sim_positions(db_url: str) -> dict[str, float]:
    with psycopg.connect(db_url) as c:
        (pos,) = c.execute("select positions from broker.sim_accounts").fetchone()
    return pos


def test_sim_rebalance_reconcile_and_rerun(warehouse):
    res = rebalance(T, "sim")
    assert res.sent == 4 and not res.errors
    again = rebalance(T, "sim")
    assert again.sent == 0 and again.found == 4
    rec = reconcile(T, "sim")
    pos = sim_positions(warehouse)
    with psycopg.connect(warehouse) as c:
        rows = dict(
            c.execute(
                "select symbol, qty from broker.positions where broker = 'sim' and session = %s",
                (T1,),
            ).fetchall()
        )
        fills = c.execute("select symbol, price, qty from broker.fills").fetchall()
        (cash,) = c.execute("select cash from broker.sim_accounts").fetchone()
    assert {s: float(q) for s, q in rows.items()} == pos  # reconciled = the broker's book
    for sym, price, qty in fills:
        assert float(price) == bar(warehouse, sym, T1, "open")
        close = bar(warehouse, sym, T, "close")
        assert float(qty) == pytest.approx(
            math.floor(WEIGHTS[sym] * 100_000 * (1 - 0.01) * (1 - 0.0008) / close * 1e9) / 1e9,
            abs=2e-9,
        )
    # cash = initial - cost of the shares - the env's fee of the achieved book (10 bp default)
    spent = sum(float(p) * float(q) for _, p, q in fills)
    v = 100_000.0
    fee = (v - math.sqrt(v * v - 4 * v * 1e-3 * spent)) / 2
    assert cash == pytest.approx(v - spent - fee, rel=1e-12)
    assert rec.report["fees"] == pytest.approx(fee, rel=1e-9)
    assert rec.report["unfilled"] == []
    # the next day: targets of T+1 sell part of the book; the sim fills sells first at T+2
    insert_targets(warehouse, T1, {"AAA": 0.1, "BBB": 0.25, "CCC": 0.25})
    nxt = rebalance(T1, "sim")
    sides = [o.side for o in nxt.plan.orders]
    assert sides == sorted(sides, key=lambda x: x != "sell") and "sell" in sides
    assert {o.symbol for o in nxt.plan.orders if o.side == "sell"} >= {"AAA", "DDD"}


def test_demo_rebalance_prints_the_portfolio(warehouse):
    from tradewind.trading.demo import demo_rebalance

    console = Console(record=True, width=140)
    out = demo_rebalance(console)
    text = console.export_text()
    assert out["session"] == T
    assert "simulated portfolio on 2015-03-27" in text  # (the title wraps to the table)
    assert out["status"]["open_orders"] == [] and len(out["status"]["positions"]) == 4
    for s in WEIGHTS:
        assert s in text
    assert "cash" in text


def test_no_lookahead_bars_after_t_do_not_change_the_plan(warehouse):
    before = rebalance(T, "sim", dry_run=True).plan
    with psycopg.connect(warehouse) as c:
        c.execute(
            "update raw.bars_daily set open = open * 3, high = high * 3, low = low * 3, "
            "close = close * 3, volume = volume + 1 where session > %s",
            (T,),
        )
    after = rebalance(T, "sim", dry_run=True).plan
    assert after == before
    with psycopg.connect(warehouse) as c:
        c.execute(
            "update raw.bars_daily set close = close * 1.5, high = high * 1.5 where session = %s",
            (T,),
        )
    changed = rebalance(T, "sim", dry_run=True).plan
    assert changed.orders != before.orders  # the close of T itself does matter


def test_dry_run_and_refusals_are_logged_as_runs(warehouse):
    rebalance(T, "sim", dry_run=True)
    with pytest.raises(Exception, match="stale targets"):
        rebalance(T1, "sim")
    with psycopg.connect(warehouse) as c:
        runs = c.execute(
            "select as_of_session, status, orders_planned from broker.rebalance_runs order by run_id"
        ).fetchall()
        lines = c.execute("select count(*) from broker.plan_lines").fetchone()[0]
        orders = c.execute("select count(*) from broker.orders").fetchone()[0]
    assert [(r[0], r[1]) for r in runs] == [(T, "dry_run"), (T1, "refused")]
    assert runs[0][2] == 4 and lines == 4 and orders == 0


def test_model_choice_production_version_and_reconcile_of_the_traded_model(warehouse):
    insert_targets(warehouse, T, {"AAA": 0.1, "BBB": 0.1}, model="demo", version=2)
    insert_targets(warehouse, T, {"CCC": 0.2}, model="other", version=1)
    with pytest.raises(Exception, match="several models"):
        rebalance(T, "sim", dry_run=True)
    with pytest.raises(Exception, match=r"demo@1, demo@2.*--model NAME@VERSION"):
        rebalance(T, "sim", model="demo", dry_run=True)
    with psycopg.connect(warehouse) as c:
        c.execute(
            "insert into ml.model_versions (model_name, version, stage, artifact_uri) values "
            "('demo', 1, 'candidate', 'x'), ('demo', 2, 'production', 'y')"
        )
    chosen = rebalance(T, "sim", model="demo")
    assert (chosen.targets.model_version, sorted(chosen.targets.weights)) == (2, ["AAA", "BBB"])
    v1 = rebalance(T, "sim", model="demo@1", dry_run=True)
    assert v1.targets.model_version == 1 and v1.targets.weights == WEIGHTS
    rec = reconcile(T, "sim")  # no --model: the orders of T say which targets they were for
    assert rec.report["model"] == "demo@2"
    assert {ln["symbol"] for ln in rec.report["weights"]} == {"AAA", "BBB"}


def test_reconcile_before_the_next_open_is_loaded_is_one_clear_error(warehouse):
    rebalance(T, "sim")
    with psycopg.connect(warehouse) as c:
        c.execute("delete from raw.bars_daily where session >= %s", (T1,))
    with pytest.raises(Exception, match="no bars for 2015-03-27 yet"):
        reconcile(T, "sim")
    with psycopg.connect(warehouse) as c:
        assert c.execute("select count(*) from broker.fills").fetchone() == (0,)


def test_prices_come_from_one_series_per_symbol(warehouse):
    from tradewind.trading import store

    with psycopg.connect(warehouse) as c:  # a second source that stops a week earlier, 2x prices
        c.execute(
            "insert into raw.bars_daily (source, symbol, session, open, high, low, close, volume) "
            "select 'csv', symbol, session, open * 2, high * 2, low * 2, close * 2, volume "
            "from raw.bars_daily where source = 'alpaca' and session < %s",
            (T.replace(day=19),),
        )
        frame = store.load_bars(c, SYMBOLS, T.replace(day=1), T)
        (n_csv,) = c.execute("select count(*) from raw.bars_daily where source = 'csv'").fetchone()
    assert n_csv > 0
    for r in frame.itertuples():
        assert r.close == bar(warehouse, r.symbol, r.session, "close")  # all from 'alpaca'
    plan = rebalance(T, "sim", dry_run=True).plan
    assert {ln.symbol: ln.price for ln in plan.lines} == {
        s: bar(warehouse, s, T, "close") for s in SYMBOLS
    }


def test_parity_on_real_bars_through_the_2020_crash(shared_data):
    syms = ["AAPL", "BA", "JPM", "KO", "MSFT", "OXY", "PFE", "XOM"]
    frames = []
    for s in syms:
        f = pd.read_csv(shared_data / "sp100_daily_yahoo_2000_2020" / f"{s}.csv")
        f = f.rename(columns=str.lower).rename(columns={"date": "session"})
        f = f[(f["session"] >= "2019-09-01") & (f["session"] <= "2020-09-30")]
        frames.append(
            f.assign(symbol=s)[["symbol", "session", "open", "high", "low", "close", "volume"]]
        )
    real = Bars(pd.concat(frames, ignore_index=True))
    days = sorted(set(real.frame["session"]))[25:-3]
    w = np.random.default_rng(7).dirichlet(np.ones(len(syms) + 1), size=len(days))[:, :-1]
    weights = pd.DataFrame(w, index=pd.to_datetime(days), columns=syms)
    costs = CostConfig(fixed_bps=10, slippage_coef=0.1)
    rep = parity_report(real, weights, costs=costs, quantities="continuous")
    assert rep.sessions == len(days) > 200
    assert rep.max_abs_return_diff < 1e-9 and rep.final_value_rel_diff < 1e-9
    whole = parity_report(real, weights, costs=costs, quantities="whole", initial_cash=100_000)
    assert 0 < whole.max_abs_return_diff < 0.01
