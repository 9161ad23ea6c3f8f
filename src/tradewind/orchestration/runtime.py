"""What the DAGs' tasks run: thin glue between Airflow's run context and the tradewind package.

DAG files import this module inside task functions only (it pulls pandas through the package).
Every function is keyed on the run's data interval, never on the clock: the session is the
interval's start read as a New York date, staged files live under a path made of dag id, session
and source, and loads are upserts, so clearing a task or re-running a backfill rewrites the same
rows with the same values.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tradewind.orchestration import connections
from tradewind.settings import get_settings

log = logging.getLogger(__name__)

# Libraries that log at INFO on every call; their lines drown the task log in Airflow's UI.
_NOISY_LOGGERS = (
    "great_expectations",
    "great_expectations.core",
    "great_expectations.data_context",
    "great_expectations.expectations",
    "great_expectations.validator",
    "alpaca",
    "urllib3",
    "py4j",
)


def quiet_noisy_loggers(level: int = logging.WARNING) -> None:
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(level)


def session_for(data_interval_end: dt.datetime | None) -> dt.date:
    """The session a run processes: the last one closed at its data interval's end.

    For the NYSE timetable's runs the interval is the session itself, so this is that session;
    for a data interval typed by hand in the trigger form it is the newest session the interval
    has seen close, never one still trading.
    """
    if data_interval_end is None:
        raise ValueError(
            "this task needs a data interval (a session): run it from the NYSE schedule, a "
            "backfill, or a manual trigger with a logical date"
        )
    from tradewind.calendar import last_closed_session

    return last_closed_session(data_interval_end)


def staging_uri(dag_id: str, session: dt.date, name: str) -> str:
    """Where one run's intermediate batch goes; the same for every retry of the same session.

    Under ``TRADEWIND_STAGING_URI``: a folder every worker mounts or an fsspec URL (s3://...),
    never a worker's own disk, so the next task may run on another Celery worker.
    """
    base = get_settings().resolved_staging_uri().rstrip("/")
    return f"{base}/{dag_id}/{session.isoformat()}/{name}"


def _remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


@contextmanager
def staged_output(uri: str) -> Iterator[Path]:
    """A local path to write a file or folder to; replaces ``uri`` with it on exit."""
    if not _remote(uri):
        path = Path(uri.removeprefix("file://"))
        if path.is_dir():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        yield path
        return
    import fsspec

    with tempfile.TemporaryDirectory(prefix="tw-stage-") as tmp:
        local = Path(tmp) / uri.rstrip("/").rsplit("/", 1)[-1]
        yield local
        fs, path = fsspec.core.url_to_fs(uri)
        if fs.exists(path):
            fs.rm(path, recursive=True)
        if local.is_dir():
            fs.makedirs(path, exist_ok=True)
            for item in sorted(local.iterdir()):
                fs.put_file(str(item), f"{path}/{item.name}")
        else:
            fs.put_file(str(local), path)


@contextmanager
def staged_input(uri: str) -> Iterator[Path]:
    """A local copy of the file or folder at ``uri`` (the path itself when it is local)."""
    if not _remote(uri):
        yield Path(uri.removeprefix("file://"))
        return
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    with tempfile.TemporaryDirectory(prefix="tw-stage-") as tmp:
        local = Path(tmp) / uri.rstrip("/").rsplit("/", 1)[-1]
        if fs.isdir(path):
            local.mkdir()
            for item in fs.ls(path, detail=False):
                fs.get_file(item, str(local / item.rstrip("/").rsplit("/", 1)[-1]))
        else:
            fs.get_file(path, str(local))
        yield local


def quality_report(
    data_interval_end: dt.datetime | None, *, lookback: int = 10, fail_on_findings: bool = False
) -> dict[str, Any]:
    from tradewind.db import connect
    from tradewind.orchestration.quality_report import build_report, render_markdown, write_report

    session = session_for(data_interval_end)
    with connect(connections.warehouse_url()) as conn:
        report = build_report(conn, session, lookback=lookback)
    path = write_report(report, get_settings().home / "reports" / "data_quality")
    log.info("data-quality report for %s (%s):\n%s", session, path, render_markdown(report))
    if fail_on_findings and not report.clean:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"data-quality findings for {session}: {report.counts()}")
    return {"session": session.isoformat(), "path": str(path), **report.counts()}


# --- bar ingestion: choose source -> extract -> validate (the gate) -> load --------------------


def choose_source(param: str | None, variable: str, allowed: tuple[str, ...]) -> str:
    """The run's source: the DAG-run param, else the Airflow Variable, else Alpaca."""
    source = param
    if not source:
        from airflow.sdk import Variable

        source = Variable.get(variable, default=None) or "alpaca"
    source = source.strip().lower()
    if source not in allowed:
        from airflow.sdk.exceptions import AirflowFailException

        # A configuration mistake: retrying would not fix it.
        raise AirflowFailException(f"source {source!r} is not one of {', '.join(allowed)}")
    return source


def csv_folder(param: str | None, timeframe_dir: str) -> Path:
    """The CSV drop folder: the DAG-run param, else Variable ``tradewind_csv_drop_folder``
    (with a ``daily``/``minute`` sub-folder), else ``<TRADEWIND_HOME>/drop/<sub-folder>``."""
    if param:
        return Path(param).expanduser()
    from airflow.sdk import Variable

    base = Variable.get("tradewind_csv_drop_folder", default=None)
    root = Path(base).expanduser() if base else get_settings().home / "drop"
    return root / timeframe_dir


def _interval_bounds(timeframe: str, session: dt.date) -> tuple[str, str]:
    """The extract request for one session: its date for daily bars; for intraday bars those
    opening in regular hours, [open, close), so an after-hours bar at the close stays out."""
    if timeframe == "1Day":
        return session.isoformat(), session.isoformat()
    from tradewind.orchestration.timetable import session_interval

    hours = session_interval(session)
    return hours.start.isoformat(), (hours.end - dt.timedelta(microseconds=1)).isoformat()


def extract_stage(
    *,
    dag_id: str,
    source: str,
    timeframe: str,
    data_interval_end: dt.datetime,
    symbols: list[str] | None,
    universe: str | None,
    csv_path: str | None = None,
) -> str:
    """Fetch one session from ``source`` and stage it as parquet; returns the file's path.

    Never incremental: the request is the session itself, so a retry or a re-run fetches the
    same bars whatever the watermarks say.
    """
    from tradewind.ingest import extract

    quiet_noisy_loggers()
    session = session_for(data_interval_end)
    start, end = _interval_bounds(timeframe, session)
    opts: dict[str, Any] = {}
    if source == "csv":
        opts["paths"] = csv_path or str(
            csv_folder(None, "daily" if timeframe == "1Day" else "minute")
        )
    elif source in ("alpaca", "quandl"):
        opts["settings"] = connections.resolved_settings()
    batch = extract(
        source,
        symbols or None,
        start,
        end,
        timeframe,
        universe=universe or None,
        url=connections.warehouse_url(),
        incremental=False,
        **opts,
    )
    uri = staging_uri(dag_id, session, f"extract-{source}.parquet")
    with staged_output(uri) as path:
        batch.save(path)
    log.info(
        "extracted %d %s rows from %s for %s -> %s", len(batch), timeframe, source, session, uri
    )
    return uri


def validate_stage(
    *, dag_id: str, batch_path: str, data_interval_end: dt.datetime, strict: bool = False
) -> dict[str, Any]:
    """The quality gate. Observed as of the session close (the interval's end), never "now".

    An empty batch fails (retried: the vendor may publish later). A structurally broken batch,
    or any quarantined row in strict mode, fails the task without retries (data does not fix
    itself); the refusal is logged in ``ops.ingest_runs`` through the loader, like any run.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from tradewind.ingest import Batch, load, validate
    from tradewind.ingest.errors import IngestError

    quiet_noisy_loggers()
    with staged_input(batch_path) as local:
        batch = Batch.load(local)
    validated = validate(batch, as_of=data_interval_end)
    counts = {
        "rows_in": validated.rows_in,
        "valid": len(validated.valid),
        "quarantined": len(validated.quarantined),
        "warnings": len(validated.warnings),
        "rejection": validated.rejection,
        "quarantine_reasons": dict(validated.reason_counts()),
    }
    log.info("quality gate: %s", counts)
    session = session_for(data_interval_end)
    if validated.rows_in == 0:
        # A session with no bar at all is a vendor not done publishing or a missing file, not
        # a quiet day: fail, and let the retries (exponential backoff) ask again later.
        raise RuntimeError(
            f"{batch.meta.source} delivered no {batch.meta.timeframe} bars for {session}"
        )
    if not validated.ok or (strict and len(validated.quarantined)):
        try:
            load(validated, connections.warehouse_url(), strict=strict)
        except IngestError as exc:
            raise AirflowFailException(f"quality gate refused the batch: {exc}") from exc
    stem = batch_path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".parquet")
    uri = staging_uri(dag_id, session, stem.replace("extract", "validated"))
    with staged_output(uri) as folder:
        validated.save(folder)
    return {"path": uri, **counts}


def load_stage(*, validated_path: str) -> dict[str, Any]:
    """Upsert the validated rows (one transaction, one logged run); returns the LoadSummary."""
    from tradewind.ingest import ValidatedBatch, load

    quiet_noisy_loggers()
    with staged_input(validated_path) as local:
        validated = ValidatedBatch.load(local)
    summary = load(validated, connections.warehouse_url())
    log.info("%s", summary.line())
    return summary.to_dict()
