"""Helpers shared by the emulator tests (a plain module: conftest is for fixtures)."""

from __future__ import annotations

import pandas as pd

KEY_ID = "PKTESTKEYID"
SECRET = "test-secret-value"
NDL_KEY = "ndl-test-key"
SYMBOLS = ["AAPL", "MSFT", "SPY"]
AUTH = {"APCA-API-KEY-ID": KEY_ID, "APCA-API-SECRET-KEY": SECRET}


def sdk_bars_frame(barset) -> pd.DataFrame:
    """alpaca-py BarSet -> the frame layout of ``Dataset.bars`` (ns UTC, integer counts)."""
    df = barset.df.reset_index()
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True).astype("datetime64[ns, UTC]")
    for col in ("volume", "trade_count"):
        df[col] = df[col].astype("int64")
    df["symbol"] = df["symbol"].astype(object)
    return df.reset_index(drop=True)


def expected_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["symbol"] = out["symbol"].astype(object)
    return out.reset_index(drop=True)
