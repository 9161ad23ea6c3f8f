"""Baselines through the environment against independent vectorised pandas computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradewind.rl.baselines import (
    BuyAndHold,
    EqualWeight,
    MinimumVariance,
    Momentum,
    min_variance_weights,
    run_policy,
)
from tradewind.rl.data import MarketData
from tradewind.rl.env import PortfolioEnv

WINDOW, FIXED_BPS, SLIPPAGE = 10, 10.0, 0.2


def equal_weight_reference(bars: pd.DataFrame) -> pd.DataFrame:
    """The equal-weight portfolio in vectorised pandas, from the bars alone."""
    opens = bars.pivot(index="session", columns="symbol", values="open").sort_index()
    closes = bars.pivot(index="session", columns="symbol", values="close").sort_index()
    log_open = np.log(opens)
    fwd = log_open.shift(-2) - log_open.shift(-1)  # NaN when T+1 or T+2 has no bar
    listed = opens.notna()
    available = listed & fwd.notna()
    vol = np.log(closes).diff().rolling(20, min_periods=2).std()
    day_mean = vol.where(listed).mean(axis=1).fillna(0.0)
    vol = vol.where(vol.notna(), np.broadcast_to(day_mean.to_numpy()[:, None], vol.shape))
    vol = vol.where(listed, 0.0)
    rate = FIXED_BPS / 1e4 + SLIPPAGE * vol
    w = available.astype(float).div(available.sum(axis=1), axis=0)
    rel = np.exp(fwd).where(available, 1.0)
    grown = w * rel
    growth = grown.sum(axis=1)
    first, last = WINDOW - 1, len(opens) - 3
    grown, growth = grown.iloc[: last + 1], growth.iloc[: last + 1]
    held = grown.div(growth, axis=0).shift(1)  # w_{T-1} drifted to open(T+1)
    held.iloc[first] = 0.0  # the episode starts in cash
    traded = (w - held).abs()
    cost = (traded * rate).sum(axis=1)
    out = pd.DataFrame(
        {
            "log_return": np.log(growth) + np.log1p(-cost),
            "cost": cost,
            "turnover": traded.sum(axis=1),
        }
    )
    out.index = pd.to_datetime(out.index)
    return out.iloc[first : last + 1]


def make_env(market: MarketData, **kw) -> PortfolioEnv:
    options = dict(
        window=WINDOW,
        random_start=False,
        fixed_bps=FIXED_BPS,
        slippage_coef=SLIPPAGE,
        action_kind="weights",
    )
    return PortfolioEnv(market, **(options | kw))


def delisted(bars: pd.DataFrame) -> pd.DataFrame:
    """The fixture with JPM's last bar on 2008-04-10 (it stops trading mid-sample)."""
    gone = (bars["symbol"] == "JPM") & (bars["session"] > "2008-04-10")
    return bars[~gone].reset_index(drop=True)


@pytest.mark.parametrize("variant", ["fixture", "delisted"])
def test_equal_weight_matches_vectorised_reference(bars: pd.DataFrame, variant: str) -> None:
    frame = bars if variant == "fixture" else delisted(bars)
    got = run_policy(make_env(MarketData.from_bars(frame)), EqualWeight(), seed=0)
    ref = equal_weight_reference(frame)
    assert list(got.index) == list(ref.index)
    for col in ("log_return", "cost", "turnover"):
        assert np.allclose(got[col], ref[col], rtol=0, atol=1e-9), col
    assert got["log_return"].sum() == pytest.approx(ref["log_return"].sum(), abs=1e-9)
    assert got["portfolio_value"].iloc[-1] == pytest.approx(
        np.exp(ref["log_return"].sum()), rel=1e-9
    )
    # Before V lists, 1/3 each; afterwards 1/4 each.
    assert got.loc["2008-03-18", ["w_AAPL", "w_JPM", "w_V", "w_XOM"]].tolist() == pytest.approx(
        [1 / 3, 1 / 3, 0, 1 / 3]
    )
    assert got.loc["2008-03-19", "w_V"] == pytest.approx(0.25)
    if variant == "delisted":
        # Held from open(T+1) to open(T+2): the last decision holding JPM is two sessions
        # before its last bar; from then on it is never traded again.
        assert got.loc["2008-04-08", "w_JPM"] == pytest.approx(0.25)
        assert (got.loc["2008-04-09":, "w_JPM"] == 0).all()
        assert got.loc["2008-04-09", "w_V"] == pytest.approx(1 / 3)


