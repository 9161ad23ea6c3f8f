"""Fixtures of the training tests: a small synthetic market and a tiny agent over it."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(scope="session")
def synthetic_bars():
    from tradewind.markets.synthetic import SyntheticMarketConfig, generate_bars

    config = SyntheticMarketConfig(n_assets=4, seed=7)
    return generate_bars(config, "2014-10-01", "2017-12-29")


def _with_db(url: str, db: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path="/" + db))


@pytest.fixture(scope="session")
def built_template(pg_server_url: str, template_db: str, tmp_path_factory) -> str:
    """A database with real Yahoo bars (10 symbols, 2009-10..2010-12) in raw.bars_daily and
    the feature marts built by a real ``dbt build``; copied per test."""
    import psycopg
    from training_helpers import load_yahoo_bars

    from tradewind.features import run_dbt

    admin = _with_db(pg_server_url, "postgres")
    name = f"tw_training_built_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
        c.execute(f'create database "{name}" template "{template_db}"')
    url = _with_db(pg_server_url, name)
    load_yahoo_bars(url)
    run_dbt(
        ["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"],
        url=url,
        target_path=tmp_path_factory.mktemp("dbt-target"),
    )
    yield name
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def warehouse(pg_server_url: str, built_template: str, monkeypatch, tmp_path) -> str:
    """A fresh copy of the built warehouse; the project's settings point at it."""
    import psycopg

    from tradewind.settings import reset_settings_cache

    admin = _with_db(pg_server_url, "postgres")
    name = f"tw_training_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'create database "{name}" template "{built_template}"')
    url = _with_db(pg_server_url, name)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRADEWIND_RAY_ADDRESS", raising=False)
    reset_settings_cache()
    yield url
    reset_settings_cache()
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
