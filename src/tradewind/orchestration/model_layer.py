"""What the model-layer DAGs' tasks run: train_agents, generate_signals, rebalance_paper_account,
reconcile_paper_account. Thin glue between Airflow's run context and the tradewind packages
(training, registry, signals, trading), imported inside task functions only.

Every function is keyed on the session the run processes, never on the clock:

* a run with a data interval (NYSE schedule, backfill, manual trigger) processes the session of
  its interval (:func:`tradewind.orchestration.runtime.session_for`);
* an Asset-triggered run has no data interval (Airflow 3); it processes the session the
  triggering events name in their ``extra`` (``{"session": "YYYY-MM-DD"}``, written by the
  producing task), else the newest session of ``features.daily_features`` (the events of
  ``build_features`` come from dbt and name no session).

Idempotency comes from the packages' keys: training run ids are derived from the DAG run and the
seed (a cleared train task resumes or finds its run, never trains a second version); weights
are upserts with byte-identical files; orders carry deterministic client order ids.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from tradewind.orchestration import connections
from tradewind.orchestration.runtime import session_for
from tradewind.settings import get_settings
from tradewind.trading import BROKERS

log = logging.getLogger(__name__)

# Names training run ids: uuid5(namespace, "<dag_id>/<dag run id>/<agent>/<seed>").
RUN_NAMESPACE = uuid.UUID("5b0b8c8e-6a43-4f55-9d55-2a8b7f1c6e13")


def _fail(message: str):
    """A failure retrying cannot fix (bad params, a risk breach): no retries."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def _skip(message: str):
    from airflow.sdk.exceptions import AirflowSkipException

    return AirflowSkipException(message)


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# --- which session a run processes ------------------------------------------------------------


def event_sessions(triggering_asset_events: Mapping[Any, Iterable[Any]] | None) -> list[dt.date]:
    """Sessions named in the ``extra`` of the events that triggered the run (sorted, unique)."""
    found: set[dt.date] = set()
    for events in (triggering_asset_events or {}).values():
        for event in events:
            value = (getattr(event, "extra", None) or {}).get("session")
            if value:
                found.add(dt.date.fromisoformat(str(value)))
    return sorted(found)


def newest_feature_session(url: str) -> dt.date:
    from tradewind.db import connect

    with connect(url) as conn:
        (day,) = conn.execute("select max(session) from features.daily_features").fetchone()
    if day is None:
        raise _fail("features.daily_features is empty: run build_features first")
    return day


def run_session(
    data_interval_end: dt.datetime | None,
    triggering_asset_events: Mapping[Any, Iterable[Any]] | None,
    url: str | None = None,
) -> dt.date:
    """The session one run processes (see the module docstring)."""
    if data_interval_end is not None:
        return session_for(data_interval_end)
    named = event_sessions(triggering_asset_events)
    if named:
        # Several producers' events can be folded into one run: the newest session is the one
        # that is new; older ones were handled by their own runs.
        return named[-1]
    return newest_feature_session(url or connections.warehouse_url())


# --- train_agents: prepare -> train (mapped per seed) -> evaluate -> gate -----------------------


def train_schedule(value: str | None = None) -> Any:
    """The train_agents schedule from ``TRADEWIND_TRAIN_SCHEDULE``: the monthly timetable, a
    cron string, or none (triggered runs only). Read while parsing: import-light."""
    from tradewind.orchestration.timetable import FirstSessionOfMonthTimetable

    value = (value or get_settings().train_schedule).strip()
    if value == "first_session_monthly":
        return FirstSessionOfMonthTimetable()
    if value.lower() in ("none", ""):
        return None
    return value


def training_run_id(dag_id: str, dag_run_id: str, agent: str, seed: int) -> str:
    return str(uuid.uuid5(RUN_NAMESPACE, f"{dag_id}/{dag_run_id}/{agent}/{seed}"))


