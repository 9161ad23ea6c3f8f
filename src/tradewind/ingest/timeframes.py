"""Bar timeframes: which table a timeframe lands in and how it is named on the wire.

Daily bars (``1Day``) go to ``raw.bars_daily`` keyed by NYSE session date. Intraday bars
(``NMin``, ``NHour``) go to ``raw.bars_minute`` keyed by the bar's opening instant in UTC. That
table's key is (source, symbol, ts), so bars of a coarser intraday timeframe than one minute are
stored under the source name ``"<source>:<timeframe>"`` (e.g. ``alpaca:5Min``): 09:30 of a
5-minute series must not overwrite 09:30 of the 1-minute series.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from tradewind.ingest.errors import IngestError

_RE = re.compile(r"^\s*(\d+)?\s*(min|minute|minutes|t|hour|hours|h|day|days|d|daily)\s*$", re.I)
_UNITS = {
    "min": "Min", "minute": "Min", "minutes": "Min", "t": "Min",
    "hour": "Hour", "hours": "Hour", "h": "Hour",
    "day": "Day", "days": "Day", "d": "Day", "daily": "Day",
}  # fmt: skip


@dataclass(frozen=True)
class Timeframe:
    amount: int
    unit: str  # "Min", "Hour" or "Day"

    @property
    def label(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def daily(self) -> bool:
        return self.unit == "Day"

    @property
    def table(self) -> str:
        return "raw.bars_daily" if self.daily else "raw.bars_minute"

    @property
    def time_column(self) -> str:
        return "session" if self.daily else "ts"

    @property
    def duration(self) -> pd.Timedelta:
        minutes = {"Min": 1, "Hour": 60, "Day": 1440}[self.unit]
        return pd.Timedelta(minutes=self.amount * minutes)

    def storage_source(self, source: str) -> str:
        """The ``source`` value the bars are stored under (see the module docstring)."""
        return source if self.label in ("1Day", "1Min") else f"{source}:{self.label}"

    def to_alpaca(self):
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        unit = {"Min": TimeFrameUnit.Minute, "Hour": TimeFrameUnit.Hour, "Day": TimeFrameUnit.Day}
        return TimeFrame(self.amount, unit[self.unit])

    def __str__(self) -> str:
        return self.label


def parse_timeframe(value: str | Timeframe) -> Timeframe:
    """``1Day``/``1D``/``daily``, ``1Min``/``5Min``/``5T``, ``1Hour``/``2H``."""
    if isinstance(value, Timeframe):
        return value
    m = _RE.match(str(value))
    if not m:
        raise IngestError(
            f"unknown timeframe {value!r}: use 1Day, or NMin (1-59) / NHour (1-23) for intraday"
        )
    amount = int(m.group(1) or 1)
    unit = _UNITS[m.group(2).lower()]
    limits = {"Min": 59, "Hour": 23, "Day": 1}
    if not 1 <= amount <= limits[unit]:
        raise IngestError(
            f"timeframe {value!r} out of range: {unit} takes 1..{limits[unit]} (1Day, 5Min, 1Hour)"
        )
    return Timeframe(amount, unit)


DAILY = Timeframe(1, "Day")
MINUTE = Timeframe(1, "Min")
