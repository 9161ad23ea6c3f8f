"""Market models: seeded synthetic OHLCV markets (``tradewind.markets.synthetic``)."""