def prepare_training(
    *,
    dag_id: str,
    dag_run_id: str,
    agent: str | None,
    seeds: list[int] | None,
    timesteps: int | None,
    overrides: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Check the agent and its data, and plan one training per seed.

    The data check loads the agent's features from the warehouse the way training will, so a
    missing mart or window fails here, once, instead of in every mapped task.
    """
    from tradewind.rl.agents import load_agent
    from tradewind.training.data import load_training_data

    name = agent or get_settings().train_agent
    try:
        cfg = load_agent(name)
        if overrides:
            cfg = cfg.with_overrides(**overrides)
    except Exception as exc:
        raise _fail(f"agent {name!r}: {_one_line(exc)}") from None
    url = connections.warehouse_url()
    try:
        data = load_training_data(url, cfg)
    except Exception as exc:
        message = f"agent {cfg.name}: its training data cannot be loaded: {_one_line(exc)}"
        raise _fail(message) from None
    log.info("agent %s: training data %s", cfg.name, getattr(data, "shape", type(data).__name__))
    seeds = list(seeds or [cfg.seed])
    return [
        {
            "agent": name,
            "seed": int(seed),
            "timesteps": timesteps,
            "overrides": overrides or {},
            "run_id": training_run_id(dag_id, dag_run_id, cfg.name, int(seed)),
        }
        for seed in seeds
    ]


def train_one(spec: dict[str, Any]) -> dict[str, Any]:
    """Train one seed. Re-running the task finds a succeeded run, resumes an interrupted one."""
    from tradewind.training.runs import TrainingError, get_run
    from tradewind.training.service import run_training

    url = connections.warehouse_url()
    settings = get_settings()
    run_id = spec["run_id"]
    try:
        existing = get_run(url, run_id)
    except TrainingError:
        existing = None
    if existing is not None and existing.status == "succeeded":
        log.info("training run %s already succeeded: not training it again", run_id)
        return {"run_id": run_id, "seed": spec["seed"], "status": "succeeded", "reused": True}

    def progress(report: Any) -> None:
        log.info(
            "seed %s iteration %s: %s/%s steps, return %.4g",
            spec["seed"], report.iteration, report.timesteps, report.budget,
            report.episode_return_mean or float("nan"),
        )  # fmt: skip

    outcome = run_training(
        url,
        spec["agent"],
        seed=spec["seed"],
        timesteps=spec.get("timesteps"),
        overrides=spec.get("overrides") or None,
        resume=run_id if existing is not None else None,
        run_id=None if existing is not None else run_id,
        register=False,
        progress=progress,
        settings=settings,
    )
    log.info("training run %s succeeded in %.1fs", run_id, outcome.timings.get("total_s", 0.0))
    return {"run_id": run_id, "seed": spec["seed"], "status": "succeeded", "reused": False}


def evaluate_and_gate(trained: dict[str, Any]) -> dict[str, Any]:
    """Register the run as a candidate, evaluate it with the baselines, run the gate.

    ``after_training`` is keyed on the run: a re-run finds the version and its gate decision.
    """
    from tradewind.registry import after_training

    url = connections.warehouse_url()
    result = after_training(url, trained["run_id"], progress=log.info)
    for line in result.lines():
        log.info("%s", line)
    return {
        "run_id": trained["run_id"],
        "model": result.version.model_name,
        "version": int(result.version.version),
        "stage": result.version.stage,
        "decision": result.decision.decision,
        "reason": result.decision.reason,
    }


def promotions(decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """The outlet task's payload; skipped (no registry event) when nothing was promoted."""
    promoted = [d for d in decisions if d["decision"] == "promoted"]
    for d in decisions:
        log.info("%s@%s: %s (%s)", d["model"], d["version"], d["decision"], d["reason"])
    if not promoted:
        raise _skip("no version promoted: the production models stay as they are")
    return {"promoted": [f"{d['model']}@{d['version']}" for d in promoted]}


# --- generate_signals ---------------------------------------------------------------------------


def generate_signals(session: dt.date, *, model: str | None = None) -> dict[str, Any]:
    """Weights of ``session`` for every production model and ensemble (or ``model``).

    No production model at all is a skip (nothing to trade, no signals event); every model
    refused is a failure (retried: features may still be arriving); one refused among others is
    logged and the rest are published.
    """
    from tradewind.signals import SignalRefused, generate

    url = connections.warehouse_url()
    settings = get_settings()
    try:
        results = generate(
            url, date=session, model=model or None,
            weights_dir=settings.resolved_weights_dir(), on_progress=log.info,
        )  # fmt: skip
    except SignalRefused as exc:
        message = _one_line(exc)
        if model is None and "no production model" in message:
            raise _skip(message) from None
        raise RuntimeError(f"signals for {session} refused: {message}") from None
    refused = [r for r in results if r.status == "refused"]
    for r in refused:
        log.warning("%s", r.line())
    if len(refused) == len(results):
        raise RuntimeError(f"signals for {session}: every model refused ({refused[0].message})")
    published = [r for r in results if r.status != "refused"]
    return {
        "session": session.isoformat(),
        "models": [
            f"{r.model}@{r.version}" if r.version is not None else r.model for r in published
        ],  # fmt: skip
        "rows_changed": sum(r.rows_changed for r in published),
        "files": [f for r in published for f in r.files],
    }


# --- rebalance_paper_account: risk_checks -> place_orders ---------------------------------------


def _broker_choice(param: str | None) -> tuple[str, Any]:
    settings = connections.trading_settings()
    broker = param or connections.trading_broker(settings)
    if broker not in BROKERS:
        raise _fail(f"broker {broker!r} is not one of {', '.join(BROKERS)}")
    return broker, settings


def risk_checks(session: dt.date, *, broker: str | None, model: str | None) -> dict[str, Any]:
    """Every check of a rebalance, nothing sent: ``tradewind rebalance --dry-run``.

    A breach fails the task without retries (a kill switch or a too-old signal does not fix
    itself within the retry delays); the planned orders are logged for the operator.
    """
    from tradewind.trading.errors import BrokerError, TradingError
    from tradewind.trading.service import rebalance

    kind, settings = _broker_choice(broker)
    url = connections.warehouse_url()
    try:
        result = rebalance(session, kind, model=model or None, dry_run=True, db_url=url,
                           settings=settings, progress=log.info)  # fmt: skip
    except BrokerError:
        raise
    except TradingError as exc:
        raise _fail(f"risk checks refused the rebalance of {session}: {_one_line(exc)}") from None
    for order in result.plan.orders:
        log.info("planned: %s %g %s", order.side, order.qty, order.symbol)
    return {
        "session": session.isoformat(),
        "broker": kind,
        "model": f"{result.targets.model_name}@{result.targets.model_version}",
        "orders_planned": len(result.plan.orders),
    }


def place_orders(session: dt.date, *, broker: str | None, model: str | None) -> dict[str, Any]:
    """The rebalance itself; orders carry deterministic client order ids, so a re-run finds
    the orders it already placed and sends none twice."""
    from tradewind.trading.errors import BrokerError, TradingError
    from tradewind.trading.service import rebalance

    kind, settings = _broker_choice(broker)
    url = connections.warehouse_url()
    try:
        result = rebalance(session, kind, model=model or None, db_url=url, settings=settings,
                           progress=log.info)  # fmt: skip
    except BrokerError:
        raise  # the broker not answering: retried with backoff
    except TradingError as exc:
        raise _fail(f"rebalance of {session} refused: {_one_line(exc)}") from None
    if result.errors:
        raise RuntimeError(f"rebalance of {session}: {'; '.join(result.errors)}")
    return {
        "session": session.isoformat(),
        "broker": kind,
        "orders": len(result.plan.orders),
        "sent": result.sent,
        "found": result.found,
    }


# --- reconcile_paper_account: fills_available -> reconcile -> alerts ----------------------------


def traded_session(fill_session: dt.date) -> dt.date:
    """The session whose orders a run for ``fill_session`` (T+1) reconciles: T."""
    from tradewind.calendar import previous_session

    return previous_session(fill_session)


def fills_available(fill_session: dt.date, *, broker: str | None) -> bool:
    """Sensor condition: the open of T+1 has happened and is known.

    The simulated broker fills at the open from warehouse bars, so it waits for the bars of
    T+1; Alpaca only needs the clock past the open (true once the run starts after the close).
    """
    from tradewind.calendar import session_open_utc

    kind, _ = _broker_choice(broker)
    if kind == "alpaca":
        return dt.datetime.now(dt.UTC) >= session_open_utc(fill_session)
    from tradewind.db import connect

    with connect(connections.warehouse_url()) as conn:
        (loaded,) = conn.execute(
            "select exists (select 1 from raw.bars_daily where session = %s)", (fill_session,)
        ).fetchone()
    if not loaded:
        log.info("no bars for %s yet: waiting for ingest_daily_bars", fill_session)
    return bool(loaded)


def reconcile(fill_session: dt.date, *, broker: str | None) -> dict[str, Any]:
    from tradewind.trading.errors import BrokerError, TradingError
    from tradewind.trading.service import reconcile as reconcile_account

    kind, settings = _broker_choice(broker)
    session = traded_session(fill_session)
    try:
        rec = reconcile_account(session, kind, db_url=connections.warehouse_url(),
                                settings=settings)  # fmt: skip
    except BrokerError:
        raise
    except TradingError as exc:
        raise _fail(f"reconcile of {session}: {_one_line(exc)}") from None
    report = rec.report
    slips = [f["slippage_bps"] for f in report["fills"] if f.get("slippage_bps") is not None]
    summary = {
        "session": session.isoformat(),
        "fill_session": rec.fill_session.isoformat(),
        "broker": rec.broker,
        "model": report.get("model"),
        "fills": len(report["fills"]),
        "unfilled": [f"{u['symbol']} {u['side']} {u['status']}" for u in report["unfilled"]],
        "mean_slippage_bps": sum(slips) / len(slips) if slips else None,
        "max_abs_weight_difference": report["max_abs_weight_difference"],
        "picture": report.get("picture"),
    }
    log.info("reconciliation: %s", summary)
    return summary


def alerts(summary: dict[str, Any], *, max_slippage_bps: float | None = None) -> list[str]:
    """The reconciliation's problems as lines; the task fails (a red square, the DAG's
    failure callbacks) when there is any."""
    limit = (
        get_settings().reconcile_alert_slippage_bps
        if max_slippage_bps is None
        else (max_slippage_bps)
    )
    problems = [f"unfilled order: {u}" for u in summary["unfilled"]]
    slip = summary.get("mean_slippage_bps")
    if slip is not None and abs(slip) > limit:
        problems.append(f"mean slippage {slip:.1f} bp exceeds {limit:g} bp")
    return problems
