"""NYSE trading-session timetable for Airflow.

One DAG run per NYSE session T. Its data interval is the session itself, from the regular open
(09:30 New York) to the regular close (16:00, or 13:00 on half days), in UTC; the run may start
``after_close`` later (vendors finalise daily bars some minutes after the close). Weekends and
exchange holidays have no run at all.

Range semantics (backfills, ``start_date``/``end_date``): a bound stands for its calendar date,
read on the bound's own wall clock, and both ends are inclusive. A backfill "from 2024-07-01 to
2024-07-08" therefore runs exactly the sessions 07-01, 07-02, 07-03 (half day), 07-05 and 07-08,
whatever hour the date pickers attach to the dates.

A manual run (UI "Trigger", ``dags test``) processes the latest session closed at its logical
date, never a session still trading: that would be lookahead.

The session logic is pure (``plan_next_session``, ``session_interval``) so it is tested over
whole years without a scheduler; exchange_calendars (pandas) is imported only when a method
runs, so DAG files that instantiate the timetable stay light to parse.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, Timetable

if TYPE_CHECKING:
    from airflow.timetables.base import TimeRestriction
    from airflow.utils.types import DagRunType
    from pendulum import DateTime

DEFAULT_AFTER_CLOSE = dt.timedelta(minutes=30)


def _utc(instant: dt.datetime) -> DateTime:
    return pendulum.instance(instant).in_timezone("UTC")


def session_of(instant: dt.datetime) -> dt.date:
    """The session a data interval belongs to: its start's date in America/New_York."""
    from tradewind.calendar import to_date

    return to_date(instant)


def session_interval(session: dt.date) -> DataInterval:
    """The data interval of one session: regular open to regular close, in UTC."""
    from tradewind.calendar import session_close_utc, session_open_utc

    return DataInterval(_utc(session_open_utc(session)), _utc(session_close_utc(session)))


def plan_next_session(
    *,
    last_session: dt.date | None,
    earliest: dt.date | None,
    latest: dt.date | None,
    catchup: bool,
    now: dt.datetime,
) -> dt.date | None:
    """The next session to run, or None when there is none within the bounds.

    ``last_session`` is the session of the last scheduled/backfilled run; ``earliest`` and
    ``latest`` are inclusive calendar dates; without catchup the plan jumps forward to the
    latest session already closed at ``now`` (older missed sessions are left to backfills).
    """
    from tradewind.calendar import last_closed_session, next_session, session_on_or_after

    try:
        if last_session is not None:
            candidate = next_session(last_session)
            if earliest is not None:
                candidate = max(candidate, session_on_or_after(earliest))
        elif earliest is not None:
            candidate = session_on_or_after(earliest)
        elif catchup:
            # Nothing to start from: a catch-up schedule needs a start_date.
            return None
        else:
            candidate = last_closed_session(now)
        if not catchup:
            candidate = max(candidate, last_closed_session(now))
    except ValueError:
        # Outside the calendar's range: no session we can vouch for.
        return None
    if latest is not None and candidate > latest:
        return None
    return candidate


