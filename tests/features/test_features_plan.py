"""The daily incremental build replayed from the recorded plan of dbt's SQL (no dbt import):
the same rows as dbt, a fingerprint that goes stale with the project, vars or warehouse, dbt's
test verdicts, rollback on a SQL error.

One full build and one recorded incremental build per module (snapshot); each scenario starts
from a copy of that snapshot under one fixed database name (the plan's SQL names the database,
and dbt's partial parse stays valid).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from features_testlib import Databases, copy_bars, execute, fixture_bars, read_frame

from tradewind.features import plan as planlib
from tradewind.features.runner import FeatureBuildError, build, plan_inputs
from tradewind.settings import PROJECT_ROOT, reset_settings_cache

pytestmark = pytest.mark.integration

SESSION_A = date(2011, 1, 3)  # recorded: the first session after the fixture's last (2010-12-31)
SESSION_B = date(2011, 1, 4)  # replayed
DAILY_ARGS = ["build", "--exclude", "resource_type:seed", "resource_type:unit_test"]
BUILT_SCHEMAS = ("features", "features_intermediate", "features_staging")


def add_session(url: str, day: date, factor: float, stamp: datetime) -> None:
    """Every symbol's last fixture bar again on ``day``, prices scaled by ``factor``, ingested at
    ``stamp`` (the same in every run compared, so ingested_at columns agree)."""
    last = read_frame(url, "select * from raw.bars_daily where session = '2010-12-31'")
    for col in ("open", "high", "low", "close"):
        last[col] = last[col] * factor
    copy_bars(url, last.assign(session=day))
    execute(url, "update raw.bars_daily set ingested_at = %s where session = %s", (stamp, day))


def relation_rows(url: str) -> dict[str, list[str]]:
    """Every row of every relation dbt builds, as sorted reprs (exact floats)."""
    with psycopg.connect(url) as c:
        rels = c.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema = any(%s) order by 1, 2",
            [list(BUILT_SCHEMAS)],
        ).fetchall()
        return {
            f"{s}.{t}": sorted(map(repr, c.execute(f'select * from "{s}"."{t}"').fetchall()))
            for s, t in rels
        }


def scope_of(url: str) -> str:
    return read_frame(url, "select tests_from::text as d from ops.feature_test_scope")["d"][0]


@pytest.fixture(scope="module")
def recorded(pg_server_url, template_db, tmp_path_factory):
    """Fixture bars fully built, then an incremental dbt build of SESSION_A that records the
    plan; snapshot of that warehouse."""
    dbs = Databases(pg_server_url)
    work, snapshot = f"tw_plan_work_{os.getpid()}", f"tw_plan_snap_{os.getpid()}"
    target = tmp_path_factory.mktemp("dbt-target")
    url = dbs.create(work, template=template_db)
    copy_bars(url, fixture_bars())
    build(url=url, target_path=target)
    # History loaded and built two days ago, as on a daily schedule.
    for table in ("raw.bars_daily", "features_intermediate.int_daily_bars"):
        execute(url, f"update {table} set ingested_at = ingested_at - interval '2 days'")
    stamp = datetime.now(UTC) - timedelta(hours=1)
    add_session(url, SESSION_A, 1.01, stamp)
    first = build(url=url, target_path=target)
    assert not first.replayed
    stored = read_frame(url, f"select nodes from {planlib.PLAN_TABLE}")
    assert stored["nodes"].tolist() == [len(first.nodes)]
    dbs.create(snapshot, template=work)
    yield {"dbs": dbs, "work": work, "snapshot": snapshot, "target": target, "stamp": stamp}
    dbs.drop(work, snapshot)


@pytest.fixture
def fresh(recorded):
    """The work database reset to the recorded snapshot, SESSION_B's bars added; its URL."""
    url = recorded["dbs"].create(recorded["work"], template=recorded["snapshot"])
    add_session(url, SESSION_B, 0.98, recorded["stamp"] + timedelta(minutes=5))
    return url


