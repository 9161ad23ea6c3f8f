"""Fixtures of the signal tests (reusable by other test folders: import from here).

``signals_warehouse``: a template database on the test server holding the shipped universes,
synthetic bars of six DOW30 names ingested through the real pipeline (quality gate and
loader), the dbt feature marts built by dbt, and one tiny agent trained by the training code
(``tradewind.rl.train.train``, real RLlib PPO, a few thousand steps) and registered in the
registry as the production version of model ``tiny``. Built once per session (about a
minute); ``signals_db`` gives each test its own copy (``CREATE DATABASE ... TEMPLATE``).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from signals_testlib import BARS_END, BARS_START, MODEL, SYMBOLS, WINDOWS, build_features


@dataclass(frozen=True)
class SignalsWarehouse:
    server_url: str
    template: str
    artifact_uri: str
    dbt_target: Path

    def url(self, db: str) -> str:
        from urllib.parse import urlsplit, urlunsplit

        return urlunsplit(urlsplit(self.server_url)._replace(path="/" + db))

    def clone(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as c:
            c.execute(f'drop database if exists "{name}" with (force)')
            c.execute(f'create database "{name}" template "{self.template}"')
        return self.url(name)

    def drop(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as c:
            c.execute(f'drop database if exists "{name}" with (force)')


def tiny_agent():
    from tradewind.rl.agents import load_agent

    return load_agent("demo").with_overrides(
        **{
            "name": MODEL,
            "universe": "DOW30",
            "window": 8,
            "episode_length": 32,
            "windows": WINDOWS,
            "algorithm.train_batch_size": 256,
            "algorithm.minibatch_size": 64,
            "algorithm.num_epochs": 1,
            "budget.timesteps": 512,
            "runners.num_envs_per_env_runner": 4,
            "checkpoint.every_iterations": 1,
            "early_stopping.eval_every": 1,
        }
    )


def train_tiny(url: str, out: Path) -> str:
    """Train the tiny agent on the warehouse's features; return its artifact folder."""
    from tradewind.rl.data import load_market_data
    from tradewind.rl.train import train

    agent = tiny_agent()
    data = load_market_data(
        url, SYMBOLS, WINDOWS["train"]["start"], WINDOWS["test"]["end"], agent.features,
        warmup_sessions=agent.window,
    )  # fmt: skip
    run_id = str(uuid.uuid4())
    result = train(agent, data, out / run_id, run_id=run_id)
    return str(getattr(result, "artifact_uri", None) or out / run_id)


def _build_signals_warehouse(
    pg_server_url: str, template_db: str, folder: Path, template: str
) -> SignalsWarehouse:
    from tradewind.ingest.pipeline import run_ingest
    from tradewind.ingest.universe_load import load_universe_members
    from tradewind.registry import register_candidate, set_stage

    wh = SignalsWarehouse(pg_server_url, template, "", folder / "dbt-target")
    # Built in a scratch database, then copied into the template (a template must have no
    # connections while it is copied, and building leaves some open for a moment).
    build_name = wh.template.replace("signals", "signals_build")
    with psycopg.connect(wh.url("postgres"), autocommit=True) as c:
        c.execute(f'drop database if exists "{build_name}" with (force)')
        c.execute(f'create database "{build_name}" template "{template_db}"')
    url = wh.url(build_name)
    load_universe_members(url)
    run_ingest("synthetic", SYMBOLS, BARS_START.isoformat(), BARS_END.isoformat(), "1Day",
               as_of=dt.datetime(2019, 7, 1, tzinfo=dt.UTC), url=url)  # fmt: skip
    build_features(url, wh.dbt_target)
    artifact = train_tiny(url, folder / "artifacts")
    mv = register_candidate(url, MODEL, artifact)
    set_stage(url, MODEL, mv.version, "production", by="tests", reason="signals fixture")
    with psycopg.connect(wh.url("postgres"), autocommit=True) as c:
        c.execute(f'drop database if exists "{wh.template}" with (force)')
        c.execute(f'create database "{wh.template}" template "{build_name}"')
        c.execute(f'drop database if exists "{build_name}" with (force)')
    return SignalsWarehouse(pg_server_url, wh.template, artifact, wh.dbt_target)


def _run_pg_tool(test_settings, name: str, *args: str) -> None:
    """One of the test server's client programs (pg_dump, pg_restore), checked."""
    import subprocess

    from tradewind.db.embedded import find_bin_dir

    argv = [str(find_bin_dir(test_settings) / name), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"


@pytest.fixture(scope="session")
def signals_warehouse(pg_server_url: str, template_db: str, tmp_path_factory, test_settings):
    """Built once per test run. Each pytest-xdist worker has a test server of its own, so under
    xdist the first worker to need it builds it under a file lock in the run's shared temp
    folder and leaves a ``pg_dump`` of it and its artifact there; the other workers wait for
    the lock and restore that dump into a template on their own server (seconds, instead of
    ingesting, building and training again). Tests only copy the template and read the
    artifact, so every worker sees the same warehouse and the same agent."""
    template = f"tw_signals_{os.getpid()}"
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        wh = _build_signals_warehouse(
            pg_server_url, template_db, tmp_path_factory.mktemp("signals_wh"), template
        )
        yield wh
        wh.drop(wh.template)
        return
    import json

    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # the run's folder, above popen-gwN
    dump, recorded = shared / "signals_wh.dump", shared / "signals_wh.json"
    with FileLock(str(shared / "signals_wh.lock")):
        if recorded.exists():
            info = json.loads(recorded.read_text())
            wh = SignalsWarehouse(
                pg_server_url, template, info["artifact_uri"], Path(info["dbt_target"])
            )
            wh.drop(template)
            with psycopg.connect(wh.url("postgres"), autocommit=True) as c:
                c.execute(f'create database "{template}" template template0')
            _run_pg_tool(
                test_settings,
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                "--dbname",
                wh.url(template),
                str(dump),
            )
        else:
            folder = shared / f"signals_wh_{os.getpid()}"
            folder.mkdir()
            wh = _build_signals_warehouse(pg_server_url, template_db, folder, template)
            _run_pg_tool(
                test_settings,
                "pg_dump",
                "--format",
                "custom",
                "--file",
                str(dump),
                wh.url(template),
            )
            info = {"artifact_uri": wh.artifact_uri, "dbt_target": str(wh.dbt_target)}
            recorded.write_text(json.dumps(info))
    yield wh
    wh.drop(wh.template)


@pytest.fixture
def signals_db(signals_warehouse: SignalsWarehouse):
    """A private copy of the signals warehouse for one test."""
    name = f"tw_sig_{uuid.uuid4().hex[:10]}"
    url = signals_warehouse.clone(name)
    yield url
    signals_warehouse.drop(name)


@pytest.fixture
def signals_env(monkeypatch: pytest.MonkeyPatch, signals_db: str, tmp_path: Path):
    """Settings pointed at a private signals warehouse, a local weights folder and an empty
    ensembles folder (tests add ensembles there)."""
    from tradewind.settings import reset_settings_cache

    monkeypatch.setenv("DATABASE_URL", signals_db)
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRADEWIND_WEIGHTS_DIR", str(tmp_path / "weights"))
    (tmp_path / "ensembles").mkdir()
    monkeypatch.setenv("TRADEWIND_ENSEMBLES_DIR", str(tmp_path / "ensembles"))
    reset_settings_cache()
    yield signals_db
    reset_settings_cache()
