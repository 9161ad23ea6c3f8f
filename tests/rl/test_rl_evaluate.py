"""Evaluation metrics against hand computations (written here from their definitions, not with
empyrical), backtests against the env's record, no lookahead, windows, and the pictures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradewind.rl.baselines import EqualWeight, Momentum, run_policy
from tradewind.rl.data import MarketData
from tradewind.rl.env import EnvConfig, PortfolioEnv
from tradewind.rl.evaluate import performance, plot_backtest, summary_table, write_report
from tradewind.rl.evaluation import (
    BASELINES,
    METRIC_KEYS,
    backtest,
    baseline_backtests,
    metrics,
    resolve_windows,
)

WINDOW = 10


def test_metrics_by_hand() -> None:
    r = np.array([0.10, -0.10, 0.05, 0.02, -0.03])
    got = metrics(r, turnover=np.array([1.0, 0.5, 0.0, 0.2, 0.3]))
    n, growth = len(r), np.prod(1 + r)
    vol = r.std(ddof=1) * math.sqrt(252)
    value = np.cumprod(1 + r)
    max_dd = np.min(value / np.maximum.accumulate(np.r_[1.0, value])[1:] - 1)
    downside = math.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) * math.sqrt(252)
    annual = growth ** (252 / n) - 1
    assert got["annual_return"] == pytest.approx(annual, rel=1e-12)
    assert got["annual_volatility"] == pytest.approx(vol, rel=1e-12)
    assert got["sharpe_ratio"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert got["sortino_ratio"] == pytest.approx(r.mean() * 252 / downside, rel=1e-12)
    assert got["max_drawdown"] == pytest.approx(max_dd, rel=1e-12)  # 0.99/1.10 - 1
    assert max_dd == pytest.approx(0.99 / 1.10 - 1)
    assert got["calmar_ratio"] == pytest.approx(annual / -max_dd, rel=1e-12)
    assert got["turnover"] == pytest.approx(0.4)
    assert got["hit_rate"] == pytest.approx(3 / 5)
    assert got["total_return"] == pytest.approx(growth - 1, rel=1e-12)
    assert got["sessions"] == 5
    assert tuple(got) == METRIC_KEYS


def test_metrics_without_a_losing_day_are_json_safe() -> None:
    got = metrics(np.array([0.01, 0.02, 0.0]))
    assert got["sortino_ratio"] is None and got["calmar_ratio"] is None  # inf / nan -> None
    assert got["max_drawdown"] == 0.0 and got["turnover"] is None
    with pytest.raises(ValueError, match="non-empty"):
        metrics(np.array([]))
    with pytest.raises(ValueError, match="finite"):
        metrics(np.array([0.01, np.nan]))


def test_demo_performance_keeps_its_names() -> None:
    r = np.log([1.10, 0.90, 1.05])
    p = performance(r, np.array([1.0, 0.5, 0.0]))
    simple = np.array([0.10, -0.10, 0.05])
    assert p["total_return"] == pytest.approx(1.10 * 0.90 * 1.05 - 1, abs=1e-12)
    assert p["max_drawdown"] == pytest.approx(0.99 / 1.10 - 1, abs=1e-12)
    vol = simple.std(ddof=1) * math.sqrt(252)
    assert p["volatility"] == pytest.approx(vol, abs=1e-12)
    assert p["sharpe"] == pytest.approx(simple.mean() * 252 / vol, abs=1e-12)
    assert p["mean_turnover"] == pytest.approx(0.5)
    assert p["cagr"] == pytest.approx((1.10 * 0.90 * 1.05) ** (252 / 3) - 1, rel=1e-9)
    with pytest.raises(ValueError):
        performance(np.array([]))


def test_backtest_is_the_envs_record_over_the_window(market: MarketData) -> None:
    cfg = EnvConfig(window=WINDOW, fixed_bps=10.0)
    bt = backtest(market, cfg, EqualWeight(), name="1/N", window_name="validation",
                  start="2008-03-03", end="2008-04-15")  # fmt: skip
    env = PortfolioEnv(market, cfg, action_kind="weights", random_start=False,
                       session_range=("2008-03-03", "2008-04-15"))  # fmt: skip
    ref = run_policy(env, EqualWeight())
    assert str(bt.start) == "2008-03-03" and str(bt.end) == "2008-04-15"
    assert list(bt.daily.index) == list(ref.index)
    np.testing.assert_allclose(bt.daily["net_return"], np.expm1(ref["log_return"]), rtol=1e-15)
    np.testing.assert_allclose(bt.daily["turnover"], ref["turnover"])
    assert bt.daily["turnover"].iloc[0] == pytest.approx(1.0)  # from cash on the first day
    assert bt.costs == {"fixed_bps": 10.0, "slippage_coef": 0.0}
    assert bt.metrics == metrics(bt.daily["net_return"], bt.daily["turnover"])
    # The value path is V_{T+1}/V_T compounded.
    assert bt.daily["portfolio_value"].iloc[-1] == pytest.approx(
        np.prod(1 + bt.daily["net_return"]), rel=1e-12
    )


def test_baselines_share_the_agents_costs_and_window(market: MarketData) -> None:
    cfg = EnvConfig(window=WINDOW, fixed_bps=25.0, feature_names=("lr_close",))
    runs = baseline_backtests(market, cfg, window_name="test", start="2008-03-03",
                              end="2008-04-25")  # fmt: skip
    assert set(runs) == set(BASELINES)
    for bt in runs.values():
        assert bt.costs["fixed_bps"] == 25.0 and str(bt.start) == "2008-03-03"
        # Costs are 25 bps of the day's turnover.
        np.testing.assert_allclose(bt.daily["cost"], bt.daily["turnover"] * 25e-4, rtol=1e-12)
    with pytest.raises(ValueError, match="need feature"):
        baseline_backtests(market.select_features(["lr_volume"]), cfg, window_name="test",
                           start="2008-03-03", end="2008-04-25")  # fmt: skip


def test_no_lookahead_bars_after_a_session_change_nothing_before_it(bars: pd.DataFrame) -> None:
    """Change every bar after a cutoff: the decisions and returns of every session T whose
    return is realised by then (open(T+2) <= cutoff) are identical."""
    cutoff = "2008-04-01"
    later = pd.to_datetime(bars["session"]) > cutoff
    rng = np.random.default_rng(3)
    changed = bars.copy()
    factor = rng.uniform(0.5, 1.5, size=int(later.sum()))
    for col in ("open", "high", "low", "close"):
        changed.loc[later, col] = changed.loc[later, col] * factor
    changed.loc[later, "volume"] = changed.loc[later, "volume"] * factor[::-1]
    a_data, b_data = MarketData.from_bars(bars), MarketData.from_bars(changed)
    sessions = [str(s) for s in a_data.sessions]
    last_ok = sessions[sessions.index(cutoff) - 2]  # open(T+2) = open(cutoff)
    cfg = EnvConfig(window=WINDOW, slippage_coef=0.1)
    for policy in (Momentum, EqualWeight):
        a = backtest(a_data, cfg, policy(), name="a", window_name="w", start="2008-02-20",
                     end="2008-04-20")  # fmt: skip
        b = backtest(b_data, cfg, policy(), name="b", window_name="w", start="2008-02-20",
                     end="2008-04-20")  # fmt: skip
        pd.testing.assert_frame_equal(a.daily.loc[:last_ok], b.daily.loc[:last_ok])
        assert not np.allclose(a.daily["net_return"], b.daily["net_return"])


def test_resolve_windows() -> None:
    got = resolve_windows(["validation", "test"])
    assert [str(d) for d in got["validation"]] == ["2017-01-01", "2018-12-31"]
    assert [str(d) for d in got["test"]] == ["2019-01-01", "2020-09-30"]
    declared = {
        "validation": ("2010-01-04", "2010-06-30"),
        "test": {"start": "2010-07-01", "end": "2010-12-31"},
    }
    got = resolve_windows(["validation", "test"], declared)
    assert str(got["validation"][1]) == "2010-06-30" and str(got["test"][0]) == "2010-07-01"
    assert list(resolve_windows({"x": ["2010-01-01", "2010-02-01"]})) == ["x"]
    with pytest.raises(ValueError, match="unknown window 'nope'"):
        resolve_windows(["nope"])
    with pytest.raises(ValueError, match="ends"):
        resolve_windows({"x": ["2010-02-01", "2010-01-01"]})


def test_summary_and_plot(tmp_path) -> None:
    idx = pd.date_range("2020-01-01", periods=5, freq="B", name="session")
    rec = pd.DataFrame(
        {
            "log_return": [0.01, -0.02, 0.0, 0.03, 0.01],
            "turnover": [1.0, 0.1, 0.1, 0.1, 0.1],
            "w_A": [0.5] * 5,
            "w_cash": [0.5] * 5,
        },
        index=idx,
    )
    table = summary_table({"a": rec, "b": rec.assign(log_return=rec["log_return"] / 2)})
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "total_return"] > table.loc["b", "total_return"]
    png = plot_backtest({"a": rec}, tmp_path / "bt.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_report_pure(market: MarketData, tmp_path) -> None:
    cfg = EnvConfig(window=WINDOW)
    runs = baseline_backtests(market, cfg, window_name="test", start="2008-03-03",
                              end="2008-04-25")  # fmt: skip
    rep = write_report(runs["momentum"], runs, tmp_path / "r", title="momentum <test>",
                       config={"note": "a & b"})  # fmt: skip
    page = rep.html.read_text()
    assert "<title>momentum &lt;test&gt;</title>" in page and "a &amp; b" in page
    assert page.count("<th>momentum</th>") == 1  # the subject is not also drawn as a baseline
    assert set(rep.pngs) == {"equity", "drawdown", "rolling-sharpe", "weights", "turnover"}
    assert not list((tmp_path / "r").glob("*.tmp"))
