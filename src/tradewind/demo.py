"""The main job end to end on embedded defaults (``make demo`` / ``tradewind demo``).

Steps (each prints what it did and how long it took):

1. warehouse: the embedded PostgreSQL (or ``DATABASE_URL``), migrations applied;
2. ingest: universes, then daily bars through the quality gate: synthetic DOW30-like bars
   2008-2020 by default, ``--csv PATH`` (``make demo CSV=path``) for real files, or Alpaca when
   ``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY`` are set;
3. features: ``dbt build`` of the feature marts;
4. train: the ``demo`` agent (``rl/agents/demo.yaml``), unless a succeeded run of the same
   resolved config on the same data fingerprint and code version exists: that run is reused;
5. registry: the run as a candidate version, evaluated with the baselines on validation and
   test, judged by the gate (promoted, or the reason why not); a version already judged is
   read back instead of evaluated again;
6. signals: the target weights of the last sessions and their weight files;
7. rebalance: the simulated broker traded to the newest targets whose next open is loaded.

A second run in the same ``TRADEWIND_HOME`` changes nothing in the warehouse (every load is
idempotent, orders carry deterministic ids) and skips training and evaluation, so it takes a
fraction of the first run's time.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

DEMO_AGENT = "demo"
# Weights for the last few sessions: the newest is the file a downstream algorithm would read
# tomorrow; the ones before it have a following open in the warehouse, so the simulated broker
# can fill them.
SIGNAL_SESSIONS = 5


@dataclass
class DemoReport:
    """What ``run_demo`` did: one row per step plus the facts the summary prints."""

    steps: list[tuple[str, float, str]] = field(default_factory=list)
    source: str = "synthetic"
    run_id: str | None = None
    trained: bool = False  # False: an earlier run was reused
    model_ref: str | None = None
    stage: str | None = None
    gate: str | None = None
    gate_reason: str | None = None
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    report_uris: dict[str, str] = field(default_factory=dict)
    weights_dir: str | None = None
    weight_files: list[str] = field(default_factory=list)
    signals_session: dt.date | None = None
    rebalance_session: dt.date | None = None
    orders: int = 0
    equity: float | None = None

    def step(self, console: Console, name: str, fn: Callable[[], str]) -> None:
        console.rule(f"[bold]{len(self.steps) + 1}. {name}")
        t0 = time.monotonic()
        summary = fn()
        elapsed = time.monotonic() - t0
        self.steps.append((name, elapsed, summary))
        console.print(f"[green]✓[/] {name}: {summary} [dim]({elapsed:.1f}s)[/]", highlight=False)


def ingest_source(settings: Any, csv: str | None) -> str:
    """Which bars the demo loads: a CSV path when given, Alpaca when its keys are set, else
    the synthetic market."""
    if csv:
        return "csv"
    if settings.alpaca_api_key_id and settings.alpaca_api_secret_key:
        return "alpaca"
    return "synthetic"


def _ingest(url: str, source: str, csv: str | None, console: Console) -> list[Any]:
    from tradewind.ingest.pipeline import demo_ingest, run_ingest
    from tradewind.ingest.universe_load import load_universe_members
    from tradewind.markets.synthetic import DEMO_END, DEMO_START, DOW30_2020

    if source == "synthetic":
        from tradewind.ingest.universe_load import symbols_for

        universes, bars = demo_ingest(url)
        # The demo agent trades the DOW30's point-in-time members; the demo market holds the
        # 2020 members. The others (members in 2008..2020 that left) get bars of their own
        # seeded market, so every symbol the agent is given has prices to trade at.
        extra = sorted(set(symbols_for("DOW30", DEMO_START, DEMO_END)) - set(DOW30_2020))
        if not extra:
            return [universes, bars]
        others = run_ingest("synthetic", extra, DEMO_START.isoformat(), DEMO_END.isoformat(),
                            "1Day", as_of=dt.datetime(2021, 1, 4, tzinfo=dt.UTC), url=url)  # fmt: skip
        return [universes, bars, others]
    universes = load_universe_members(url)
    now = dt.datetime.now(dt.UTC)
    if source == "csv":
        bars = run_ingest("csv", None, None, None, "1Day", as_of=now, url=url, paths=[csv],
                          incremental=False)  # fmt: skip
    else:
        bars = run_ingest("alpaca", list(DOW30_2020), DEMO_START.isoformat(),
                          DEMO_END.isoformat(), "1Day", as_of=now, url=url)  # fmt: skip
    return [universes, bars]


def find_reusable_run(url: str, cfg: Any) -> str | None:
    """A succeeded run of exactly this resolved config, data and code, newest first."""
    from psycopg.types.json import Jsonb

    from tradewind.db import connect
    from tradewind.training.data import code_version, data_fingerprint, load_training_data
    from tradewind.training.runs import clean_json

    fingerprint = data_fingerprint(load_training_data(url, cfg))
    with connect(url) as conn:
        row = conn.execute(
            "select run_id::text from ml.training_runs where agent = %s and status = "
            "'succeeded' and config = %s and data_fingerprint = %s and code_version = %s "
            "order by finished_at desc limit 1",
            [cfg.name, Jsonb(clean_json(cfg.model_dump(mode="json", by_alias=True))),
             fingerprint, code_version()],
        ).fetchone()  # fmt: skip
    if row is None:
        return None
    # The artifacts must still be there (a user may have deleted var/artifacts).
    from tradewind.training.runs import get_run

    uri = get_run(url, row[0]).artifact_uri or ""
    if "://" not in uri and not (Path(uri) / "manifest.json").is_file():
        return None
    return row[0]


def judged_version(url: str, run_id: str) -> dict[str, Any] | None:
    """The registered version of ``run_id`` with its gate decision, if it was judged already."""
    from psycopg.rows import dict_row

    from tradewind.db import connect

    with connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select v.model_name, v.version, v.stage, g.decision, g.reason from "
            "ml.model_versions v join ml.gate_decisions g on g.model_name = v.model_name and "
            "g.version = v.version where v.run_id = %s order by g.decided_at desc limit 1",
            [run_id],
        )
        return cur.fetchone()


def stored_metrics(url: str, model: str, version: int) -> tuple[dict, dict]:
    """window -> {NAME@V: metrics, '1/N': metrics} and window -> report URI, as stored by the
    registry for this version (its newest evaluation per window and the 1/N beside it)."""
    from psycopg.rows import dict_row

    from tradewind.db import connect
    from tradewind.rl.evaluation import EQUAL_WEIGHT

    metrics: dict[str, dict[str, Any]] = {}
    reports: dict[str, str] = {}
    with connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select distinct on (e.window_name) e.window_name, e.metrics, e.report_uri, "
            "b.metrics as base from ml.evaluations e left join ml.evaluations b on "
            "b.policy = %s and b.window_name = e.window_name and b.start_session = "
            "e.start_session and b.symbols = e.symbols and b.costs = e.costs "
            "where e.model_name = %s and e.model_version = %s order by e.window_name",
            [EQUAL_WEIGHT, model, version],
        )
        for row in cur.fetchall():
            metrics[row["window_name"]] = {f"{model}@{version}": row["metrics"]}
            if row["base"] is not None:
                metrics[row["window_name"]][EQUAL_WEIGHT] = row["base"]
            reports[row["window_name"]] = row["report_uri"] or ""
    return metrics, reports


def features_current(url: str) -> bool:
    """The feature marts exist and hold a row for the newest bar of every symbol."""
    from tradewind.db import connect

    with connect(url) as conn:
        exists = conn.execute("select to_regclass('features.daily_features')").fetchone()[0]
        if exists is None:
            return False
        missing = conn.execute(
            "select count(*) from (select symbol, max(session) as s from raw.bars_daily "
            "group by symbol) b where not exists (select 1 from features.daily_features f "
            "where f.symbol = b.symbol and f.session = b.s)"
        ).fetchone()[0]
    return missing == 0


def latest_feature_sessions(url: str, n: int) -> list[dt.date]:
    from tradewind.db import connect

    with connect(url) as conn:
        rows = conn.execute(
            "select distinct session from features.daily_features order by 1 desc limit %s", [n]
        ).fetchall()
    return sorted(r[0] for r in rows)


def earlier_rebalance(url: str, model_ref: str) -> tuple[dt.date, int] | None:
    """(session, orders) of a submitted simulated rebalance of ``model_ref`` for the newest
    session the demo would trade (its targets with a following bar), if one was made."""
    from tradewind.db import connect

    name, _, version = model_ref.partition("@")
    with connect(url) as conn:
        row = conn.execute(
            "select r.as_of_session, r.orders_planned from broker.rebalance_runs r where "
            "r.broker = 'sim' and not r.dry_run and r.status = 'submitted' and r.model_name = %s "
            "and r.model_version = %s and r.as_of_session = (select max(t.as_of_session) from "
            "signals.target_weights t where t.model_name = %s and t.model_version = %s and "
            "exists (select 1 from raw.bars_daily b where b.session > t.as_of_session)) "
            "and exists (select 1 from broker.reconciliations c where c.broker = 'sim' and "
            "c.as_of_session = r.as_of_session) order by r.run_id desc limit 1",
            [name, int(version), name, int(version)],
        ).fetchone()
    return None if row is None else (row[0], int(row[1]))


def run_demo(console: Console, *, csv: str | None = None) -> DemoReport:
    from tradewind.cli import migrate_summary
    from tradewind.db import redact, warehouse_url
    from tradewind.settings import get_settings

    settings = get_settings()
    report = DemoReport(source=ingest_source(settings, csv))
    state: dict[str, Any] = {}

    def warehouse() -> str:
        state["url"] = warehouse_url(settings)
        return f"{redact(state['url'])}; {migrate_summary()}"

    def ingest() -> str:
        results = _ingest(state["url"], report.source, csv, console)
        for r in results:
            console.print(f"  {r.line()}", highlight=False)
        universes, loads = results[0], results[1:]
        state["changed"] = bool(
            any(b.rows_new or b.rows_updated for b in loads) or universes.new
            or universes.updated or universes.removed
        )  # fmt: skip
        return (
            f"{report.source}: {sum(b.rows_in for b in loads):,} bars checked, "
            f"{sum(b.rows_new for b in loads):,} new, "
            f"{sum(b.rows_quarantined for b in loads):,} quarantined"
        )

    def features() -> str:
        from tradewind.features import build

        if not state["changed"] and features_current(state["url"]):
            # dbt would rebuild nothing (its models are incremental on these bars) but still
            # spends a minute or two on its tests; the marts already cover every bar.
            return "up to date: the ingest changed nothing and the marts reach the newest bar"
        return build(url=state["url"]).summary()

    def train() -> str:
        from tradewind.rl.agents import load_agent
        from tradewind.training.cli import _quiet_ray
        from tradewind.training.service import run_training

        cfg = load_agent(DEMO_AGENT)
        run_id = find_reusable_run(state["url"], cfg)
        if run_id:
            report.run_id = run_id
            return f"reused run {run_id} (same config, data fingerprint and code version)"
        _quiet_ray()
        console.print(f"training agent {cfg.name}: {cfg.description}", highlight=False)

        def progress(r: Any) -> None:
            console.print(f"  {r.line()}", highlight=False, markup=False)

        outcome = run_training(state["url"], cfg, progress=progress, register=False)
        report.run_id, report.trained = outcome.run_id, True
        return f"run {outcome.run_id} in {outcome.timings.get('train_s', 0):.0f}s of training"

    def registry() -> str:
        from tradewind.registry import after_training

        judged = judged_version(state["url"], report.run_id)
        if judged is None:
            # The registry logs each line it reports through ``progress`` as well; the user
            # sees them once, on stdout.
            logging.getLogger("tradewind.registry").setLevel(logging.WARNING)
            after = after_training(
                state["url"], report.run_id,
                progress=lambda line: console.print(f"  [dim]{line}[/]", highlight=False),
            )  # fmt: skip
            judged = {
                "model_name": after.version.model_name, "version": after.version.version,
                "stage": after.version.stage, "decision": after.decision.decision,
                "reason": after.decision.reason,
            }  # fmt: skip
            for w in after.warnings:
                console.print(f"  [yellow]warning:[/] {w}", highlight=False)
            how = "registered and evaluated"
        else:
            how = "already registered and judged"
        name, version = judged["model_name"], int(judged["version"])
        report.model_ref = f"{name}@{version}"
        report.stage, report.gate, report.gate_reason = (
            judged["stage"], judged["decision"], judged["reason"],
        )  # fmt: skip
        report.metrics, report.report_uris = stored_metrics(state["url"], name, version)
        verdict = (
            "promoted to production" if report.gate == "promoted"
            else f"not promoted ({report.gate_reason})"
        )  # fmt: skip
        return f"{report.model_ref} {how}; gate: {verdict}; stage {report.stage}"

    def signals() -> str:
        from tradewind.signals.generate import generate

        days = latest_feature_sessions(state["url"], SIGNAL_SESSIONS)
        if not days:
            raise RuntimeError("no feature sessions to generate weights for")
        results = generate(
            state["url"], start=days[0], end=days[-1], model=report.model_ref,
            on_progress=lambda line: console.print(f"  {line}", highlight=False),
        )  # fmt: skip
        report.weights_dir = settings.resolved_weights_dir()
        report.signals_session = days[-1]
        report.weight_files = [f for r in results for f in r.files]
        r = results[0]
        return f"{r.line()}; files under {report.weights_dir}"

    def rebalance() -> str:
        from tradewind.trading import service
        from tradewind.trading.cli import print_portfolio
        from tradewind.trading.demo import demo_rebalance

        done = earlier_rebalance(state["url"], report.model_ref)
        if done is not None:
            # The book was already traded to these targets and filled: planning again would
            # only chase the rounding of the fills. Show the account as it is.
            session, orders = done
            info = service.status("sim", db_url=state["url"])
            print_portfolio(info, console, title="simulated portfolio (unchanged)")
            report.rebalance_session, report.orders = session, orders
            report.equity = info["account"].equity
            return f"targets of {session} already traded ({orders} order(s)); nothing sent"
        out = demo_rebalance(console, db_url=state["url"], model=report.model_ref)
        result = out["rebalance"]
        report.rebalance_session = out["session"]
        report.orders = len(result.plan.orders)
        report.equity = out["status"]["account"].equity
        return (
            f"targets of {out['session']} for the next open: {len(result.plan.orders)} order(s) "
            f"planned, {result.sent} sent, {result.found} already at the broker; {result.status}"
        )

    report.step(console, "warehouse", warehouse)
    report.step(console, "ingest", ingest)
    report.step(console, "features", features)
    report.step(console, "train", train)
    report.step(console, "registry", registry)
    report.step(console, "signals", signals)
    report.step(console, "rebalance", rebalance)
    return report
