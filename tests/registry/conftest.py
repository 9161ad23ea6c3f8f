"""Fixtures of the registry tests: a real warehouse holding real Yahoo bars and a real
``dbt build`` of the feature marts, built once per session and copied per test (helpers and
policies are in ``registry_helpers``)."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from registry_helpers import _with_db, load_bars, read_bars


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
