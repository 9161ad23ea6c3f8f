"""Run the dbt project against the warehouse in use, through dbt's Python entry point.

The profile (dbt/profiles.yml) reads ``TRADEWIND_DBT_*`` environment variables; here they are
derived from :func:`tradewind.db.warehouse_url` (``DATABASE_URL`` or the embedded server), set
for the duration of one dbt invocation and restored afterwards. dbt prints its own progress as it
goes; a failure raises :class:`FeatureBuildError` carrying dbt's message for the first failing
node.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tradewind.db import WarehouseError, redact, validate_url
from tradewind.settings import Settings, get_settings

# dbt keeps process-wide state (adapters, logging, flags): one invocation at a time per process.
_DBT_LOCK = threading.Lock()


class FeatureBuildError(WarehouseError):
    """dbt ran and reported a failure (or could not run); the message is dbt's, on one line."""


@dataclass(frozen=True)
class BuildResult:
    """What one dbt invocation did. ``statuses`` counts nodes by dbt status (success, pass, ...)."""

    command: str
    success: bool
    elapsed_s: float
    statuses: dict[str, int] = field(default_factory=dict)
    nodes: list[dict] = field(default_factory=list)
    # True: the recorded plan of dbt's SQL ran (tradewind.features.plan), dbt was not started.
    replayed: bool = False

    def summary(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(self.statuses.items()))
        how = " (recorded plan, dbt not started)" if self.replayed else ""
        return f"dbt {self.command}{how}: {counts or 'nothing to do'} in {self.elapsed_s:.1f}s"


def server_database(url: str) -> str:
    """The name the server itself gives the database at ``url`` (``current_database()``).

    dbt writes it into every relation name, and PostgreSQL rejects a name that differs from the
    connected database as a cross-database reference. It differs when the server ignores the
    requested name (PGlite serves one database, "template1") or a pooler aliases it.
    """
    from tradewind.db import connect

    with connect(url) as conn:
        return conn.execute("select current_database()").fetchone()[0]


