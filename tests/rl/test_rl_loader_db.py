"""load_market_data against a real PostgreSQL holding the two feature marts' contract tables.

The tables are created here in an empty database exactly as the contract names them
(``features.daily_features``, ``features.forward_returns``) and filled from the fixture via the
pandas reference (``MarketData.from_bars``); the loader must give back the same arrays.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from tradewind.rl.data import MarketData, load_market_data

pytestmark = pytest.mark.integration

DDL = """
CREATE SCHEMA features;
CREATE TABLE features.daily_features (
    symbol text NOT NULL, session date NOT NULL,
    lr_open double precision, lr_high double precision, lr_low double precision,
    lr_close double precision, lr_volume double precision,
    PRIMARY KEY (symbol, session));
CREATE TABLE features.forward_returns (
    symbol text NOT NULL, session date NOT NULL, fwd_open_lr double precision,
    PRIMARY KEY (symbol, session));
"""


def fill(conn: psycopg.Connection, market: MarketData) -> None:
    t_idx, n_idx = np.nonzero(market.listed)
    rows = [
        (
            market.symbols[n],
            market.sessions[t].item(),
            *[None if np.isnan(v) else float(v) for v in market.features[t, :, n]],
        )
        for t, n in zip(t_idx, n_idx, strict=True)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO features.daily_features VALUES (%s, %s, %s, %s, %s, %s, %s)", rows
        )
        # Like dbt would: a row per symbol and session, NULL where the label is unknown.
        cur.executemany(
            "INSERT INTO features.forward_returns VALUES (%s, %s, %s)",
            [
                (
                    r[0],
                    r[1],
                    None if np.isnan(v := market.labels[t, n]) else float(v),
                )
                for r, t, n in zip(rows, t_idx, n_idx, strict=True)
            ],
        )
    conn.commit()


def test_loader_returns_the_reference_arrays(empty_db_url: str, market: MarketData) -> None:
    with psycopg.connect(empty_db_url) as conn:
        conn.execute(DDL)
        fill(conn, market)
        got = load_market_data(
            conn, list(market.symbols), "2008-02-01", "2008-04-30", market.feature_names
        )
    for name in ("features", "labels", "volatility", "listed", "available", "sessions"):
        assert np.array_equal(getattr(got, name), getattr(market, name), equal_nan=True), name
    assert got.symbols == market.symbols


def test_loader_window_warmup_and_feature_subset(empty_db_url: str, market: MarketData) -> None:
    with psycopg.connect(empty_db_url) as conn:
        conn.execute(DDL)
        fill(conn, market)
    got = load_market_data(
        empty_db_url, ["XOM", "V"], "2008-03-03", "2008-03-31", ["lr_open"], warmup_sessions=4
    )
    i0, i1 = market.index_range("2008-03-03", "2008-03-31")
    assert got.symbols == ("XOM", "V") and got.feature_names == ("lr_open",)
    assert np.array_equal(got.sessions, market.sessions[i0 - 4 : i1 + 1])
    xom, v = market.symbols.index("XOM"), market.symbols.index("V")
    assert np.array_equal(got.features[:, 0, 0], market.features[i0 - 4 : i1 + 1, 0, xom])
    assert np.array_equal(got.listed[:, 1], market.listed[i0 - 4 : i1 + 1, v])
    # lr_close still feeds the volatility although it is not a selected feature; the first
    # loaded sessions have less history than the full data, the later ones the same.
    assert np.allclose(got.volatility[-5:, 0], market.volatility[i1 - 4 : i1 + 1, xom])
