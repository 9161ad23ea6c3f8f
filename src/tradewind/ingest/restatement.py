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
from typing import Any

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


@dataclass(frozen=True)
class OverlapCheck:
    """What one symbol's pull re-reads: bars from ``check_from`` up to the watermark's last
    time are compared with the stored ones; those before ``requested_from`` were added only
    for the comparison and are dropped when the series did not change."""

    check_from: datetime
    requested_from: datetime


def plan_overlap(
    ranges: list[tuple[datetime, datetime]],
    mark: tuple[pd.Timestamp, pd.Timestamp] | None,
    tf: Timeframe,
    sessions: int,
) -> tuple[list[tuple[datetime, datetime]], OverlapCheck | None]:
    """Widen the last range a pull will fetch so that it re-reads loaded history.

    Incremental pulls (the range starts after the watermark) and one-session pulls (Airflow,
    never incremental) alike re-read the ``sessions`` loaded sessions before the range; a range
    over loaded history (``--full``) is compared as it is."""
    if mark is None or not ranges or sessions <= 0:
        return ranges, None
    first, last = (m.to_pydatetime() for m in mark)
    req = ranges[-1][0]
    anchor = min(last, req - pd.Timedelta(microseconds=1).to_pytimedelta())
    out = list(ranges)
    if anchor >= first:
        ov = overlap_start(pd.Timestamp(anchor), tf, sessions)
        ov = max(ov, first) if ov is not None else req
        out[-1] = (min(req, ov), out[-1][1])
        return out, OverlapCheck(check_from=min(req, ov), requested_from=req)
    if req <= last:  # the range itself covers loaded history
        return out, OverlapCheck(check_from=req, requested_from=req)
    return out, None


def check_overlap(
    frame: pd.DataFrame, tf: Timeframe, url: str | None, source: str,
    marks: dict[str, tuple[pd.Timestamp, pd.Timestamp]], checks: dict[str, OverlapCheck],
) -> tuple[pd.DataFrame, dict[str, Restatement], str]:  # fmt: skip
    """Compare the re-read bars with the stored ones; drop the rows that were fetched only for
    the comparison, for the series that did not change. Returns (frame, restated, note)."""
    t = tf.time_column
    stored = read_stored(url, tf, source, {s: c.check_from for s, c in checks.items()})

    def as_frame_time(ts: Any) -> pd.Timestamp:
        ts = pd.Timestamp(ts)
        return ts.tz_convert(NY_TZ).tz_localize(None).normalize() if tf.daily else ts

    last = frame["symbol"].map({s: as_frame_time(marks[s][1]) for s in checks})
    req = frame["symbol"].map({s: as_frame_time(c.requested_from) for s, c in checks.items()})
    # Times as the gate will read them; a cell that does not parse is never compared.
    when = pd.to_datetime(frame[t], errors="coerce", utc=not tf.daily)
    if tf.daily:
        last, req = last.astype("datetime64[ns]"), req.astype("datetime64[ns]")
    else:
        last, req = pd.to_datetime(last, utc=True), pd.to_datetime(req, utc=True)
    checked = frame["symbol"].isin(list(checks))
    compared = checked & (when <= last)
    restated = compare(stored, frame[compared], tf)
    extra = checked & (when < req)
    keep = ~extra | frame["symbol"].isin(list(restated))
    note = (
        f"re-read {int(compared.sum())} loaded bar(s) of {len(checks)} symbol(s) to "
        f"detect restatements: {len(restated)} restated"
    )
    return frame[keep], restated, note


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