def dbt_env(url: str, settings: Settings | None = None, *, probe: bool = True) -> dict[str, str]:
    """The environment dbt/profiles.yml reads, for the PostgreSQL at ``url``.

    ``probe`` connects once to learn the server's own name for the database (and fails early,
    with a clear message, when the warehouse is unreachable).
    """
    settings = settings or get_settings()
    url = validate_url(url)
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = parts.hostname or query.get("host", "")
    env = {
        "TRADEWIND_DBT_HOST": host,
        "TRADEWIND_DBT_PORT": str(parts.port or query.get("port") or 5432),
        "TRADEWIND_DBT_USER": unquote(parts.username or query.get("user", "")),
        "TRADEWIND_DBT_PASSWORD": unquote(parts.password or query.get("password", "")),
        "TRADEWIND_DBT_DBNAME": unquote(parts.path.lstrip("/")),
        "TRADEWIND_DBT_SSLMODE": query.get("sslmode", "prefer"),
        "DBT_PROFILES_DIR": str(settings.dbt_project_dir),
        "DBT_PROJECT_DIR": str(settings.dbt_project_dir),
    }
    if not env["TRADEWIND_DBT_USER"]:
        raise WarehouseError(f"the warehouse URL {redact(url)} names no user, which dbt needs")
    if probe:
        env["TRADEWIND_DBT_DBNAME"] = server_database(url)
    return env


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _first_line(text: str) -> str:
    """dbt's message on one line: "Database Error in model x (path)" is followed by the cause on
    the next line, so that one comes along."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return ""
    if len(lines) > 1 and " Error in " in lines[0]:
        return f"{lines[0]}: {lines[1]}"
    return lines[0]


def _node_rows(result) -> list[dict]:
    rows = []
    for r in getattr(result, "results", None) or []:
        node = getattr(r, "node", None)
        rows.append(
            {
                "name": getattr(node, "name", "?"),
                "resource_type": str(getattr(node, "resource_type", "?")),
                "status": str(getattr(r, "status", "?")),
                "message": getattr(r, "message", None),
                "failures": getattr(r, "failures", None),
                "execution_time": getattr(r, "execution_time", None),
            }
        )
    return rows


def run_dbt(
    args: Sequence[str],
    *,
    url: str | None = None,
    vars: Mapping | None = None,
    target_path: Path | None = None,
    threads: int | None = None,
    settings: Settings | None = None,
    probe: bool = True,
    callbacks: Sequence[Callable] = (),
    on_success: Callable | None = None,
) -> BuildResult:
    """Invoke ``dbt <args>`` in this process against the warehouse; raise on failure.

    ``probe=False`` skips connecting first (for commands that never touch the database, such as
    ``dbt parse``, which must work with no server running). ``callbacks`` receive dbt's events;
    ``on_success`` gets dbt's result of a successful run (the plan recorder uses both)."""
    from tradewind.db import warehouse_url

    settings = settings or get_settings()
    url = url or warehouse_url(settings)
    project = settings.dbt_project_dir
    if not (project / "dbt_project.yml").is_file():
        raise FeatureBuildError(f"no dbt project in {project} (setting TRADEWIND_DBT_PROJECT_DIR)")
    cli = [*args, "--project-dir", str(project), "--profiles-dir", str(project)]
    if vars:
        cli += ["--vars", json.dumps(dict(vars))]
    if target_path is not None:
        cli += ["--target-path", str(target_path)]
    if threads is not None:
        cli += ["--threads", str(threads)]

    from dbt.cli.main import dbtRunner

    t0 = time.monotonic()
    with _DBT_LOCK, _environment(dbt_env(url, settings, probe=probe)):
        res = dbtRunner(callbacks=list(callbacks)).invoke(cli)
    elapsed = time.monotonic() - t0
    nodes = _node_rows(res.result)
    statuses: dict[str, int] = {}
    for n in nodes:
        statuses[n["status"]] = statuses.get(n["status"], 0) + 1
    command = args[0] if args else "dbt"
    if not res.success:
        bad = [n for n in nodes if n["status"] in ("error", "fail", "runtime error")]
        if bad:
            first = bad[0]
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            detail = _first_line(first["message"] or "") or first["status"]
            msg = f"dbt {command} failed at {first['name']}: {detail}{more}"
        elif res.exception is not None:
            msg = f"dbt {command} failed: {_first_line(str(res.exception)) or type(res.exception).__name__}"
        else:
            msg = f"dbt {command} failed (see dbt's output above)"
        raise FeatureBuildError(msg)
    if on_success is not None:
        on_success(res.result)
    return BuildResult(command, True, elapsed, statuses, nodes)


SEED_TABLE = "features_staging.nyse_sessions"  # dbt_project.yml: seeds +schema features_staging


def _seed_fingerprint(seed_csv: Path) -> tuple[int, str, str, float]:
    """(rows, first session, last session, sum of open+close epochs) of the seed file. Plain
    csv and datetime: the daily build's replay path does not import pandas (start-up time)."""
    import csv
    from datetime import datetime

    with seed_csv.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    at = [header.index(k) for k in ("session", "market_open", "market_close")]
    parse = datetime.fromisoformat
    # The seed's times carry their UTC offset ("+00"); whole seconds, as the warehouse's sum.
    epochs = sum(int(parse(r[at[1]]).timestamp()) + int(parse(r[at[2]]).timestamp()) for r in rows)
    sessions = [r[at[0]] for r in rows]
    return (len(rows), min(sessions), max(sessions), float(epochs))


def seed_is_loaded(url: str, project_dir: Path) -> bool:
    """The warehouse's NYSE seed table already holds exactly the seed file (rows, first and last
    session, every open and close time): an incremental build can skip reloading it."""
    import psycopg

    from tradewind.db import connect

    seed_csv = project_dir / "seeds" / "nyse_sessions.csv"
    if not seed_csv.is_file():
        return False
    try:
        with connect(url) as conn:
            row = conn.execute(
                f"select count(*), min(session)::text, max(session)::text, "
                f"coalesce(sum(extract(epoch from market_open) + extract(epoch from market_close)),"
                f" 0)::float8 from {SEED_TABLE}"
            ).fetchone()
    except psycopg.Error:  # not built yet (no table) or another shape: load it
        return False
    return tuple(row) == _seed_fingerprint(seed_csv)


