"""Honest evaluation: a policy's backtest over a named window, and its metrics (pure code).

Nothing here touches the warehouse or a broker: the caller hands in a
:class:`~tradewind.rl.data.MarketData` (``tradewind.registry`` reads it from the feature marts)
and gets back a :class:`Backtest`, whose daily frame is what ``ml.evaluation_daily`` stores.

Accounting is the environment's own (``rl/core.py``, written once): the backtest steps a
:class:`~tradewind.rl.env.PortfolioEnv` from all cash over every decision session T of the
window, in order. ``net_return`` of T is the simple net return ``V_{T+1} / V_T - 1`` of the
weights decided at the end of T, traded at open(T+1) and held to open(T+2), after the cost of
the turnover at open(T+1). A model and its baselines run with the same cost model.

Metrics are empyrical's (``empyrical-reloaded``) on the daily simple net returns, under
empyrical's names, plus ``turnover`` (mean daily one-way turnover, sum |w_T - h_T| over the
assets) and ``hit_rate`` (share of sessions with a positive net return), ``total_return`` and
``sessions``. Non-finite values (e.g. a Sortino ratio with no losing day) are ``None`` so the
metrics are valid JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradewind.rl.agents import DEFAULT_WINDOWS
from tradewind.rl.baselines import BuyAndHold, EqualWeight, MinimumVariance, Momentum, run_policy
from tradewind.rl.data import DateLike, MarketData
from tradewind.rl.env import EnvConfig, PortfolioEnv

# The design's default windows (inclusive) are the agents' (one definition). Promotion looks at
# validation only; the test window is reported, never used to choose.
EVALUATION_WINDOWS = ("validation", "test")

# empyrical's names, in the order reports show them.
EMPYRICAL_METRICS = (
    "annual_return",
    "annual_volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "calmar_ratio",
)
METRIC_KEYS = (*EMPYRICAL_METRICS, "turnover", "hit_rate", "total_return", "sessions")
ROLLING_SHARPE_SESSIONS = 63  # about a quarter

# The baselines every model is judged against, by the name stored in ml.evaluations.policy.
EQUAL_WEIGHT = "1/N"
BASELINES: dict[str, Callable[[], Any]] = {
    EQUAL_WEIGHT: EqualWeight,
    "buy_and_hold": BuyAndHold,
    "min_variance": MinimumVariance,
    "momentum": Momentum,
}
# The feature columns the baselines read (min variance: lr_open; momentum: lr_close).
BASELINE_FEATURES = ("lr_open", "lr_close")


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def metrics(net_returns: Sequence[float] | np.ndarray, turnover: Any = None) -> dict[str, Any]:
    """empyrical's metrics of daily simple net returns, plus turnover and hit rate."""
    import empyrical

    r = np.asarray(net_returns, dtype=np.float64)
    if r.ndim != 1 or len(r) == 0:
        raise ValueError("metrics need a non-empty 1-D series of daily returns")
    if not np.all(np.isfinite(r)):
        raise ValueError("daily returns must be finite")
    out: dict[str, Any] = {name: _finite(getattr(empyrical, name)(r)) for name in EMPYRICAL_METRICS}
    out["turnover"] = _finite(np.mean(turnover)) if turnover is not None else None
    out["hit_rate"] = float(np.mean(r > 0))
    out["total_return"] = _finite(empyrical.cum_returns_final(r))
    out["sessions"] = len(r)
    return out


def rolling_sharpe(net_returns: pd.Series, window: int = ROLLING_SHARPE_SESSIONS) -> pd.Series:
    """empyrical's annualised Sharpe ratio over the trailing ``window`` sessions."""
    import empyrical

    r = np.asarray(net_returns, dtype=np.float64)
    out = np.full(len(r), np.nan)
    if len(r) >= window:
        out[window - 1 :] = empyrical.roll_sharpe_ratio(r, window=window)
    return pd.Series(out, index=net_returns.index, name="rolling_sharpe")


@dataclass
class Backtest:
    """One policy over one window. ``daily``: index ``session`` (decision session T), columns
    ``net_return``, ``turnover``, ``cost``, ``portfolio_value`` and the weights ``w_<symbol>``,
    ``w_cash`` (cash last)."""

    name: str
    window_name: str
    daily: pd.DataFrame
    symbols: tuple[str, ...]
    costs: dict[str, float]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def start(self) -> dt.date:
        return self.daily.index[0].date()

    @property
    def end(self) -> dt.date:
        return self.daily.index[-1].date()

    @property
    def weights(self) -> pd.DataFrame:
        return self.daily[[f"w_{s}" for s in self.symbols] + ["w_cash"]]


