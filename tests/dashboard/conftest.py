"""Fixtures of the dashboard tests: one sample warehouse (a year of paper trading, 50 runs)
per module, and the app over it in-process (TestClient) or served by uvicorn (browser)."""

from __future__ import annotations

import threading
import time

import pytest
from dashboard_testlib import NOW, SAMPLE_END, free_port
from testdb import temporary_db


@pytest.fixture(scope="module")
def sample_db(pg_server_url: str, template_db: str):
    from tradewind.dashboard.sample import write_sample

    with temporary_db(pg_server_url, "tw_dash", template_db) as url:
        yield url, write_sample(url, end=SAMPLE_END)


@pytest.fixture(scope="module")
def client(sample_db, test_settings):
    from fastapi.testclient import TestClient

    from tradewind.dashboard.app import create_app

    url, _ = sample_db
    app = create_app(url, settings=test_settings, now=lambda: NOW)
    with TestClient(app) as c:
        yield c


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
