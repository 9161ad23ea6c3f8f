"""The reward of a fixed-weights policy on real bars equals a hand computation.

The reference below reads the fixture CSV with the csv module and recomputes everything in
plain Python (no pandas, nothing from tradewind.rl): open(T+1)->open(T+2) returns, the drifted
holdings, turnover, fixed + volatility slippage costs. It covers V's listing gap.
"""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from tradewind.rl.data import MarketData
from tradewind.rl.env import PortfolioEnv

FIXTURE = Path(__file__).parent / "fixtures" / "bars_4sym_2008.csv"
REQUEST = {"AAPL": 0.3, "JPM": 0.2, "V": 0.25, "XOM": 0.1, "cash": 0.15}
WINDOW, FIXED_BPS, SLIPPAGE, VOL_WINDOW = 3, 7.0, 0.25, 20


def read_bars() -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, float]]]:
    with FIXTURE.open() as fh:
        rows = list(csv.DictReader(fh))
    bars = {(r["symbol"], r["session"]): {k: float(r[k]) for k in ("open", "close")} for r in rows}
    return sorted({r["session"] for r in rows}), sorted({r["symbol"] for r in rows}), bars


def hand_volatility(symbol: str, t: int, sessions, bars) -> float | None:
    """Std of the symbol's close log changes over calendar sessions t-19..t (None if < 2)."""
    changes = []
    for s in range(max(1, t - VOL_WINDOW + 1), t + 1):
        now, before = bars.get((symbol, sessions[s])), bars.get((symbol, sessions[s - 1]))
        if now and before:
            changes.append(math.log(now["close"]) - math.log(before["close"]))
    return statistics.stdev(changes) if len(changes) >= 2 else None


def hand_rewards(t_first: int, t_last: int) -> list[dict[str, float]]:
    sessions, symbols, bars = read_bars()
    holdings = {s: 0.0 for s in symbols} | {"cash": 1.0}
    out = []
    for t in range(t_first, t_last + 1):
        ahead = sessions[t + 1], sessions[t + 2]
        available = [s for s in symbols if all((s, d) in bars for d in (sessions[t], *ahead))]
        total = sum(REQUEST[s] for s in available) + REQUEST["cash"]
        target = {s: (REQUEST[s] / total if s in available else 0.0) for s in symbols}
        target["cash"] = REQUEST["cash"] / total
        listed = [s for s in symbols if (s, sessions[t]) in bars]
        vols = {s: hand_volatility(s, t, sessions, bars) for s in listed}
        known = [v for v in vols.values() if v is not None]
        fill = sum(known) / len(known) if known else 0.0
        cost = 0.0
        for s in symbols:
            vol = vols.get(s)
            vol = (fill if vol is None else vol) if s in listed else 0.0
            cost += abs(target[s] - holdings[s]) * (FIXED_BPS / 1e4 + SLIPPAGE * vol)
        rel = {s: bars[(s, ahead[1])]["open"] / bars[(s, ahead[0])]["open"] for s in available}
        growth = sum(target[s] * rel[s] for s in available) + target["cash"]
        out.append(
            {
                "session": sessions[t],
                "reward": math.log(1.0 - cost) + math.log(growth),
                "cost": cost,
                "v_available": "V" in available,
            }
        )
        holdings = {s: (target[s] * rel[s] / growth if s in available else 0.0) for s in symbols}
        holdings["cash"] = target["cash"] / growth
    return out


def test_fixed_weights_reward_equals_hand_computation(market: MarketData) -> None:
    env = PortfolioEnv(
        market,
        window=WINDOW,
        action_kind="weights",
        random_start=False,
        fixed_bps=FIXED_BPS,
        slippage_coef=SLIPPAGE,
    )
    action = np.array([REQUEST[s] for s in (*env.symbols, "cash")])
    env.reset(seed=0)
    got, done = [], False
    while not done:
        _, reward, terminated, truncated, info = env.step(action)
        got.append((info["session"], reward, info["cost"]))
        done = terminated or truncated
    a = env.arrays
    expected = hand_rewards(a.t_first, a.t_last)
    assert len(got) == len(expected) == 58
    for (session, reward, cost), ref in zip(got, expected, strict=True):
        assert session == ref["session"]
        assert reward == pytest.approx(ref["reward"], abs=1e-12)
        assert cost == pytest.approx(ref["cost"], abs=1e-12)
    # The run crosses V's listing: days without it, the day it becomes tradeable, days with it.
    flags = [r["v_available"] for r in expected]
    assert not flags[0] and flags[-1]
    first_v = flags.index(True)
    assert expected[first_v]["session"] == "2008-03-19"
    # Listing day: buying V costs turnover, so that day's cost exceeds the day before.
    assert expected[first_v]["cost"] > 3 * expected[first_v - 1]["cost"]
