"""NYSE trading sessions (exchange_calendars XNYS), as plain dates and UTC instants.

A *session* is a NYSE trading day, named by its date in America/New_York; bars are stamped
with it (see the no-lookahead rule in the design). Everything here is a pure function of its
arguments over one cached calendar built once per process.

Dates may be given as ``datetime.date``, ISO strings (``"2020-11-27"``), ``numpy.datetime64``
or ``pandas.Timestamp``/``datetime``. A timezone-aware instant is first converted to
America/New_York, so ``2020-11-28 03:00 UTC`` means the NY date 2020-11-27; a naive datetime
is taken by its date part.

The calendar covers 1990-01-01 through 31 December two years after the current year:
exchange_calendars' own default only reaches ~20 years back, and its XNYS holidays are not
reliable before ~1970 nor its hours before 1985. Outside the covered range every function
raises ``ValueError`` instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from exchange_calendars import ExchangeCalendar

NY_TZ = "America/New_York"
CALENDAR_START = date(1990, 1, 1)

DateLike = date | datetime | str | np.datetime64 | pd.Timestamp


@dataclass(frozen=True)
class _Table:
    calendar: ExchangeCalendar
    first: date
    last: date
    # Sorted session dates, and their open/close as UTC nanoseconds since the epoch (int64),
    # so every look-up is one searchsorted instead of a pandas index operation.
    days: np.ndarray
    opens_ns: np.ndarray
    closes_ns: np.ndarray


def _calendar_end() -> date:
    return date(datetime.now(UTC).year + 2, 12, 31)


@lru_cache(maxsize=1)
def _table() -> _Table:
    import exchange_calendars as xcals

    end = _calendar_end()
    cal = xcals.get_calendar("XNYS", start=CALENDAR_START.isoformat(), end=end.isoformat())
    schedule = cal.schedule
    days = schedule.index.values.astype("datetime64[D]")
    opens_ns = schedule["open"].values.astype("datetime64[ns]").astype(np.int64)
    closes_ns = schedule["close"].values.astype("datetime64[ns]").astype(np.int64)
    for arr in (days, opens_ns, closes_ns):
        arr.setflags(write=False)
    return _Table(cal, CALENDAR_START, end, days, opens_ns, closes_ns)


def nyse_calendar() -> ExchangeCalendar:
    """The cached exchange_calendars XNYS instance (bounds: see :func:`calendar_bounds`)."""
    return _table().calendar


def calendar_bounds() -> tuple[date, date]:
    """First and last calendar dates (inclusive) the session functions can answer for."""
    t = _table()
    return t.first, t.last


def to_date(value: DateLike) -> date:
    """Calendar date of ``value``; aware instants are read in America/New_York."""
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is not None:
            value = value.tz_convert(NY_TZ)
        return value.date()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return pd.Timestamp(value).tz_convert(NY_TZ).date()
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError as exc:
            raise ValueError(f"not an ISO date (YYYY-MM-DD): {value!r}") from exc
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).date()
    raise TypeError(f"cannot read a date from {type(value).__name__}: {value!r}")


def _checked_day(value: DateLike) -> np.datetime64:
    d = to_date(value)
    t = _table()
    if not t.first <= d <= t.last:
        raise ValueError(
            f"{d} is outside the NYSE calendar range {t.first}..{t.last} known to tradewind"
        )
    return np.datetime64(d, "D")


def _as_date(day: np.datetime64) -> date:
    return day.astype("datetime64[D]").item()


def _index_of_session(value: DateLike) -> int:
    day = _checked_day(value)
    days = _table().days
    i = int(np.searchsorted(days, day))
    if i >= len(days) or days[i] != day:
        raise ValueError(f"{_as_date(day)} is not a NYSE session")
    return i


def sessions_array(start: DateLike, end: DateLike) -> np.ndarray:
    """Sessions in ``[start, end]`` (both inclusive) as ``datetime64[D]``; empty if end < start."""
    lo, hi = _checked_day(start), _checked_day(end)
    days = _table().days
    # A copy: the cached table must not be writable through a caller's array.
    return days[np.searchsorted(days, lo, "left") : np.searchsorted(days, hi, "right")].copy()


def sessions(start: DateLike, end: DateLike) -> list[date]:
    """Sessions in ``[start, end]`` (both inclusive), as ``datetime.date``."""
    return sessions_array(start, end).tolist()


def sessions_index(start: DateLike, end: DateLike) -> pd.DatetimeIndex:
    """Sessions in ``[start, end]`` as a tz-naive midnight DatetimeIndex named ``session``."""
    return pd.DatetimeIndex(sessions_array(start, end).astype("datetime64[ns]"), name="session")


def is_session(value: DateLike) -> bool:
    """True when the (NY) date of ``value`` is a NYSE trading session."""
    day = _checked_day(value)
    days = _table().days
    i = int(np.searchsorted(days, day))
    return i < len(days) and days[i] == day


def next_session(value: DateLike) -> date:
    """First session strictly after the date of ``value`` (which need not be a session)."""
    days = _table().days
    i = int(np.searchsorted(days, _checked_day(value), "right"))
    if i >= len(days):
        raise ValueError(f"no session after {to_date(value)} within the calendar range")
    return _as_date(days[i])


def previous_session(value: DateLike) -> date:
    """Last session strictly before the date of ``value`` (which need not be a session)."""
    days = _table().days
    i = int(np.searchsorted(days, _checked_day(value), "left")) - 1
    if i < 0:
        raise ValueError(f"no session before {to_date(value)} within the calendar range")
    return _as_date(days[i])


def session_on_or_before(value: DateLike) -> date:
    """The date itself when it is a session, else the previous session."""
    return to_date(value) if is_session(value) else previous_session(value)


def session_on_or_after(value: DateLike) -> date:
    """The date itself when it is a session, else the next session."""
    return to_date(value) if is_session(value) else next_session(value)


def session_offset(session: DateLike, n: int) -> date:
    """The session ``n`` sessions after (``n < 0``: before) ``session``, which must be one."""
    i = _index_of_session(session) + n
    days = _table().days
    if not 0 <= i < len(days):
        raise ValueError(f"{n} sessions from {to_date(session)} leaves the calendar range")
    return _as_date(days[i])


def _utc(ns: np.int64) -> datetime:
    return pd.Timestamp(int(ns), tz="UTC").to_pydatetime()


def session_open_utc(session: DateLike) -> datetime:
    """Regular-hours open of ``session`` as an aware UTC datetime (09:30 New York)."""
    return _utc(_table().opens_ns[_index_of_session(session)])


def session_close_utc(session: DateLike) -> datetime:
    """Regular-hours close of ``session`` as an aware UTC datetime (16:00 or 13:00 New York)."""
    return _utc(_table().closes_ns[_index_of_session(session)])


def is_half_day(session: DateLike) -> bool:
    """True for an early-close session (e.g. the Friday after Thanksgiving, 13:00 New York)."""
    i = _index_of_session(session)
    t = _table()
    close_ny = pd.Timestamp(int(t.closes_ns[i]), tz="UTC").tz_convert(NY_TZ)
    return (close_ny.hour, close_ny.minute) < (16, 0)


def last_closed_session(now_utc: datetime) -> date:
    """Latest session whose close is at or before ``now_utc`` (an aware instant).

    This is the newest session a daily bar may exist for: a bar stamped with a later session
    would describe a market that has not closed yet.
    """
    if now_utc.tzinfo is None or now_utc.utcoffset() is None:
        raise ValueError("last_closed_session needs a timezone-aware instant, got a naive one")
    now_ns = pd.Timestamp(now_utc).tz_convert("UTC").value
    t = _table()
    upper_ns = pd.Timestamp(t.last, tz=NY_TZ).value
    if now_ns > upper_ns:
        raise ValueError(f"{now_utc} is after the NYSE calendar range ending {t.last}")
    i = int(np.searchsorted(t.closes_ns, now_ns, "right")) - 1
    if i < 0:
        raise ValueError(f"no NYSE session closed before {now_utc} within the calendar range")
    return _as_date(t.days[i])


__all__ = [
    "CALENDAR_START",
    "NY_TZ",
    "calendar_bounds",
    "is_half_day",
    "is_session",
    "last_closed_session",
    "next_session",
    "nyse_calendar",
    "previous_session",
    "session_close_utc",
    "session_offset",
    "session_on_or_after",
    "session_on_or_before",
    "session_open_utc",
    "sessions",
    "sessions_array",
    "sessions_index",
    "to_date",
]
