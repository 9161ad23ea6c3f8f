"""`/models` and `/models/{name}`: runs, versions, stages, gate decisions, evaluations against
the baselines, equity curves (validation / test / live), training curves, weights, turnover."""

from __future__ import annotations

from tradewind.dashboard.queries.common import (
    equity_drawdown,
    rolling_mean,
    signal_curve,
    weights_grid,
)
from tradewind.dashboard.warehouse import Reader

# Run-record keys that are per-iteration series, not headline numbers (the trainer records
# ``validation_history``: iteration, timesteps, validation score of every check).
_SERIES_KEYS = ("validation_history", "history")


def _run_columns(r: Reader) -> str:
    """Columns migration 020 added (code and data versions, windows, timings, progress)."""
    cols = r.columns("ml.training_runs")
    extra = [c for c in ("code_version", "data_fingerprint", "windows", "timings", "progress",
                         "resumed_count", "sweep_id") if c in cols]  # fmt: skip
    return "".join(f", {c}" for c in extra)


def _version_metrics(r: Reader, name: str | None = None) -> list[dict]:
    """Headline validation and test metrics of every version (of one model, or all), with the
    seed of the run behind it: the comparison of runs and seeds."""
    if not r.has("ml.evaluations"):
        return []
    return r.rows(
        """
        select e.model_name, e.model_version, e.window_name, mv.stage, tr.seed,
               (e.metrics->>'sharpe_ratio')::float8 as sharpe_ratio,
               (e.metrics->>'annual_return')::float8 as annual_return,
               (e.metrics->>'max_drawdown')::float8 as max_drawdown
        from ml.evaluations as e
        join ml.model_versions as mv
          on mv.model_name = e.model_name and mv.version = e.model_version
        left join ml.training_runs as tr on tr.run_id = mv.run_id
        where e.window_name in ('validation', 'test')
          and (%(name)s::text is null or e.model_name = %(name)s)
        order by e.model_name, e.model_version, e.window_name
        """,
        {"name": name},
    )


def index(r: Reader) -> dict:
    models = r.rows(
        """
        select model_name, count(*) as versions, max(version) as latest_version,
               max(version) filter (where stage = 'production') as production_version,
               count(*) filter (where stage = 'candidate') as candidates,
               max(created_at) as last_registered
        from ml.model_versions group by model_name order by model_name
        """
    )
    agents = r.rows(
        """
        select agent, count(*) as runs,
               count(*) filter (where status = 'succeeded') as succeeded,
               count(*) filter (where status = 'failed') as failed,
               count(*) filter (where status = 'running') as running,
               max(started_at) as last_started
        from ml.training_runs group by agent order by agent
        """
    )
    runs = r.rows(
        f"""
        select run_id::text as run_id, agent, status, seed, started_at, finished_at,
               extract(epoch from finished_at - started_at) as seconds,
               metrics - array{list(_SERIES_KEYS)}::text[] as metrics, error{_run_columns(r)}
        from ml.training_runs order by started_at desc limit 200
        """
    )
    comparison = _version_metrics(r)
    return {"models": models, "agents": agents, "runs": runs, "comparison": comparison}


def _evaluations(r: Reader, name: str, version: int | None) -> list[dict]:
    """The version's evaluations and, on the same windows, symbols and costs, the latest of
    every baseline."""
    if not r.has("ml.evaluations"):
        return []
    return r.rows(
        """
        with mine as (
            select * from ml.evaluations
            where model_name = %(name)s and model_version = %(version)s
        ),
        base as (
            select distinct on (b.policy, b.window_name) b.*
            from ml.evaluations as b
            -- The same window, symbols and costs: a DOW30 model next to DOW30 baselines, never
            -- the SP100 ones evaluated on the same dates.
            join mine as m on m.window_name = b.window_name
             and m.start_session = b.start_session and m.end_session = b.end_session
             and m.symbols = b.symbols and m.costs = b.costs
            where b.policy is not null
            order by b.policy, b.window_name, b.created_at desc
        )
        select evaluation_id::text as evaluation_id,
               coalesce(policy, model_name || ' v' || model_version) as subject,
               policy is null as is_model, window_name, start_session, end_session,
               sessions, metrics, costs, report_uri
        from (select * from mine union all select * from base) as e
        order by case window_name when 'validation' then 0 when 'test' then 1 else 2 end,
                 policy is not null, subject
        """,
        {"name": name, "version": version},
    )


