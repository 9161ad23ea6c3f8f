"""tradewind: daily batch deep-RL portfolio system for US equities."""

__version__ = "0.1.0"