def test_replay_writes_exactly_the_rows_dbt_writes(fresh, recorded, capsys):
    by_dbt = build(url=fresh, target_path=recorded["target"], plan=False)
    assert not by_dbt.replayed
    expected = relation_rows(fresh)
    assert any(repr(SESSION_B) in r for r in expected["features.daily_features"])

    url = recorded["dbs"].create(recorded["work"], template=recorded["snapshot"])
    add_session(url, SESSION_B, 0.98, recorded["stamp"] + timedelta(minutes=5))
    capsys.readouterr()
    replayed = build(url=url, target_path=recorded["target"])
    out = capsys.readouterr().out
    assert replayed.replayed and "Replaying the recorded dbt build plan" in out
    n = len(by_dbt.nodes)
    assert re.search(rf"\d+ of {n} OK incremental model features\.daily_features \.+ \[\d", out)
    assert f"Finished {n} of {n} nodes from the plan" in out
    assert relation_rows(url) == expected
    assert scope_of(url) == "-infinity"
    # The same result shape: every node dbt ran, with dbt's status and resource type.
    shape = lambda r: sorted((n["name"], n["resource_type"], n["status"]) for n in r.nodes)  # noqa: E731
    assert shape(replayed) == shape(by_dbt)
    assert replayed.statuses == by_dbt.statuses


