"""Shared helpers of the ingestion tests (plain functions, no fixtures)."""

from __future__ import annotations

import pandas as pd
import psycopg

from tradewind.ingest.batch import Batch, BatchMeta

# The emulator's dataset (see conftest.py).
SYMBOLS = ["AAPL", "MSFT", "IBM"]
START, END = "2015-01-02", "2015-03-31"
MINUTE_DAYS = ["2015-03-30", "2015-03-31"]
AFTER_END = "2015-04-01T00:00:00+00:00"  # an as-of when every bar of the dataset is complete


def daily_batch(rows: list[tuple], symbols: list[str] | None = None, **meta) -> Batch:
    """rows: (symbol, session, open, high, low, close, volume)."""
    frame = pd.DataFrame(
        rows, columns=["symbol", "session", "open", "high", "low", "close", "volume"]
    )
    return Batch(frame, BatchMeta(source=meta.pop("source", "test"), symbols=symbols, **meta))


def good_rows(symbol: str, sessions: list[str], price: float = 100.0) -> list[tuple]:
    out = []
    for i, s in enumerate(sessions):
        p = price + i
        out.append((symbol, s, p, p + 2, p - 2, p + 1, 1000.0 + i))
    return out


def bars(url: str, table: str = "raw.bars_daily", source: str | None = None) -> pd.DataFrame:
    time_col = "session" if table.endswith("daily") else "ts"
    sql = (f"select source, symbol, {time_col}, open, high, low, close, volume, vwap, trade_count,"
           f" adjustment from {table}")  # fmt: skip
    args: tuple = ()
    if source is not None:
        sql += " where source = %s"
        args = (source,)
    with psycopg.connect(url) as c:
        cur = c.execute(sql + f" order by source, symbol, {time_col}", args)
        cols = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)


def scalar(url: str, sql: str, *args):
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchone()[0]


def rows(url: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchall()