class NYSESessionTimetable(Timetable):
    """Runs once per NYSE trading session, ``after_close`` after its close (half days too)."""

    periodic = True
    can_be_scheduled = True

    def __init__(self, after_close: dt.timedelta = DEFAULT_AFTER_CLOSE) -> None:
        self.after_close = after_close
        minutes = int(after_close.total_seconds() // 60)
        self.description = (
            f"Every NYSE trading session, {minutes} min after the close "
            "(16:00 New York, 13:00 on half days); no runs on weekends or exchange holidays"
        )

    @property
    def summary(self) -> str:
        minutes = int(self.after_close.total_seconds() // 60)
        return f"NYSE sessions (close + {minutes}m)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NYSESessionTimetable) and other.after_close == self.after_close

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.after_close))

    def validate(self) -> None:
        from airflow.exceptions import AirflowTimetableInvalid

        if not dt.timedelta(0) <= self.after_close < dt.timedelta(hours=8):
            raise AirflowTimetableInvalid(
                f"after_close must be within [0, 8h) so a run never spills into the next "
                f"session, got {self.after_close}"
            )

    def serialize(self) -> dict[str, Any]:
        return {"after_close_seconds": int(self.after_close.total_seconds())}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> NYSESessionTimetable:
        seconds = data.get("after_close_seconds", int(DEFAULT_AFTER_CLOSE.total_seconds()))
        return cls(after_close=dt.timedelta(seconds=seconds))

    def run_info(self, session: dt.date) -> DagRunInfo:
        """DagRunInfo of one session (public so tests and docs can show the mapping)."""
        interval = session_interval(session)
        return DagRunInfo(run_after=interval.end + self.after_close, data_interval=interval)

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        from tradewind.calendar import last_closed_session

        return session_interval(last_closed_session(_utc(run_after)))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        last = last_automated_data_interval
        session = plan_next_session(
            last_session=session_of(last.start) if last is not None else None,
            # A bound's own wall-clock date: midnight-UTC date pickers mean that date.
            earliest=restriction.earliest.date() if restriction.earliest else None,
            latest=restriction.latest.date() if restriction.latest else None,
            catchup=restriction.catchup,
            now=pendulum.now("UTC"),
        )
        return None if session is None else self.run_info(session)

    def generate_run_id(
        self,
        *,
        run_type: DagRunType,
        run_after: DateTime,
        data_interval: DataInterval | None,
        **extra: Any,
    ) -> str:
        from airflow.utils.types import DagRunType

        # One scheduled run per session, so the session date alone names it in the grid.
        if run_type == DagRunType.SCHEDULED and data_interval is not None:
            return run_type.generate_run_id(suffix=session_of(data_interval.start).isoformat())
        return super().generate_run_id(
            run_type=run_type, run_after=run_after, data_interval=data_interval, **extra
        )


def first_session_of_month_on_or_after(session: dt.date) -> dt.date:
    """The first session of a month that is ``session`` or comes after it."""
    from tradewind.calendar import previous_session, session_on_or_after

    session = session_on_or_after(session)
    if previous_session(session).month != session.month:
        return session
    nxt = dt.date(session.year + session.month // 12, session.month % 12 + 1, 1)
    return session_on_or_after(nxt)


class FirstSessionOfMonthTimetable(NYSESessionTimetable):
    """Runs on the first NYSE session of each month, ``after_close`` after its close.

    Same data intervals as :class:`NYSESessionTimetable` (the session itself), only fewer runs:
    the monthly retraining of ``train_agents``. Without catchup a missed month is left to a
    manual trigger.
    """

    def __init__(self, after_close: dt.timedelta = dt.timedelta(hours=2)) -> None:
        super().__init__(after_close=after_close)
        minutes = int(after_close.total_seconds() // 60)
        self.description = (
            f"First NYSE trading session of each month, {minutes} min after its close"
        )

    @property
    def summary(self) -> str:
        minutes = int(self.after_close.total_seconds() // 60)
        return f"First NYSE session of each month (close + {minutes}m)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FirstSessionOfMonthTimetable) and (
            other.after_close == self.after_close
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.after_close))

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> FirstSessionOfMonthTimetable:
        return cls(after_close=dt.timedelta(seconds=data.get("after_close_seconds", 7200)))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        last = last_automated_data_interval
        session = plan_next_session(
            last_session=session_of(last.start) if last is not None else None,
            earliest=restriction.earliest.date() if restriction.earliest else None,
            latest=None,
            catchup=restriction.catchup,
            now=pendulum.now("UTC"),
        )
        if session is None:
            return None
        try:
            session = first_session_of_month_on_or_after(session)
        except ValueError:
            return None
        if restriction.latest is not None and session > restriction.latest.date():
            return None
        return self.run_info(session)
