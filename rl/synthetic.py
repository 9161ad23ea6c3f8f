"""Adapter between the environment's synthetic-market mode and ``tradewind.markets.synthetic``.

The environment only needs "N symbols" and "draw a [T, N, 5] OHLCV path from this generator";
everything else about the market model lives in the markets package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tradewind.markets.synthetic import SyntheticMarket, SyntheticMarketConfig


class PathSource:
    """A synthetic market resolved once; :meth:`paths` draws fresh bars from a given generator."""

    def __init__(self, config: SyntheticMarketConfig | Mapping[str, Any]) -> None:
        if isinstance(config, Mapping):
            config = SyntheticMarketConfig.from_dict(config)
        self.config = config
        self._market = SyntheticMarket(config)
        self.symbols: tuple[str, ...] = tuple(self._market.symbols)

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    def paths(self, n_sessions: int, rng: np.random.Generator) -> np.ndarray:
        """[n_sessions, N, 5] open, high, low, close, volume; every draw comes from ``rng``."""
        return self._market.paths(n_sessions, rng)
