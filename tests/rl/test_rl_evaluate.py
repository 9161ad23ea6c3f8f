"""Backtest metrics against hand computations; the picture is written."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradewind.rl.evaluate import performance, plot_backtest, summary_table


def test_performance_hand_computed():
    r = np.log([1.10, 0.90, 1.05])  # +10%, -10%, +5%
    p = performance(r, np.array([1.0, 0.5, 0.0]))
    assert p["total_return"] == pytest.approx(1.10 * 0.90 * 1.05 - 1, abs=1e-12)
    # value path 1.10, 0.99, 1.0395: the drawdown is 0.99 / 1.10 - 1
    assert p["max_drawdown"] == pytest.approx(0.99 / 1.10 - 1, abs=1e-12)
    simple = np.array([0.10, -0.10, 0.05])
    vol = simple.std(ddof=1) * math.sqrt(252)
    assert p["volatility"] == pytest.approx(vol, abs=1e-12)
    assert p["sharpe"] == pytest.approx(simple.mean() * 252 / vol, abs=1e-12)
    assert p["mean_turnover"] == pytest.approx(0.5)
    assert p["cagr"] == pytest.approx((1.10 * 0.90 * 1.05) ** (252 / 3) - 1, rel=1e-9)


def test_performance_rejects_empty():
    with pytest.raises(ValueError):
        performance(np.array([]))


def test_summary_and_plot(tmp_path):
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
