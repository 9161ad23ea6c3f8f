"""Fixtures of the ingestion tests: a market emulator serving a small seeded dataset, and
settings pointed at it (keys, base URLs, fast backoff)."""

from __future__ import annotations

import pytest
from ingest_helpers import END, MINUTE_DAYS, START, SYMBOLS

from tradewind.settings import Settings


@pytest.fixture(scope="session")
def dataset():
    from tradewind.emulator.dataset import make_dataset

    return make_dataset(SYMBOLS, START, END, seed=7, minute_sessions=MINUTE_DAYS)


@pytest.fixture(scope="session")
def emulator_server(dataset):
    from tradewind.emulator.server import MarketEmulator

    # Small pages, so every pull here is multi-page.
    with MarketEmulator(dataset, page_cap=40, ndl_page_size=40, ndl_page_cap=40) as emu:
        yield emu


@pytest.fixture
def emulator(emulator_server):
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


@pytest.fixture
def vendor_settings(emulator) -> Settings:
    """Settings as a user would have them: vendor keys and the emulator's base URLs."""
    return Settings(
        APCA_API_KEY_ID="test-key-id",
        APCA_API_SECRET_KEY="test-secret",
        alpaca_data_url=emulator.alpaca_data_url,
        NASDAQ_DATA_LINK_API_KEY="ndl-SECRET-key-123",
        ndl_api_base=emulator.ndl_api_base,
        alpaca_adjustment="raw",
        http_max_retries=4,
        http_backoff_max_seconds=0.05,
    )


@pytest.fixture
def vendor_env(monkeypatch, tw_env, emulator):
    """The environment variables of the interfaces others rely on, pointed at the emulator."""
    from tradewind.settings import reset_settings_cache

    monkeypatch.setenv("APCA_API_KEY_ID", "test-key-id")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "test-secret")
    monkeypatch.setenv("TRADEWIND_ALPACA_DATA_URL", emulator.alpaca_data_url)
    monkeypatch.setenv("NASDAQ_DATA_LINK_API_KEY", "ndl-SECRET-key-123")
    monkeypatch.setenv("TRADEWIND_NDL_API_BASE", emulator.ndl_api_base)
    monkeypatch.setenv("TRADEWIND_ALPACA_ADJUSTMENT", "raw")
    monkeypatch.setenv("TRADEWIND_HTTP_BACKOFF_MAX_SECONDS", "0.05")
    reset_settings_cache()
    yield tw_env
    reset_settings_cache()
