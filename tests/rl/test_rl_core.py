"""The numpy stepping core: weights from actions, costs, reward, batch = single."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradewind.rl.core import (
    ActionConfig,
    CostConfig,
    drift,
    gross_returns,
    portfolio_step,
    project_weights,
    target_weights,
    transaction_cost,
    turnover,
    weights_from_scores,
)

AVAIL = np.array([True, False, True, True])


def test_softmax_scores_on_the_simplex_and_absent_asset_zero() -> None:
    w = weights_from_scores(np.array([0.5, 1.0, -0.2, 0.0, 0.1]), AVAIL, ActionConfig())
    assert w.sum() == pytest.approx(1.0, abs=1e-15)
    assert w[1] == 0.0 and (w >= 0).all()
    e = np.exp(5.0 * np.array([0.5, -0.2, 0.0, 0.1]))
    assert np.allclose(w[[0, 2, 3, 4]], e / e.sum(), rtol=1e-14)


def test_scores_are_clipped_and_nan_is_lowest() -> None:
    cfg = ActionConfig()
    a = weights_from_scores(np.array([7.0, 0.0, np.nan, -9.0, 0.0]), np.ones(4, bool), cfg)
    b = weights_from_scores(np.array([1.0, 0.0, -1.0, -1.0, 0.0]), np.ones(4, bool), cfg)
    assert np.array_equal(a, b)


def test_max_weight_sends_the_excess_to_cash() -> None:
    cfg = ActionConfig(max_weight=0.3)
    w = weights_from_scores(np.array([1.0, -1.0, -1.0, -1.0, -1.0]), np.ones(4, bool), cfg)
    assert w[0] == pytest.approx(0.3) and w.sum() == pytest.approx(1.0)
    assert w[-1] > 0.6


def test_long_short_respects_the_gross_limit() -> None:
    cfg = ActionConfig(long_short=True, gross_limit=1.5, max_weight=0.6)
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = weights_from_scores(rng.uniform(-1, 1, 5), AVAIL, cfg)
        assert np.abs(w[:-1]).sum() <= 1.5 + 1e-12
        assert np.abs(w[:-1]).max() <= 0.6 + 1e-12
        assert w[1] == 0.0 and w.sum() == pytest.approx(1.0)
    assert (weights_from_scores(np.zeros(5), AVAIL, cfg) == np.r_[0, 0, 0, 0, 1.0]).all()


def test_weights_mode_renormalises_and_holds() -> None:
    cfg = ActionConfig(kind="weights")
    w = project_weights(np.array([0.4, 0.3, -0.1, 0.2, 0.1]), AVAIL, cfg)
    assert np.allclose(w, np.array([0.4, 0, 0, 0.2, 0.1]) / 0.7)
    assert np.array_equal(project_weights(np.zeros(5), AVAIL, cfg), np.r_[0, 0, 0, 0, 1.0])
    holdings = np.array([0.2, 0.3, 0.1, 0.3, 0.1])
    hold = target_weights(np.full(5, np.nan), AVAIL, cfg, holdings)
    # No trade, except that the unavailable asset is sold to cash.
    assert np.allclose(hold, [0.2, 0.0, 0.1, 0.3, 0.4])
    with pytest.raises(ValueError):
        project_weights(np.full(5, np.nan), AVAIL, cfg)


def test_step_by_hand() -> None:
    target = np.array([0.5, 0.0, 0.25, 0.25, 0.0])
    holdings = np.array([0.2, 0.3, 0.1, 0.3, 0.1])
    labels = np.array([0.01, np.nan, -0.02, 0.03])
    gross = gross_returns(labels, AVAIL)
    rates = CostConfig(fixed_bps=10, slippage_coef=0.5).rates(np.array([0.02, 0.0, 0.01, 0.03]))
    res = portfolio_step(target, holdings, gross, rates)
    traded = np.array([0.3, 0.3, 0.15, 0.05])
    cost = float(traded @ np.array([0.011, 0.001, 0.006, 0.016]))
    growth = 0.5 * math.exp(0.01) + 0.25 * math.exp(-0.02) + 0.25 * math.exp(0.03)
    assert res.turnover == pytest.approx(0.8, abs=1e-15)
    assert res.cost == pytest.approx(cost, abs=1e-15)
    assert res.reward == pytest.approx(math.log(1 - cost) + math.log(growth), abs=1e-15)
    assert res.holdings[0] == pytest.approx(0.5 * math.exp(0.01) / growth, abs=1e-15)
    assert not res.ruined
    assert turnover(target, holdings) == pytest.approx(0.8)
    assert transaction_cost(target, holdings, rates) == pytest.approx(cost)
    drifted, g = drift(target, gross)
    assert np.allclose(drifted, res.holdings) and g == pytest.approx(growth)


def test_batch_equals_rows() -> None:
    rng = np.random.default_rng(1)
    b, n = 7, 4
    for cfg in (ActionConfig(), ActionConfig(long_short=True, max_weight=0.5)):
        scores = rng.uniform(-1.2, 1.2, (b, n + 1))
        avail = rng.uniform(size=(b, n)) > 0.2
        holdings = rng.dirichlet(np.ones(n + 1), b)
        gross = gross_returns(rng.normal(0, 0.02, (b, n)), avail)
        rates = rng.uniform(0, 0.002, (b, n))
        tw = target_weights(scores, avail, cfg, holdings)
        res = portfolio_step(tw, holdings, gross, rates)
        for i in range(b):
            row_w = target_weights(scores[i], avail[i].astype(float), cfg, holdings[i])
            row = portfolio_step(row_w, holdings[i], gross[i], rates[i])
            assert np.allclose(tw[i], row_w, rtol=0, atol=1e-15)
            assert row.reward == pytest.approx(res.reward[i], abs=1e-15)
            assert row.cost == pytest.approx(res.cost[i], abs=1e-15)


def test_ruin_with_shorts() -> None:
    target = np.array([-1.0, 0.0, 2.0])
    res = portfolio_step(target, target, np.array([2.5, 1.0, 1.0]), np.zeros(2))
    assert res.ruined and res.reward == pytest.approx(math.log(1e-12))
