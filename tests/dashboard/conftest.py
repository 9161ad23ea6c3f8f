"""Fixtures of the dashboard tests: one sample warehouse (a year of paper trading, 50 runs)
per module, and the app over it in-process (TestClient) or served by uvicorn (browser)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

# The sample's last session; the app's clock is pinned to the evening after it.
SAMPLE_END = datetime(2026, 11, 27, 23, 0, tzinfo=UTC).date()
NOW = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # the evening of the last session


def _with_db(url: str, db: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


@pytest.fixture(scope="module")
def sample_db(pg_server_url: str, template_db: str):
    from tradewind.dashboard.sample import write_sample

    name = f"tw_dash_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_with_db(pg_server_url, "postgres"), autocommit=True) as c:
        c.execute(f'create database "{name}" template "{template_db}"')
    url = _with_db(pg_server_url, name)
    sample = write_sample(url, end=SAMPLE_END)
    yield url, sample
    with psycopg.connect(_with_db(pg_server_url, "postgres"), autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def client(sample_db, test_settings):
    from fastapi.testclient import TestClient

    from tradewind.dashboard.app import create_app

    url, _ = sample_db
    app = create_app(url, settings=test_settings, now=lambda: NOW)
    with TestClient(app) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(sample_db, test_settings):
    """The app on a real uvicorn server in a thread (stopped at teardown)."""
    import uvicorn

    from tradewind.dashboard.app import create_app

    url, sample = sample_db
    port = free_port()
    app = create_app(url, settings=test_settings, now=lambda: NOW)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", sample
    server.should_exit = True
    thread.join(timeout=10)
