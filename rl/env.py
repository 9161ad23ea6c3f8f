"""The trading environment: a Gymnasium env over preloaded market arrays (or synthetic paths)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tradewind.rl.core import (
    ActionConfig,
    CostConfig,
    gross_returns,
    portfolio_step,
    target_weights,
)
from tradewind.rl.data import (
    DEFAULT_FEATURES,
    DEFAULT_VOL_WINDOW,
    IN_SAMPLE,
    OUT_OF_SAMPLE,
    DateLike,
    MarketData,
    to_day,
)

OBS_FEATURES, OBS_WEIGHTS, OBS_LISTED = "features", "weights", "listed"
_NAMED_RANGES = {"in_sample": IN_SAMPLE, "out_of_sample": OUT_OF_SAMPLE}


@dataclass(frozen=True)
class EnvConfig:
    """Every option of :class:`PortfolioEnv` (plain values, so it fits RLlib's env_config)."""

    window: int = 32
    feature_names: tuple[str, ...] | None = None  # None: every feature of the data
    # (start, end) inclusive, "in_sample", "out_of_sample" or None (all loaded sessions).
    session_range: tuple[DateLike | None, DateLike | None] | str | None = None
    episode_length: int | None = None  # None: to the end of the range (synthetic: 64)
    random_start: bool = True
    action_kind: Literal["scores", "weights"] = "scores"
    long_short: bool = False
    score_scale: float = 5.0
    max_weight: float | None = None
    gross_limit: float = 1.0
    fixed_bps: float = 10.0
    slippage_coef: float = 0.0
    initial_weights: tuple[float, ...] | None = None  # None: all cash
    # Synthetic-market mode: a tradewind.markets.synthetic.SyntheticMarketConfig (or its dict).
    synthetic: Any = None
    vol_window: int = DEFAULT_VOL_WINDOW  # synthetic mode only; loaded data carries its own
    # Observed log changes are clipped to +-feature_clip (e^10 is a 22,000-fold move: only a
    # data error or a zero-volume print gets there) so the observation space is bounded.
    feature_clip: float = 10.0

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("window must be >= 1")
        if self.episode_length is not None and self.episode_length < 1:
            raise ValueError("episode_length must be >= 1")

    @classmethod
    def build(cls, config: EnvConfig | Mapping[str, Any] | None = None, **overrides: Any):
        if config is None:
            config = cls()
        elif isinstance(config, Mapping):
            config = cls(**{**config})
        if overrides:
            config = dataclasses.replace(config, **overrides)
        if config.feature_names is not None and not isinstance(config.feature_names, tuple):
            config = dataclasses.replace(config, feature_names=tuple(config.feature_names))
        return config

    @property
    def action(self) -> ActionConfig:
        return ActionConfig(
            kind=self.action_kind,
            long_short=self.long_short,
            score_scale=self.score_scale,
            max_weight=self.max_weight,
            gross_limit=self.gross_limit,
        )

    @property
    def costs(self) -> CostConfig:
        return CostConfig(fixed_bps=self.fixed_bps, slippage_coef=self.slippage_coef)

    @property
    def synthetic_length(self) -> int:
        return self.episode_length or 64


@dataclass(frozen=True, eq=False)
class MarketArrays:
    """What stepping reads, precomputed once per dataset (or per synthetic path)."""

    obs_features: np.ndarray  # float32 [T, F, N], unknown -> 0
    listed: np.ndarray  # float32 [T, N]
    available: np.ndarray  # bool [T, N]
    available_f: np.ndarray  # float64 [T, N], the same as 0/1 (a cheaper mask in the inner loop)
    gross: np.ndarray  # float64 [T, N+1]: exp(fwd_open_lr), 1 for cash / unavailable
    rates: np.ndarray  # float64 [T, N]: cost per unit of turnover
    sessions: tuple[str, ...]
    t_first: int  # first decision index
    t_last: int  # last decision index (its label exists; t_last + 1 has an observation)


def prepare_arrays(
    data: MarketData, config: EnvConfig, *, t_first: int | None = None, t_last: int | None = None
) -> MarketArrays:
    if config.feature_names is not None and tuple(config.feature_names) != data.feature_names:
        data = data.select_features(config.feature_names)
    feats = np.nan_to_num(data.features, nan=0.0, posinf=0.0, neginf=0.0)
    feats = np.clip(feats, -config.feature_clip, config.feature_clip).astype(np.float32)
    if t_first is None or t_last is None:
        rng = config.session_range
        if isinstance(rng, str):
            rng = _NAMED_RANGES[rng]
        i0, i1 = data.index_range(*(rng or (None, None)))
        has_label = np.flatnonzero(data.available.any(axis=1))
        last_label = int(has_label[-1]) if len(has_label) else -1
        t_first = max(i0, config.window - 1)
        t_last = min(i1, data.n_sessions - 2, last_label)
    if t_first > t_last:
        raise ValueError(
            f"no decision session: range [{t_first}, {t_last}] with window {config.window} "
            f"over {data.n_sessions} sessions (load more warm-up history or widen the range)"
        )
    arrays = MarketArrays(
        obs_features=np.ascontiguousarray(feats),
        listed=data.listed.astype(np.float32),
        available=np.array(data.available),
        available_f=data.available.astype(np.float64),
        gross=gross_returns(data.labels, data.available),
        rates=config.costs.rates(data.volatility),
        sessions=tuple(str(s) for s in data.sessions),
        t_first=int(t_first),
        t_last=int(t_last),
    )
    for name in ("obs_features", "listed", "available", "available_f", "gross", "rates"):
        getattr(arrays, name).setflags(write=False)
    return arrays


def observation_at(
    arrays: MarketArrays, t: int, window: int, prev_weights: np.ndarray
) -> dict[str, np.ndarray]:
    """The observation after the close of session index ``t``: the one builder of observations.

    The environment calls it at every step, and signal generation (``tradewind.signals``) calls
    it on arrays prepared from the warehouse's features up to T, so a live decision sees exactly
    what the agent saw in training and evaluation. ``prev_weights`` are the previous target
    weights w_{T-1} (N + 1, cash last). Only rows ``t - window + 1 .. t`` are read.
    """
    if t - window + 1 < 0:
        raise ValueError(f"session index {t} has fewer than {window} sessions of history")
    # Read-only views of the (read-only) arrays: no copy, and no way to corrupt the data.
    return {
        OBS_FEATURES: arrays.obs_features[t - window + 1 : t + 1],
        OBS_LISTED: arrays.listed[t],
        OBS_WEIGHTS: np.asarray(prev_weights).astype(np.float32),
    }


def resolve_data(data: MarketData | str | Path | None) -> MarketData | None:
    if data is None or isinstance(data, MarketData):
        return data
    return MarketData.load(data)


def observation_space(config: EnvConfig, n_features: int, n_assets: int) -> spaces.Dict:
    if config.long_short:
        g = config.gross_limit + 1e-5  # float32 rounding margin
        low = np.r_[np.full(n_assets, -g), 1.0 - g].astype(np.float32)
        high = np.r_[np.full(n_assets, g), 1.0 + g].astype(np.float32)
    else:
        low, high = np.zeros(n_assets + 1, np.float32), np.ones(n_assets + 1, np.float32)
    return spaces.Dict(
        {
            OBS_FEATURES: spaces.Box(
                -config.feature_clip,
                config.feature_clip,
                (config.window, n_features, n_assets),
                np.float32,
            ),
            OBS_LISTED: spaces.Box(0.0, 1.0, (n_assets,), np.float32),
            OBS_WEIGHTS: spaces.Box(low, high, (n_assets + 1,), np.float32),
        }
    )


def action_space(config: EnvConfig, n_assets: int) -> spaces.Box:
    shape = (n_assets + 1,)
    if config.action_kind == "scores":
        return spaces.Box(-1.0, 1.0, shape, np.float32)
    if config.long_short:
        return spaces.Box(-config.gross_limit, config.gross_limit, shape, np.float32)
    return spaces.Box(0.0, 1.0, shape, np.float32)


def initial_weights(config: EnvConfig, n_assets: int) -> np.ndarray:
    if config.initial_weights is None:
        w = np.zeros(n_assets + 1)
        w[-1] = 1.0
        return w
    w = np.asarray(config.initial_weights, dtype=np.float64)
    if w.shape != (n_assets + 1,) or not np.isclose(w.sum(), 1.0):
        raise ValueError(f"initial_weights must be {n_assets + 1} numbers summing to 1")
    return w


class PortfolioEnv(gym.Env):
    """Daily portfolio allocation over N assets plus cash, with transaction costs.

    ## Description

    Each step is one trading session T. After the close of T the agent sees the recent history of
    log changes of prices and volumes and its previous target weights, and chooses target
    weights w_T for the N assets and cash. They are traded at the open of session T+1 and held
    to the open of T+2. Data come from preloaded arrays (:class:`~tradewind.rl.data.MarketData`,
    read from the feature marts once) or, in synthetic-market mode, from a fresh stochastic path
    drawn on every reset. Nothing touches a database inside ``step()``.

    ## Observation Space

    A ``Dict``:

    | key        | shape          | dtype   | content                                              |
    |------------|----------------|---------|------------------------------------------------------|
    | `features` | (window, F, N) | float32 | feature f of asset n at sessions T-window+1 .. T     |
    |            |                |         | (oldest first); unknown values (not yet listed,      |
    |            |                |         | first bar, zero volume) are 0; clipped to            |
    |            |                |         | +-feature_clip (10)                                  |
    | `weights`  | (N+1,)         | float32 | previous target weights w_{T-1}, cash last (all cash |
    |            |                |         | at the start); long-only in [0, 1]                   |
    | `listed`   | (N,)           | float32 | 1 if the asset has a bar at T, else 0                |

    The features are chosen by name (``feature_names``) among the marts' log changes, e.g.
    ``lr_open, lr_high, lr_low, lr_close, lr_volume`` (``lr_x = log x_T - log x_{T-1}``). The
    observation at T depends on bars up to and including T only; forward returns never enter it.

    ## Action Space

    ``Box(N+1,)`` float32, assets then cash (see :class:`~tradewind.rl.core.ActionConfig`):

    - ``action_kind="scores"`` (default, for agents): one score in [-1, 1] per asset and cash.
      Long-only: ``w = softmax(score_scale * score)`` over the available assets and cash.
      ``long_short=True``: ``w_i = gross_limit * s_i / (sum_j |s_j| + |s_cash|)``, so the gross
      exposure never exceeds ``gross_limit``; cash = 1 - sum_i w_i.
    - ``action_kind="weights"`` (for baselines): target weights, made feasible (negatives
      dropped in long-only mode, then divided by their sum); all-NaN means "no trade".
    - ``max_weight`` bounds every |w_i| (long-only: the excess goes to cash).
    - An asset that is not available at T (not listed at T, T+1 or T+2, or no forward return)
      gets weight 0 whatever the action; its share goes to the other assets and cash.

    ## Rewards

    The log growth of the portfolio from open(T+1) to open(T+2), net of transaction costs:

        reward_T = log(1 - c_T) + log(sum_i w_T,i * exp(fwd_open_lr_T,i) + w_T,cash)

    with ``fwd_open_lr_T = log(open_{T+2} / open_{T+1})`` and costs charged on the turnover from
    the drifted holdings h_T (w_{T-1} grown from open(T) to open(T+1)) to w_T:
    ``c_T = sum_i |w_T,i - h_T,i| * (fixed_bps / 1e4 + slippage_coef * vol_T,i)``, where vol is
    the asset's rolling daily std of ``lr_close`` up to T. Cash earns nothing. Summed rewards are
    the log of final over initial portfolio value.

    ## Starting State

    All cash (or ``initial_weights``) with value 1.0 at a start session: uniform over the
    decision sessions of ``session_range`` that leave room for ``episode_length`` steps when
    ``random_start`` (drawn from ``self.np_random``), else the first one, or
    ``reset(options={"start": date})``. The first decision session is at least ``window - 1``
    sessions into the loaded data. Synthetic mode draws a new path of
    ``window + episode_length + 2`` sessions from ``self.np_random`` on every reset and starts
    at its session ``window``.

    ## Episode End

    - Termination: ruin, i.e. net growth at or below 1e-12 of the value in one step (possible
      only with shorts or absurd costs); the reward is then log(1e-12).
    - Truncation: after ``episode_length`` steps, or after the last decision session of the
      range (the last one whose forward return is known). This is a time limit, not a
      terminal state: the final observation (session T+1) is valid for bootstrapping.

    ## Info

    ``reset``: ``session``, ``portfolio_value`` (1.0), ``weights``. ``step``: ``session`` (T),
    ``portfolio_value`` (after the step), ``log_return`` (= reward), ``gross_log_return``
    (before costs), ``turnover`` (sum |w_T - h_T| over assets), ``cost`` (c_T, fraction of
    value) and ``weights`` (w_T, float64, cash last).

    ## Arguments

    ``PortfolioEnv(data=None, config=None, **overrides)``: ``data`` is a MarketData or the path
    of one saved with ``MarketData.save`` (None in synthetic mode); ``config`` an
    :class:`EnvConfig` or a dict of its fields; keyword overrides replace single fields.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        data: MarketData | str | Path | None = None,
        config: EnvConfig | Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        self.config = EnvConfig.build(config, **overrides)
        cfg = self.config
        self._action_cfg = cfg.action
        self._source = None
        data = resolve_data(data)
        if cfg.synthetic is not None:
            from tradewind.rl.synthetic import PathSource

            self._source = PathSource(cfg.synthetic)
            self.symbols: tuple[str, ...] = self._source.symbols
            self.feature_names: tuple[str, ...] = tuple(cfg.feature_names or DEFAULT_FEATURES)
            self.data: MarketData | None = None
            self._arrays: MarketArrays | None = None
        else:
            if data is None:
                raise ValueError("PortfolioEnv needs market data, or a synthetic config")
            self.data = data
            self._arrays = prepare_arrays(data, cfg)
            self.symbols = data.symbols
            self.feature_names = tuple(cfg.feature_names or data.feature_names)
        self.n_assets = len(self.symbols)
        self.observation_space = observation_space(cfg, len(self.feature_names), self.n_assets)
        self.action_space = action_space(cfg, self.n_assets)
        self._initial = initial_weights(cfg, self.n_assets)
        self._t = self._t0 = self._t_end = -1
        self._value = 1.0
        self._prev_w = self._initial.copy()
        self._holdings = self._initial.copy()

    # ------------------------------------------------------------------------------ API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        if self._source is not None:
            self._arrays = self._synthetic_arrays(self.np_random)
        a = self._arrays
        length = self.config.episode_length
        if options.get("start") is not None:
            t0 = self.session_index(options["start"])
            if not a.t_first <= t0 <= a.t_last:
                raise ValueError(f"start {options['start']} is not a decision session")
        elif self.config.random_start and self._source is None:
            max_start = a.t_last if length is None else max(a.t_first, a.t_last - length + 1)
            t0 = int(self.np_random.integers(a.t_first, max_start + 1))
        else:
            t0 = a.t_first
        self._t0 = self._t = t0
        self._t_end = a.t_last if length is None else min(a.t_last, t0 + length - 1)
        self._value = 1.0
        self._prev_w = self._initial.copy()
        self._holdings = self._initial.copy()
        info = {
            "session": a.sessions[t0],
            "portfolio_value": 1.0,
            "weights": self._prev_w.copy(),
        }
        return self._observation(), info

    def step(self, action: np.ndarray):
        a = self._arrays
        if a is None or self._t < 0:
            raise RuntimeError("call reset() before step()")
        if self._t > self._t_end:
            raise RuntimeError("the episode is over: call reset()")
        t = self._t
        target = target_weights(action, a.available_f[t], self._action_cfg, self._holdings)
        res = portfolio_step(target, self._holdings, a.gross[t], a.rates[t])
        reward = res.reward
        self._value *= math.exp(reward)
        self._holdings = res.holdings
        self._prev_w = target
        self._t = t + 1
        terminated = res.ruined
        truncated = not terminated and self._t > self._t_end
        info = {
            "session": a.sessions[t],
            "portfolio_value": self._value,
            "log_return": reward,
            "gross_log_return": math.log(res.growth) if res.growth > 0 else -math.inf,
            "turnover": res.turnover,
            "cost": res.cost,
            "weights": target,
        }
        return self._observation(), reward, terminated, truncated, info

    def render(self) -> None:
        return None

    # ---------------------------------------------------------------------------- helpers
    @property
    def arrays(self) -> MarketArrays:
        if self._arrays is None:
            raise RuntimeError("synthetic mode: the arrays exist after reset()")
        return self._arrays

    @property
    def session(self) -> str:
        """The session of the current observation (the next decision)."""
        return self.arrays.sessions[self._t]

    @property
    def decision_sessions(self) -> Sequence[str]:
        a = self.arrays
        return a.sessions[a.t_first : a.t_last + 1]

    def session_index(self, session: DateLike | int) -> int:
        if isinstance(session, int | np.integer):
            return int(session)
        day = str(to_day(session))
        try:
            return self.arrays.sessions.index(day)
        except ValueError:
            raise ValueError(f"{day} is not a loaded session") from None

    def _observation(self) -> dict[str, np.ndarray]:
        return observation_at(self._arrays, self._t, self.config.window, self._prev_w)

    def _synthetic_arrays(self, rng: np.random.Generator) -> MarketArrays:
        return synthetic_arrays(self._source, self.config, rng)


def synthetic_arrays(source: Any, config: EnvConfig, rng: np.random.Generator) -> MarketArrays:
    """A fresh synthetic path (drawn from ``rng``) as stepping arrays."""
    length = config.synthetic_length
    n_sessions = config.window + length + 2
    data = MarketData.from_ohlcv(
        source.paths(n_sessions, rng), symbols=source.symbols, vol_window=config.vol_window
    )
    # Session 0 has no log change yet, so the first full window ends at session `window`.
    return prepare_arrays(data, config, t_first=config.window, t_last=config.window + length - 1)


ENV_ID = "tradewind/Portfolio-v0"
if ENV_ID not in gym.registry:
    # gym.make(ENV_ID, data=..., window=...) and gym.make_vec(ENV_ID, num_envs=64,
    # vectorization_mode="vector_entry_point", data=...) for the numpy-batched PortfolioVectorEnv.
    gym.register(
        id=ENV_ID,
        entry_point="tradewind.rl.env:PortfolioEnv",
        vector_entry_point="tradewind.rl.vector_env:PortfolioVectorEnv",
    )
