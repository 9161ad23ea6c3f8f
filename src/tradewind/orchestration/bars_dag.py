"""The shape shared by the bar-ingestion DAGs: choose_source -> extract_<source> -> validate -> load.

The DAG files (``dags/ingest_daily_bars.py``, ``dags/ingest_minute_bars.py``) declare what
differs (id, timeframe, sources and their pools, output asset, docs) and call
:func:`bars_dag`. Import-light: task bodies import the package when they run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, Param, dag, task

from tradewind.orchestration.defaults import START_DATE, default_args
from tradewind.orchestration.timetable import NYSESessionTimetable


def bars_dag(
    *,
    dag_id: str,
    timeframe: str,
    sources: dict[str, str],
    source_variable: str,
    asset: Asset,
    doc_md: str,
    tags: list[str],
    after_close: dt.timedelta = dt.timedelta(minutes=30),
    default_universe: str | None = "DOW30",
) -> Any:
    """Build the DAG. ``sources`` maps each source to the pool its extract task uses."""

    @dag(
        dag_id=dag_id,
        schedule=NYSESessionTimetable(after_close=after_close),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=3,
        default_args=default_args(),
        tags=tags,
        doc_md=doc_md,
        params={
            "source": Param(
                None,
                type=["null", "string"],
                enum=[None, *sources],
                title="Source",
                description=f"Empty: Variable {source_variable}, else alpaca.",
            ),
            "universe": Param(default_universe, type=["null", "string"], title="Universe"),
            "symbols": Param([], type="array", items={"type": "string"}, title="Extra symbols"),
            "csv_folder": Param(None, type=["null", "string"], title="CSV drop folder"),
            "strict": Param(False, type="boolean", title="Fail on any quarantined row"),
        },
    )
    def bars():
        @task.branch
        def choose_source(params=None, ti=None) -> str:
            from tradewind.orchestration.runtime import choose_source

            source = choose_source(params["source"], source_variable, tuple(sources))
            # A branch's return value is not kept: the gate reads the choice from here.
            ti.xcom_push(key="extract_task", value=f"extract_{source}")
            return f"extract_{source}"

        def extract_task(source: str, pool: str):
            @task(task_id=f"extract_{source}", pool=pool)
            def extract(params=None, data_interval_end=None) -> str:
                from tradewind.orchestration.runtime import extract_stage

                return extract_stage(
                    dag_id=dag_id,
                    source=source,
                    timeframe=timeframe,
                    data_interval_end=data_interval_end,
                    symbols=params["symbols"],
                    universe=params["universe"],
                    csv_path=params["csv_folder"],
                )

            return extract()

        # Exactly one extract runs (the others are skipped): the gate reads the batch the
        # chosen one staged.
        @task(trigger_rule="none_failed_min_one_success")
        def validate(params=None, data_interval_end=None, ti=None) -> dict:
            from tradewind.orchestration.runtime import validate_stage

            chosen = ti.xcom_pull(task_ids="choose_source", key="extract_task")
            return validate_stage(
                dag_id=dag_id,
                batch_path=ti.xcom_pull(task_ids=chosen),
                data_interval_end=data_interval_end,
                strict=params["strict"],
            )

        @task(outlets=[asset])
        def load(validated: dict) -> dict:
            from tradewind.orchestration.runtime import load_stage

            return load_stage(validated_path=validated["path"])

        extracts = [extract_task(source, pool) for source, pool in sources.items()]
        gate = validate()
        choose_source() >> extracts >> gate
        load(gate)

    return bars()
