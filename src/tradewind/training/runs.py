"""``ml.training_runs`` records: one row per run, written at the start and kept current to the end.

Status: ``running`` from the start (``progress`` and ``updated_at`` move with every iteration),
then ``succeeded``, ``failed`` (with the error line) or ``aborted`` (Ctrl-C / a signal). A killed
process leaves ``running`` with a stale ``updated_at``; ``tradewind train --resume RUN_ID`` picks
it up again. Every write is one short transaction of its own, so the row is true at all times.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tradewind.db import connect


class TrainingError(RuntimeError):
    """A training request that cannot go ahead (unknown run, nothing to resume, ...)."""


def clean_json(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become null (jsonb rejects them), numpy scalars plain floats."""
    if isinstance(value, Mapping):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f if math.isfinite(f) else None


@dataclass(frozen=True)
class TrainingRun:
    run_id: str
    agent: str
    status: str
    seed: int
    config: dict[str, Any]
    artifact_uri: str | None
    code_version: str | None
    data_fingerprint: str | None
    windows: dict[str, Any]
    metrics: dict[str, Any]
    progress: dict[str, Any]
    timings: dict[str, Any]
    error: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    resumed_count: int
    sweep_id: str | None


def start_run(
    db_url: str,
    *,
    agent: str,
    config: Mapping[str, Any],
    seed: int,
    windows: Mapping[str, tuple[str, str]],
    artifact_uri: str,
    code_version: str,
    run_id: str | None = None,
    sweep_id: str | None = None,
) -> str:
    """Insert the ``running`` row; returns its run_id."""
    run_id = run_id or str(uuid.uuid4())
    with connect(db_url) as conn:
        conn.execute(
            """insert into ml.training_runs
                 (run_id, agent, config, train_start, train_end, eval_start, eval_end, seed,
                  status, artifact_uri, code_version, windows, sweep_id)
               values (%s, %s, %s, %s, %s, %s, %s, %s, 'running', %s, %s, %s, %s)""",
            [
                run_id, agent, Jsonb(clean_json(config)), windows["train"][0],
                windows["train"][1], windows["validation"][0], windows["validation"][1], seed,
                artifact_uri, code_version, Jsonb(clean_json(windows)), sweep_id,
            ],
        )  # fmt: skip
    return run_id


def update_run(db_url: str, run_id: str, **fields: Any) -> None:
    """Set columns of a run (jsonb values wrapped); ``updated_at`` moves with every write."""
    allowed = {"status", "metrics", "artifact_uri", "error", "data_fingerprint", "progress",
               "timings", "code_version", "finished_at", "resumed_count"}  # fmt: skip
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not a training-run column: {sorted(unknown)}")
    cols, values = [], []
    for name, value in fields.items():
        cols.append(f"{name} = %s")
        values.append(Jsonb(clean_json(value)) if isinstance(value, dict) else value)
    with connect(db_url) as conn:
        cur = conn.execute(
            f"update ml.training_runs set {', '.join(cols)}, updated_at = now() where run_id = %s",
            [*values, run_id],
        )
        if cur.rowcount != 1:
            raise TrainingError(f"no training run {run_id}")


def finish_run(
    db_url: str,
    run_id: str,
    status: str,
    *,
    error: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    timings: Mapping[str, Any] | None = None,
) -> None:
    fields: dict[str, Any] = {"status": status, "finished_at": dt.datetime.now(dt.UTC)}
    if error is not None:
        fields["error"] = error[:2000]
    if metrics is not None:
        fields["metrics"] = dict(metrics)
    if timings is not None:
        fields["timings"] = dict(timings)
    update_run(db_url, run_id, **fields)


def get_run(db_url: str, run_id: str) -> TrainingRun:
    try:
        uuid.UUID(str(run_id))
    except ValueError:
        raise TrainingError(f"{run_id!r} is not a run id (a UUID)") from None
    with connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """select run_id::text, agent, status, seed, config, artifact_uri, code_version,
                      data_fingerprint, windows, metrics, progress, timings, error, started_at,
                      finished_at, resumed_count, sweep_id
               from ml.training_runs where run_id = %s""",
            [run_id],
        )
        row = cur.fetchone()
    if row is None:
        raise TrainingError(f"no training run {run_id}")
    return TrainingRun(**row)


def list_runs(db_url: str, *, agent: str | None = None, limit: int = 20) -> list[TrainingRun]:
    with connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """select run_id::text, agent, status, seed, config, artifact_uri, code_version,
                      data_fingerprint, windows, metrics, progress, timings, error, started_at,
                      finished_at, resumed_count, sweep_id
               from ml.training_runs where %(agent)s::text is null or agent = %(agent)s
               order by started_at desc limit %(limit)s""",
            {"agent": agent, "limit": limit},
        )
        return [TrainingRun(**row) for row in cur.fetchall()]


def dumps(value: Any) -> str:
    return json.dumps(clean_json(value), sort_keys=True)
