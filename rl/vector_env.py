"""Many PortfolioEnv copies stepped at once by the same numpy core (one call per batch).

Semantics equal ``SyncVectorEnv([PortfolioEnv(...)] * num_envs)`` with next-step autoreset:
sub-environment i is seeded with ``seed + i`` and draws its starts (and synthetic paths) from
its own generator in the same order a single env would, so both give identical rollouts. This
is also the ``vector_entry_point`` RLlib's env runners use (``gym_env_vectorize_mode=
"vector_entry_point"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from tradewind.rl.core import portfolio_step, target_weights
from tradewind.rl.data import DEFAULT_FEATURES, MarketData, to_day
from tradewind.rl.env import (
    OBS_FEATURES,
    OBS_LISTED,
    OBS_WEIGHTS,
    EnvConfig,
    MarketArrays,
    action_space,
    initial_weights,
    observation_space,
    prepare_arrays,
    resolve_data,
    synthetic_arrays,
)


class PortfolioVectorEnv(VectorEnv):
    """``num_envs`` portfolio environments in lockstep; see :class:`PortfolioEnv` for the spec.

    Historical mode shares one set of arrays; synthetic mode keeps one path per sub-env
    (regenerated when that sub-env resets). Infos are dicts of arrays (Gymnasium convention).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int,
        data: MarketData | str | Path | None = None,
        config: EnvConfig | Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> None:
        if num_envs < 1:
            raise ValueError("num_envs must be >= 1")
        self.num_envs = int(num_envs)
        self.config = cfg = EnvConfig.build(config, **overrides)
        self._action_cfg = cfg.action
        self._source = None
        data = resolve_data(data)
        if cfg.synthetic is not None:
            from tradewind.rl.synthetic import PathSource

            self._source = PathSource(cfg.synthetic)
            self.symbols: tuple[str, ...] = self._source.symbols
            self.feature_names = tuple(cfg.feature_names or DEFAULT_FEATURES)
            # One path per sub-env, drawn from that sub-env's generator on reset; this first one
            # only sizes the arrays and is never stepped.
            first = synthetic_arrays(self._source, cfg, np.random.default_rng(0))
            self._stack([first] * self.num_envs)
            self._market = np.arange(self.num_envs)
        else:
            if data is None:
                raise ValueError("PortfolioVectorEnv needs market data, or a synthetic config")
            self.symbols = data.symbols
            self.feature_names = tuple(cfg.feature_names or data.feature_names)
            self._stack([prepare_arrays(data, cfg)])
            self._market = np.zeros(self.num_envs, dtype=np.int64)
        self.n_assets = n = len(self.symbols)
        self.single_observation_space = observation_space(cfg, len(self.feature_names), n)
        self.single_action_space = action_space(cfg, n)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        b = self.num_envs
        self._initial = initial_weights(cfg, n)
        self._rngs: list[np.random.Generator | None] = [None] * b
        self._t = np.zeros(b, dtype=np.int64)
        self._t_end = np.zeros(b, dtype=np.int64)
        self._value = np.ones(b)
        self._prev_w = np.tile(self._initial, (b, 1))
        self._holdings = self._prev_w.copy()
        self._needs_reset = np.ones(b, dtype=bool)
        self._window_offsets = np.arange(-cfg.window + 1, 1)

    # -------------------------------------------------------------------------- arrays
    def _stack(self, arrays: list[MarketArrays]) -> None:
        self._obs_features = np.stack([a.obs_features for a in arrays])
        self._listed = np.stack([a.listed for a in arrays])
        self._available = np.stack([a.available for a in arrays])
        self._gross = np.stack([a.gross for a in arrays])
        self._rates = np.stack([a.rates for a in arrays])
        self._sessions = [a.sessions for a in arrays]
        self._t_first = np.array([a.t_first for a in arrays])
        self._t_last = np.array([a.t_last for a in arrays])

    def _set_market(self, i: int, a: MarketArrays) -> None:
        self._obs_features[i] = a.obs_features
        self._listed[i] = a.listed
        self._available[i] = a.available
        self._gross[i] = a.gross
        self._rates[i] = a.rates
        self._sessions[i] = a.sessions
        self._t_first[i] = a.t_first
        self._t_last[i] = a.t_last

    def _rng(self, i: int) -> np.random.Generator:
        if self._rngs[i] is None:
            self._rngs[i], _ = seeding.np_random()
        return self._rngs[i]

    # ------------------------------------------------------------------------------ API
    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ):
        super().reset(seed=None)
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed
            if len(seeds) != self.num_envs:
                raise ValueError(f"{len(seeds)} seeds for {self.num_envs} environments")
            for i, s in enumerate(seeds):
                if s is not None:
                    self._rngs[i], _ = seeding.np_random(s)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        rows = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        self._reset_rows(rows, options)
        return self._observations(), self._reset_infos(rows)

    def step(self, actions: np.ndarray):
        resetting = self._needs_reset.copy()
        m, t = self._market, self._t
        live = ~resetting
        # Rows being reset ignore their action (next-step autoreset); their index may be past
        # the episode, so clamp it for the gather.
        tc = np.minimum(t, self._t_last[m])
        target = target_weights(
            np.asarray(actions), self._available[m, tc], self._action_cfg, self._holdings
        )
        res = portfolio_step(target, self._holdings, self._gross[m, tc], self._rates[m, tc])
        reward = np.where(live, res.reward, 0.0)
        self._value[live] *= np.exp(reward[live])
        self._holdings[live] = res.holdings[live]
        self._prev_w[live] = target[live]
        self._t[live] += 1
        terminated = live & res.ruined
        truncated = live & ~terminated & (self._t > self._t_end)
        infos = {
            "session": np.array([self._sessions[m[i]][tc[i]] for i in range(self.num_envs)]),
            "portfolio_value": self._value.copy(),
            "log_return": reward,
            "gross_log_return": np.log(np.where(res.growth > 0, res.growth, np.nan)),
            "turnover": res.turnover,
            "cost": res.cost,
            "weights": target,
        }
        live_mask = live.copy()
        infos.update({f"_{key}": live_mask for key in list(infos)})
        if resetting.any():
            self._reset_rows(resetting, {})
            reset_infos = self._reset_infos(resetting)
            for key in ("session", "portfolio_value", "weights"):
                infos[key][resetting] = reset_infos[key][resetting]
                infos[f"_{key}"] = live_mask | resetting
        self._needs_reset = terminated | truncated
        return self._observations(), reward, terminated, truncated, infos

    # ---------------------------------------------------------------------------- helpers
    def _reset_rows(self, rows: np.ndarray, options: dict[str, Any]) -> None:
        length = self.config.episode_length
        for i in np.flatnonzero(rows):
            rng = self._rng(int(i))
            if self._source is not None:
                self._set_market(int(i), synthetic_arrays(self._source, self.config, rng))
            m = self._market[i]
            lo, hi = int(self._t_first[m]), int(self._t_last[m])
            if options.get("start") is not None:
                t0 = self._sessions[m].index(str(to_day(options["start"])))
            elif self.config.random_start and self._source is None:
                max_start = hi if length is None else max(lo, hi - length + 1)
                t0 = int(rng.integers(lo, max_start + 1))
            else:
                t0 = lo
            self._t[i] = t0
            self._t_end[i] = hi if length is None else min(hi, t0 + length - 1)
        self._value[rows] = 1.0
        self._prev_w[rows] = self._initial
        self._holdings[rows] = self._initial
        self._needs_reset[rows] = False

    def _reset_infos(self, rows: np.ndarray) -> dict[str, Any]:
        m, t = self._market, self._t
        return {
            "session": np.array([self._sessions[m[i]][t[i]] for i in range(self.num_envs)]),
            "portfolio_value": self._value.copy(),
            "weights": self._prev_w.copy(),
            "_session": rows.copy(),
            "_portfolio_value": rows.copy(),
            "_weights": rows.copy(),
        }

    def _observations(self) -> dict[str, np.ndarray]:
        m, t = self._market, self._t
        idx = t[:, None] + self._window_offsets
        return {
            OBS_FEATURES: self._obs_features[m[:, None], idx],
            OBS_LISTED: self._listed[m, t],
            OBS_WEIGHTS: self._prev_w.astype(np.float32),
        }