def build(
    full_refresh: bool = False,
    select: str | Sequence[str] | None = None,
    url: str | None = None,
    *,
    vars: Mapping | None = None,
    target_path: Path | None = None,
    threads: int | None = None,
    plan: bool | None = None,
) -> BuildResult:
    """``dbt build`` of the feature warehouse: seeds, models, data and unit tests.

    An incremental build of everything skips the seed when the warehouse already holds exactly
    the seed file (:func:`seed_is_loaded`); on a warehouse already built it also skips dbt's unit
    tests and limits the session-keyed data tests to the sessions it can rewrite
    (:func:`set_test_scope`). Full builds and the first build run every test on all history.

    That daily incremental build of everything runs the recorded plan of dbt's own SQL instead
    of dbt while the plan is valid (:mod:`tradewind.features.plan`), and otherwise runs dbt and
    records a new plan from it; ``plan=False`` (setting ``feature_build_plan``, CLI
    ``--no-plan``) always runs dbt and records nothing.

    For Airflow and ``make demo``: ``tradewind.features.build()`` after ingestion. Raises
    :class:`FeatureBuildError` (a ``WarehouseError``) with dbt's message when anything fails.
    """
    settings = get_settings()
    use_plan = settings.feature_build_plan if plan is None else plan
    args = ["build"]
    scoped = False
    recording: dict = {}
    if full_refresh:
        args.append("--full-refresh")
    elif not select:
        url = url or _warehouse_url()
        excluded = []
        if seed_is_loaded(url, get_settings().dbt_project_dir):
            # Reloading an unchanged 10k-row seed is a fixed cost of every daily run.
            excluded.append("resource_type:seed")
        scoped = set_test_scope(url) is not None
        if scoped:
            # An incremental run on a built warehouse. dbt's unit tests check the SQL on fixed
            # rows, not the data: the first build, every full build and CI run them; a daily
            # run would only pay their ~1 s each again.
            excluded.append("resource_type:unit_test")
        if excluded:
            args += ["--exclude", *excluded]
        if scoped and use_plan and "resource_type:seed" in excluded:
            try:
                done = _planned_build(url, settings, args, vars, target_path, threads, recording)
            except BaseException:
                reset_test_scope(url)
                raise
            if done is not None:
                reset_test_scope(url)
                return done
    if select:
        args += ["--select", *([select] if isinstance(select, str) else select)]
        # Only tests whose every parent is built in this run (or upstream of it): a test joining
        # daily_features with a model left out would otherwise judge a stale table.
        args += ["--indirect-selection", "buildable"]
    try:
        return run_dbt(
            args, url=url, vars=vars, target_path=target_path, threads=threads, **recording
        )
    finally:
        if scoped:
            reset_test_scope(url)


def dbt_flag_environment() -> dict[str, str]:
    """dbt's flags set through ``DBT_*`` environment variables (part of a plan's fingerprint:
    they can change what dbt runs); the folders dbt reads or writes are not flags."""
    folders = {"DBT_PROFILES_DIR", "DBT_PROJECT_DIR", "DBT_TARGET_PATH", "DBT_LOG_PATH"}
    return {
        k: v for k, v in sorted(os.environ.items()) if k.startswith("DBT_") and k not in folders
    }


def plan_inputs(
    url: str,
    args: Sequence[str],
    *,
    vars: Mapping | None = None,
    target_path: Path | None = None,
    settings: Settings | None = None,
):
    """What, besides the warehouse, a recorded plan of ``dbt <args>`` on ``url`` depends on
    (:class:`tradewind.features.plan.Inputs`); connects once (the server's database name)."""
    from tradewind.features import plan as planlib

    settings = settings or get_settings()
    env = dbt_env(url, settings)
    return planlib.Inputs(
        project_dir=settings.dbt_project_dir,
        args=list(args),
        vars=dict(vars or {}),
        profile={
            k: v
            for k, v in env.items()
            if k.startswith("TRADEWIND_DBT_") and k != "TRADEWIND_DBT_PASSWORD"
        },
        dbt_flags=dbt_flag_environment(),
        # A target folder inside the project is dbt's output, not its input.
        skip=[Path(p) for p in (target_path, os.environ.get("DBT_TARGET_PATH")) if p],
    )


