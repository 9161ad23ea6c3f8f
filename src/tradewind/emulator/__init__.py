"""Local market emulator: Alpaca market data + paper trading and Nasdaq Data Link WIKI/PRICES
over loopback HTTP, for tests and keyless demos (see ``server.py`` for the URLs and routes).

    from tradewind.emulator import MarketEmulator, make_dataset

    with MarketEmulator(make_dataset(["AAPL", "MSFT"]), page_cap=100) as emu:
        client = StockHistoricalDataClient("key", "secret", url_override=emu.alpaca_data_url)
"""

from tradewind.emulator.dataset import Dataset, Timeframe, make_dataset, nyse_sessions
from tradewind.emulator.faults import BadBar, Faults, LoggedRequest
from tradewind.emulator.server import EmulatorConfig, MarketEmulator, serve

__all__ = [
    "BadBar",
    "Dataset",
    "EmulatorConfig",
    "Faults",
    "LoggedRequest",
    "MarketEmulator",
    "Timeframe",
    "make_dataset",
    "nyse_sessions",
    "serve",
]
