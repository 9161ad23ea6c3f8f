"""Detecting a vendor restatement of adjusted history (issue 9, item 2).

With ``adjustment=all`` (Alpaca's default here) every split or dividend rescales the vendor's
whole earlier history. An incremental pull that only appends new bars would put bars on the new
basis after history stored on the old one: a phantom move at the seam that nothing notices.

So an incremental pull re-reads an *overlap* of the last ``restatement_overlap_sessions``
sessions it already holds, together with the new bars, in the same request. This module
compares those re-read bars with the stored ones; a series whose prices or volume moved by more
than ``RESTATEMENT_REL_TOL`` is restated: the pull then fetches its whole history again, and the
loader replaces that (source, symbol)'s rows in one transaction and bumps its
``history_version`` (see ``loader``), recording an ``ops.data_warnings`` entry of kind
``restatement``. The overlap rows of unchanged series are only compared, never loaded twice.

The comparison is pure pandas/numpy; the reads are the only I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from tradewind.ingest.timeframes import Timeframe

NY_TZ = "America/New_York"
# A re-read bar differing by more than this (relative) is a restatement. The smallest real one
# is a small quarterly dividend (~1e-3 of the price); vendors round adjusted prices to 4 dp, so
# two reads of the same history differ by at most ~5e-5 on a $1 stock. Volume is compared too
# (a split rescales it).
RESTATEMENT_REL_TOL = 1e-4
COMPARED = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Restatement:
    """One series whose stored history no longer matches the vendor's."""

    symbol: str
    bar_time: str  # the earliest re-read bar that differs
    column: str
    stored: float
    vendor: float
    bars_compared: int

    @property
    def detail(self) -> str:
        change = self.vendor / self.stored - 1 if self.stored else float("inf")
        return (
            f"vendor history changed: {self.column} {self.bar_time} stored {self.stored:.6g}, "
            f"vendor now {self.vendor:.6g} ({change:+.2%}) over {self.bars_compared} re-read "
            "bar(s); whole history re-pulled"
        )


def overlap_start(last: pd.Timestamp, tf: Timeframe, sessions: int) -> datetime | None:
    """UTC instant from which to re-read so that the last ``sessions`` loaded sessions (daily)
    or the last loaded session's bars (intraday) come back; None when ``sessions`` is 0."""
    from tradewind.calendar import session_offset, session_on_or_before

    if sessions <= 0:
        return None
    day = pd.Timestamp(last).tz_convert(NY_TZ).date()
    try:
        first = session_offset(session_on_or_before(day), -(sessions - 1 if tf.daily else 0))
    except ValueError:  # outside the calendar's range: re-read the last day only
        first = day
    return pd.Timestamp(first, tz=NY_TZ).tz_convert("UTC").to_pydatetime()


def read_stored(
    url: str | None, tf: Timeframe, source: str, lo: dict[str, datetime]
) -> pd.DataFrame:
    """Stored bars of ``source`` per symbol from ``lo[symbol]`` on (symbol, time, COMPARED)."""
    from tradewind.db import connect

    t = tf.time_column
    bound = "(%s::timestamptz at time zone 'America/New_York')::date" if tf.daily else "%s"
    cols = ", ".join(COMPARED)
    parts = []
    with connect(url) as conn:
        for sym, start in lo.items():
            cur = conn.execute(
                f"select symbol, {t}, {cols} from {tf.table} where source = %s and symbol = %s "
                f"and {t} >= {bound} order by {t}",
                (source, sym, start),
            )
            parts.extend(cur.fetchall())
    frame = pd.DataFrame(parts, columns=["symbol", t, *COMPARED])
    if tf.daily:
        frame[t] = pd.to_datetime(frame[t])
    else:
        frame[t] = pd.to_datetime(frame[t], utc=True)
    for c in COMPARED:
        frame[c] = frame[c].astype(float)
    return frame


def compare(
    stored: pd.DataFrame, fetched: pd.DataFrame, tf: Timeframe, tol: float = RESTATEMENT_REL_TOL
) -> dict[str, Restatement]:
    """Series whose re-read bars differ from the stored ones (matched on symbol and time)."""
    t = tf.time_column
    if stored.empty or fetched.empty:
        return {}
    right = fetched[["symbol", t, *COMPARED]].copy()
    right[t] = pd.to_datetime(right[t], errors="coerce", utc=not tf.daily)
    for c in COMPARED:
        right[c] = pd.to_numeric(right[c], errors="coerce").astype(float)
    both = stored.merge(right, on=["symbol", t], suffixes=("_db", "_vendor"))
    if both.empty:
        return {}
    both = both.sort_values(["symbol", t], kind="stable")
    out: dict[str, Restatement] = {}
    n_by_symbol = both.groupby("symbol").size()
    for c in COMPARED:
        a, b = both[f"{c}_db"].to_numpy(), both[f"{c}_vendor"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(b - a) / np.maximum(np.abs(a), np.abs(b))
        differs = np.isfinite(rel) & (rel > tol)
        for i in np.flatnonzero(differs):
            sym = both["symbol"].iloc[i]
            if sym in out:
                continue
            when = pd.Timestamp(both[t].iloc[i])
            out[sym] = Restatement(
                symbol=sym, bar_time=when.strftime("%Y-%m-%d") if tf.daily else when.isoformat(),
                column=c, stored=float(a[i]), vendor=float(b[i]),
                bars_compared=int(n_by_symbol[sym]),
            )  # fmt: skip
    return dict(sorted(out.items()))
