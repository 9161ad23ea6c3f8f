"""Helpers of the feature tests: databases on the test server, loading bars, reading tables, and
the independent expectation (tradewind.features.reference fed from the CSV, not from dbt)."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import psycopg

from tradewind.features import reference

FIXTURE_CSV = Path(__file__).parent / "fixtures" / "yahoo_daily_10.csv"
# The Yahoo folder inside the shared data set (the set itself: the `shared_data` fixture).
SHARED_YAHOO_DIR = "sp100_daily_yahoo_2000_2020"
BAR_COLUMNS = ["symbol", "session", "open", "high", "low", "close", "volume"]
KEY = ["symbol", "session"]
TOLERANCE = 1e-12


def with_db(url: str, db: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


class Databases:
    """Create, clone and drop databases on the test server (CREATE DATABASE ... TEMPLATE copies a
    built warehouse in well under a second, so each scenario starts from the same state)."""

    def __init__(self, server_url: str):
        self.admin = with_db(server_url, "postgres")
        self.server_url = server_url

    def url(self, name: str) -> str:
        return with_db(self.server_url, name)

    def create(self, name: str, template: str) -> str:
        with psycopg.connect(self.admin, autocommit=True) as c:
            c.execute(f'drop database if exists "{name}" with (force)')
            c.execute(f'create database "{name}" template "{template}"')
        return self.url(name)

    def drop(self, *names: str) -> None:
        with psycopg.connect(self.admin, autocommit=True) as c:
            for name in names:
                c.execute(f'drop database if exists "{name}" with (force)')


def fixture_bars() -> pd.DataFrame:
    # pandas' default parser reads each decimal to the nearest double, as PostgreSQL's float8
    # input does (pandas 3 deprecates float_precision="round_trip", which gave the same values).
    df = pd.read_csv(FIXTURE_CSV)
    df["session"] = pd.to_datetime(df["session"]).dt.date
    return df


def read_yahoo_dir(folder: Path) -> pd.DataFrame:
    """The shared Yahoo CSVs as bars, minus rows the warehouse's CHECK constraints refuse."""
    parts = []
    for path in sorted(folder.glob("*.csv")):
        df = pd.read_csv(path)
        df.columns = [c.lower() for c in df.columns]
        df = df.rename(columns={"date": "session"})
        df["symbol"] = path.stem
        parts.append(df[BAR_COLUMNS])
    bars = pd.concat(parts, ignore_index=True)
    bars["session"] = pd.to_datetime(bars["session"]).dt.date
    body = bars[["open", "close"]]
    ok = (bars["low"] <= body.min(axis=1)) & (bars["high"] >= body.max(axis=1))
    return bars[ok].reset_index(drop=True)


def copy_bars(url: str, bars: pd.DataFrame, source: str = "csv", adjustment: str = "split") -> None:
    buf = io.StringIO()
    out = bars[BAR_COLUMNS].copy()
    out["source"] = source
    out["adjustment"] = adjustment
    # repr-exact floats: the text round-trips to the same doubles.
    out.to_csv(buf, index=False, header=False, float_format="%.17g")
    cols = ", ".join([*BAR_COLUMNS, "source", "adjustment"])
    with psycopg.connect(url) as c, c.cursor() as cur:
        with cur.copy(f"copy raw.bars_daily ({cols}) from stdin with (format csv)") as cp:
            cp.write(buf.getvalue())


def insert_bars_unnest(url: str, bars: pd.DataFrame, source: str = "csv") -> None:
    """Bulk insert without COPY (the PGlite TimescaleDB server crashes on COPY FROM STDIN)."""
    with psycopg.connect(url) as c:
        c.execute(
            "insert into raw.bars_daily (source, symbol, session, open, high, low, close, volume) "
            "select %s, * from unnest(%s::text[], %s::date[], %s::float8[], %s::float8[], "
            "%s::float8[], %s::float8[], %s::float8[])",
            [source, *[bars[k].tolist() for k in BAR_COLUMNS]],
        )


def read_frame(url: str, sql: str, params=None) -> pd.DataFrame:
    with psycopg.connect(url) as c, c.cursor() as cur:
        cur.execute(sql, params)
        cols = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)


def execute(url: str, sql: str, params=None) -> int:
    with psycopg.connect(url) as c:
        return c.execute(sql, params).rowcount


def nyse_calendar(bars: pd.DataFrame) -> list:
    """XNYS sessions over the bars' span plus every bar date: the calendar int_sessions builds,
    derived here from exchange_calendars directly, not from the seed."""
    first, last = min(bars["session"]), max(bars["session"])
    cal = xcals.get_calendar("XNYS", start=first.isoformat(), end=last.isoformat())
    return sorted(set(cal.sessions.date) | set(bars["session"]))


def expected_features(bars: pd.DataFrame) -> pd.DataFrame:
    return reference.daily_features(bars, nyse_calendar(bars))


def expected_labels(bars: pd.DataFrame) -> pd.DataFrame:
    cal = nyse_calendar(bars)
    # one calendar session beyond the data, as the seed provides one
    full = xcals.get_calendar("XNYS", start=cal[0].isoformat(), end="2030-12-31").sessions.date
    return reference.forward_returns(bars, sorted(set(cal) | set(full)))


def assert_frames_close(actual: pd.DataFrame, expected: pd.DataFrame, columns=None) -> None:
    """Same keys; every numeric column equal to TOLERANCE; nulls in the same places."""
    a = actual.sort_values(KEY).reset_index(drop=True)
    e = expected.sort_values(KEY).reset_index(drop=True)
    assert list(a["symbol"]) == list(e["symbol"])
    assert list(a["session"]) == list(e["session"])
    columns = columns or [c for c in e.columns if c not in KEY]
    problems = []
    for col in columns:
        av = pd.to_numeric(a[col], errors="coerce").astype(float).to_numpy()
        ev = pd.to_numeric(e[col], errors="coerce").astype(float).to_numpy()
        nulls = np.isnan(av) != np.isnan(ev)
        both = ~np.isnan(av) & ~np.isnan(ev)
        diff = np.abs(av[both] - ev[both])
        if nulls.any() or (diff > TOLERANCE).any():
            worst = diff.max() if diff.size else 0.0
            problems.append(f"{col}: {int(nulls.sum())} null mismatches, max diff {worst:.3g}")
    assert not problems, "; ".join(problems)