def evaluation_env_config(
    env_config: EnvConfig | Mapping[str, Any], start: DateLike, end: DateLike
) -> EnvConfig:
    """The agent's env config turned into one deterministic pass over [start, end]."""
    return dataclasses.replace(
        EnvConfig.build(env_config),
        session_range=(start, end),
        random_start=False,
        episode_length=None,
        synthetic=None,
    )


def backtest(
    data: MarketData,
    env_config: EnvConfig | Mapping[str, Any],
    policy: Any,
    *,
    name: str,
    window_name: str,
    start: DateLike,
    end: DateLike,
) -> Backtest:
    """Run ``policy`` (the baselines' protocol: ``policy(obs) -> action`` with ``action_kind``)
    from all cash over every decision session of [start, end] that ``data`` covers."""
    cfg = evaluation_env_config(env_config, start, end)
    if cfg.initial_weights is not None:
        cfg = dataclasses.replace(cfg, initial_weights=None)
    env = PortfolioEnv(data, cfg)
    record = run_policy(env, policy)
    if record.empty:
        raise ValueError(f"{name}: no decision session in {start}..{end}")
    weights = record[[f"w_{s}" for s in env.symbols] + ["w_cash"]]
    daily = pd.concat(
        [
            record[["return", "turnover", "cost", "portfolio_value"]].rename(
                columns={"return": "net_return"}
            ),
            weights,
        ],
        axis=1,
    )
    daily.index.name = "session"
    return Backtest(
        name=name,
        window_name=window_name,
        daily=daily,
        symbols=tuple(env.symbols),
        costs={"fixed_bps": float(cfg.fixed_bps), "slippage_coef": float(cfg.slippage_coef)},
        metrics=metrics(daily["net_return"].to_numpy(), daily["turnover"].to_numpy()),
    )


def baseline_backtests(
    data: MarketData,
    env_config: EnvConfig | Mapping[str, Any],
    *,
    window_name: str,
    start: DateLike,
    end: DateLike,
    names: Sequence[str] | None = None,
) -> dict[str, Backtest]:
    """Every baseline over the window, with the agent's window length and cost model.

    ``data`` must carry the baselines' features (``BASELINE_FEATURES``); the env config's
    feature selection is dropped so every baseline sees them whatever the agent observes.
    """
    cfg = dataclasses.replace(
        EnvConfig.build(env_config), feature_names=None, action_kind="weights"
    )
    missing = [f for f in BASELINE_FEATURES if f not in data.feature_names]
    if missing:
        raise ValueError(f"the baselines need feature(s) {missing}; data has {data.feature_names}")
    out = {}
    for policy_name in names or BASELINES:
        out[policy_name] = backtest(
            data,
            cfg,
            BASELINES[policy_name](),
            name=policy_name,
            window_name=window_name,
            start=start,
            end=end,
        )
    return out


def resolve_windows(
    windows: Sequence[str] | Mapping[str, Any],
    declared: Mapping[str, Any] | None = None,
) -> dict[str, tuple[dt.date, dt.date]]:
    """Window names (looked up in ``declared``, e.g. a manifest's ``windows``, then the
    defaults) or an explicit mapping name -> (start, end), as dates."""
    known = dict(DEFAULT_WINDOWS)
    for name, bounds in (declared or {}).items():
        known[name] = _bounds(name, bounds)
    if isinstance(windows, Mapping):
        return {name: _bounds(name, b) for name, b in windows.items()}
    out = {}
    for name in windows:
        if name not in known:
            raise ValueError(f"unknown window {name!r}; known: {', '.join(sorted(known))}")
        out[name] = known[name]
    return out


def _bounds(name: str, bounds: Any) -> tuple[dt.date, dt.date]:
    if isinstance(bounds, Mapping):
        bounds = (bounds.get("start"), bounds.get("end"))
    try:
        start, end = (pd.Timestamp(b).date() for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"window {name!r} must be (start, end) dates, not {bounds!r}") from None
    if end < start:
        raise ValueError(f"window {name!r} ends ({end}) before it starts ({start})")
    return start, end
