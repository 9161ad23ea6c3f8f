"""Fixtures of the RL tests: the shipped real-bars fixture, as a frame and as MarketData."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tradewind.rl.data import MarketData

FIXTURE = Path(__file__).parent / "fixtures" / "bars_4sym_2008.csv"


@pytest.fixture(scope="session")
def bars() -> pd.DataFrame:
    return pd.read_csv(FIXTURE)


@pytest.fixture(scope="session")
def market(bars: pd.DataFrame) -> MarketData:
    return MarketData.from_bars(bars)
