"""The time rule: changing any bar after session T changes nothing the agent sees at T.

Bars after T are rewritten (prices and volumes scaled by random factors), MarketData is built
again from the bars, and the same policies are run through the environment: the features,
listed flags, weights and the policies' actions at every session up to T must be identical,
while the reward at T (which uses open(T+1) and open(T+2)) must change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradewind.rl.baselines import MinimumVariance, Momentum
from tradewind.rl.data import MarketData
from tradewind.rl.env import PortfolioEnv

WINDOW = 6


def perturb_after(bars: pd.DataFrame, session: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = bars.copy()
    later = pd.to_datetime(out["session"]) > pd.Timestamp(session)
    for col in ("open", "high", "low", "close", "volume"):
        out.loc[later, col] = out.loc[later, col] * rng.uniform(0.5, 1.5, int(later.sum()))
    return out


def trace(data: MarketData, policy, steps: int, **options) -> list[dict]:
    """Observations, actions and rewards of the first ``steps`` decisions from the start."""
    env = PortfolioEnv(data, window=WINDOW, random_start=False, slippage_coef=0.3, **options)
    obs, _ = env.reset(seed=0)
    if hasattr(policy, "reset"):
        policy.reset(env)
    out = []
    for _ in range(steps):
        action = policy(obs)
        record = {k: v.copy() for k, v in obs.items()} | {"action": np.asarray(action).copy()}
        obs, reward, _, _, info = env.step(action)
        out.append(record | {"reward": reward, "session": info["session"]})
    return out


@pytest.mark.parametrize("t_session", ["2008-02-19", "2008-03-18", "2008-03-19", "2008-04-15"])
def test_changing_bars_after_t_changes_nothing_at_t(bars: pd.DataFrame, t_session: str) -> None:
    base = MarketData.from_bars(bars)
    moved = MarketData.from_bars(perturb_after(bars, t_session))
    t = int(np.flatnonzero(base.sessions == np.datetime64(t_session))[0])

    # The arrays an observation or a cost is built from, up to and including T.
    for name in ("features", "volatility", "listed", "available"):
        a, b = getattr(base, name)[: t + 1], getattr(moved, name)[: t + 1]
        assert np.array_equal(a, b, equal_nan=True), name
    assert not np.array_equal(base.features[t + 1], moved.features[t + 1], equal_nan=True)

    steps = t - (WINDOW - 1) + 1  # decisions from the first one up to T inclusive
    for policy, options in (
        (Momentum(), {"action_kind": "weights"}),
        (MinimumVariance(), {"action_kind": "weights"}),
    ):
        a, b = trace(base, policy, steps, **options), trace(moved, policy, steps, **options)
        assert a[-1]["session"] == t_session
        for ra, rb in zip(a, b, strict=True):
            for key in ("features", "listed", "weights", "action"):
                assert np.array_equal(ra[key], rb[key]), (ra["session"], key)
        # The reward of T is earned after T: the perturbation reaches it.
        assert a[-1]["reward"] != b[-1]["reward"]
        assert [r["reward"] for r in a[:-2]] == [r["reward"] for r in b[:-2]]


def test_changing_the_bar_at_t_does_change_the_observation(bars: pd.DataFrame) -> None:
    t_session = "2008-03-18"
    base = MarketData.from_bars(bars)
    moved = MarketData.from_bars(perturb_after(bars, "2008-03-17"))  # includes T itself
    t = int(np.flatnonzero(base.sessions == np.datetime64(t_session))[0])
    steps = t - (WINDOW - 1) + 1
    a = trace(base, Momentum(), steps, action_kind="weights")
    b = trace(moved, Momentum(), steps, action_kind="weights")
    assert not np.array_equal(a[-1]["features"], b[-1]["features"])
    assert np.array_equal(a[-2]["features"], b[-2]["features"])
