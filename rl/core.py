"""The stepping core: pure numpy functions shared by the single and the vectorised environment.

Every function takes arrays whose LAST axis is the asset axis and any leading (batch) axes, so
one call steps one environment (1-D arrays) or many at once (2-D). Weight vectors have N + 1
entries: the N assets, then cash (last). Units: weights are fractions of portfolio value; returns
are log returns per session; cost rates are fractions of the traded value.

Accounting of one step at decision session T (what the environment's docstring specifies):

    target   w_T        = weights the action maps to (absent assets forced to 0)
    holdings h_T        = w_{T-1} drifted from open(T) to open(T+1), i.e. the book at the moment
                          w_T is traded (h = initial weights on an episode's first step)
    turnover            = sum_i |w_T,i - h_T,i| over the assets (cash excluded)
    cost     c_T        = sum_i |w_T,i - h_T,i| * rate_T,i,  rate = fixed_bps/1e4 + k * vol_T,i
    growth   g_T        = sum_i w_T,i * exp(fwd_open_lr_T,i) + w_T,cash
    reward              = log(1 - c_T) + log(g_T)      (= log of V_{T+1} / V_T)
    h_{T+1}             = (w_T,i * exp(fwd_open_lr_T,i), w_T,cash) / g_T
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

# Net growth at or below this fraction of the value is ruin (only reachable with shorts or
# absurd cost rates); the reward is then log(RUIN_FLOOR) instead of log(<= 0).
RUIN_FLOOR = 1e-12


@dataclass(frozen=True)
class ActionConfig:
    """How an action vector of N + 1 numbers becomes target weights.

    kind="scores" (for agents): one score per asset plus cash, clipped to [-1, 1].
      long-only: softmax(score_scale * score) over the available assets and cash.
      long/short: w_i = gross_limit * s_i / (sum_j |s_j| + |s_cash|) for available assets,
        so the gross exposure sum_i |w_i| <= gross_limit; cash = 1 - sum_i w_i.
    kind="weights" (for baselines and tests): the weights themselves.
      long-only: negatives and non-finite values -> 0, absent assets -> 0, then divided by their
        sum (assets and cash), so the absent assets' share goes pro rata to the others and cash.
        All zero -> all cash. A vector of all NaN means "no trade" (keep the holdings; absent
        assets are still sold to cash).
      long/short: absent -> 0, then scaled down to the gross limit; cash = 1 - sum_i w_i.
    max_weight: per-asset bound on |w_i|; in long-only mode the excess goes to cash.
    """

    kind: Literal["scores", "weights"] = "scores"
    long_short: bool = False
    score_scale: float = 5.0
    max_weight: float | None = None
    gross_limit: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("scores", "weights"):
            raise ValueError(f"action kind must be 'scores' or 'weights', not {self.kind!r}")
        if self.max_weight is not None and not 0 < self.max_weight:
            raise ValueError("max_weight must be positive")
        if not 0 < self.score_scale <= 50:
            raise ValueError("score_scale must be in (0, 50]")
        if not self.gross_limit > 0:
            raise ValueError("gross_limit must be positive")


@dataclass(frozen=True)
class CostConfig:
    """Transaction costs, charged on turnover at the open of T+1.

    rate_i = fixed_bps / 1e4 + slippage_coef * volatility_i, where volatility_i is the asset's
    daily log-return std up to T (MarketData.volatility). E.g. fixed_bps=10 and
    slippage_coef=0.1 charge 10 bp plus 20 bp for a 2%-a-day stock.
    """

    fixed_bps: float = 10.0
    slippage_coef: float = 0.0

    def rates(self, volatility: np.ndarray) -> np.ndarray:
        return self.fixed_bps * 1e-4 + self.slippage_coef * np.asarray(volatility, np.float64)


class StepResult(NamedTuple):
    """Per environment; Python scalars when stepping one environment, arrays for a batch."""

    reward: np.ndarray | float  # log(V_{T+1} / V_T), net of costs
    growth: np.ndarray | float  # g_T, gross of costs
    cost: np.ndarray | float  # c_T, fraction of V_T
    turnover: np.ndarray | float
    holdings: np.ndarray  # h_{T+1}: w_T drifted to open(T+2)
    ruined: np.ndarray | bool


def gross_returns(labels: np.ndarray, available: np.ndarray) -> np.ndarray:
    """[..., T, N] labels -> [..., T, N + 1] price relatives exp(fwd_open_lr), cash = 1.

    Unavailable assets get 1.0: their weight is always 0, and NaN must not leak into sums.
    """
    rel = np.where(available, np.exp(np.where(available, labels, 0.0)), 1.0)
    return np.concatenate([rel, np.ones((*rel.shape[:-1], 1))], axis=-1)


def _cap(w: np.ndarray, config: ActionConfig) -> np.ndarray:
    mw = config.max_weight
    if mw is None:
        return w
    assets = w[..., :-1]
    if config.long_short:
        np.clip(assets, -mw, mw, out=assets)
        w[..., -1] = 1.0 - assets.sum(axis=-1)
    else:
        excess = np.maximum(assets - mw, 0.0).sum(axis=-1)
        np.minimum(assets, mw, out=assets)
        w[..., -1] += excess
    return w


def weights_from_scores(
    scores: np.ndarray, available: np.ndarray, config: ActionConfig
) -> np.ndarray:
    """Scores [..., N+1] -> target weights [..., N+1] (see ActionConfig). NaN scores count as -1.

    ``available`` [..., N] is a bool or 0/1 float mask (float is faster in the inner loop).
    """
    # fmax/fmin (not clip) so NaN becomes the bound instead of poisoning the weights.
    s = np.fmax(scores, -1.0, dtype=np.float64)
    np.fmin(s, 1.0, out=s)
    if not config.long_short:
        # Scores are bounded and score_scale <= 50, so exp cannot overflow: no max-shift needed.
        s *= config.score_scale
        np.exp(s, out=s)
        s[..., :-1] *= available
        _divide_rows(s, np.add.reduce(s, axis=-1))
        return _cap(s, config)
    assets = np.where(available, s[..., :-1], 0.0)
    denom = np.abs(assets).sum(axis=-1, keepdims=True) + np.abs(s[..., -1:])
    assets *= config.gross_limit / np.where(denom > 0, denom, 1.0)
    w = np.concatenate([assets, 1.0 - assets.sum(axis=-1, keepdims=True)], axis=-1)
    return _cap(w, config)


def project_weights(
    weights: np.ndarray,
    available: np.ndarray,
    config: ActionConfig,
    holdings: np.ndarray | None = None,
) -> np.ndarray:
    """Requested weights [..., N+1] -> feasible target weights (see ActionConfig)."""
    w = np.array(weights, dtype=np.float64)  # copy: never modify the caller's action
    available = np.asarray(available, dtype=bool)
    hold = np.isnan(w).all(axis=-1)
    finite = np.isfinite(w)
    if config.long_short:
        assets = np.where(available & finite[..., :-1], w[..., :-1], 0.0)
        if config.max_weight is not None:
            np.clip(assets, -config.max_weight, config.max_weight, out=assets)
        gross = np.abs(assets).sum(axis=-1, keepdims=True)
        assets *= np.minimum(1.0, config.gross_limit / np.where(gross > 0, gross, 1.0))
        w = np.concatenate([assets, 1.0 - assets.sum(axis=-1, keepdims=True)], axis=-1)
    else:
        w = np.where(finite, np.maximum(w, 0.0), 0.0)
        w[..., :-1][~available] = 0.0
        total = w.sum(axis=-1, keepdims=True)
        empty = total[..., 0] <= 0
        w[..., -1][empty] = 1.0
        total[empty] = 1.0
        w /= total
        w = _cap(w, config)
    if np.any(hold):
        if holdings is None:
            raise ValueError("a 'no trade' (all-NaN) action needs the current holdings")
        h = np.array(np.broadcast_to(holdings, w.shape)[hold], dtype=np.float64)
        gone = ~np.broadcast_to(available, w[..., :-1].shape)[hold]
        h[..., -1] += np.where(gone, h[..., :-1], 0.0).sum(axis=-1)
        h[..., :-1][gone] = 0.0
        w[hold] = h
    return w


def target_weights(
    action: np.ndarray,
    available: np.ndarray,
    config: ActionConfig,
    holdings: np.ndarray | None = None,
) -> np.ndarray:
    if config.kind == "scores":
        return weights_from_scores(action, available, config)
    return project_weights(action, available, config, holdings)


def turnover(target: np.ndarray, holdings: np.ndarray) -> np.ndarray:
    """sum_i |target_i - holdings_i| over the assets (cash excluded): 2.0 = full switch."""
    return np.abs(target[..., :-1] - holdings[..., :-1]).sum(axis=-1)


def transaction_cost(target: np.ndarray, holdings: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Cost as a fraction of portfolio value: sum_i |target_i - holdings_i| * rate_i."""
    return np.vecdot(np.abs(target[..., :-1] - holdings[..., :-1]), rates)


