"""OHLC consistency with a relative tolerance (issue 9, item 3): rounding-level differences of
adjusted prices load; real defects (an open outside the day's range by cents, a zero low, a
missing field) are still refused, by the gate and by the tables' CHECK constraints alike."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from ingest_helpers import bars, daily_batch, good_rows

from tradewind.ingest import load, validate
from tradewind.ingest.quality import PRICE_REL_TOL

WEEK = ["2020-10-26", "2020-10-27", "2020-10-28", "2020-10-29", "2020-10-30"]
AS_OF = "2020-10-30T21:00:00+00:00"


def _rounding_rows() -> list[tuple]:
    """Split- and dividend-adjusted bars as a vendor delivers them: every price is the raw one
    times a float factor, computed along different paths, so where the raw high equals the raw
    close (or the low the open) the adjusted pair differs in its last bits, either way."""
    factor = 0.7347229145612347  # Adj Close / Close of some dividend-adjusted history
    out = []
    for i, s in enumerate(WEEK):
        o, h, lo = (101.37 + i) * factor, (103.11 + i) * factor, (101.37 + i) * factor
        c = h
        # A few ulps apart, as in the shared data (they differ in the 15th significant digit).
        if i % 2 == 0:
            c = float(np.nextafter(np.nextafter(h, np.inf), np.inf))  # close above the high
        else:
            lo = float(np.nextafter(o, np.inf))  # low above the open
        out.append(("KO", s, o, h, lo, c, 1e6 / factor))
    return out


def test_rounding_level_ohlc_on_adjusted_prices_loads(db_url):
    rows = _rounding_rows()
    # The case is real: at least one close exceeds its high, by float rounding only.
    assert sum(r[5] > r[3] for r in rows) == 3 and sum(r[4] > r[2] for r in rows) == 2
    assert max(abs(r[5] / r[3] - 1) for r in rows) < 1e-14
    v = validate(daily_batch(rows, symbols=["KO"]), AS_OF)
    assert len(v.quarantined) == 0, v.quarantined["reasons"].tolist()
    s = load(v, db_url)
    assert (s.rows_new, s.rows_quarantined) == (5, 0)
    got = bars(db_url)
    assert got["close"].tolist() == [r[5] for r in rows]  # stored as delivered, not clamped


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"open": 102.0 + 2 + 0.01}, "high < open"),  # an open a cent above the high
        ({"open": 98.0 - 0.01}, "open < low"),  # a cent below the low
        ({"close": 102.0 + 2 + 0.01}, "high < close"),
        ({"low": 0.0}, "low <= 0"),  # a zero low is a defect, never rounding
        ({"high": float("nan")}, "high is missing"),
    ],
)
def test_real_defects_are_still_refused(db_url, change, reason):
    rows = good_rows("AAPL", WEEK)  # row 2: open 102, high 104, low 100, close 103
    names = ["symbol", "session", "open", "high", "low", "close", "volume"]
    bad = dict(zip(names, rows[2], strict=True))
    if "open" in change and change["open"] < 100:
        bad["low"] = 98.0
    bad.update(change)
    rows[2] = tuple(bad[n] for n in names)
    v = validate(daily_batch(rows, symbols=["AAPL"]), AS_OF)
    assert len(v.quarantined) == 1
    assert reason in v.quarantined["reasons"].iloc[0]
    s = load(v, db_url)
    assert (s.rows_new, s.rows_quarantined) == (4, 1)


def _insert(url: str, table: str, o: float, h: float, lo: float, c: float) -> None:
    tcol, t = (
        ("session", "2020-10-26") if table == "raw.bars_daily" else ("ts", "2020-10-26 14:30Z")
    )
    with psycopg.connect(url) as conn:
        conn.execute(
            f"insert into {table} (source, symbol, {tcol}, open, high, low, close, volume) "
            "values ('t', 'X', %s, %s, %s, %s, %s, 1)",
            (t, o, h, lo, c),
        )


@pytest.mark.parametrize("table", ["raw.bars_daily", "raw.bars_minute"])
def test_table_checks_use_the_same_tolerance(db_url, table):
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select raw.price_rel_tol()").fetchone()[0] == PRICE_REL_TOL
    # Inside the tolerance: accepted by the table as by the gate.
    _insert(db_url, table, 100.0, 100.0, 99.0, 100.0 * (1 + PRICE_REL_TOL / 2))
    # A cent above the high on a $100 bar (1e-4 relative): refused.
    with pytest.raises(psycopg.errors.CheckViolation):
        _insert(db_url, table, 100.01, 100.0, 99.0, 100.0)
    with pytest.raises(psycopg.errors.CheckViolation):
        _insert(db_url, table, 98.99, 100.0, 99.0, 100.0)  # open a cent below the low


@pytest.mark.parametrize(("slack", "ok"), [(0.5, True), (0.99, True), (1.01, False), (3, False)])
def test_gate_and_table_agree_at_the_boundary(db_url, slack, ok):
    """A close above the high by a fraction of the tolerance: the gate's verdict is the table's."""
    close = 100.0 * (1 + slack * PRICE_REL_TOL)
    row = ("B", WEEK[0], 99.5, 100.0, 99.0, close, 1.0)
    v = validate(daily_batch([row], symbols=["B"]), AS_OF)
    assert (len(v.quarantined) == 0) is ok, v.quarantined["reasons"].tolist()
    try:
        _insert(db_url, "raw.bars_daily", *row[2:6])
        accepted = True
    except psycopg.errors.CheckViolation:
        accepted = False
    assert accepted is ok
