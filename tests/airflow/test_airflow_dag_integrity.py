"""DAG integrity: every DAG file parses (within Airflow's import timeout), is named after its
dag_id, declares owner, tags, docs and retries with exponential backoff, keeps catchup off,
imports nothing heavy at module level, and its timetable survives serialization through the
registered plugin (what the scheduler does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewind.settings import PROJECT_ROOT

pytestmark = pytest.mark.airflow

DATA_DAGS = {"ingest_daily_bars", "ingest_minute_bars", "build_features", "data_quality"}
MODEL_DAGS = {
    "train_agents",
    "generate_signals",
    "rebalance_paper_account",
    "reconcile_paper_account",
}
DAG_IDS = DATA_DAGS | MODEL_DAGS
NYSE = "tradewind.orchestration.timetable.NYSESessionTimetable"


@pytest.fixture(scope="module")
def dags(airflow_home, dbt_project) -> dict:
    from airflow_testlib import AirflowRunner

    runner = AirflowRunner(airflow_home, env={"TRADEWIND_DBT_PROJECT_DIR": str(dbt_project)})
    (inspected,) = runner.call("inspect")
    assert inspected["import_errors"] == {}
    assert NYSE in inspected["timetables"]
    return inspected["dags"]


def test_every_dag_file_defines_its_dag(dags):
    assert set(dags) == DAG_IDS
    files = {p.stem for p in (PROJECT_ROOT / "dags").glob("*.py") if not p.stem.startswith("_")}
    assert files == DAG_IDS
    for dag_id, dag in dags.items():
        assert Path(dag["fileloc"]).stem == dag_id


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_owner_tags_docs_retries_catchup(dags, dag_id):
    dag = dags[dag_id]
    assert dag["owner"] == "data-eng"
    assert "tradewind" in dag["tags"] and len(dag["tags"]) >= 2
    assert dag_id in dag["doc_md"] and len(dag["doc_md"]) > 300
    assert dag["catchup"] is False
    assert dag["max_active_runs"] >= 1
    assert dag["tasks"]
    for task_id, task in dag["tasks"].items():
        assert task["owner"] == "data-eng", task_id
        assert task["retries"] >= 1, task_id
        assert task["retry_exponential_backoff"] >= 2.0, task_id
        assert task["max_retry_delay"] != "None", task_id


def test_schedules_and_asset_chain(dags):
    for dag_id in ("ingest_daily_bars", "ingest_minute_bars", "data_quality"):
        assert dags[dag_id]["timetable"] == NYSE
        assert dags[dag_id]["timetable_summary"].startswith("NYSE sessions")
    daily_out = dags["ingest_daily_bars"]["tasks"]["load"]["outlets"]
    minute_out = dags["ingest_minute_bars"]["tasks"]["load"]["outlets"]
    assert len(daily_out) == len(minute_out) == 1
    # postgres://host:port/database/schema/table
    for uri, table in ((daily_out[0], "raw/bars_daily"), (minute_out[0], "raw/bars_minute")):
        scheme, rest = uri.split("://")
        host_port, database, *schema_table = rest.split("/")
        assert scheme == "postgres" and ":" in host_port and database
        assert "/".join(schema_table) == table
    assert dags["build_features"]["schedule_assets"] == sorted([daily_out[0], minute_out[0]])


def test_ingest_shape_gate_and_pools(dags):
    for dag_id, sources in (
        ("ingest_daily_bars", {"alpaca", "quandl", "csv"}),
        ("ingest_minute_bars", {"alpaca", "csv"}),
    ):
        tasks = dags[dag_id]["tasks"]
        extracts = {f"extract_{s}" for s in sources}
        assert set(tasks) == {"choose_source", "validate", "load"} | extracts
        for e in extracts:
            assert tasks[e]["upstream"] == ["choose_source"]
        assert set(tasks["validate"]["upstream"]) == extracts
        assert tasks["load"]["upstream"] == ["validate"]
        assert tasks["extract_alpaca"]["pool"] == "alpaca_api"
        assert set(dags[dag_id]["params"]) >= {"source", "universe", "symbols", "strict"}
    assert dags["ingest_daily_bars"]["tasks"]["extract_quandl"]["pool"] == "nasdaq_data_link_api"


def test_build_features_shows_models_and_tests_as_tasks(dags):
    tasks = set(dags["build_features"]["tasks"])
    for model in ("stg_bars_daily", "int_daily_bars", "daily_features", "forward_returns"):
        assert any(t.startswith(model) and t.endswith("run") for t in tasks), model
    assert "daily_features.test" in tasks
    assert any(t.endswith("_seed") or t.endswith(".seed") for t in tasks)
    assert dags["build_features"]["max_active_runs"] == 1


def test_no_heavy_module_level_imports(airflow_home, dbt_project, tmp_path):
    from airflow_testlib import AirflowRunner

    runner = AirflowRunner(airflow_home, env={"TRADEWIND_DBT_PROJECT_DIR": str(dbt_project)})
    files = sorted(str(p) for p in (PROJECT_ROOT / "dags").glob("*.py"))
    files += [str(PROJECT_ROOT / "plugins" / "nyse_timetable.py")]
    # The control: a file that imports pandas at module level must be caught.
    control = tmp_path / "heavy_control.py"
    control.write_text("import tradewind.calendar  # pandas, numpy\n")
    (found,) = runner.call("modules", *files, str(control))
    heavy = {Path(f).name: modules for f, modules in found.items() if modules}
    assert set(heavy) == {"heavy_control.py"}, heavy
    assert {"numpy", "pandas"} <= set(heavy["heavy_control.py"])


# --- the model layer ----------------------------------------------------------------------------


def _uri(dags, dag_id, task_id):
    (uri,) = dags[dag_id]["tasks"][task_id]["outlets"]
    return uri


def test_model_layer_asset_chain(dags):
    """features -> signals -> orders by Assets; a promotion (registry Asset) also schedules
    signals; every URI names the warehouse table (postgres://host:port/db/schema/table)."""
    weights = _uri(dags, "generate_signals", "generate")
    orders = _uri(dags, "rebalance_paper_account", "place_orders")
    registry = _uri(dags, "train_agents", "announce_promotion")
    assert weights.endswith("/signals/target_weights")
    assert orders.endswith("/broker/orders")
    assert registry.endswith("/ml/model_versions")
    bars = _uri(dags, "ingest_daily_bars", "load")
    prefix = bars.removesuffix("raw/bars_daily")
    assert {weights, orders, registry} == {
        prefix + "signals/target_weights", prefix + "broker/orders", prefix + "ml/model_versions"
    }  # fmt: skip
    signals = dags["generate_signals"]
    assert signals["schedule_assets"] == sorted([prefix + "features/daily_features", registry])
    # Asset or time: the NYSE timetable is what a backfill enumerates.
    assert signals["timetable"] == "airflow.timetables.assets.AssetOrTimeSchedule"
    assert dags["rebalance_paper_account"]["schedule_assets"] == [weights]
    assert dags["reconcile_paper_account"]["timetable"] == NYSE
    assert (
        dags["train_agents"]["timetable"]
        == "tradewind.orchestration.timetable.FirstSessionOfMonthTimetable"
    )


def test_model_layer_shapes_pools_params(dags):
    train = dags["train_agents"]["tasks"]
    assert set(train) == {"prepare_data", "train", "evaluate_and_gate", "announce_promotion"}
    assert train["train"]["upstream"] == ["prepare_data"]
    assert train["train"]["pool"] == "ray_training"
    assert train["evaluate_and_gate"]["upstream"] == ["train"]
    assert train["announce_promotion"]["upstream"] == ["evaluate_and_gate"]
    assert set(dags["train_agents"]["params"]) == {"agent", "seeds", "timesteps", "overrides"}

    assert dags["generate_signals"]["tasks"]["generate"]["pool"] == "signals"

    rebalance = dags["rebalance_paper_account"]["tasks"]
    assert set(rebalance) == {"risk_checks", "place_orders"}
    assert rebalance["place_orders"]["upstream"] == ["risk_checks"]
    assert rebalance["place_orders"]["pool"] == "alpaca_trading"

    reconcile = dags["reconcile_paper_account"]["tasks"]
    assert set(reconcile) == {"fills_available", "reconcile", "alerts"}
    assert reconcile["reconcile"]["upstream"] == ["fills_available"]
    assert reconcile["reconcile"]["pool"] == "alpaca_trading"
    assert reconcile["alerts"]["upstream"] == ["reconcile"]
    for dag_id in ("rebalance_paper_account", "reconcile_paper_account"):
        assert "broker" in dags[dag_id]["params"]
    assert dags["generate_signals"]["params"] == ["model"]
    for dag_id in MODEL_DAGS:
        assert dags[dag_id]["max_active_runs"] == 1, dag_id


def test_pools_include_training_and_trading(airflow_home):
    from airflow_testlib import AirflowRunner

    (result,) = AirflowRunner(airflow_home).call("setup", timeout=300)
    assert result["pools"]["ray_training"] == 1
    assert result["pools"]["alpaca_trading"] == 1
    assert result["pools"]["signals"] == 1
