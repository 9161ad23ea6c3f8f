"""Fixtures for the trading tests: warehouse bars and target weights as the input contract, the
project's market emulator as Alpaca (driven through the official alpaca-py TradingClient)."""

from __future__ import annotations

import pytest
from trading_helpers import WEIGHTS, T, dataset, insert_bars, insert_targets, start_emulator

from tradewind.emulator import Dataset


@pytest.fixture
def market() -> Dataset:
    return dataset()


@pytest.fixture
def warehouse(tw_env, market) -> str:
    """A migrated warehouse with the market's bars and the targets of T."""
    insert_bars(tw_env, market)
    insert_targets(tw_env, T, WEIGHTS)
    return tw_env


@pytest.fixture
def emu(warehouse, market, monkeypatch):
    e = start_emulator(market, monkeypatch)
    yield e
    e.stop()
