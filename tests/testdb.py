"""Databases on the test server, one way for every test folder: create (from a template),
drop, and a warehouse copy the project's settings point at. Imported as ``testdb`` (pytest puts
``tests/`` on the path for its conftest)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest


def with_db(url: str, db: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


def create_db(server_url: str, name: str, template: str | None = None) -> str:
    """(Re)create database ``name``, empty or as a copy of ``template``; return its URL."""
    with psycopg.connect(with_db(server_url, "postgres"), autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
        c.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    return with_db(server_url, name)


def drop_db(server_url: str, name: str) -> None:
    with psycopg.connect(with_db(server_url, "postgres"), autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')


@contextlib.contextmanager
def temporary_db(server_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A database of its own (unique name) for the ``with`` block, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield create_db(server_url, name, template)
    finally:
        drop_db(server_url, name)


@contextlib.contextmanager
def built_features_template(
    server_url: str, template_db: str, name: str, load: Callable[[str], object], target_path: Path
) -> Iterator[str]:
    """A template database: migrated, ``load(url)`` run on it, then a real ``dbt build`` of the
    models and seeds (dbt's data tests belong to the feature tests, which keeps this fast)."""
    from tradewind.features import run_dbt

    url = create_db(server_url, name, template_db)
    try:
        load(url)
        run_dbt(
            ["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"],
            url=url,
            target_path=target_path,
        )
        yield name
    finally:
        drop_db(server_url, name)


@contextlib.contextmanager
def warehouse_copy(
    server_url: str, template: str, prefix: str, monkeypatch: pytest.MonkeyPatch, home: Path
) -> Iterator[str]:
    """A fresh copy of ``template``; ``DATABASE_URL`` and ``TRADEWIND_HOME`` point at it (and at
    ``home``) and no Ray cluster address leaks in from the environment."""
    from tradewind.settings import reset_settings_cache

    with temporary_db(server_url, prefix, template) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("TRADEWIND_HOME", str(home))
        monkeypatch.delenv("TRADEWIND_RAY_ADDRESS", raising=False)
        reset_settings_cache()
        try:
            yield url
        finally:
            reset_settings_cache()
