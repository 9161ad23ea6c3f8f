"""The registry's tables: ``ml.model_versions``, ``ml.model_stage_changes``, ``ml.evaluations``,
``ml.evaluation_daily`` and ``ml.gate_decisions`` (migrations 005 and 025).

Every write is one transaction. Version numbers are allocated under a per-model advisory lock,
and a training run is registered at most once (a second call returns its version), so
re-running any step leaves the same rows.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tradewind.db import WarehouseError, connect

STAGES = ("candidate", "production", "archived")
_REF = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)(?:@(?P<version>\d+))?$")


class RegistryError(WarehouseError):
    """A registry request that cannot be met (unknown model, wrong stage, …): one line."""


@dataclass(frozen=True)
class ModelVersion:
    model_name: str
    version: int
    stage: str
    artifact_uri: str
    run_id: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    promotion_note: str | None = None
    created_at: dt.datetime | None = None
    stage_changed_at: dt.datetime | None = None

    @property
    def ref(self) -> str:
        return f"{self.model_name}@{self.version}"


def parse_ref(ref: str, *, need_version: bool = False) -> tuple[str, int | None]:
    """``NAME`` or ``NAME@V`` -> (name, version or None)."""
    m = _REF.match(ref.strip())
    if not m:
        raise RegistryError(f"not a model reference: {ref!r} (expected NAME or NAME@VERSION)")
    version = int(m["version"]) if m["version"] else None
    if need_version and version is None:
        raise RegistryError(f"{ref!r} needs a version: NAME@VERSION, e.g. {m['name']}@1")
    return m["name"], version


@contextmanager
def transaction(db_url: str | None) -> Iterator[psycopg.Connection]:
    """A connection whose work commits on success and rolls back on any error."""
    conn = connect(db_url)
    try:
        with conn.transaction():
            yield conn
    finally:
        conn.close()


def _version(row: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        model_name=row["model_name"],
        version=int(row["version"]),
        stage=row["stage"],
        artifact_uri=row["artifact_uri"],
        run_id=str(row["run_id"]) if row["run_id"] is not None else None,
        metrics=dict(row["metrics"] or {}),
        promotion_note=row["promotion_note"],
        created_at=row["created_at"],
        stage_changed_at=row["stage_changed_at"],
    )


_VERSION_COLS = (
    "model_name, version, stage, artifact_uri, run_id, metrics, promotion_note, created_at, "
    "stage_changed_at"
)


# --------------------------------------------------------------------------- model versions
def register_candidate(
    db_url: str | None,
    model_name: str,
    artifact_uri: str,
    *,
    run_id: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    registered_by: str = "training",
) -> ModelVersion:
    """A new candidate version of ``model_name`` (the next number), or the version ``run_id``
    already has (registering a run twice changes nothing)."""
    parse_ref(model_name)
    with transaction(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('ml.model_versions:' || %s))",
                    [model_name])  # fmt: skip
        if run_id is not None:
            cur.execute(
                f"select {_VERSION_COLS} from ml.model_versions where run_id = %s", [run_id]
            )
            row = cur.fetchone()
            if row is not None:
                if row["model_name"] != model_name:
                    raise RegistryError(
                        f"run {run_id} is already version {row['model_name']}@{row['version']}"
                    )
                return _version(row)
        cur.execute(
            "select coalesce(max(version), 0) + 1 as v from ml.model_versions "
            "where model_name = %s",
            [model_name],
        )
        version = int(cur.fetchone()["v"])
        cur.execute(
            f"insert into ml.model_versions (model_name, version, run_id, stage, artifact_uri, "
            f"metrics) values (%s, %s, %s, 'candidate', %s, %s) returning {_VERSION_COLS}",
            [model_name, version, run_id, artifact_uri, Jsonb(dict(metrics or {}))],
        )
        row = cur.fetchone()
        _record_stage(cur, model_name, version, None, "candidate", registered_by,
                      f"registered from run {run_id}" if run_id else "registered")  # fmt: skip
        return _version(row)


def _record_stage(cur, model_name, version, from_stage, to_stage, by, reason) -> None:
    cur.execute(
        "insert into ml.model_stage_changes (model_name, version, from_stage, to_stage, "
        "changed_by, reason) values (%s, %s, %s, %s, %s, %s)",
        [model_name, version, from_stage, to_stage, by, reason],
    )


def resolve(db_url: str | None, model_name: str, version: int | None = None) -> ModelVersion:
    """One version; ``version=None``: the production version (an error when there is none)."""
    with connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        if version is None:
            cur.execute(
                f"select {_VERSION_COLS} from ml.model_versions "
                "where model_name = %s and stage = 'production'",
                [model_name],
            )
        else:
            cur.execute(
                f"select {_VERSION_COLS} from ml.model_versions "
                "where model_name = %s and version = %s",
                [model_name, version],
            )
        row = cur.fetchone()
        if row is None:
            cur.execute("select count(*) as n from ml.model_versions where model_name = %s",
                        [model_name])  # fmt: skip
            known = cur.fetchone()["n"]
    if row is not None:
        return _version(row)
    if not known:
        raise RegistryError(f"no model named {model_name!r} in the registry")
    if version is None:
        raise RegistryError(f"{model_name} has no production version (promote one first)")
    raise RegistryError(f"{model_name} has no version {version}")


def production_models(db_url: str | None) -> list[ModelVersion]:
    """The production version of every model, by model name."""
    return list_versions(db_url, stage="production")


def list_versions(
    db_url: str | None, model_name: str | None = None, stage: str | None = None
) -> list[ModelVersion]:
    if stage is not None and stage not in STAGES:
        raise RegistryError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    with connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select {_VERSION_COLS} from ml.model_versions "
            "where (%(name)s::text is null or model_name = %(name)s) "
            "and (%(stage)s::text is null or stage = %(stage)s) order by model_name, version",
            {"name": model_name, "stage": stage},
        )
        return [_version(r) for r in cur.fetchall()]


def set_stage(
    db_url: str | None,
    model_name: str,
    version: int,
    stage: str,
    *,
    by: str,
    reason: str,
    metrics: Mapping[str, Any] | None = None,
    conn: psycopg.Connection | None = None,
) -> ModelVersion:
    """Move a version to ``stage``. Promoting archives the previous production version in the
    same transaction, so there is never more than one (the unique index enforces it too).
    ``metrics``: the numbers that justified a promotion, stored on the version."""
    if stage not in STAGES:
        raise RegistryError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    if conn is None:
        with transaction(db_url) as own:
            return set_stage(db_url, model_name, version, stage, by=by, reason=reason,
                             metrics=metrics, conn=own)  # fmt: skip
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('ml.model_versions:' || %s))",
                    [model_name])  # fmt: skip
        cur.execute(
            "select stage from ml.model_versions where model_name = %s and version = %s for update",
            [model_name, version],
        )
        row = cur.fetchone()
        if row is None:
            raise RegistryError(f"no version {model_name}@{version} in the registry")
        current = row["stage"]
        if stage == "production" and current != "production":
            cur.execute(
                "update ml.model_versions set stage = 'archived', stage_changed_at = now() "
                "where model_name = %s and stage = 'production' returning version",
                [model_name],
            )
            for old in cur.fetchall():
                _record_stage(cur, model_name, old["version"], "production", "archived", by,
                              f"replaced by version {version}")  # fmt: skip
        if current != stage:
            cur.execute(
                "update ml.model_versions set stage = %s, stage_changed_at = now(), "
                "promotion_note = case when %s = 'production' then %s else promotion_note end, "
                "metrics = case when %s::jsonb is null then metrics else %s::jsonb end "
                "where model_name = %s and version = %s",
                [stage, stage, reason, _jsonb_or_none(metrics), _jsonb_or_none(metrics),
                 model_name, version],
            )  # fmt: skip
            _record_stage(cur, model_name, version, current, stage, by, reason)
        cur.execute(
            f"select {_VERSION_COLS} from ml.model_versions where model_name = %s and version = %s",
            [model_name, version],
        )
        return _version(cur.fetchone())


def _jsonb_or_none(value: Mapping[str, Any] | None):
    return None if value is None else Jsonb(dict(value))


def stage_history(db_url: str | None, model_name: str, version: int | None = None) -> list[dict]:
    with connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select model_name, version, from_stage, to_stage, changed_by, reason, changed_at "
            "from ml.model_stage_changes where model_name = %s "
            "and (%s::int is null or version = %s) order by change_id",
            [model_name, version, version],
        )
        return cur.fetchall()


# ------------------------------------------------------------------------------ evaluations
@dataclass(frozen=True)
class StoredEvaluation:
    evaluation_id: str
    model_name: str | None
    model_version: int | None
    policy: str | None
    window_name: str
    start_session: dt.date
    end_session: dt.date
    sessions: int
    metrics: dict[str, Any]
    costs: dict[str, Any]
    report_uri: str | None

    @property
    def subject(self) -> str:
        return f"{self.model_name}@{self.model_version}" if self.model_name else str(self.policy)


def save_evaluation(
    conn: psycopg.Connection,
    *,
    eval_key: str,
    window_name: str,
    daily: Any,  # DataFrame indexed by session with net_return, turnover, cost
    symbols: Sequence[str],
    costs: Mapping[str, float],
    metrics: Mapping[str, Any],
    config: Mapping[str, Any],
    model_name: str | None = None,
    model_version: int | None = None,
    policy: str | None = None,
) -> str:
    """Insert or replace (same ``eval_key``: same evaluation_id, new numbers and daily rows)
    one evaluation inside the caller's transaction; returns its evaluation_id."""
    sessions = [ts.date() for ts in daily.index]
    with conn.cursor() as cur:
        cur.execute(
            """
            insert into ml.evaluations (evaluation_id, eval_key, model_name, model_version,
                policy, window_name, start_session, end_session, symbols, costs, sessions,
                metrics, config, created_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
            on conflict (eval_key) do update set
                window_name = excluded.window_name, start_session = excluded.start_session,
                end_session = excluded.end_session, symbols = excluded.symbols,
                costs = excluded.costs, sessions = excluded.sessions,
                metrics = excluded.metrics, config = excluded.config, report_uri = null,
                created_at = now()
            returning evaluation_id
            """,
            [str(uuid.uuid4()), eval_key, model_name, model_version, policy, window_name,
             sessions[0], sessions[-1], list(symbols), Jsonb(dict(costs)), len(sessions),
             Jsonb(dict(metrics)), Jsonb(dict(config))],
        )  # fmt: skip
        evaluation_id = str(cur.fetchone()[0])
        cur.execute("delete from ml.evaluation_daily where evaluation_id = %s", [evaluation_id])
        cur.execute(
            "insert into ml.evaluation_daily (evaluation_id, session, net_return, turnover, cost) "
            "select %s, * from unnest(%s::date[], %s::float8[], %s::float8[], %s::float8[])",
            [evaluation_id, sessions, [float(x) for x in daily["net_return"]],
             [float(x) for x in daily["turnover"]], [float(x) for x in daily["cost"]]],
        )  # fmt: skip
    return evaluation_id


