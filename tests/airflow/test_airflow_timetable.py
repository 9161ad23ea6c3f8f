"""The NYSE session timetable: one run per session, after the close, half days included.

Expected sessions come from facts written down here (the NYSE holiday and early-close lists),
not from the code under test, and from exchange_calendars directly as a second witness.
"""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.airflow

UTC = dt.UTC

# NYSE 2024: full-day holidays and 13:00 early closes (NYSE holiday calendar).
HOLIDAYS_2024 = {
    dt.date(2024, 1, 1),
    dt.date(2024, 1, 15),
    dt.date(2024, 2, 19),
    dt.date(2024, 3, 29),
    dt.date(2024, 5, 27),
    dt.date(2024, 6, 19),
    dt.date(2024, 7, 4),
    dt.date(2024, 9, 2),
    dt.date(2024, 11, 28),
    dt.date(2024, 12, 25),
}
HALF_DAYS_2024 = {dt.date(2024, 7, 3), dt.date(2024, 11, 29), dt.date(2024, 12, 24)}
# 2019 as a second year: a Wednesday July 4th with its early close on the 3rd, and the
# Friday after Thanksgiving.
HOLIDAYS_2019 = {
    dt.date(2019, 1, 1),
    dt.date(2019, 1, 21),
    dt.date(2019, 2, 18),
    dt.date(2019, 4, 19),
    dt.date(2019, 5, 27),
    dt.date(2019, 7, 4),
    dt.date(2019, 9, 2),
    dt.date(2019, 11, 28),
    dt.date(2019, 12, 25),
}
HALF_DAYS_2019 = {dt.date(2019, 7, 3), dt.date(2019, 11, 29), dt.date(2019, 12, 24)}


def _utc(y, m, d, hh=0, mm=0):
    import pendulum

    return pendulum.datetime(y, m, d, hh, mm, tz="UTC")


def _walk(tt, earliest, latest, catchup=True):
    """Every run the timetable plans within the bounds, as the scheduler/backfill would ask."""
    from airflow.timetables.base import TimeRestriction

    restriction = TimeRestriction(earliest, latest, catchup)
    infos, last = [], None
    while (
        info := tt.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
    ) is not None:
        infos.append(info)
        last = info.data_interval
        assert len(infos) < 400, "timetable does not stop at the latest bound"
    return infos


def _weekdays(year: int) -> set[dt.date]:
    d, out = dt.date(year, 1, 1), set()
    while d.year == year:
        if d.weekday() < 5:
            out.add(d)
        d += dt.timedelta(days=1)
    return out


@pytest.mark.parametrize(
    ("year", "holidays", "half_days", "count"),
    [(2024, HOLIDAYS_2024, HALF_DAYS_2024, 252), (2019, HOLIDAYS_2019, HALF_DAYS_2019, 252)],
)
def test_a_whole_year_runs_exactly_on_sessions_after_the_close(
    airflow_in_process, year, holidays, half_days, count
):
    from zoneinfo import ZoneInfo

    import exchange_calendars as xcals

    from tradewind.orchestration.timetable import NYSESessionTimetable, session_of

    ny = ZoneInfo("America/New_York")
    tt = NYSESessionTimetable(after_close=dt.timedelta(minutes=30))
    infos = _walk(tt, _utc(year, 1, 1), _utc(year, 12, 31))
    sessions = [session_of(i.data_interval.start) for i in infos]

    assert len(sessions) == count == len(set(sessions))
    assert set(sessions) == _weekdays(year) - holidays
    assert sessions == sorted(sessions)
    witness = xcals.get_calendar("XNYS").sessions_in_range(f"{year}-01-01", f"{year}-12-31")
    assert sessions == [ts.date() for ts in witness]

    for session, info in zip(sessions, infos, strict=True):
        start_ny = info.data_interval.start.astimezone(ny)
        end_ny = info.data_interval.end.astimezone(ny)
        assert start_ny.date() == end_ny.date() == session
        assert (start_ny.hour, start_ny.minute) == (9, 30)
        expected_close = (13, 0) if session in half_days else (16, 0)
        assert (end_ny.hour, end_ny.minute) == expected_close, session
        assert info.run_after == info.data_interval.end + dt.timedelta(minutes=30)
        assert info.logical_date == info.data_interval.start
        assert info.data_interval.start.tzinfo is not None


