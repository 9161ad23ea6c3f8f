"""Errors of the trading package. All are expected, user-facing failures: the CLI prints them
as one line (they subclass ``WarehouseError``, which the CLI's ``friendly`` wrapper reports)."""

from __future__ import annotations

from tradewind.db import WarehouseError


class TradingError(WarehouseError):
    """A rebalance or reconciliation cannot go on; the message says why and what to do."""


class RiskBreach(TradingError):
    """One or more risk checks failed: nothing was sent."""

    def __init__(self, breaches: list[str]) -> None:
        self.breaches = list(breaches)
        super().__init__("risk check failed, nothing sent: " + "; ".join(self.breaches))


class LiveTradingRefused(TradingError):
    """A live Alpaca endpoint without TRADEWIND_LIVE_TRADING=true (raised before any request)."""


class BrokerError(TradingError):
    """The broker could not be reached or answered in a way that is not an answer."""
