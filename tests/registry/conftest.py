"""Fixtures of the registry tests: a real warehouse holding real Yahoo bars and a real
``dbt build`` of the feature marts, built once per session and copied per test (helpers and
policies are in ``registry_helpers``)."""

from __future__ import annotations

import os

import pytest
from registry_helpers import load_bars, read_bars
from testdb import built_features_template, warehouse_copy


@pytest.fixture(scope="session")
def features_template(pg_server_url: str, template_db: str, tmp_path_factory) -> str:
    """Name of a database with the bars loaded and the feature marts built by dbt."""
    with built_features_template(
        pg_server_url,
        template_db,
        f"tw_registry_built_{os.getpid()}",
        lambda url: load_bars(url, read_bars()),
        tmp_path_factory.mktemp("dbt-target"),
    ) as name:
        yield name


@pytest.fixture
def warehouse(pg_server_url: str, features_template: str, monkeypatch, tmp_path) -> str:
    """A fresh copy of the built warehouse for one test (settings point at it)."""
    with warehouse_copy(
        pg_server_url, features_template, "tw_registry", monkeypatch, tmp_path / "home"
    ) as url:
        yield url
