"""Fixtures for the market emulator tests: a small generated dataset and a running emulator.

The official SDKs talk to the emulator over loopback HTTP; nothing is monkeypatched."""

from __future__ import annotations

import nasdaqdatalink
import pytest
from emu_helpers import NDL_KEY, SYMBOLS

from tradewind.emulator import Dataset, MarketEmulator, make_dataset


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    # 61 sessions x 3 symbols of daily bars, minute bars on the last 2 sessions.
    return make_dataset(SYMBOLS, "2015-01-02", "2015-03-31", seed=7, minute_sessions=2)


@pytest.fixture
def emu(dataset: Dataset):
    with MarketEmulator(dataset, page_cap=40, ndl_page_size=25) as e:
        yield e


@pytest.fixture
def ndl_api(emu: MarketEmulator):
    """nasdaqdatalink pointed at the emulator (global ApiConfig restored afterwards)."""
    cfg = nasdaqdatalink.ApiConfig
    saved = (cfg.api_key, cfg.api_base, cfg.api_protocol)
    cfg.api_key, cfg.api_base, cfg.api_protocol = NDL_KEY, emu.ndl_api_base, "http://"
    yield nasdaqdatalink
    cfg.api_key, cfg.api_base, cfg.api_protocol = saved
