"""Registers the NYSE trading-session timetable with Airflow.

Airflow only deserializes custom timetables that a plugin registers; the class itself lives in
the tradewind package (``tradewind.orchestration.timetable``) so DAGs and tests import it from
there under the same qualified name.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from tradewind.orchestration.timetable import FirstSessionOfMonthTimetable, NYSESessionTimetable


class NYSETimetablePlugin(AirflowPlugin):
    name = "tradewind_nyse_timetable"
    timetables = [NYSESessionTimetable, FirstSessionOfMonthTimetable]
