"""Helpers of the registry tests (imported by name: pytest puts this folder on sys.path): the
real Yahoo bars fixture (10 symbols, 2009-10..2010-12, with CHTR listed in 2010-01 and GM in
2010-11), short windows inside it, and policies under the loaded-policy interface (symbols,
features, window, env_config, agent, manifest, __call__)."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from tradewind.rl.env import EnvConfig

BARS_CSV = Path(__file__).parents[1] / "features" / "fixtures" / "yahoo_daily_10.csv"
SYMBOLS = ("AAPL", "CHTR", "GM", "JPM", "KO", "MSFT", "WMT", "XOM")
WINDOW = 10
# Short windows inside the fixture's span (the design's defaults are years of data).
WINDOWS = {
    "train": ["2009-11-02", "2010-02-26"],
    "validation": ["2010-03-01", "2010-07-30"],
    "test": ["2010-08-02", "2010-12-28"],
}


def read_bars() -> pd.DataFrame:
    df = pd.read_csv(BARS_CSV)
    df["session"] = pd.to_datetime(df["session"]).dt.date
    return df


def load_bars(url: str, bars: pd.DataFrame) -> None:
    buf = io.StringIO()
    out = bars[["symbol", "session", "open", "high", "low", "close", "volume"]].copy()
    out["source"], out["adjustment"] = "csv", "split"
    out.to_csv(buf, index=False, header=False, float_format="%.17g")
    cols = "symbol, session, open, high, low, close, volume, source, adjustment"
    with psycopg.connect(url) as c, c.cursor() as cur:
        with cur.copy(f"copy raw.bars_daily ({cols}) from stdin with (format csv)") as cp:
            cp.write(buf.getvalue())


class Subject:
    """A policy under the loaded-policy interface of ``tradewind.rl.artifacts``."""

    features = ("lr_open", "lr_high", "lr_low", "lr_close", "lr_volume")
    agent = None

    def __init__(self, name: str, symbols=SYMBOLS, window: int = WINDOW, bps: float = 10.0):
        self.name = name
        self.symbols = tuple(symbols)
        self.window = window
        self.env_config = EnvConfig(window=window, feature_names=self.features, fixed_bps=bps)
        self.manifest = {"agent": name, "windows": WINDOWS, "symbols": list(self.symbols)}


class HoldOne(Subject):
    """All in one symbol whenever it is listed (else cash): a deterministic 'model'."""

    action_kind = "weights"

    def __init__(self, symbol: str, **kw):
        super().__init__(f"hold-{symbol}", **kw)
        self.index = self.symbols.index(symbol)

    def __call__(self, obs):
        w = np.zeros(len(self.symbols) + 1)
        w[self.index if obs["listed"][self.index] > 0 else -1] = 1.0
        return w


class EIIESubject(Subject):
    """A real, untrained EIIEModule built from its config with a fixed seed (ModulePolicy)."""

    def __init__(self, seed: int = 0, **kw):
        import torch

        from tradewind.rl.baselines import ModulePolicy
        from tradewind.rl.env import action_space, observation_space
        from tradewind.rl.model import EIIEModule

        super().__init__(f"eiie-{seed}", **kw)
        cfg = self.env_config
        torch.manual_seed(seed)
        module = EIIEModule(
            observation_space=observation_space(cfg, len(self.features), len(self.symbols)),
            action_space=action_space(cfg, len(self.symbols)),
            model_config={"hidden": 8, "head_hidden": 8, "vf_hidden": 8},
        )
        # The module starts from a uniform policy (zero last layer); give the score head
        # seeded non-zero weights so the weights actually depend on the observation.
        with torch.no_grad():
            module.score_head[-1].weight.normal_(0.0, 1.0)
        self.policy = ModulePolicy(module)
        self.action_kind = self.policy.action_kind

    def __call__(self, obs):
        return self.policy(obs)


def insert_run(url: str, agent: str, artifact_uri: str, status: str = "succeeded") -> str:
    run_id = str(uuid.uuid4())
    with psycopg.connect(url) as c:
        c.execute(
            "insert into ml.training_runs (run_id, agent, config, train_start, train_end, seed, "
            "status, artifact_uri) values (%s, %s, '{}', %s, %s, 0, %s, %s)",
            [run_id, agent, WINDOWS["train"][0], WINDOWS["train"][1], status, artifact_uri],
        )
    return run_id
