"""Backtest parity: the simulated broker run day by day through the planner vs the env.

``broker_backtest`` trades the given daily target weights through ``plan_rebalance`` and
``SimBroker`` (orders at T, fills at the open of T+1, the env's cost model) and records the
simple net return of each decision session T, V(open T+2) / V(open T+1) - 1, the quantity the
environment's backtest reports. ``parity_report`` runs both and compares them.

Planning prices: the environment sizes w_T at the open of T+1, where it trades, so the parity
run plans at those prices (``plan_at="open"``). A live run can only plan at the close of T;
``plan_at="close"`` shows what that costs in tracking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradewind import calendar as nyse
from tradewind.rl.core import CostConfig
from tradewind.trading.ids import client_order_id
from tradewind.trading.planner import PlanConfig, plan_rebalance
from tradewind.trading.sim_broker import Bars, SimBroker

QUANTITIES = ("continuous", "fractional", "whole")


def broker_backtest(
    bars: Bars,
    weights: pd.DataFrame,
    *,
    costs: CostConfig = CostConfig(),
    initial_cash: float = 100_000.0,
    quantities: str = "continuous",
    plan_at: str = "open",
    min_trade_value: float = 0.0,
) -> pd.DataFrame:
    """``weights``: index = decision sessions T (dates), columns = symbols, rows sum to <= 1.

    ``quantities``: ``continuous`` (exact floats), ``fractional`` (9 decimals, Alpaca's step)
    or ``whole`` (whole shares). Returns one row per T: ``value_open`` (V at open T+1 before trading), ``fee``, ``turnover``
    and ``return`` (simple, net of the fee) and ``cash``."""
    if quantities not in QUANTITIES:
        raise ValueError(f"quantities must be one of {QUANTITIES}, not {quantities!r}")
    config = PlanConfig(
        min_trade_value=min_trade_value,
        cash_buffer=0.0,
        fractional=quantities != "whole",
        continuous=quantities == "continuous",
    )
    sessions = [pd.Timestamp(t).date() for t in weights.index]
    broker = SimBroker(bars, sessions[0], initial_cash=initial_cash, costs=costs)
    rows = []
    for t, (_, row) in zip(sessions, weights.iterrows(), strict=True):
        b = broker.at(t)
        t1 = nyse.next_session(t)
        field_ = "open" if plan_at == "open" else "close"
        day = t1 if plan_at == "open" else t
        target = {s: float(x) for s, x in row.items() if np.isfinite(x)}
        symbols = set(target) | set(b.positions())
        prices = {s: b.mark(s, day, field_) for s in symbols}
        acct = b.account()  # the planner values the book at ``prices`` itself
        plan = plan_rebalance(
            target, b.positions(), prices, acct, b.assets(symbols), config,
            rates=b.cost_rates(symbols, t),
        ).with_ids(lambda s, side, t=t, a=b.account_id: client_order_id(a, t, "parity", s, side))  # fmt: skip
        v_open = b.value(t1, "open")
        for o in plan.orders:
            res = b.submit(o)
            if res.error:
                raise RuntimeError(f"{t} {o.symbol}: {res.error}")
        filled = b.settle(t1)
        rows.append(
            {
                "session": pd.Timestamp(t),
                "value_open": v_open,
                "fee": sum(o.fee for o in filled),
                "turnover": plan.turnover,
                "cash": b.state.cash,
            }
        )
    frame = pd.DataFrame(rows).set_index("session")
    # V(open T+2) is the next row's pre-trade value; the last one is valued at its own T+2.
    last_t2 = nyse.next_session(nyse.next_session(sessions[-1]))
    after = np.r_[frame["value_open"].to_numpy()[1:], broker.value(last_t2, "open")]
    frame["return"] = after / frame["value_open"].to_numpy() - 1.0
    return frame


def env_backtest(
    bars: Bars, weights: pd.DataFrame, *, costs: CostConfig = CostConfig()
) -> pd.DataFrame:
    """The environment's backtest of the same weights (``run_policy`` on ``PortfolioEnv``)."""
    from tradewind.rl.baselines import run_policy
    from tradewind.rl.env import PortfolioEnv

    data = bars.market_data()
    first, last = weights.index[0], weights.index[-1]
    env = PortfolioEnv(
        data,
        window=1,
        action_kind="weights",
        session_range=(pd.Timestamp(first).date(), pd.Timestamp(last).date()),
        random_start=False,
        episode_length=None,
        fixed_bps=costs.fixed_bps,
        slippage_coef=costs.slippage_coef,
    )
    cols = list(env.symbols)
    table = weights.reindex(columns=cols).fillna(0.0)
    table.index = [str(pd.Timestamp(i).date()) for i in table.index]

    class _Fixed:
        action_kind = "weights"

        def reset(self, e):
            self.env = e

        def __call__(self, obs):
            w = table.loc[self.env.session].to_numpy(dtype=np.float64)
            return np.r_[w, 1.0 - w.sum()]

    return run_policy(env, _Fixed())


@dataclass(frozen=True)
class ParityReport:
    sessions: int
    max_abs_return_diff: float
    final_value_rel_diff: float
    broker_total_return: float
    env_total_return: float

    def line(self) -> str:
        return (
            f"{self.sessions} sessions: max |daily return diff| {self.max_abs_return_diff:.3e}, "
            f"final value rel. diff {self.final_value_rel_diff:.3e} (broker "
            f"{self.broker_total_return:+.4%}, env {self.env_total_return:+.4%})"
        )


def parity_report(
    bars: Bars,
    weights: pd.DataFrame,
    *,
    costs: CostConfig = CostConfig(),
    quantities: str = "continuous",
    plan_at: str = "open",
    initial_cash: float = 100_000.0,
) -> ParityReport:
    sim = broker_backtest(
        bars, weights, costs=costs, quantities=quantities, plan_at=plan_at,
        initial_cash=initial_cash,
    )  # fmt: skip
    env = env_backtest(bars, weights, costs=costs)
    env_ret = env["return"].reindex(sim.index)
    if env_ret.isna().any():
        raise ValueError("the env has no return for some broker sessions (check availability)")
    diff = (sim["return"] - env_ret).abs()
    g_sim = float(np.prod(1 + sim["return"]))
    g_env = float(np.prod(1 + env_ret))
    return ParityReport(
        sessions=len(sim),
        max_abs_return_diff=float(diff.max()),
        final_value_rel_diff=abs(g_sim / g_env - 1.0),
        broker_total_return=g_sim - 1.0,
        env_total_return=g_env - 1.0,
    )
