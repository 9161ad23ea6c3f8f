"""Airflow's real scheduler runs the day's chain from Asset events alone, and Airflow's own
backfill re-runs signals idempotently.

One Airflow for the module (``airflow_live.LiveAirflow``: scheduler, DAG processor, triggerer
and API server under the launcher's supervisor, metadata on the test PostgreSQL server,
LocalExecutor), against a warehouse holding two years of daily bars of six DOW30 names pulled
from the market emulator through alpaca-py (the ``alpaca`` series), the dbt feature marts, and a
tiny RLlib agent in production (the signal tests' agent, trained once per session by the real
training path, registered here).

1. ``ingest_daily_bars`` is triggered for one session T through the REST API; the Asset events
   then run ``build_features`` (cosmos) -> ``generate_signals`` -> ``rebalance_paper_account``
   (simulated broker): runs whose run_type is ``asset_triggered``, bars and features of T,
   weights of T in the warehouse and in the weight file, simulated orders for T+1.
2. A screenshot of the grid after that day's chain, in a browser logged in to the UI.
3. ``airflow backfill create`` of ``generate_signals`` over five sessions, then the same
   backfill again with ``--reprocess-behavior completed``: every run re-ran, and the weights and
   the weight files are identical (checksums).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import time
import urllib.parse
from pathlib import Path

import psycopg
import pytest
from airflow_live import LiveAirflow
from airflow_testlib import signals_fixtures, table_checksums

from tradewind.orchestration.connections import airflow_conn_env
from tradewind.settings import PROJECT_ROOT

# The signal tests' fixtures (the tiny production agent), shared with them.
_fixtures = signals_fixtures()
signals_warehouse = _fixtures.signals_warehouse

pytestmark = [pytest.mark.airflow, pytest.mark.integration, pytest.mark.slow]

HISTORY_START, HISTORY_END = "2017-06-01", "2019-06-28"
T = "2019-07-01"  # a Monday: the session the chain processes
AFTER_T_CLOSE = "2019-07-01T20:30:00+00:00"  # ingest_daily_bars runs 30 min after the close
BACKFILL = ["2019-06-24", "2019-06-25", "2019-06-26", "2019-06-27", "2019-06-28"]
CHAIN = ["ingest_daily_bars", "build_features", "generate_signals", "rebalance_paper_account"]
ALL_DAGS = {
    *CHAIN, "ingest_minute_bars", "data_quality", "train_agents", "reconcile_paper_account",
}  # fmt: skip
SHOTS = PROJECT_ROOT / "var" / "airflow-screenshots"
DOCS_IMG = PROJECT_ROOT / "docs" / "img"


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def market():
    from signals_testlib import SYMBOLS

    from tradewind.emulator.dataset import make_dataset
    from tradewind.emulator.server import MarketEmulator

    dataset = make_dataset(SYMBOLS, HISTORY_START, "2019-07-03", minute=False, actions=False)
    with MarketEmulator(dataset) as emu:
        yield emu, dataset, sorted(SYMBOLS)


@pytest.fixture(scope="module")
def warehouse(pg_server_url, template_db, signals_warehouse, market):
    """History up to T-1 from the emulator through alpaca-py, dbt features, the tiny agent
    registered as the production version of ``tiny``."""
    import uuid

    from signals_testlib import MODEL, build_features
    from testdb import create_db, drop_db

    from tradewind.ingest.pipeline import run_ingest
    from tradewind.ingest.universe_load import load_universe_members
    from tradewind.registry import register_candidate, set_stage

    emu, _, symbols = market
    name = f"tw_af_live_{uuid.uuid4().hex[:8]}"
    url = create_db(pg_server_url, name, template=template_db)
    load_universe_members(url)
    run_ingest(
        "alpaca", symbols, HISTORY_START, HISTORY_END, "1Day",
        as_of=dt.datetime(2019, 6, 29, tzinfo=dt.UTC), url=url,
        api_key="k", secret_key="s", data_url=emu.alpaca_data_url,
    )  # fmt: skip
    build_features(url, Path(f"/tmp/{name}-dbt-target"))
    mv = register_candidate(url, MODEL, signals_warehouse.artifact_uri)
    set_stage(url, MODEL, mv.version, "production", by="tests", reason="airflow scheduler test")
    yield url
    drop_db(pg_server_url, name)


@pytest.fixture(scope="module")
def live(pg_server_url, warehouse, market, dbt_project, tmp_path_factory):
    from testdb import drop_db

    from tradewind.orchestration.standalone import ensure_metadata_database

    emu, _, _ = market
    home = tmp_path_factory.mktemp("airflow_live")
    meta_name = f"airflow_meta_{os.getpid()}"
    drop_db(pg_server_url, meta_name)
    metadata = ensure_metadata_database(pg_server_url, meta_name)
    extra = airflow_conn_env(
        warehouse, alpaca_key_id="k", alpaca_secret_key="s", alpaca_data_url=emu.alpaca_data_url
    )
    extra.update(
        {
            "TRADEWIND_HOME": str(home / "tw-home"),
            "TRADEWIND_DBT_PROJECT_DIR": str(dbt_project),
            "TRADEWIND_WEIGHTS_DIR": str(home / "weights"),
            "TRADEWIND_ENSEMBLES_DIR": str(home / "ensembles"),
        }
    )
    (home / "ensembles").mkdir()
    airflow = LiveAirflow.start(home / "airflow", metadata, extra)
    try:
        airflow.wait_parsed(ALL_DAGS)
        yield airflow
    finally:
        report = airflow.stop()
        print("\nAirflow stopped:", " ".join(report.lines()))
        drop_db(pg_server_url, meta_name)


_UNPAUSED: set[str] = set()
# The DAGs on the NYSE timetable among those the tests switch on.
TIMED = ("ingest_daily_bars", "generate_signals")


def _drop_scheduled(airflow: LiveAirflow) -> list[str]:
    """Mark failed the timetable's runs of the switched-on DAGs. Unpausing a DAG on the NYSE
    timetable schedules its newest closed session (today's: catchup is off) once the DAG
    processor has re-parsed it: not the test's day, and with max_active_runs=1 it would hold
    back the Asset-triggered run. Marked failed as an operator would in the UI."""
    failed = []
    for dag_id in TIMED:
        if dag_id in _UNPAUSED:
            for run in airflow.runs(dag_id):
                if run["run_type"] == "scheduled" and run["state"] != "failed":
                    airflow.fail_run(dag_id, run["dag_run_id"])
                    failed.append(f"{dag_id}/{run['dag_run_id']}")
    return failed


def _not_due(airflow: LiveAirflow, dag_id: str) -> bool:
    """The DAG's next timetable run is not due yet (its run_after is in the future): no
    catch-up run is coming. generate_signals runs 3 h after the close, so between the close and
    then it has none (catchup is off), and waiting for one only sat out the bound."""
    after = airflow.api("GET", f"/dags/{dag_id}")["next_dagrun_run_after"]
    return after is not None and dt.datetime.fromisoformat(after) > dt.datetime.now(dt.UTC)


def _unpause(airflow: LiveAirflow, dag_ids: list[str]) -> None:
    """Unpause, then wait (bounded) for the timetable's catch-up run of each timed DAG switched
    on here and mark it failed before the test starts anything; a DAG whose next run is not due
    yet has none to wait for (a run falling due later is failed by the tests' polls)."""
    new = [d for d in dag_ids if d not in _UNPAUSED]
    for dag_id in new:
        airflow.set_paused(dag_id, False)
        _UNPAUSED.add(dag_id)
    expected = {d for d in new if d in TIMED}
    deadline = time.monotonic() + 180
    settled: set[str] = set()
    while expected - settled and time.monotonic() < deadline:
        # Read "not due" before failing: a catch-up run created before the read is failed here.
        not_due = {d for d in expected - settled if _not_due(airflow, d)}
        settled |= {name.split("/")[0] for name in _drop_scheduled(airflow)} | not_due
        if expected - settled:
            time.sleep(2)


def test_asset_events_alone_run_the_days_chain(live, warehouse, market):
    emu, dataset, symbols = market
    _unpause(live, CHAIN)
    conf = {"universe": None, "symbols": symbols}
    trigger = live.trigger("ingest_daily_bars", AFTER_T_CLOSE, conf)
    assert trigger["run_type"] == "manual"

    (ingest,) = live.wait_runs(
        "ingest_daily_bars", 1, run_type="manual", on_poll=lambda: _drop_scheduled(live)
    )
    runs = {"ingest_daily_bars": ingest}
    for dag_id in CHAIN[1:]:
        done = live.wait_runs(
            dag_id, 1, run_type="asset_triggered", on_poll=lambda: _drop_scheduled(live)
        )
        # Asset events alone started them: no other run (the timetable's catch-up runs of the
        # timed DAGs are marked failed, see _drop_scheduled).
        types = [r["run_type"] for r in live.runs(dag_id) if r["run_type"] != "scheduled"]
        assert types == ["asset_triggered"], live.runs(dag_id)
        runs[dag_id] = done[0]
    tasks = {d: live.tasks(d, r["dag_run_id"]) for d, r in runs.items()}
    assert tasks["ingest_daily_bars"] == {
        "choose_source": "success", "extract_alpaca": "success", "extract_quandl": "skipped",
        "extract_csv": "skipped", "validate": "success", "load": "success",
    }  # fmt: skip
    assert {"daily_features.run", "daily_features.test", "publish_features"} <= set(
        tasks["build_features"]
    )
    assert set(tasks["build_features"].values()) == {"success"}, tasks["build_features"]
    assert tasks["generate_signals"] == {"generate": "success"}
    assert tasks["rebalance_paper_account"] == {"risk_checks": "success", "place_orders": "success"}

    # The Asset URIs, spelled out from the warehouse URL (not from tradewind.orchestration):
    # postgres://host:port/database/schema/table.
    host, port, db = warehouse.split("@")[-1].replace("/", ":").split(":")
    base = f"postgres://{host}:{port}/{db}"
    features_uri = f"{base}/features/daily_features"
    # What cosmos emitted for the features build, and what generate_signals was run by.
    emitted = {
        e["uri"]
        for e in live.api("GET", "/assets/events?source_dag_id=build_features&limit=100")[
            "asset_events"
        ]
    }
    assert features_uri in emitted, sorted(emitted)
    signals_run = runs["generate_signals"]["dag_run_id"]
    upstream = live.api("GET", f"/dags/generate_signals/dagRuns/{signals_run}/upstreamAssetEvents")[
        "asset_events"
    ]
    assert {e["uri"] for e in upstream} == {features_uri}, upstream
    assert {e["source_dag_id"] for e in upstream} == {"build_features"}
    # Announced by the build's last task, after every model and data test had passed.
    assert {e["source_task_id"] for e in upstream} == {"publish_features"}, upstream
    scheduled_on = {
        a["uri"]
        for a in live.api("GET", "/assets?dag_ids=generate_signals&limit=100")["assets"]
        if any(d["dag_id"] == "generate_signals" for d in a.get("scheduled_dags", []))
    }
    assert scheduled_on == {features_uri, f"{base}/ml/model_versions"}, scheduled_on
    rebalance_run = runs["rebalance_paper_account"]["dag_run_id"]
    upstream = live.api(
        "GET", f"/dags/rebalance_paper_account/dagRuns/{rebalance_run}/upstreamAssetEvents"
    )["asset_events"]
    assert [(e["uri"], e["source_dag_id"], e["extra"].get("session")) for e in upstream] == [
        (f"{base}/signals/target_weights", "generate_signals", T)
    ]

    with psycopg.connect(warehouse) as c:
        bars = dict(
            c.execute(
                "select symbol, close from raw.bars_daily where session = %s", (T,)
            ).fetchall()
        )
        prev = dict(
            c.execute(
                "select symbol, close from raw.bars_daily where session = %s", (HISTORY_END,)
            ).fetchall()
        )
        lr = dict(
            c.execute(
                "select symbol, lr_close from features.daily_features where session = %s", (T,)
            ).fetchall()
        )
        weights = dict(
            c.execute(
                "select symbol, weight from signals.target_weights"
                " where as_of_session = %s and model_name = 'tiny'",
                (T,),
            ).fetchall()
        )
        orders = c.execute(
            "select symbol, side, qty, status from broker.sim_orders where as_of_session = %s",
            (T,),
        ).fetchall()
    # The emulator's bars of T, and features of T computed from them.
    expected = {
        r.symbol: r.close for r in dataset.daily.itertuples() if r.session.date().isoformat() == T
    }
    assert bars == pytest.approx(expected)
    assert sorted(lr) == symbols
    for s in symbols:
        assert lr[s] == pytest.approx(math.log(bars[s] / prev[s]))
    # Weights of T, in the warehouse and in the day's Quantopian file.
    assert weights and sum(abs(w) for w in weights.values()) <= 1.0 + 1e-9
    day_file = Path(live.env["TRADEWIND_WEIGHTS_DIR"]) / "tiny" / f"weights_{T}.csv"
    rows = [line.split(",") for line in day_file.read_text().strip().splitlines()[1:]]
    assert {r[0] for r in rows} == {T}
    for symbol, weight in weights.items():
        in_file = {r[1]: float(r[2]) for r in rows}
        assert in_file.get(symbol, 0.0) == pytest.approx(weight, abs=1e-6), symbol
    # Orders of the simulated broker for the open of T+1, one per name bought.
    assert orders, "no simulated orders for T"
    assert {s for s, *_ in orders} <= set(symbols)
    assert all(q > 0 for _, _, q, _ in orders)


def test_grid_screenshot_after_the_chain(live, ci_skip):
    """The grid of the chain's last DAG, in Chromium logged in through the UI's login form."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        ci_skip(f"{chromium} not installed (make chromium installs it)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=args)
        try:
            page = browser.new_context(viewport={"width": 1600, "height": 900}).new_page()
            page.goto(live.url + "/", wait_until="networkidle")
            page.fill("input[name=username]", live.username)
            page.fill("input[name=password]", live.password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda u: "/auth/" not in u, timeout=60_000)
            shots = {}
            for name, path in (("dags", "/dags?tags=model"), ("grid", "/dags/build_features")):
                page.goto(live.url + path, wait_until="networkidle")
                page.wait_for_timeout(2500)  # the grid's squares render after the data arrives
                shot = SHOTS / f"airflow_chain_{name}.png"
                page.screenshot(path=str(shot))
                shots[name] = shot
            text = page.content()
        finally:
            browser.close()
    assert "build_features" in text
    for shot in shots.values():
        assert shot.stat().st_size > 20_000, shot
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        import shutil

        for shot in shots.values():
            shutil.copy(shot, DOCS_IMG / shot.name)


def _backfill_done(live: LiveAirflow, count: int, timeout: float = 1800) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        backfills = live.api("GET", "/backfills?dag_id=generate_signals&limit=100")["backfills"]
        if len(backfills) >= count and all(b["completed_at"] for b in backfills):
            return backfills
        assert time.monotonic() < deadline, backfills
        time.sleep(3)


def _assert_generated_oldest_first(live: LiveAirflow, runs: list[dict]) -> None:
    """Each session's `generate` started after the previous session's had ended (the pool)."""
    spans = []
    for r in sorted(runs, key=lambda r: r["data_interval_start"]):
        run = urllib.parse.quote(r["dag_run_id"], safe="")
        ti = live.api("GET", f"/dags/generate_signals/dagRuns/{run}/taskInstances/generate")
        spans.append((ti["start_date"], ti["end_date"]))
    for (_, prev_end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= prev_end, spans


def test_backfill_of_five_sessions_twice_leaves_rows_and_files_identical(live, warehouse):
    # Backfilled signals must not trade old sessions: rebalancing is paused meanwhile (as the
    # walkthrough says), so only generate_signals runs.
    live.set_paused("rebalance_paper_account", True)
    _UNPAUSED.discard("rebalance_paper_account")
    _unpause(live, ["generate_signals"])
    weights_dir = Path(live.env["TRADEWIND_WEIGHTS_DIR"])
    tables = {
        "weights": "select as_of_session, model_name, model_version, symbol, weight"
        " from signals.target_weights where as_of_session between '2019-06-24' and '2019-06-28'",
    }
    # Airflow's default backfill concurrency (10 active runs): a session's weights feed the next
    # session's decision as its "previous weights" (tradewind.signals.generate), and the one-slot
    # `signals` pool makes the runs compute oldest first. Without it, runs in parallel each saw
    # whichever neighbours happened to be written already, and the second backfill (seeing all
    # of them) computed other weights and was refused by the published files.
    args = ["backfill", "create", "--dag-id", "generate_signals",
            "--from-date", "2019-06-24", "--to-date", "2019-06-28"]  # fmt: skip
    live.cli(*args)
    _backfill_done(live, 1)
    runs = [r for r in live.runs("generate_signals") if r["run_type"] == "backfill"]
    sessions = sorted(r["data_interval_start"][:10] for r in runs)
    assert [r["state"] for r in runs] == ["success"] * 5, runs
    assert sessions == BACKFILL
    _assert_generated_oldest_first(live, runs)
    first = table_checksums(warehouse, tables), _files(weights_dir)
    ends = {r["dag_run_id"]: r["end_date"] for r in runs}
    assert first[0]["weights"][0] > 0
    for session in BACKFILL:
        assert f"tiny/weights_{session}.csv" in first[1]

    live.cli(*args, "--reprocess-behavior", "completed")
    _backfill_done(live, 2)
    again = [r for r in live.runs("generate_signals") if r["run_type"] == "backfill"]
    assert [r["state"] for r in again] == ["success"] * 5, again
    # The same five runs, each run once more (a later end), not five new ones.
    assert {r["dag_run_id"] for r in again} == set(ends)
    assert all(r["end_date"] > ends[r["dag_run_id"]] for r in again), (ends, again)
    _assert_generated_oldest_first(live, again)
    second = table_checksums(warehouse, tables), _files(weights_dir)
    assert second == first