def test_buy_and_hold_sells_a_delisting_asset_to_cash(bars: pd.DataFrame) -> None:
    got = run_policy(make_env(MarketData.from_bars(delisted(bars))), BuyAndHold())
    assert got.loc["2008-04-08", "w_JPM"] > 0 and got.loc["2008-04-08", "w_cash"] == 0
    assert got.loc["2008-04-09", "w_JPM"] == 0
    assert got.loc["2008-04-09", "w_cash"] > 0.2
    assert got.loc["2008-04-09", "turnover"] == pytest.approx(got.loc["2008-04-09", "w_cash"])
    assert (got.loc["2008-04-10":, "turnover"] == 0).all()


def test_run_policy_adapts_a_scores_env(market: MarketData) -> None:
    scores_env = PortfolioEnv(market, window=WINDOW, random_start=False)
    a = run_policy(scores_env, EqualWeight())
    b = run_policy(make_env(market, fixed_bps=10.0, slippage_coef=0.0), EqualWeight())
    assert np.allclose(a["log_return"], b["log_return"], atol=1e-15)


def test_buy_and_hold_never_trades_again(market: MarketData) -> None:
    got = run_policy(make_env(market), BuyAndHold())
    assert got["turnover"].iloc[0] == pytest.approx(1.0)
    assert (got["turnover"].iloc[1:] == 0).all()
    assert got["w_V"].max() == 0.0  # V listed after the start: never bought
    # Value equals the drift of the initial 1/3 positions, minus the one-off cost.
    w0 = got[["w_AAPL", "w_JPM", "w_XOM"]].iloc[0].to_numpy()
    growth = np.exp(market.labels[WINDOW - 1 : WINDOW - 1 + len(got)][:, [0, 1, 3]].sum(axis=0))
    value = (w0 * growth).sum() * (1 - got["cost"].iloc[0])
    assert got["portfolio_value"].iloc[-1] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("policy", [MinimumVariance(), Momentum(), Momentum(top_fraction=0.25)])
def test_feature_baselines_give_feasible_weights(market: MarketData, policy) -> None:
    got = run_policy(make_env(market), policy)
    w = got.filter(like="w_").to_numpy()
    assert np.allclose(w.sum(axis=1), 1.0) and (w >= 0).all()
    before_v = got.index < "2008-03-19"
    assert (got.loc[before_v, "w_V"] == 0).all()
    assert np.isfinite(got["log_return"]).all()


def test_momentum_picks_the_best_recent_performers(market: MarketData) -> None:
    env = make_env(market)
    obs, _ = env.reset()
    policy = Momentum(top_fraction=0.5)
    policy.reset(env)
    w = policy(obs)
    close = obs["features"][:, env.feature_names.index("lr_close"), :].sum(axis=0)
    listed = obs["listed"] > 0
    best = np.argsort(-np.where(listed, close, -np.inf))[:2]
    assert set(np.flatnonzero(w[:-1])) == set(best)


def test_min_variance_weights_by_hand() -> None:
    # Two uncorrelated assets: weights inversely proportional to variance.
    w = min_variance_weights(np.diag([0.04, 0.01]), shrinkage=0.0)
    assert w == pytest.approx([0.2, 0.8])
    # A strongly correlated riskier asset would get a negative weight: long-only drops it.
    cov = np.array([[0.01, 0.018], [0.018, 0.04]])
    assert min_variance_weights(cov, shrinkage=0.0) == pytest.approx([1.0, 0.0])