def _planned_build(url, settings, args, vars, target_path, threads, recording: dict):
    """The daily build from the recorded plan when it is valid (a BuildResult); else None, with
    ``recording`` set to the run_dbt arguments that record a new plan from dbt's run."""
    from tradewind.features import plan as planlib

    inputs = plan_inputs(url, args, vars=vars, target_path=target_path, settings=settings)
    found, reason = planlib.load_valid(url, inputs)
    if found is not None:
        # As many sessions as dbt's threads (profiles.yml's default is 2; PGlite serves one).
        return planlib.replay(found, url, connections=threads or 2)
    print(f"build plan: {reason}; running dbt and recording a new plan", flush=True)
    recorder = planlib.Recorder(inputs, url)

    def record(result) -> None:
        try:
            saved = planlib.save(url, recorder.plan(result.results))
        except planlib.PlanError as exc:
            print(f"build plan not recorded: {exc}", flush=True)
            return
        if saved:
            print(f"build plan recorded ({len(recorder.order)} nodes)", flush=True)

    recording.update(callbacks=[recorder], on_success=record)
    return None


TEST_SCOPE_TABLE = "ops.feature_test_scope"  # migration 050; read by the tests' `where`
# Loads whose transactions overlap can commit a bar stamped before the newest one already built
# (the minute rollups' var minute_ingest_slack covers the same case).
INGEST_SLACK = "1 hour"


def set_test_scope(url: str):
    """Before an incremental build: limit the session-keyed data tests to the sessions the build
    can rewrite, i.e. from two sessions (the labels' T+1, T+2) before the earliest bar ingested
    since the bars were last built (less INGEST_SLACK), or the last session when nothing is new.
    Returns that session, or None (nothing built yet, or no migration 050: every session is
    tested). A bar deleted or updated in place since the last build has no new ingested_at:
    the incremental int_daily_bars, which finds every such bar, widens the scope during the
    build to two sessions before the earliest one (dbt macro widen_test_scope)."""
    import psycopg

    from tradewind.db import connect

    try:
        with connect(url) as conn:
            row = conn.execute(
                f"""
                with built as (
                    select max(ingested_at) as at from features_intermediate.int_daily_bars
                ),
                first_new as (
                    select coalesce(
                        (select min(session) from raw.bars_daily, built
                         where ingested_at > built.at - interval '{INGEST_SLACK}'),
                        (select max(session) from features_intermediate.int_daily_bars)
                    ) as session
                    from built where built.at is not null
                )
                update {TEST_SCOPE_TABLE} set tests_from = coalesce((
                    select s.session from features_intermediate.int_sessions as s
                    where s.session < f.session order by s.session desc offset 1 limit 1
                ), '-infinity'), set_at = now()
                from first_new as f
                returning tests_from
                """
            ).fetchone()
            conn.commit()
    except psycopg.Error:
        return None
    return row[0] if row else None


def reset_test_scope(url: str) -> None:
    """After the build: any later build (plain dbt, cosmos) tests every session again."""
    from tradewind.db import connect

    with connect(url) as conn:
        conn.execute(f"update {TEST_SCOPE_TABLE} set tests_from = '-infinity', set_at = now()")
        conn.commit()


def _warehouse_url() -> str:
    from tradewind.db import warehouse_url

    return warehouse_url(get_settings())


def docs_generate(url: str | None = None, *, target_path: Path | None = None) -> Path:
    """``dbt docs generate``; returns the folder holding index.html and catalog.json."""
    settings = get_settings()
    run_dbt(["docs", "generate"], url=url, target_path=target_path, settings=settings)
    return target_path or settings.dbt_project_dir / "target"