def drift(weights: np.ndarray, gross: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights after one period of price relatives ``gross`` [..., N+1]: (drifted, growth)."""
    grown = weights * gross
    growth = grown.sum(axis=-1)
    safe = np.where(growth > 0, growth, 1.0)
    return grown / safe[..., None], growth


def portfolio_step(
    target: np.ndarray, holdings: np.ndarray, gross: np.ndarray, rates: np.ndarray
) -> StepResult:
    """Trade from ``holdings`` to ``target`` at open(T+1), hold to open(T+2); see module doc.

    This is the inner loop: each numpy call costs ~0.5 us on 30 assets, so it uses few of them,
    and for a single environment (1-D inputs) the scalar parts are plain Python floats.
    """
    delta = target[..., :-1] - holdings[..., :-1]
    np.abs(delta, out=delta)
    turn = np.add.reduce(delta, axis=-1)
    cost = np.vecdot(delta, rates)
    grown = target * gross
    growth = np.add.reduce(grown, axis=-1)
    net = growth * (1.0 - cost)
    if grown.ndim == 1:
        growth, net = float(growth), float(net)
        # After ruin the holdings are meaningless (the episode ends); just keep them finite.
        grown /= max(growth, RUIN_FLOOR)
        ruined = not net > RUIN_FLOOR  # NaN counts as ruin
        reward = math.log(net) if not ruined else math.log(RUIN_FLOOR)
        return StepResult(reward, growth, float(cost), float(turn), grown, ruined)
    grown /= np.maximum(growth, RUIN_FLOOR)[..., None]
    ruined = ~(net > RUIN_FLOOR)
    reward = np.log(np.fmax(net, RUIN_FLOOR))
    return StepResult(reward, growth, cost, turn, grown, ruined)


def _divide_rows(x: np.ndarray, d: np.ndarray) -> None:
    # In place x /= d per row; the 1-D case skips building a [..., None] view (~0.5 us).
    if x.ndim == 1:
        x /= d
    else:
        x /= d[..., None]
