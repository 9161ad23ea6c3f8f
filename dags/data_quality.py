"""
### data_quality

A daily data-quality report for one NYSE session T (the run's data interval), run two hours
after the close so the day's ingestion has landed:

* **gaps**: sessions without a daily bar, per source and symbol, over the last `lookback`
  sessions (`raw.bars_daily`);
* **stale symbols**: watermarks whose last loaded bar is before T (`ops.ingest_watermarks`);
* **quarantined rows** and **rejected runs** of the quality gate (`ops.quarantine`,
  `ops.ingest_runs`);
* **warnings** on loaded rows (`ops.data_warnings`).

The report is written to `<TRADEWIND_HOME>/reports/data_quality/<T>.md` and `.json` (replaced
on a re-run), printed in the task log and returned as XCom. With `fail_on_findings` the task
fails when anything is found, for teams that want a red square in the grid.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from tradewind.orchestration.defaults import START_DATE, default_args
from tradewind.orchestration.timetable import NYSESessionTimetable


@dag(
    dag_id="data_quality",
    schedule=NYSESessionTimetable(after_close=timedelta(hours=2)),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=default_args(retries=2),
    tags=["tradewind", "data-quality", "warehouse"],
    doc_md=__doc__,
    params={
        "lookback": Param(10, type="integer", minimum=1, maximum=260, title="Sessions to check"),
        "fail_on_findings": Param(False, type="boolean", title="Fail when anything is found"),
    },
)
def data_quality():
    @task
    def report(data_interval_end=None, params=None) -> dict:
        from tradewind.orchestration.runtime import quality_report

        return quality_report(
            data_interval_end,
            lookback=int(params["lookback"]),
            fail_on_findings=bool(params["fail_on_findings"]),
        )

    report()


data_quality()
