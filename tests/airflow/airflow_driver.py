"""Runs Airflow for the tests in a process of its own (Airflow reads its config once per process).

    python airflow_driver.py setup
        migrate the metadata DB (sqlite, tests only) and create the project's pools
    python airflow_driver.py runs JSON
        a list of runs, executed in order in this one process (Airflow starts once):
        ``{"dag_id": ..., "logical_date": ISO?, "conf": {...}?, "only": [task ids]?}`` runs
        ``dag.test()``; with ``only``, every other task is marked successful without running,
        i.e. "clear these tasks and run them again".
        ``{"backfill": dag_id, "start": ISO, "end": ISO, "conf": {...}?}`` runs what a backfill
        over [start, end] creates, enumerated as Airflow's backfill does
        (``iter_dagrun_infos_between`` on the *serialized* DAG, so through the plugin-registered
        timetable), each run executed with ``dag.test()`` at the session's close.
    python airflow_driver.py inspect
        parse the DAG folder like the DAG processor and describe every DAG (integrity tests)
    python airflow_driver.py modules FILE...
        import DAG files in this fresh process and list the heavy modules each pulled in

Each run prints one line ``RESULT {"dag_id", "run_id", "state", "session", "tasks", "assets"}``
so the test finds it among Airflow's log lines. Retries are switched off here: dag.test() would
otherwise sit out the exponential retry delays of a failing task (the integrity test checks the
real retry policy).
"""

from __future__ import annotations

import argparse
import json
import re
import sys

HEAVY = (
    "pandas", "numpy", "pyarrow", "torch", "ray", "dbt", "great_expectations",
    "exchange_calendars", "alpaca", "nasdaqdatalink", "gymnasium", "sklearn", "scipy",
)  # fmt: skip

_DAGS: dict = {}


def _dag(dag_id: str):
    if dag_id not in _DAGS:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag()
        if dag_id not in bag.dags:
            raise SystemExit(f"DAG {dag_id} not found; import errors: {bag.import_errors}")
        for d in bag.dags.values():
            for task in d.tasks:
                task.retries = 0
        _DAGS.update(bag.dags)
    return _DAGS[dag_id]


def _emit(payload) -> None:
    print("RESULT " + json.dumps(payload, default=str), flush=True)


def _report(dr) -> dict:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.settings import Session
    from sqlalchemy import select

    from tradewind.calendar import last_closed_session

    with Session() as s:
        tis = s.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dr.dag_id, TaskInstance.run_id == dr.run_id
            )
        ).all()
        tasks = {ti.task_id: str(ti.state) for ti in tis}
        events = s.execute(
            select(AssetModel.uri, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_dag_id == dr.dag_id, AssetEvent.source_run_id == dr.run_id)
        ).all()
    end = dr.data_interval_end
    return {
        "dag_id": dr.dag_id,
        "run_id": dr.run_id,
        "state": str(dr.state),
        # The session the tasks processed (tradewind.orchestration.runtime.session_for).
        "session": last_closed_session(end).isoformat() if end else None,
        "interval": [str(dr.data_interval_start), str(dr.data_interval_end)],
        "tasks": tasks,
        "assets": sorted(uri for uri, _ in events),
    }


def _infos(dag, start: str, end: str):
    from airflow.serialization.serialized_objects import DagSerialization
    from pendulum import parse

    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    return list(serialized.iter_dagrun_infos_between(parse(start), parse(end)))


def _run(spec: dict) -> None:
    from pendulum import parse

    if "backfill" in spec:
        dag = _dag(spec["backfill"])
        for info in _infos(dag, spec["start"], spec["end"]):
            # dag.test() infers the interval from its logical date: at the close, the session.
            dr = dag.test(logical_date=info.data_interval.end, run_conf=spec.get("conf"))
            _emit(_report(dr))
        return
    dag = _dag(spec["dag_id"])
    kwargs = {}
    if spec.get("logical_date"):
        kwargs["logical_date"] = parse(spec["logical_date"])
    if spec.get("only"):
        keep = "|".join(re.escape(t) for t in spec["only"])
        kwargs["mark_success_pattern"] = f"(?!(?:{keep})$).*"
    _emit(_report(dag.test(run_conf=spec.get("conf"), **kwargs)))


def _modules(paths: list[str]) -> dict:
    """Heavy top-level packages each file pulls in when imported (files in the given order,
    one process: a file is charged with what appears during its own import)."""
    import importlib.util

    out = {}
    for i, path in enumerate(paths):
        before = {m.split(".")[0] for m in sys.modules}
        spec = importlib.util.spec_from_file_location(f"dag_under_test_{i}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        after = {m.split(".")[0] for m in sys.modules}
        out[path] = sorted(m for m in HEAVY if m in after - before)
    return out


def _inspect() -> dict:
    from airflow import plugins_manager
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag()
    dags = {}
    for dag_id, dag in bag.dags.items():
        # A round trip through serialization is what the scheduler sees: it needs the plugin.
        back = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        dags[dag_id] = {
            "fileloc": dag.fileloc,
            "tags": sorted(dag.tags),
            "owner": dag.owner,
            "doc_md": dag.doc_md or "",
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "params": sorted(dag.params.keys()),
            "timetable": f"{type(back.timetable).__module__}.{type(back.timetable).__name__}",
            "timetable_summary": back.timetable.summary,
            "schedule_assets": sorted(
                key.uri for key, _ in back.timetable.asset_condition.iter_assets()
            ),
            "tasks": {
                t.task_id: {
                    "retries": t.retries,
                    "retry_exponential_backoff": t.retry_exponential_backoff,
                    "max_retry_delay": str(t.max_retry_delay),
                    "owner": t.owner,
                    "pool": t.pool,
                    "outlets": [getattr(o, "uri", str(o)) for o in t.outlets],
                    "upstream": sorted(t.upstream_task_ids),
                }
                for t in dag.tasks
            },
        }
    return {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "timetables": sorted(plugins_manager.get_timetables_plugins()),
        "dags": dags,
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup")
    sub.add_parser("inspect")
    sub.add_parser("modules").add_argument("paths", nargs="+")
    sub.add_parser("runs").add_argument("specs")
    args = p.parse_args(argv)

    if args.cmd == "setup":
        from airflow.utils.db import initdb

        from tradewind.orchestration.admin import ensure_pools

        initdb()
        _emit({"pools": ensure_pools()})
    elif args.cmd == "inspect":
        _emit(_inspect())
    elif args.cmd == "modules":
        _emit(_modules(args.paths))
    else:
        for spec in json.loads(args.specs):
            _run(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
