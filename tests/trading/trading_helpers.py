"""Helpers shared by the trading tests (a plain module: conftest is for fixtures)."""

from __future__ import annotations

from datetime import date

import psycopg

from tradewind.emulator import Dataset, MarketEmulator, make_dataset
from tradewind.settings import reset_settings_cache

KEY_ID = "PKTRADINGTESTKEY"
SECRET = "sEcReT-trading-5f3a9c1e"
SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]
T = date(2015, 3, 26)  # Thursday: orders for the open of Friday 2015-03-27
T1 = date(2015, 3, 27)
WEIGHTS = {"AAA": 0.2, "BBB": 0.25, "CCC": 0.15, "DDD": 0.2}


def dataset(assets: dict | None = None) -> Dataset:
    base = make_dataset(SYMBOLS, "2015-01-02", "2015-03-31", seed=11, minute=False, actions=False)
    if not assets:
        return base
    return Dataset(
        base.daily,
        assets={**base.assets, **{k: {**base.assets[k], **v} for k, v in assets.items()}},
    )


def insert_bars(db_url: str, ds: Dataset, source: str = "alpaca") -> None:
    d = ds.daily
    with psycopg.connect(db_url) as c:
        c.cursor().executemany(
            "insert into raw.bars_daily (source, symbol, session, open, high, low, close, volume)"
            " values (%s,%s,%s,%s,%s,%s,%s,%s)",
            [
                (source, r.symbol, r.session.date(), r.open, r.high, r.low, r.close, r.volume)
                for r in d.itertuples()
            ],
        )


def insert_targets(db_url: str, session: date, weights: dict, model="demo", version=1) -> None:
    with psycopg.connect(db_url) as c:
        c.cursor().executemany(
            "insert into signals.target_weights (as_of_session, model_name, model_version, "
            "symbol, weight) values (%s,%s,%s,%s,%s)",
            [(session, model, version, s, w) for s, w in weights.items()],
        )


def bar(db_url: str, symbol: str, session: date, field: str) -> float:
    with psycopg.connect(db_url) as c:
        return c.execute(
            f"select {field} from raw.bars_daily where symbol = %s and session = %s",
            (symbol, session),
        ).fetchone()[0]


def start_emulator(ds: Dataset, monkeypatch) -> MarketEmulator:
    emu = MarketEmulator(ds, alpaca_key_id=KEY_ID, alpaca_secret_key=SECRET).start()
    emu.set_time("2015-03-26 16:05")  # after the close of T
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("TRADEWIND_ALPACA_TRADING_URL", emu.alpaca_trading_url)
    monkeypatch.setenv("TRADEWIND_HTTP_BACKOFF_MAX_SECONDS", "0.5")
    reset_settings_cache()
    return emu


def order_posts(emu: MarketEmulator) -> list:
    return [r for r in emu.requests_for("alpaca_trading", "/v2/orders") if r.method == "POST"]