def _curves(r: Reader, evaluation_ids: list[str]) -> list[dict]:
    """Equity (start 1), drawdown and 21-session mean turnover of evaluations: SQL gathers each
    evaluation's daily rows into arrays in one query, numpy compounds them."""
    if not evaluation_ids:
        return []
    rows = r.rows(
        """
        select evaluation_id::text as evaluation_id,
               array_agg(session order by session) as sessions,
               array_agg(net_return order by session) as net_return,
               array_agg(turnover order by session) as turnover
        from ml.evaluation_daily
        where evaluation_id = any(%(ids)s::uuid[])
        group by evaluation_id
        """,
        {"ids": evaluation_ids},
    )
    for row in rows:
        equity, drawdown = equity_drawdown(row["net_return"])
        row["equity"], row["drawdown"] = equity.tolist(), drawdown.tolist()
        row["turnover_21"] = rolling_mean(row["turnover"], 21).tolist()
    return rows


def _training_curves(r: Reader, name: str) -> list[dict]:
    """Per-iteration series recorded with each run of the agent (validation checks), if any."""
    return r.rows(
        f"""
        select run_id::text as run_id, seed, status,
               coalesce({" , ".join(f"metrics->'{k}'" for k in _SERIES_KEYS)}) as history
        from ml.training_runs
        where agent = %(name)s
          and jsonb_typeof(coalesce({" , ".join(f"metrics->'{k}'" for k in _SERIES_KEYS)}))
              = 'array'
        order by started_at desc limit 12
        """,
        {"name": name},
    )


def detail(r: Reader, name: str, version: int | None = None) -> dict | None:
    versions = r.rows(
        """
        select version, stage, run_id::text as run_id, artifact_uri, metrics, promotion_note,
               created_at, stage_changed_at
        from ml.model_versions where model_name = %(name)s order by version desc
        """,
        {"name": name},
    )
    runs = r.rows(
        f"""
        select run_id::text as run_id, status, seed, started_at, finished_at,
               extract(epoch from finished_at - started_at) as seconds,
               metrics - array{list(_SERIES_KEYS)}::text[] as metrics, error{_run_columns(r)}
        from ml.training_runs where agent = %(name)s order by started_at desc limit 200
        """,
        {"name": name},
    )
    if not versions and not runs:
        return None
    if version is None:
        prod = [v["version"] for v in versions if v["stage"] == "production"]
        version = prod[0] if prod else (versions[0]["version"] if versions else None)
    gate = []
    if r.has("ml.gate_decisions"):
        gate = r.rows(
            """
            select decision_id, version, decision, reason, metric, window_name, candidate_value,
                   production_version, production_value, baseline_value, decided_at
            from ml.gate_decisions where model_name = %(name)s
            order by decided_at desc, decision_id desc limit 100
            """,
            {"name": name},
        )
    stage_changes = []
    if r.has("ml.model_stage_changes"):
        stage_changes = r.rows(
            """
            select version, from_stage, to_stage, changed_by, reason, changed_at
            from ml.model_stage_changes where model_name = %(name)s
            order by changed_at desc, change_id desc limit 100
            """,
            {"name": name},
        )
    evaluations = _evaluations(r, name, version) if version is not None else []
    curves = {c["evaluation_id"]: c for c in _curves(r, [e["evaluation_id"] for e in evaluations])}
    for c in curves.values():
        c["sessions"] = [d.isoformat() for d in c["sessions"]]
    seeds = _version_metrics(r, name)
    return {
        "model_name": name,
        "version": version,
        "versions": versions,
        "runs": runs,
        "gate_decisions": gate,
        "stage_changes": stage_changes,
        "evaluations": evaluations,
        "curves": curves,
        "live": signal_curve(r, name),
        "training_curves": _training_curves(r, name),
        "weights": weights_grid(r, name, version),
        "seeds": seeds,
    }
