"""NYSE session helpers against independently written-down exchange facts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from tradewind import calendar as cal

NY = ZoneInfo("America/New_York")

# Full-day NYSE closures, written down from the exchange's published holiday lists.
HOLIDAYS_2020 = {
    date(2020, 1, 1),  # New Year's Day
    date(2020, 1, 20),  # Martin Luther King Jr. Day
    date(2020, 2, 17),  # Washington's Birthday
    date(2020, 4, 10),  # Good Friday
    date(2020, 5, 25),  # Memorial Day
    date(2020, 7, 3),  # Independence Day (observed: July 4 was a Saturday)
    date(2020, 9, 7),  # Labor Day
    date(2020, 11, 26),  # Thanksgiving
    date(2020, 12, 25),  # Christmas
}
HOLIDAYS_2001 = {
    date(2001, 1, 1),
    date(2001, 1, 15),
    date(2001, 2, 19),
    date(2001, 4, 13),  # Good Friday
    date(2001, 5, 28),
    date(2001, 7, 4),
    date(2001, 9, 3),
    date(2001, 9, 11),  # closed after the attacks, 11..14 September
    date(2001, 9, 12),
    date(2001, 9, 13),
    date(2001, 9, 14),
    date(2001, 11, 22),
    date(2001, 12, 25),
}


def _weekdays(year: int) -> list[date]:
    d, out = date(year, 1, 1), []
    while d.year == year:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


@pytest.mark.parametrize(
    ("year", "holidays", "count"), [(2020, HOLIDAYS_2020, 253), (2001, HOLIDAYS_2001, 248)]
)
def test_whole_year_sessions_are_weekdays_minus_holidays(year, holidays, count):
    expected = [d for d in _weekdays(year) if d not in holidays]
    got = cal.sessions(date(year, 1, 1), date(year, 12, 31))
    assert got == expected
    assert len(got) == count
    assert all(isinstance(d, date) and not isinstance(d, datetime) for d in got)
    assert [cal.is_session(d) for d in _weekdays(year)] == [
        d not in holidays for d in _weekdays(year)
    ]


def test_weekends_are_not_sessions():
    assert not cal.is_session(date(2020, 11, 28))  # Saturday
    assert not cal.is_session("2020-11-29")  # Sunday
    assert cal.is_session("2020-11-30")


def test_september_2001_closure_and_neighbours():
    assert cal.sessions("2001-09-07", "2001-09-18") == [
        date(2001, 9, 7),
        date(2001, 9, 10),
        date(2001, 9, 17),
        date(2001, 9, 18),
    ]
    assert cal.next_session("2001-09-10") == date(2001, 9, 17)
    assert cal.previous_session("2001-09-17") == date(2001, 9, 10)


def test_good_friday_next_and_previous():
    assert not cal.is_session("2020-04-10")
    assert cal.next_session("2020-04-09") == date(2020, 4, 13)
    assert cal.next_session("2020-04-10") == date(2020, 4, 13)
    assert cal.previous_session("2020-04-13") == date(2020, 4, 9)
    assert cal.previous_session("2020-04-10") == date(2020, 4, 9)
    assert cal.session_on_or_before("2020-04-10") == date(2020, 4, 9)
    assert cal.session_on_or_after("2020-04-10") == date(2020, 4, 13)
    assert cal.session_on_or_after("2020-04-13") == date(2020, 4, 13)


def test_session_offset():
    assert cal.session_offset("2020-04-09", 1) == date(2020, 4, 13)
    assert cal.session_offset("2020-04-13", -1) == date(2020, 4, 9)
    assert cal.session_offset("2020-01-02", 252) == date(2020, 12, 31)
    with pytest.raises(ValueError, match="not a NYSE session"):
        cal.session_offset("2020-04-10", 1)


def test_open_close_over_a_whole_year_with_dst_and_half_days():
    half_days = {date(2020, 11, 27), date(2020, 12, 24)}
    for d in cal.sessions("2020-01-01", "2020-12-31"):
        o, c = cal.session_open_utc(d), cal.session_close_utc(d)
        assert o.tzinfo is not None and o.utcoffset() == timedelta(0)
        o_ny, c_ny = o.astimezone(NY), c.astimezone(NY)
        assert o_ny.date() == d and c_ny.date() == d
        assert (o_ny.hour, o_ny.minute) == (9, 30)
        assert (c_ny.hour, c_ny.minute) == ((13, 0) if d in half_days else (16, 0))
        assert cal.is_half_day(d) == (d in half_days)


def test_dst_switch_moves_utc_times():
    # DST started Sunday 2020-03-08 and ended Sunday 2020-11-01.
    assert cal.session_open_utc("2020-03-06") == datetime(2020, 3, 6, 14, 30, tzinfo=UTC)
    assert cal.session_open_utc("2020-03-09") == datetime(2020, 3, 9, 13, 30, tzinfo=UTC)
    assert cal.session_close_utc("2020-10-30") == datetime(2020, 10, 30, 20, 0, tzinfo=UTC)
    assert cal.session_close_utc("2020-11-02") == datetime(2020, 11, 2, 21, 0, tzinfo=UTC)


def test_thanksgiving_friday_half_day_close():
    assert cal.session_close_utc(date(2020, 11, 27)) == datetime(2020, 11, 27, 18, 0, tzinfo=UTC)
    assert cal.session_close_utc(date(2019, 7, 3)) == datetime(2019, 7, 3, 17, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a NYSE session"):
        cal.session_close_utc("2020-11-26")


def test_last_closed_session_respects_the_close_instant():
    utc = UTC
    # Thanksgiving Friday closes at 13:00 New York = 18:00 UTC.
    assert cal.last_closed_session(datetime(2020, 11, 27, 17, 59, 59, tzinfo=utc)) == date(
        2020, 11, 25
    )
    assert cal.last_closed_session(datetime(2020, 11, 27, 18, 0, tzinfo=utc)) == date(2020, 11, 27)
    # Weekend and the next Monday morning still point at Friday.
    assert cal.last_closed_session(datetime(2020, 11, 29, 12, 0, tzinfo=utc)) == date(2020, 11, 27)
    monday_morning_ny = datetime(2020, 11, 30, 10, 0, tzinfo=NY)
    assert cal.last_closed_session(monday_morning_ny) == date(2020, 11, 27)
    # Regular close 16:00 New York in summer time = 20:00 UTC.
    assert cal.last_closed_session(datetime(2020, 7, 6, 19, 59, tzinfo=utc)) == date(2020, 7, 2)
    assert cal.last_closed_session(datetime(2020, 7, 6, 20, 0, tzinfo=utc)) == date(2020, 7, 6)
    assert cal.last_closed_session(pd.Timestamp("2020-07-07 01:00", tz="UTC")) == date(2020, 7, 6)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.last_closed_session(datetime(2020, 7, 6, 20, 0))


def test_every_session_of_a_year_is_its_own_last_closed_session_at_close():
    for d in cal.sessions("2019-01-01", "2019-12-31"):
        close = cal.session_close_utc(d)
        assert cal.last_closed_session(close) == d
        assert cal.last_closed_session(close - timedelta(microseconds=1)) == cal.previous_session(d)


def test_input_types_and_aware_instants_use_new_york_date():
    assert cal.to_date("2020-11-27") == date(2020, 11, 27)
    assert cal.to_date(np.datetime64("2020-11-27")) == date(2020, 11, 27)
    assert cal.to_date(datetime(2020, 11, 27, 23, 0)) == date(2020, 11, 27)
    # 03:00 UTC on the 28th is still the evening of the 27th in New York.
    assert cal.to_date(pd.Timestamp("2020-11-28 03:00", tz="UTC")) == date(2020, 11, 27)
    assert cal.to_date(datetime(2020, 11, 28, 3, 0, tzinfo=UTC)) == date(2020, 11, 27)
    assert cal.is_session(pd.Timestamp("2020-11-28 03:00", tz="UTC"))
    with pytest.raises(ValueError):
        cal.to_date("27/11/2020")
    with pytest.raises(TypeError):
        cal.to_date(20201127)  # type: ignore[arg-type]


def test_sessions_index_and_array_agree_with_list():
    idx = cal.sessions_index("2020-12-20", "2021-01-08")
    assert idx.name == "session"
    assert [t.date() for t in idx] == cal.sessions("2020-12-20", "2021-01-08")
    assert date(2021, 1, 1) not in [t.date() for t in idx]
    arr = cal.sessions_array("2020-12-20", "2021-01-08")
    assert arr.dtype == np.dtype("datetime64[D]")
    assert cal.sessions("2020-01-10", "2020-01-01") == []
    arr[:] = np.datetime64("2000-01-03")  # callers own their copy; the cache is untouched
    assert cal.sessions_array("2020-12-20", "2020-12-22")[0] == np.datetime64("2020-12-21")


def test_range_beyond_exchange_calendars_default_bounds():
    # exchange_calendars' own default starts ~20 years back; ours reaches 1990.
    got = cal.sessions("1990-01-01", "1990-01-05")
    assert got == [date(1990, 1, 2), date(1990, 1, 3), date(1990, 1, 4), date(1990, 1, 5)]
    first, last = cal.calendar_bounds()
    assert first == date(1990, 1, 1)
    assert last >= date(datetime.now(UTC).year + 1, 12, 31)
    assert cal.is_session(cal.session_on_or_before(last))


def test_outside_calendar_range_raises():
    with pytest.raises(ValueError, match="outside the NYSE calendar range"):
        cal.is_session("1989-12-29")
    with pytest.raises(ValueError, match="outside the NYSE calendar range"):
        cal.sessions("2020-01-01", "2100-01-01")
    with pytest.raises(ValueError):
        cal.last_closed_session(datetime(2100, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        cal.previous_session("1990-01-02")
