"""Fixtures of the training tests: a small synthetic market and a tiny agent over it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def synthetic_bars():
    from tradewind.markets.synthetic import SyntheticMarketConfig, generate_bars

    config = SyntheticMarketConfig(n_assets=4, seed=7)
    return generate_bars(config, "2014-10-01", "2017-12-29")