def set_report_uri(conn: psycopg.Connection, evaluation_id: str, uri: str) -> None:
    conn.execute(
        "update ml.evaluations set report_uri = %s where evaluation_id = %s", [uri, evaluation_id]
    )


_EVAL_COLS = (
    "evaluation_id, model_name, model_version, policy, window_name, start_session, end_session, "
    "sessions, metrics, costs, report_uri"
)


def _evaluation(row: Mapping[str, Any]) -> StoredEvaluation:
    return StoredEvaluation(**{**row, "evaluation_id": str(row["evaluation_id"])})


def get_evaluation(db_url: str | None, evaluation_id: str) -> StoredEvaluation:
    with connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"select {_EVAL_COLS} from ml.evaluations where evaluation_id = %s",
                    [evaluation_id])  # fmt: skip
        row = cur.fetchone()
    if row is None:
        raise RegistryError(f"no evaluation {evaluation_id}")
    return _evaluation(row)


def evaluations_of(
    db_url: str | None, model_name: str, version: int | None = None
) -> list[StoredEvaluation]:
    with connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select {_EVAL_COLS} from ml.evaluations where model_name = %s "
            "and (%s::int is null or model_version = %s) "
            "order by model_version, start_session, window_name",
            [model_name, version, version],
        )
        return [_evaluation(r) for r in cur.fetchall()]


def evaluation_of(conn: psycopg.Connection, eval_key: str) -> StoredEvaluation | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"select {_EVAL_COLS} from ml.evaluations where eval_key = %s", [eval_key])
        row = cur.fetchone()
    return _evaluation(row) if row else None


# --------------------------------------------------------------------------- gate decisions
def gate_decisions(db_url: str | None, model_name: str, version: int | None = None) -> list[dict]:
    with connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select decision_id, model_name, version, decision, reason, metric, window_name, "
            "candidate_value, production_version, production_value, baseline_value, margins, "
            "decided_at from ml.gate_decisions where model_name = %s "
            "and (%s::int is null or version = %s) order by decision_id",
            [model_name, version, version],
        )
        return cur.fetchall()
