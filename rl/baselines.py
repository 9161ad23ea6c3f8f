"""Baseline policies under the agent's interface, and a runner that turns any policy into a
daily return series.

A policy is a callable ``policy(obs) -> action`` on the environment's observation (so it sees
exactly what an agent sees: the feature window up to T, its previous weights, the listed
flags) with an ``action_kind`` attribute (``"weights"`` for these baselines, ``"scores"`` for
an agent) and an optional ``reset(env)`` hook called at the start of every run.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from tradewind.rl.env import OBS_FEATURES, OBS_LISTED, OBS_WEIGHTS, PortfolioEnv


@runtime_checkable
class Policy(Protocol):
    action_kind: str

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...


def _equal(listed: np.ndarray) -> np.ndarray:
    """1/n over the listed assets, no cash (all cash when nothing is listed)."""
    mask = np.asarray(listed, dtype=np.float64) > 0
    w = np.zeros(len(mask) + 1)
    n = int(mask.sum())
    if n == 0:
        w[-1] = 1.0
    else:
        w[:-1][mask] = 1.0 / n
    return w


class EqualWeight:
    """1/N over the listed assets, rebalanced every session."""

    action_kind = "weights"

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return _equal(obs[OBS_LISTED])


class BuyAndHold:
    """1/N over the assets listed at the first decision, then never trades again.

    "No trade" is the all-NaN action, so the drifted holdings are kept exactly (an asset that
    stops being available is still sold to cash by the environment).
    """

    action_kind = "weights"

    def __init__(self) -> None:
        self._started = False

    def reset(self, env: Any = None) -> None:
        self._started = False

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if not self._started:
            self._started = True
            return _equal(obs[OBS_LISTED])
        return np.full(len(obs[OBS_WEIGHTS]), np.nan)


class _FeaturePolicy:
    action_kind = "weights"

    def __init__(self, feature: str, lookback: int | None) -> None:
        self.feature = feature
        self.lookback = lookback
        self._index: int | None = None

    def reset(self, env: PortfolioEnv) -> None:
        names = tuple(env.feature_names)
        if self.feature not in names:
            raise ValueError(
                f"{type(self).__name__} needs feature {self.feature!r}; env has {names}"
            )
        self._index = names.index(self.feature)

    def _history(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if self._index is None:
            raise RuntimeError(f"{type(self).__name__}.reset(env) must run first (run_policy does)")
        x = np.asarray(obs[OBS_FEATURES][:, self._index, :], dtype=np.float64)  # [W, N]
        return x if self.lookback is None else x[-self.lookback :]


class MinimumVariance(_FeaturePolicy):
    """Long-only minimum-variance weights from the window's ``lr_open`` covariance.

    Covariance shrunk towards its diagonal (``shrinkage``), solved for ``Sigma^-1 1`` and, while
    a weight is negative, re-solved without those assets (an active-set heuristic for the
    long-only problem). Assets with fewer than ``min_coverage`` non-zero observations in the
    window (zeros are the observation's "unknown", e.g. recently listed) are left out.
    """

    def __init__(
        self,
        feature: str = "lr_open",
        lookback: int | None = None,
        shrinkage: float = 0.1,
        min_coverage: float = 0.8,
    ) -> None:
        super().__init__(feature, lookback)
        self.shrinkage = shrinkage
        self.min_coverage = min_coverage

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x = self._history(obs)
        listed = np.asarray(obs[OBS_LISTED]) > 0
        coverage = (x != 0).mean(axis=0)
        idx = np.flatnonzero(listed & (coverage >= self.min_coverage))
        if len(idx) < 2 or x.shape[0] < 3:
            return _equal(listed)
        w = np.zeros(x.shape[1] + 1)
        w[idx] = min_variance_weights(np.cov(x[:, idx], rowvar=False), self.shrinkage)
        return w


def min_variance_weights(cov: np.ndarray, shrinkage: float = 0.1) -> np.ndarray:
    """Long-only, fully invested minimum-variance weights for a covariance matrix."""
    cov = np.atleast_2d(np.asarray(cov, dtype=np.float64))
    diag = np.diag(np.diag(cov))
    cov = (1.0 - shrinkage) * cov + shrinkage * diag
    cov += np.eye(len(cov)) * 1e-12 * max(float(np.trace(cov)), 1e-12)
    active = np.arange(len(cov))
    w = np.zeros(len(cov))
    while len(active):
        sub = cov[np.ix_(active, active)]
        x = np.linalg.solve(sub, np.ones(len(active)))
        x /= x.sum()
        if np.all(x >= 0):
            w[active] = x
            return w
        active = active[x > 0]
    w[:] = 1.0 / len(w)
    return w


class Momentum(_FeaturePolicy):
    """Equal weights in the ``top_fraction`` of listed assets by summed ``lr_close`` over the
    window (cross-sectional momentum, rebalanced every session)."""

    def __init__(
        self, feature: str = "lr_close", lookback: int | None = None, top_fraction: float = 0.5
    ) -> None:
        super().__init__(feature, lookback)
        if not 0 < top_fraction <= 1:
            raise ValueError("top_fraction must be in (0, 1]")
        self.top_fraction = top_fraction

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x = self._history(obs)
        listed = np.asarray(obs[OBS_LISTED]) > 0
        idx = np.flatnonzero(listed)
        if len(idx) == 0:
            return _equal(listed)
        k = max(1, int(np.ceil(self.top_fraction * len(idx))))
        score = x[:, idx].sum(axis=0)
        # Stable ordering: ties keep the lower index, so runs are reproducible.
        chosen = idx[np.argsort(-score, kind="stable")[:k]]
        w = np.zeros(x.shape[1] + 1)
        w[chosen] = 1.0 / k
        return w


class ModulePolicy:
    """An RLlib RLModule as a policy: the mean scores of its action distribution (no noise)."""

    action_kind = "scores"

    def __init__(self, module: Any) -> None:
        self.module = module

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        import torch
        from ray.rllib.core.columns import Columns

        batch = {Columns.OBS: {k: torch.as_tensor(np.array(v)[None]) for k, v in obs.items()}}
        out = self.module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS][0]
        inputs = out.detach().cpu().numpy()
        return inputs[: len(inputs) // 2]


BASELINES = {
    "equal_weight": EqualWeight,
    "buy_and_hold": BuyAndHold,
    "min_variance": MinimumVariance,
    "momentum": Momentum,
}


def run_policy(
    env: PortfolioEnv,
    policy: Any,
    *,
    seed: int | None = None,
    start: Any = None,
    max_steps: int | None = None,
) -> pd.DataFrame:
    """Run one episode of ``policy`` and return its daily record.

    Index ``session``: the decision session T (the weights are traded at open(T+1)); columns
    ``log_return`` (net, = reward), ``return`` (simple), ``gross_log_return``, ``cost``,
    ``turnover``, ``portfolio_value`` and the target weights ``w_<symbol>``, ``w_cash``.
    If the policy's ``action_kind`` differs from the env's, an otherwise identical env with the
    policy's kind is used. For a full backtest build the env with ``random_start=False`` and
    ``episode_length=None``.
    """
    kind = getattr(policy, "action_kind", "weights")
    if env.config.action_kind != kind:
        env = PortfolioEnv(env.data, dataclasses.replace(env.config, action_kind=kind))
    obs, _ = env.reset(seed=seed, options={"start": start} if start is not None else None)
    if hasattr(policy, "reset"):
        policy.reset(env)
    rows: list[dict[str, Any]] = []
    weights: list[np.ndarray] = []
    done = False
    while not done and (max_steps is None or len(rows) < max_steps):
        obs, _, terminated, truncated, info = env.step(policy(obs))
        done = terminated or truncated
        weights.append(info["weights"])
        rows.append({k: info[k] for k in _RECORD})
    frame = pd.DataFrame(rows, columns=list(_RECORD))
    frame["session"] = pd.to_datetime(frame["session"])
    frame = frame.set_index("session")
    frame.insert(1, "return", np.expm1(frame["log_return"]))
    names = [f"w_{s}" for s in env.symbols] + ["w_cash"]
    w = pd.DataFrame(np.asarray(weights).reshape(len(rows), -1), index=frame.index, columns=names)
    return pd.concat([frame, w], axis=1)


_RECORD = ("session", "log_return", "gross_log_return", "cost", "turnover", "portfolio_value")
