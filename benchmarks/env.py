"""Environment stepping speed: the numpy core against a straightforward pandas environment.

Market: 30 assets x 2,500 sessions of random-walk bars, the five lr_* features, a 50-session
window, 10 bp + volatility slippage costs, random score actions. Measured in one process:

- numpy single env: ``PortfolioEnv.step`` (what one RLlib env runner steps);
- numpy batch: ``PortfolioVectorEnv`` with 64 sub-environments, one call per batch step;
- Gymnasium ``SyncVectorEnv`` of 64 PortfolioEnv (for scale: the generic way to batch);
- pandas, the common way: the warehouse's tidy frame (one row per symbol and session) indexed
  by session; every step takes ONE ``.loc`` slice of the window, pivots it to
  (window, feature, asset) and reads the current session's labels from the same slice;
- pandas on a pre-pivoted wide frame (one ``.loc`` per step, no pivot): a faster pandas
  variant, reported for context.

Both implementations are fed the same actions and must produce the same rewards (checked).

    .venv/bin/python benchmarks/env.py [--window 50] [--repeats 5]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import pandas as pd

from tradewind.rl.data import DEFAULT_FEATURES, MarketData
from tradewind.rl.env import PortfolioEnv
from tradewind.rl.vector_env import PortfolioVectorEnv

N_ASSETS, N_SESSIONS, BATCH = 30, 2500, 64
FIXED_BPS, SLIPPAGE, SCORE_SCALE = 10.0, 0.1, 5.0


def make_market(seed: int = 0) -> MarketData:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0003, 0.02, (N_SESSIONS, N_ASSETS))
    opens = 50.0 * np.exp(np.cumsum(r, axis=0))
    close = opens * np.exp(rng.normal(0, 0.01, opens.shape))
    high = np.maximum(opens, close) * 1.005
    low = np.minimum(opens, close) * 0.995
    volume = rng.lognormal(14, 0.3, opens.shape)
    return MarketData.from_ohlcv(np.stack([opens, high, low, close, volume], axis=-1))


def tidy_frame(data: MarketData) -> pd.DataFrame:
    """The warehouse layout: one row per symbol and session, features plus label and vol."""
    t_len, n = data.n_sessions, data.n_assets
    frame = pd.DataFrame(
        {
            "session": np.repeat(data.sessions, n),
            "symbol": np.tile(np.asarray(data.symbols, dtype=object), t_len),
        }
    )
    for f, name in enumerate(data.feature_names):
        frame[name] = data.features[:, f, :].ravel()
    frame["fwd_open_lr"] = np.where(data.available, data.labels, np.nan).ravel()
    frame["vol"] = data.volatility.ravel()
    return frame


class PandasTidyEnv:
    """A straightforward pandas environment: one ``.loc`` window slice of the tidy frame."""

    def __init__(self, frame: pd.DataFrame, window: int) -> None:
        self.frame = frame.set_index("session").sort_index()
        self.sessions = self.frame.index.unique()
        self.symbols = sorted(frame["symbol"].unique())
        self.features = list(DEFAULT_FEATURES)
        self.window = window
        self.columns = pd.MultiIndex.from_product([self.features, self.symbols])

    def reset(self, t0: int) -> dict[str, np.ndarray]:
        n = len(self.symbols)
        self.t = t0
        self.prev_w = np.r_[np.zeros(n), 1.0]
        self.holdings = self.prev_w.copy()
        block = self.frame.loc[self.sessions[t0 - self.window + 1] : self.sessions[t0]]
        return self._obs(block.pivot(columns="symbol"))

    def _obs(self, wide: pd.DataFrame) -> dict[str, np.ndarray]:
        feats = wide[self.features].reindex(columns=self.columns).fillna(0.0)
        n, f = len(self.symbols), len(self.features)
        return {
            "features": feats.to_numpy(np.float32).reshape(self.window, f, n),
            "weights": self.prev_w.astype(np.float32),
        }

    def step(self, action: np.ndarray):
        t, w = self.t, self.window
        # One lookup: the next observation's window, which also holds session t's rows.
        block = self.frame.loc[self.sessions[t - w + 2] : self.sessions[t + 1]]
        wide = block.pivot(columns="symbol")
        today = wide.iloc[-2]
        label = today["fwd_open_lr"].reindex(self.symbols).to_numpy(np.float64)
        vol = today["vol"].reindex(self.symbols).to_numpy(np.float64)
        available = np.isfinite(label)
        scores = np.clip(np.nan_to_num(np.asarray(action, np.float64), nan=-1.0), -1.0, 1.0)
        scores *= SCORE_SCALE
        e = np.exp(scores)
        e[:-1] *= available
        target = e / e.sum()
        traded = np.abs(target[:-1] - self.holdings[:-1])
        cost = float(traded @ (FIXED_BPS * 1e-4 + SLIPPAGE * vol))
        rel = np.r_[np.where(available, np.exp(np.nan_to_num(label)), 1.0), 1.0]
        grown = target * rel
        growth = grown.sum()
        reward = float(np.log(growth) + np.log1p(-cost))
        self.holdings = grown / growth
        self.prev_w = target
        self.t = t + 1
        return self._obs(wide), reward


class PandasWideEnv(PandasTidyEnv):
    """The same on a pre-pivoted wide frame: one ``.loc`` row slice per step, no pivot."""

    def __init__(self, frame: pd.DataFrame, window: int) -> None:
        super().__init__(frame, window)
        wide = self.frame.pivot(columns="symbol")
        self.wide = wide.reindex(
            columns=pd.MultiIndex.from_product(
                [[*self.features, "fwd_open_lr", "vol"], self.symbols]
            )
        )

    def reset(self, t0: int) -> dict[str, np.ndarray]:
        super().reset(t0)
        return self._obs(self.wide.loc[self.sessions[t0 - self.window + 1] : self.sessions[t0]])

    def step(self, action: np.ndarray):
        t, w = self.t, self.window
        block = self.wide.loc[self.sessions[t - w + 2] : self.sessions[t + 1]]
        values = block.to_numpy()
        f, n = len(self.features), len(self.symbols)
        label, vol = values[-2, f * n : (f + 1) * n], values[-2, (f + 1) * n :]
        available = np.isfinite(label)
        scores = np.clip(np.nan_to_num(np.asarray(action, np.float64), nan=-1.0), -1.0, 1.0)
        scores *= SCORE_SCALE
        e = np.exp(scores)
        e[:-1] *= available
        target = e / e.sum()
        traded = np.abs(target[:-1] - self.holdings[:-1])
        cost = float(traded @ (FIXED_BPS * 1e-4 + SLIPPAGE * vol))
        rel = np.r_[np.where(available, np.exp(np.nan_to_num(label)), 1.0), 1.0]
        grown = target * rel
        growth = grown.sum()
        reward = float(np.log(growth) + np.log1p(-cost))
        self.holdings = grown / growth
        self.prev_w = target
        self.t = t + 1
        obs = {
            "features": np.nan_to_num(values[:, : f * n]).astype(np.float32).reshape(w, f, n),
            "weights": self.prev_w.astype(np.float32),
        }
        return obs, reward


def best_rates(runs: dict[str, object], repeats: int) -> dict[str, float]:
    """Steps per second of each run: the best of ``repeats`` rounds.

    The rounds interleave the runs (a, b, c, a, b, c, ...) so that load from other processes on
    a shared machine hits every implementation alike and the ratios stay meaningful.
    """
    best = dict.fromkeys(runs, 0.0)
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            steps = run()
            best[name] = max(best[name], steps / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pandas-steps", type=int, default=200)
    parser.add_argument("--numpy-steps", type=int, default=10_000)
    parser.add_argument("--batch-steps", type=int, default=200)
    args = parser.parse_args()

    data = make_market()
    window = args.window
    options = dict(window=window, fixed_bps=FIXED_BPS, slippage_coef=SLIPPAGE, random_start=False)
    rng = np.random.default_rng(1)
    n1 = N_ASSETS + 1
    t_first = window - 1
    span = N_SESSIONS - 3 - t_first  # decision sessions with a known label

    # ------------------------------------------------------------------ correctness first
    env = PortfolioEnv(data, **options)
    pandas_env = PandasTidyEnv(tidy_frame(data), window)
    wide_env = PandasWideEnv(tidy_frame(data), window)
    obs, _ = env.reset(seed=0)
    obs_p = pandas_env.reset(t_first)
    obs_w = wide_env.reset(t_first)
    check = rng.uniform(-1, 1, (200, n1)).astype(np.float32)
    max_diff = 0.0
    for action in check:
        obs, reward, *_ = env.step(action)
        obs_p, reward_p = pandas_env.step(action)
        obs_w, reward_w = wide_env.step(action)
        max_diff = max(max_diff, abs(reward - reward_p), abs(reward - reward_w))
        assert np.array_equal(obs["features"], obs_p["features"])
        assert np.array_equal(obs["features"], obs_w["features"])
    assert max_diff < 1e-12, max_diff

    # -------------------------------------------------------------------------- timing
    actions = rng.uniform(-1, 1, (args.numpy_steps, n1)).astype(np.float32)

    def run_numpy() -> int:
        env.reset(seed=0)
        for i, action in enumerate(actions):
            if i % span == span - 1:
                env.reset()
            env.step(action)
        return len(actions)

    p_actions = actions[: args.pandas_steps]

    def run_pandas(penv) -> int:
        penv.reset(t_first)
        for action in p_actions:
            penv.step(action)
        return len(p_actions)

    batch_actions = rng.uniform(-1, 1, (args.batch_steps, BATCH, n1)).astype(np.float32)
    venv = PortfolioVectorEnv(BATCH, data, **options)

    def run_vector() -> int:
        venv.reset(seed=0)
        for action in batch_actions:
            venv.step(action)
        return len(batch_actions)

    from gymnasium.vector import SyncVectorEnv

    sync = SyncVectorEnv([lambda: PortfolioEnv(data, **options) for _ in range(BATCH)])
    sync_actions = batch_actions[: max(1, args.batch_steps // 4)]

    def run_sync() -> int:
        sync.reset(seed=0)
        for action in sync_actions:
            sync.step(action)
        return len(sync_actions)

    rates = best_rates(
        {
            "single": run_numpy,
            "pandas_tidy": lambda: run_pandas(pandas_env),
            "pandas_wide": lambda: run_pandas(wide_env),
            "vector": run_vector,
            "sync": run_sync,
        },
        args.repeats,
    )
    single, pandas_tidy, pandas_wide = rates["single"], rates["pandas_tidy"], rates["pandas_wide"]
    vector_batches, sync_batches = rates["vector"], rates["sync"]

    result = {
        "benchmark": "env",
        "assets": N_ASSETS,
        "sessions": N_SESSIONS,
        "window": window,
        "features": len(DEFAULT_FEATURES),
        "batch": BATCH,
        "numpy_single_steps_per_s": round(single),
        "numpy_vector_env_steps_per_s": round(vector_batches * BATCH),
        "numpy_vector_batch_steps_per_s": round(vector_batches),
        "sync_vector_env_steps_per_s": round(sync_batches * BATCH),
        "pandas_tidy_steps_per_s": round(pandas_tidy),
        "pandas_wide_steps_per_s": round(pandas_wide),
        "speedup_single_vs_pandas_tidy": round(single / pandas_tidy, 1),
        "speedup_single_vs_pandas_wide": round(single / pandas_wide, 1),
        "speedup_vector_vs_pandas_tidy": round(vector_batches * BATCH / pandas_tidy, 1),
        "max_abs_reward_diff": max_diff,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    print(f"numpy single env      : {single:12,.0f} steps/s")
    print(f"numpy vector env x{BATCH}  : {vector_batches * BATCH:12,.0f} env-steps/s")
    print(f"gym SyncVectorEnv x{BATCH}: {sync_batches * BATCH:12,.0f} env-steps/s")
    print(f"pandas tidy (.loc+pivot): {pandas_tidy:10,.0f} steps/s")
    print(f"pandas wide (.loc)    : {pandas_wide:12,.0f} steps/s")
    print(f"single vs pandas tidy : {single / pandas_tidy:12.1f} x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