def test_the_cli_replays_without_importing_dbt(fresh, tmp_path):
    probe = (
        "import sys\n"
        "from tradewind.cli import app\n"
        "try:\n"
        "    app(['features', 'build'], prog_name='tradewind')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('DBT', sorted(m for m in sys.modules if m == 'dbt' or m.startswith('dbt.')))\n"
        "print('PANDAS', 'pandas' in sys.modules)\n"
    )
    env = {**os.environ, "DATABASE_URL": fresh, "TRADEWIND_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(recorded plan, dbt not started)" in out.stdout, out.stdout[-2000:]
    assert "DBT []" in out.stdout and "PANDAS False" in out.stdout, out.stdout[-500:]
    rows = read_frame(
        fresh, "select count(*) as n from features.daily_features where session = %s", (SESSION_B,)
    )
    assert rows["n"][0] == len(fixture_bars()["symbol"].unique())


def _project_copy(tmp_path):
    copy = tmp_path / "dbt"
    shutil.copytree(PROJECT_ROOT / "dbt", copy, ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def test_a_changed_var_project_file_or_relation_makes_the_plan_stale(fresh, recorded, tmp_path):
    inputs = plan_inputs(fresh, DAILY_ARGS, target_path=recorded["target"])
    assert planlib.load_valid(fresh, inputs)[0] is not None
    inputs.vars = {"feature_work_mem": "128MB"}
    plan, reason = planlib.load_valid(fresh, inputs)
    assert plan is None and reason == "plan is stale (vars changed)"

    inputs = plan_inputs(fresh, DAILY_ARGS, target_path=recorded["target"])
    inputs.project_dir = _project_copy(tmp_path)
    assert planlib.load_valid(fresh, inputs)[0] is not None  # the same files elsewhere: valid
    with (inputs.project_dir / "models" / "marts" / "daily_features.sql").open("a") as f:
        f.write("\n-- a changed model\n")
    plan, reason = planlib.load_valid(fresh, inputs)
    assert plan is None and reason == "plan is stale (project files changed)"

    # The warehouse's side: a column dbt's incremental inserts would name.
    execute(fresh, "alter table features.daily_features add column extra int")
    plan, reason = planlib.load_valid(fresh, plan_inputs(fresh, DAILY_ARGS))
    assert plan is None and reason == "plan is stale (relations changed)"
    execute(fresh, "alter table features.daily_features drop column extra")
    # Dropped again: the same columns in the same places as recorded, valid again.
    assert planlib.load_valid(fresh, plan_inputs(fresh, DAILY_ARGS))[0] is not None


def test_a_changed_model_file_runs_dbt_and_records_a_new_plan(
    fresh, recorded, tmp_path, monkeypatch, capsys
):
    project = _project_copy(tmp_path)
    with (project / "models" / "marts" / "daily_features.sql").open("a") as f:
        f.write("\n-- a changed model\n")
    monkeypatch.setenv("TRADEWIND_DBT_PROJECT_DIR", str(project))
    reset_settings_cache()
    try:
        capsys.readouterr()
        result = build(url=fresh, target_path=tmp_path / "target")
        out = capsys.readouterr().out
        assert not result.replayed
        assert "build plan: plan is stale (project files changed); running dbt" in out
        assert "build plan recorded" in out
        # The new plan is the changed project's: valid for it.
        inputs = plan_inputs(fresh, DAILY_ARGS, target_path=tmp_path / "target")
        assert planlib.load_valid(fresh, inputs)[0] is not None
    finally:
        reset_settings_cache()


def test_failing_and_warning_data_tests_in_the_replay(fresh, recorded, capsys):
    # A defect inside the tested sessions, in a row this build does not rewrite.
    bad = ("AAPL", date(2010, 12, 31))
    execute(
        fresh,
        "update features.daily_features set lr_close = 'infinity' where symbol = %s "
        "and session = %s",
        bad,
    )
    capsys.readouterr()
    with pytest.raises(FeatureBuildError, match="is_finite_daily_features_lr_close") as exc:
        build(url=fresh, target_path=recorded["target"])
    out = capsys.readouterr().out
    assert "Replaying the recorded dbt build plan" in out and " FAIL test " in out
    assert "Got 1 result, configured to fail if != 0" in str(exc.value)
    assert scope_of(fresh) == "-infinity"

    # An unadjusted bar on a split's ex-date: the warn-severity singular test warns, the build
    # succeeds.
    url = recorded["dbs"].create(recorded["work"], template=recorded["snapshot"])
    add_session(url, SESSION_B, 0.98, recorded["stamp"] + timedelta(minutes=5))
    execute(
        url,
        "update raw.bars_daily set adjustment = 'raw' where symbol = 'KO' and session = %s",
        (SESSION_B,),
    )
    execute(
        url,
        "insert into raw.corporate_actions (source, symbol, ex_date, action, value) "
        "values ('csv', 'KO', %s, 'split', 2.0)",
        (SESSION_B,),
    )
    capsys.readouterr()
    result = build(url=url, target_path=recorded["target"])
    out = capsys.readouterr().out
    assert result.replayed and result.statuses.get("warn") == 1, result.statuses
    assert "warning: assert_no_split_in_raw_bars: Got 1 result, configured to warn if" in out


def test_a_sql_error_rolls_the_node_back(fresh, recorded):
    before = relation_rows(fresh)["features.forward_returns"]
    # Not part of the fingerprint (dbt's SQL is the same), refuses every new label row.
    execute(
        fresh,
        "alter table features.forward_returns add constraint tw_no_new_rows check (false) not valid",
    )
    with pytest.raises(FeatureBuildError) as exc:
        build(url=fresh, target_path=recorded["target"])
    message = str(exc.value)
    assert message.startswith("dbt build failed at forward_returns: Database Error in model")
    assert "tw_no_new_rows" in message and "\n" not in message
    # The delete and insert of the node rolled back together: the labels as they were.
    assert relation_rows(fresh)["features.forward_returns"] == before
    assert scope_of(fresh) == "-infinity"


def test_introspection_outside_the_covered_macros_stops_recording(tmp_path):
    project = _project_copy(tmp_path)
    assert planlib.uncovered_introspection(project) == []
    (project / "macros" / "peek.sql").write_text(
        "{% macro peek() %}{{ return(run_query('select 1')) }}{% endmacro %}\n"
    )
    assert planlib.uncovered_introspection(project) == ["macros/peek.sql"]


def test_only_consecutive_read_only_tests_share_a_step():
    def node(kind: str, statements: int = 1) -> planlib.PlanNode:
        return planlib.PlanNode(
            unique_id=kind,
            name=kind,
            resource_type=kind,
            description=kind,
            status="pass",
            statements=["select 1"] * statements,
            result_index=0 if kind == "test" else None,
        )

    nodes = [
        node("model"),
        node("test"),
        node("test"),
        node("model"),
        node("test"),
        node("test", statements=2),
        node("test"),
        node("test"),
    ]
    assert planlib._steps(nodes) == [[0], [1, 2], [3], [4], [5], [6, 7]]


def test_the_seed_check_without_pandas_reads_the_seed_as_pandas_does():
    """The replay path compares the seed file with the warehouse's copy without importing
    pandas; the same (rows, first, last, sum of open and close epochs) as pandas reads."""
    import pandas as pd

    from tradewind.features.runner import _seed_fingerprint

    seed = PROJECT_ROOT / "dbt" / "seeds" / "nyse_sessions.csv"
    df = pd.read_csv(seed)
    seconds = [
        (pd.to_datetime(df[c], utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        for c in ("market_open", "market_close")
    ]
    expected = (
        len(df),
        df["session"].min(),
        df["session"].max(),
        float(sum(s.sum() for s in seconds)),
    )
    assert _seed_fingerprint(seed) == expected
