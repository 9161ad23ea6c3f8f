"""Shared test fixtures: a real PostgreSQL for every test that needs one.

The server is ``DATABASE_URL`` when set (the role needs CREATEDB), otherwise an embedded server in
``var/test-pg`` on its own port, so tests never touch the demo warehouse. A migrated template
database is built once per session; each test that asks for ``db_url`` gets a fresh copy of it
(``CREATE DATABASE … TEMPLATE``), so tests are isolated and fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testdb import create_db, drop_db, temporary_db

from tradewind.settings import PROJECT_ROOT, Settings

# One embedded server per pytest-xdist worker ("gw0", "gw1", ...): base port + worker index, and a
# data directory per port, so two servers never share one and no worker stops another's server.
_DEFAULT_PG_PORT = 54339
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
TEST_PG_PORT = int(os.environ.get("TRADEWIND_TEST_PG_PORT", _DEFAULT_PG_PORT)) + (
    int(_WORKER[2:]) if _WORKER.startswith("gw") else 0
)
TEST_HOME = (
    PROJECT_ROOT
    / "var"
    / ("test-home" if TEST_PG_PORT == _DEFAULT_PG_PORT else f"test-home-{TEST_PG_PORT}")
)


@pytest.fixture(scope="session")
def test_settings() -> Settings:
    """Settings for the tests' own embedded server (or DATABASE_URL)."""
    # _env_file=None: a developer's .env (e.g. copied from .env.example for compose) must not
    # point the tests at another database.
    return Settings(_env_file=None, home=TEST_HOME, pg_port=TEST_PG_PORT)


@pytest.fixture(scope="session")
def pg_server_url(test_settings: Settings) -> str:
    """URL of the maintenance database on the test server."""
    if test_settings.database_url is not None:
        from tradewind.db import validate_url

        yield validate_url(test_settings.database_url.get_secret_value())
        return
    from tradewind.db.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(test_settings)
    was_running = server.status().running
    server.start()
    yield server.url()
    if not was_running:
        server.stop()


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> str:
    """Name of a freshly migrated template database (rebuilt every session)."""
    from tradewind.db.migrate import migrate

    name = f"tw_template_{os.getpid()}"
    migrate(create_db(pg_server_url, name), PROJECT_ROOT / "sql", use_timescale=False)
    yield name
    drop_db(pg_server_url, name)


@pytest.fixture
def db_url(pg_server_url: str, template_db: str) -> str:
    """A fresh, migrated database for one test; dropped afterwards."""
    with temporary_db(pg_server_url, "tw_test", template_db) as url:
        yield url


@pytest.fixture
def empty_db_url(pg_server_url: str) -> str:
    """A fresh database with no migrations applied."""
    with temporary_db(pg_server_url, "tw_empty") as url:
        yield url


@pytest.fixture
def tw_env(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path):
    """Point the project's settings at the test database (for CLI and pipeline tests)."""
    from tradewind.settings import reset_settings_cache

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path / "home"))
    reset_settings_cache()
    yield db_url
    reset_settings_cache()


# --- real components that may be absent on a laptop, never in CI -----------------------------
# Under CI=true (GitHub Actions, GitLab and most CI systems set it) a test that needs a real
# component fails instead of skipping: a green CI run must mean every real part ran.
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
# The shared real data set: TRADEWIND_SHARED_DATA, else ``../shared/data`` beside the checkout,
# else the workplace's ``/work/shared/data`` (a clone elsewhere, e.g. in /tmp, still finds it).
_SHARED_CANDIDATES = [PROJECT_ROOT.parent / "shared" / "data", Path("/work/shared/data")]
SHARED_DATA = Path(
    os.environ.get("TRADEWIND_SHARED_DATA")
    or next((p for p in _SHARED_CANDIDATES if p.is_dir()), _SHARED_CANDIDATES[0])
)


def skip_unless_ci(reason: str) -> None:
    """Skip with ``reason`` on a developer's machine; fail with it under CI=true."""
    if IN_CI:
        pytest.fail(f"CI=true and a real component is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def require_path(path: Path, what: str) -> Path:
    """``path`` when it exists; else a skip (a failure under CI=true) naming ``what``."""
    if not path.exists():
        skip_unless_ci(f"{what} is not here ({path})")
    return path


def start_pglite_or_skip(wait_ms: int = 30_000):
    """A started PGlite TimescaleDB server, or a skip with the reason it cannot run here
    (a failure under CI=true: ``make test`` installs its npm packages)."""
    from tradewind.db.pglite import PGliteTimescale, PGliteUnavailable, unavailable_reason

    reason = unavailable_reason()
    if reason:
        skip_unless_ci(reason)
    server = PGliteTimescale(wait_ms=wait_ms)
    try:
        server.start()
    except PGliteUnavailable as exc:
        skip_unless_ci(str(exc))
    return server


@pytest.fixture(scope="session")
def ci_skip():
    """``skip_unless_ci`` for tests that check for a component themselves."""
    return skip_unless_ci


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real daily bars); skipped when absent, a failure under CI=true."""
    return require_path(SHARED_DATA, "the shared real data set")


@pytest.fixture(scope="session")
def pglite_starter():
    """``start_pglite_or_skip`` for fixtures that manage a server of their own."""
    return start_pglite_or_skip


@pytest.fixture(scope="session")
def timescale_server():
    """PGlite TimescaleDB shared by the session: one database, in memory, one client at a time."""
    server = start_pglite_or_skip()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def timescale_url(timescale_server) -> str:
    """Migrated TimescaleDB URL; data persists across tests (use unique symbols). Never hold a
    connection while opening another; bulk-load with INSERT … SELECT unnest (no COPY)."""
    from tradewind.db.migrate import migrate

    migrate(timescale_server.url, PROJECT_ROOT / "sql", use_timescale=True)
    return timescale_server.url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules holding a ``slow`` test run first (order otherwise kept). ``make test`` spreads
    whole modules over pytest-xdist workers in this order, so the long modules are shared out
    first and the workers finish together on short ones instead of one waiting on a late long one."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)