def test_utc_instants_follow_daylight_saving(airflow_in_process):
    from tradewind.orchestration.timetable import session_interval

    # Friday before the March 2024 switch (EST, UTC-5) and the Monday after (EDT, UTC-4).
    assert session_interval(dt.date(2024, 3, 8)) == (_utc(2024, 3, 8, 14, 30), _utc(2024, 3, 8, 21))
    assert session_interval(dt.date(2024, 3, 11)) == (
        _utc(2024, 3, 11, 13, 30),
        _utc(2024, 3, 11, 20),
    )
    # Black Friday 2024 closes 13:00 EST = 18:00 UTC.
    assert session_interval(dt.date(2024, 11, 29)).end == _utc(2024, 11, 29, 18)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Independence Day week: half day on the 3rd, holiday on the 4th, weekend 6-7.
        (
            "2024-07-01",
            "2024-07-08",
            ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"],
        ),
        # Bounds are whole dates, both inclusive, whatever hour is attached.
        ("2024-07-01T23:59", "2024-07-02T00:00", ["2024-07-01", "2024-07-02"]),
        ("2024-07-06", "2024-07-07", []),
        ("2024-11-27", "2024-12-02", ["2024-11-27", "2024-11-29", "2024-12-02"]),
        ("2024-12-31", "2025-01-02", ["2024-12-31", "2025-01-02"]),
    ],
)
def test_a_backfill_range_maps_to_exactly_its_sessions(airflow_in_process, start, end, expected):
    import pendulum

    from tradewind.orchestration.timetable import NYSESessionTimetable, session_of

    infos = _walk(NYSESessionTimetable(), pendulum.parse(start), pendulum.parse(end))
    assert [session_of(i.data_interval.start).isoformat() for i in infos] == expected


def test_without_catchup_the_schedule_starts_at_the_latest_closed_session(airflow_in_process):
    from tradewind.orchestration.timetable import plan_next_session

    def plan(last, now, catchup=False, latest=None, earliest=dt.date(2015, 1, 1)):
        return plan_next_session(
            last_session=last, earliest=earliest, latest=latest, catchup=catchup, now=now
        )

    d = dt.date
    # Saturday after Thanksgiving week: the latest closed session is the Friday half day.
    assert plan(None, dt.datetime(2024, 11, 30, 12, tzinfo=UTC)) == d(2024, 11, 29)
    # Friday 17:59 UTC, one minute before its 13:00 EST close: Wednesday (Thursday is a holiday).
    friday = dt.datetime(2024, 11, 29, 17, 59, tzinfo=UTC)
    assert plan(None, friday) == d(2024, 11, 27)
    # After a run for Wednesday the next one is Friday, planned for after its close.
    assert plan(d(2024, 11, 27), friday) == d(2024, 11, 29)
    # A long outage: without catchup the missed sessions are skipped, with catchup they are not.
    later = dt.datetime(2024, 12, 10, 23, tzinfo=UTC)
    assert plan(d(2024, 11, 27), later) == d(2024, 12, 10)
    assert plan(d(2024, 11, 27), later, catchup=True) == d(2024, 11, 29)
    # An end_date before the next session ends the schedule.
    assert plan(d(2024, 11, 27), later, catchup=True, latest=d(2024, 11, 28)) is None
    # Catch-up without any start has nothing to start from.
    assert plan(None, later, catchup=True, earliest=None) is None


def test_a_manual_run_takes_the_latest_closed_session_never_one_still_trading(airflow_in_process):
    from tradewind.orchestration.timetable import NYSESessionTimetable, session_of

    tt = NYSESessionTimetable()
    at = tt.infer_manual_data_interval(run_after=_utc(2024, 11, 29, 18, 5))
    assert session_of(at.start) == dt.date(2024, 11, 29)
    assert at.end == _utc(2024, 11, 29, 18)
    at = tt.infer_manual_data_interval(run_after=_utc(2024, 11, 29, 17, 59))
    assert session_of(at.start) == dt.date(2024, 11, 27)
    # Sunday: Friday's session.
    at = tt.infer_manual_data_interval(run_after=_utc(2024, 7, 7, 12))
    assert session_of(at.start) == dt.date(2024, 7, 5)


def test_serialization_round_trip_and_validation(airflow_in_process):
    from airflow.exceptions import AirflowTimetableInvalid

    from tradewind.orchestration.timetable import NYSESessionTimetable

    tt = NYSESessionTimetable(after_close=dt.timedelta(minutes=45))
    data = tt.serialize()
    assert data == {"after_close_seconds": 2700}
    back = NYSESessionTimetable.deserialize(data)
    assert back == tt and back.after_close == dt.timedelta(minutes=45)
    assert "45" in tt.summary and "NYSE" in tt.description and "half days" in tt.description
    with pytest.raises(AirflowTimetableInvalid):
        NYSESessionTimetable(after_close=dt.timedelta(hours=-1)).validate()
    NYSESessionTimetable().validate()


def test_scheduled_run_ids_name_the_session(airflow_in_process):
    from airflow.utils.types import DagRunType

    from tradewind.orchestration.timetable import NYSESessionTimetable, session_interval

    tt = NYSESessionTimetable()
    interval = session_interval(dt.date(2024, 7, 3))
    run_id = tt.generate_run_id(
        run_type=DagRunType.SCHEDULED, run_after=interval.end, data_interval=interval
    )
    assert run_id == "scheduled__2024-07-03"
    manual = tt.generate_run_id(
        run_type=DagRunType.MANUAL, run_after=interval.end, data_interval=interval
    )
    assert manual.startswith("manual__2024-07-03T17:00")
