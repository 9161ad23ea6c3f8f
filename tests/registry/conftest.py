"""Fixtures of the registry tests: a real warehouse holding real Yahoo bars (10 symbols,
2009-10..2010-12, including a listing mid-sample: CHTR in 2010-01, GM in 2010-11) and a real
``dbt build`` of the feature marts, built once per session and copied per test; and policies
under the loaded-policy interface (symbols, features, window, env_config, manifest, __call__).
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest

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


def _with_db(url: str, db: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path="/" + db))


def read_bars() -> pd.DataFrame:
    df = pd.read_csv(BARS_CSV, float_precision="round_trip")
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


@pytest.fixture(scope="session")
def features_template(pg_server_url: str, template_db: str, tmp_path_factory) -> str:
    """Name of a database with the bars loaded and the feature marts built by dbt."""
    from tradewind.features import run_dbt

    admin = _with_db(pg_server_url, "postgres")
    name = f"tw_registry_built_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
        c.execute(f'create database "{name}" template "{template_db}"')
    url = _with_db(pg_server_url, name)
    load_bars(url, read_bars())
    # Seeds and models only: the marts are what evaluations read; dbt's own tests belong to
    # the feature tests (and keep this fixture fast).
    run_dbt(
        ["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"],
        url=url,
        target_path=tmp_path_factory.mktemp("dbt-target"),
    )
    yield name
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def warehouse(pg_server_url: str, features_template: str, monkeypatch, tmp_path) -> str:
    """A fresh copy of the built warehouse for one test (settings point at it)."""
    from tradewind.settings import reset_settings_cache

    admin = _with_db(pg_server_url, "postgres")
    name = f"tw_registry_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'create database "{name}" template "{features_template}"')
    url = _with_db(pg_server_url, name)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path / "home"))
    reset_settings_cache()
    yield url
    reset_settings_cache()
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')


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


@pytest.fixture
def subjects() -> dict[str, Subject]:
    """artifact_uri -> policy, for ``loader=subjects.__getitem__``."""
    return {}


def insert_run(url: str, agent: str, artifact_uri: str, status: str = "succeeded") -> str:
    run_id = str(uuid.uuid4())
    with psycopg.connect(url) as c:
        c.execute(
            "insert into ml.training_runs (run_id, agent, config, train_start, train_end, seed, "
            "status, artifact_uri) values (%s, %s, '{}', %s, %s, 0, %s, %s)",
            [run_id, agent, WINDOWS["train"][0], WINDOWS["train"][1], status, artifact_uri],
        )
    return run_id
