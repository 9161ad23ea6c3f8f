"""Fixtures of the training tests: a small synthetic market and a tiny agent over it, and a
warehouse of real Yahoo bars with the feature marts built by dbt."""

from __future__ import annotations

import os

import pytest
from testdb import built_features_template, warehouse_copy


@pytest.fixture(scope="session")
def synthetic_bars():
    from tradewind.markets.synthetic import SyntheticMarketConfig, generate_bars

    config = SyntheticMarketConfig(n_assets=4, seed=7)
    return generate_bars(config, "2014-10-01", "2017-12-29")


@pytest.fixture(scope="session")
def built_template(pg_server_url: str, template_db: str, tmp_path_factory) -> str:
    """A database with real Yahoo bars (10 symbols, 2009-10..2010-12) in raw.bars_daily and
    the feature marts built by a real ``dbt build``; copied per test."""
    from training_helpers import load_yahoo_bars

    with built_features_template(
        pg_server_url,
        template_db,
        f"tw_training_built_{os.getpid()}",
        load_yahoo_bars,
        tmp_path_factory.mktemp("dbt-target"),
    ) as name:
        yield name


@pytest.fixture
def warehouse(pg_server_url: str, built_template: str, monkeypatch, tmp_path) -> str:
    """A fresh copy of the built warehouse; the project's settings point at it."""
    with warehouse_copy(
        pg_server_url, built_template, "tw_training", monkeypatch, tmp_path / "home"
    ) as url:
        yield url
