"""`/`: the state of today's chain, failing checks, quarantine, production models at a glance."""

from __future__ import annotations

from datetime import date

from tradewind.dashboard.queries.common import grade, sessions_behind, signal_curves
from tradewind.dashboard.warehouse import Reader


def _step(name: str, last_session, at, behind_of: date, detail: str, failed=False) -> dict:
    behind = sessions_behind(last_session, behind_of)
    return {
        "step": name,
        "last_session": last_session,
        "at": at,
        "sessions_behind": behind,
        "status": grade(behind, failed),
        "detail": detail,
    }


def chain(r: Reader, expected: date) -> list[dict]:
    """One row per step of the daily chain, graded against the last closed session."""
    steps = []
    bars = r.one(
        """
        select (select max(session) from raw.bars_daily) as last_session,
               (select max(finished_at) from ops.ingest_runs
                 where timeframe = '1Day' and status = 'succeeded') as at,
               (select status from ops.ingest_runs order by run_id desc limit 1) as last_status,
               (select count(*) from ops.ingest_runs
                 where status in ('failed', 'rejected')
                   and started_at > now() - interval '1 day') as failed_today
        """
    )
    steps.append(
        _step(
            "bars ingested",
            bars["last_session"],
            bars["at"],
            expected,
            f"last run {bars['last_status'] or 'none'}; {bars['failed_today']} failed in 24 h",
            failed=bars["last_status"] in ("failed", "rejected"),
        )
    )
    if r.has("features.daily_features"):
        f = r.one("select max(session) as last_session from features.daily_features")
        steps.append(_step("features built", f["last_session"], None, expected, "dbt marts"))
    else:
        steps.append(_step("features built", None, None, expected, "features not built yet"))
    s = r.one(
        """
        select as_of_session as last_session, max(created_at) as at,
               count(distinct model_name) as models, count(*) as rows
        from signals.target_weights
        where as_of_session = (select max(as_of_session) from signals.target_weights)
        group by as_of_session
        """
    )
    steps.append(
        _step(
            "signals written",
            s.get("last_session"),
            s.get("at"),
            expected,
            f"{s.get('models', 0)} model(s), {s.get('rows', 0)} weights",
        )
    )
    o = r.one(
        """
        select as_of_session as last_session, max(updated_at) as at, count(*) as sent,
               count(*) filter (where status = 'filled') as filled,
               count(*) filter (where status in ('rejected', 'canceled', 'expired')) as failed
        from broker.orders
        where as_of_session = (select max(as_of_session) from broker.orders)
        group by as_of_session
        """
    )
    steps.append(
        _step(
            "orders sent and filled",
            o.get("last_session"),
            o.get("at"),
            expected,
            f"{o.get('sent', 0)} sent, {o.get('filled', 0)} filled, {o.get('failed', 0)} failed",
            failed=bool(o.get("failed")),
        )
    )
    return steps


def page(r: Reader, expected: date) -> dict:
    failing = r.rows(
        """
        select run_id, source, timeframe, status, started_at, finished_at, message
        from ops.ingest_runs where status in ('failed', 'rejected')
        order by run_id desc limit 20
        """
    )
    # Failures of the model layer's steps in the last 30 days, newest first, one list.
    parts = [
        "select 'training run' as step, agent as subject, status, coalesce(finished_at,"
        " started_at) as at, error as message from ml.training_runs where status = 'failed'"
    ]
    if r.has("signals.generations"):
        parts.append(
            "select 'signals', model_name || coalesce(' v' || model_version, '') || ' '"
            " || as_of_session, status, generated_at, message from signals.generations"
            " where status = 'refused'"
        )
    if r.has("broker.rebalance_runs"):
        parts.append(
            "select 'rebalance', coalesce(model_name, '?') || ' ' || as_of_session, status,"
            " coalesce(finished_at, started_at), message from broker.rebalance_runs"
            " where status in ('refused', 'failed')"
        )
    other_failures = r.rows(
        "select * from (" + " union all ".join(parts) + ") as f"
        " where at > now() - interval '30 days' order by at desc limit 20"
    )
    quarantine = r.one(
        """
        select count(*) as total,
               count(*) filter (where quarantined_at > now() - interval '7 days') as last_7_days
        from ops.quarantine
        """
    )
    quarantine["by_reason"] = r.rows(
        """
        select reason, count(*) as rows
        from ops.quarantine cross join lateral unnest(reasons) as reason
        group by reason order by count(*) desc, reason limit 20
        """
    )
    warnings = r.rows(
        "select kind, count(*) as rows from ops.data_warnings group by kind order by 2 desc"
    )
    production = r.rows(
        """
        select model_name, version, run_id::text as run_id, artifact_uri, metrics,
               promotion_note, stage_changed_at
        from ml.model_versions where stage = 'production' order by model_name
        """
    )
    curves = signal_curves(r, [m["model_name"] for m in production])
    for m in production:
        curve = curves[m["model_name"]]
        m["live"] = {
            "sessions": len(curve),
            "total_return": curve[-1]["equity"] - 1 if curve else None,
            "max_drawdown": min(c["drawdown"] for c in curve) if curve else None,
            "last_session": curve[-1]["session"] if curve else None,
            "equity": [[c["realised_session"], c["equity"]] for c in curve],
        }
    accounts = r.rows(
        """
        with s as (
            select broker, account_id, session, equity,
                   first_value(equity) over w as first_equity,
                   max(equity) over (w rows between unbounded preceding and current row) as peak,
                   row_number() over (partition by broker, account_id order by session desc) as k
            from broker.account_snapshots
            window w as (partition by broker, account_id order by session)
        )
        select broker, account_id, max(session) as last_session, count(*) as sessions,
               max(equity) filter (where k = 1) as equity,
               max(equity) filter (where k = 1) / max(first_equity) - 1 as total_return,
               min(equity / peak - 1) as max_drawdown
        from s group by broker, account_id order by broker, account_id
        """
    )
    return {
        "expected_session": expected.isoformat(),
        "chain": chain(r, expected),
        "failing_checks": failing,
        "other_failures": other_failures,
        "quarantine": quarantine,
        "warnings": warnings,
        "production_models": production,
        "accounts": accounts,
    }
