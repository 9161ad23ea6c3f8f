"""Helpers of the training tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tradewind.rl.agents import AgentConfig, load_agent

# Short windows so a tiny run has a train, a validation and a test window of its own.
WINDOWS = {
    "windows.train.start": "2015-01-01",
    "windows.train.end": "2016-12-31",
    "windows.validation.start": "2017-01-01",
    "windows.validation.end": "2017-06-30",
    "windows.test.start": "2017-07-01",
    "windows.test.end": "2017-12-29",
}


def tiny_agent(symbols: list[str], **overrides) -> AgentConfig:
    """The demo agent cut down to seconds: 4 assets, window 8, 2 iterations of 512 steps."""
    return load_agent("demo").with_overrides(
        **WINDOWS,
        universe=list(symbols),
        window=8,
        episode_length=64,
        **{
            "budget.timesteps": 1024,
            "algorithm.train_batch_size": 512,
            "algorithm.minibatch_size": 128,
            "algorithm.num_epochs": 2,
            "runners.num_envs_per_env_runner": 8,
            "checkpoint.every_iterations": 1,
            "early_stopping.eval_every": 100,  # one validation check, at the end
            **overrides,
        },
    )


# The registry tests' real-bars fixture: 10 Yahoo symbols, 2009-10..2010-12.
YAHOO_CSV = Path(__file__).parents[1] / "features" / "fixtures" / "yahoo_daily_10.csv"
YAHOO_SYMBOLS = ["AAPL", "JPM", "KO", "MSFT", "WMT", "XOM"]
YAHOO_WINDOWS = {
    "train": {"start": "2009-11-02", "end": "2010-03-31"},
    "validation": {"start": "2010-04-01", "end": "2010-07-30"},
    "test": {"start": "2010-08-02", "end": "2010-12-28"},
}


def load_yahoo_bars(url: str) -> None:
    import io

    import pandas as pd
    import psycopg

    bars = pd.read_csv(YAHOO_CSV)
    out = bars[["symbol", "session", "open", "high", "low", "close", "volume"]].copy()
    out["source"], out["adjustment"] = "csv", "split"
    buf = io.StringIO()
    out.to_csv(buf, index=False, header=False, float_format="%.17g")
    cols = "symbol, session, open, high, low, close, volume, source, adjustment"
    with psycopg.connect(url) as c, c.cursor() as cur:
        with cur.copy(f"copy raw.bars_daily ({cols}) from stdin with (format csv)") as cp:
            cp.write(buf.getvalue())


def write_agent(path: Path, **overrides: Any) -> Path:
    """A tiny agent file over the Yahoo fixture (seconds of training)."""
    data: dict[str, Any] = {
        "name": path.stem,
        "description": "tiny test agent",
        "algorithm": {"name": "PPO", "lr": 0.001, "gamma": 0.9, "lambda": 0.9,
                      "train_batch_size": 512, "minibatch_size": 128, "num_epochs": 2},
        "model": {"hidden": 4, "head_hidden": 8, "vf_hidden": 8},
        "universe": YAHOO_SYMBOLS,
        "window": 8,
        "episode_length": 32,
        "windows": YAHOO_WINDOWS,
        "seed": 3,
        "budget": {"timesteps": 1024},
        "runners": {"num_env_runners": 0, "num_envs_per_env_runner": 8},
        "checkpoint": {"every_iterations": 1},
        "early_stopping": {"eval_every": 1},
    }  # fmt: skip
    for key, value in overrides.items():
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def checkpoint_reference(
    out: Path, data: Any, env_config: Any, steps: int, scale: float, state: Any = None
):
    """The independent reference for a trained run's saved policy: RLlib's own checkpoint of the
    learner's module (``RLModule.from_checkpoint``) scored on ``steps`` observations of an
    equal-weight walk through ``env_config``'s window, with the score -> weight rule written out in
    numpy (softmax of ``scale * clip(score, -1, 1)`` over listed assets and cash), never the code
    under test. ``state``: weights to score with instead of the checkpoint's, loaded into RLlib's
    module (``load_state_dict``; its target copies, absent from a saved policy, stay as they are).
    Returns (the observations as one batch, one per step; the module; the weights)."""
    import json

    import numpy as np
    import torch
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModule

    from tradewind.rl.env import PortfolioEnv

    manifest = json.loads((out / "manifest.json").read_text())
    ckpt = out / manifest["last_checkpoint"] / "learner_group/learner/rl_module/default_policy"
    module = RLModule.from_checkpoint(str(ckpt))
    if state is not None:
        missing, unexpected = module.load_state_dict(dict(state), strict=False)
        assert not unexpected and all("_old_" in k for k in missing), (missing, unexpected)
    env = PortfolioEnv(data, env_config)
    obs, _ = env.reset()
    rows = []
    for _ in range(steps):
        rows.append(obs)
        obs, *_ = env.step(np.r_[np.ones(len(data.symbols)), 0.0])
    batch = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    with torch.no_grad():
        scores = module.forward_inference(
            {Columns.OBS: {k: torch.as_tensor(v.copy()) for k, v in batch.items()}}
        )[Columns.ACTION_DIST_INPUTS].numpy()
    n = len(data.symbols)
    s = np.exp(np.clip(scores[:, : n + 1], -1.0, 1.0) * scale)
    s[:, :-1] *= batch["listed"]
    return batch, module, s / s.sum(axis=1, keepdims=True)
